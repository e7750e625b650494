"""Path spellings real SCIM clients use: `/users`, `/Users/`, `/scim/v2/groups/ID/`.

RFC 7644 names the endpoints `/Users`, `/Groups` …, but clients send other
cases and trailing slashes; resource ids are opaque and keep their case.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from models.settings import SCIM_PATH

PREFIX = SCIM_PATH
ENDPOINTS = {name.lower(): name for name in (
    "Users", "Groups", "Me", "Bulk", ".search", "ServiceProviderConfig", "ResourceTypes", "Schemas")}


def canonical_path(path: str) -> str:
    if not path.lower().startswith(PREFIX.lower() + "/"):
        return path
    segments = path[len(PREFIX) + 1 :].split("/")
    while len(segments) > 1 and segments[-1] == "":
        segments.pop()
    if segments:
        segments[0] = ENDPOINTS.get(segments[0].lower(), segments[0])
    if len(segments) == 2 and segments[1].lower() == ".search":
        segments[1] = ".search"
    return PREFIX + "/" + "/".join(segments)


class CanonicalScimPaths:
    """WSGI middleware: rewrite PATH_INFO to the canonical spelling before routing."""

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ["PATH_INFO"] = canonical_path(environ.get("PATH_INFO", ""))
        return self.app(environ, start_response)
