"""ETags on SCIM resources (RFC 7644 §3.14): If-Match → the versions a write expects, If-None-Match → 304."""

from __future__ import annotations

from models.versions import Expected


class NotModified(Exception):
    """The client's copy is current; the view answers 304 with no body."""


def etag(version: int) -> str:
    """Weak: the version names the resource's content, not its bytes."""
    return f'W/"{version}"'


def _tags(header: str) -> list[str]:
    return [t.strip() for t in header.split(",") if t.strip()]


def _version(tag: str) -> int | None:
    # weak comparison (RFC 9110 §8.8.3.2): W/"1" matches "1"; a tag this server never gave matches nothing
    opaque = tag.removeprefix("W/")
    digits = opaque[1:-1] if len(opaque) > 2 and opaque[0] == opaque[-1] == '"' else ""
    if not (0 < len(digits) <= 18 and digits.isascii() and digits.isdigit()) or digits != str(int(digits)):
        return None
    return int(digits)


def expected_versions(if_match: str | None) -> Expected:
    """The versions a write may change (models.versions): any without If-Match or with ``*``, else those named."""
    if if_match is None or "*" in _tags(if_match):
        return None
    return frozenset(v for v in map(_version, _tags(if_match)) if v is not None)


def check_read(version: int, if_none_match: str | None) -> None:
    """Before a read: raise NotModified when If-None-Match names the current version."""
    if if_none_match is None:
        return
    tags = _tags(if_none_match)
    if "*" in tags or any(_version(tag) == version for tag in tags):
        raise NotModified()
