"""Parameters the OAuth endpoints and pages can read as text, checked once before any of their views.

Four kinds of input ended in a 500 wherever a view first touched them:
bytes that are not UTF-8 (werkzeug decodes the query string and a form
body strictly the first time they are read), NUL characters (psycopg
refuses them in any PostgreSQL parameter, so a client id or a scope
failed at its first query, while SQLite stored them), a Basic
credential that is not base64 of UTF-8 (authlib decodes it unguarded),
and a JSON body (Flask-WTF reads one as the form when there is no form,
and fails on a list, a nested value or a document deeper than the parser
goes). Lone surrogates cannot be written in URL encoding except as
invalid UTF-8, so the same check refuses them; in the WebAuthn routes'
JSON they are refused with NUL. Nothing a person or a client
legitimately sends contains any of these.

The refusal is an ``UnreadableInputError`` (a 400); ``oidc.errors`` turns
it into each surface's own answer.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import request
from werkzeug.exceptions import BadRequest

# the endpoints that read a client's Basic credentials themselves (authlib, RFC 6749 §2.3.1)
BASIC_AUTH_ENDPOINTS = frozenset({"oauth.token", "oauth.revoke", "oauth.introspect"})
# the only ones that read a JSON body (WebAuthn); Flask-WTF would read any other as a form, and crash
# on a JSON list or on a value that is not a string
JSON_BODY_ENDPOINTS = frozenset({"signin.webauthn_options", "signin.webauthn_verify",
                                 "signin.webauthn_register_options", "signin.webauthn_register",
                                 "profile.webauthn_options", "profile.webauthn_register"})
BASIC = "Authorization header"
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,40}")


class UnreadableInputError(BadRequest):
    """A parameter (``field``), header or body that is not UTF-8 text without NUL, or not what the endpoint reads."""

    def __init__(self, field: str, where: str, description: str | None = None):
        self.field = field
        if description is not None:
            super().__init__(description)
            return
        # descriptions travel in OAuth error redirects: only names safe in RFC 6749's error character set
        name = f"parameter '{field}'" if _PLAIN_NAME.fullmatch(field) else "a parameter"
        super().__init__(f"The {where} has {name} that is not UTF-8 text or contains a NUL character; "
                         "send UTF-8 text without NUL." if where != BASIC else
                         "The Authorization header is not a scheme and credentials, or its Basic credentials are "
                         "not base64 of UTF-8 text without NUL.")


def check_request() -> None:
    """Refuse the request unless its path, query, form and Basic credentials are UTF-8 text without NUL."""
    if "\x00" in request.path:
        raise UnreadableInputError("path", "address")
    _check_pairs(request.query_string, "query string")
    if request.mimetype == "application/x-www-form-urlencoded":
        # read raw (werkzeug parses the form from these cached bytes afterwards)
        _check_pairs(request.get_data(cache=True), "form")
    elif request.mimetype == "multipart/form-data":
        for key, value in request.form.items(multi=True):
            if "\x00" in key or "\x00" in value:
                raise UnreadableInputError(key, "form")
    elif request.is_json:
        _check_json()
    if request.endpoint in BASIC_AUTH_ENDPOINTS:
        _check_basic_credentials(request.headers.get("Authorization", ""))


def _check_json() -> None:
    if request.endpoint not in JSON_BODY_ENDPOINTS:
        raise UnreadableInputError("body", "body", "This address takes a form (application/x-www-form-urlencoded), "
                                                   "not JSON.")
    try:
        document = json.loads(request.get_data(cache=True))
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise UnreadableInputError("body", "body", "The body is not a JSON object.") from None
    if not isinstance(document, dict):
        raise UnreadableInputError("body", "body", "The body is not a JSON object.")
    pending: list[Any] = [document]
    while pending:  # not recursive: the document may be as deep as the parser allowed
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str) and not _is_text(item.encode("utf-8", "surrogatepass")):
            raise UnreadableInputError("body", "body", "The JSON body has a string that is not UTF-8 text or "
                                                       "contains a NUL character.")


def _check_pairs(raw: bytes, where: str) -> None:
    for key, value in _pairs(raw):
        for part in (key, value):
            if not _is_text(part):
                raise UnreadableInputError(key.decode("utf-8", "replace"), where)


def _pairs(raw: bytes) -> Iterator[tuple[bytes, bytes]]:
    """``application/x-www-form-urlencoded`` pairs as bytes, decoded only from percent-encoding (WHATWG URL §5.1)."""
    for pair in raw.split(b"&"):
        if pair:
            key, _, value = pair.partition(b"=")
            yield unquote_to_bytes(key.replace(b"+", b" ")), unquote_to_bytes(value.replace(b"+", b" "))


def _is_text(raw: bytes) -> bool:
    if b"\x00" in raw:
        return False
    try:
        raw.decode("utf-8")  # strict: invalid sequences and encoded surrogates both fail
    except UnicodeDecodeError:
        return False
    return True


def _check_basic_credentials(header: str) -> None:
    parts = header.split(None, 1)
    if " " in header and len(parts) < 2:  # a scheme and blank space: authlib splits it unguarded
        raise UnreadableInputError("Authorization", BASIC)
    if len(parts) != 2 or parts[0].lower() != "basic":
        return
    try:
        decoded = base64.b64decode(parts[1].encode("ascii"))
    except UnicodeEncodeError:
        raise UnreadableInputError("Authorization", BASIC) from None
    except binascii.Error:
        return  # not Basic credentials at all: the client is not authenticated, authlib says so
    if not _is_text(decoded) or not all(_is_text(unquote_to_bytes(p)) for p in decoded.split(b":", 1)):
        raise UnreadableInputError("Authorization", BASIC)


def readable_query() -> dict[str, str]:
    """The query string's parameters that are text, first value of each; for answering a refused request."""
    found: dict[str, str] = {}
    for key, value in _pairs(request.query_string):
        if _is_text(key) and _is_text(value):
            found.setdefault(key.decode(), value.decode())
    return found
