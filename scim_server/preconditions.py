"""ETags on SCIM resources (RFC 7644 §3.14): If-Match → 412 on a mismatch, If-None-Match → 304."""

from __future__ import annotations

from flask import request
from scim2_models import PreconditionFailedException

MISMATCH = "The resource changed since you read it (If-Match does not match its ETag): read it again."


class NotModified(Exception):
    """The client's copy is current; the view answers 304 with no body."""


def etag(version: int) -> str:
    """Weak: the version names the resource's content, not its bytes."""
    return f'W/"{version}"'


def _tags(header: str) -> list[str]:
    return [t.strip() for t in header.split(",") if t.strip()]


def _same(a: str, b: str) -> bool:
    # weak comparison (RFC 9110 §8.8.3.2): W/"1" matches "1"
    return a.removeprefix("W/") == b.removeprefix("W/")


def check_write(version: int) -> None:
    """Before a change: refuse when If-Match names another version."""
    header = request.headers.get("If-Match")
    if header is None:
        return
    current = etag(version)
    if "*" not in _tags(header) and not any(_same(tag, current) for tag in _tags(header)):
        raise PreconditionFailedException(detail=MISMATCH)


def check_read(version: int) -> None:
    """Before a read: raise NotModified when If-None-Match names the current version."""
    header = request.headers.get("If-None-Match")
    if header is None:
        return
    current = etag(version)
    if "*" in _tags(header) or any(_same(tag, current) for tag in _tags(header)):
        raise NotModified()
