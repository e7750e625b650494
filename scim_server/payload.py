"""Request bodies as SCIM clients send them: read once, refused whole when they cannot be stored safely.

Every SCIM body goes through :func:`read` before a view sees it (scim.py runs
it for each POST, PUT and PATCH; /Bulk's operations run it again for their
own bodies), so no view meets JSON that PostgreSQL or a recursive walk would
fail on:

- JSON is parsed by pydantic-core's parser (jiter), which never recurses on
  Python's stack and stops at 200 levels by itself; the standard library's
  parser recurses and fails at ~990 levels (fewer under a deep stack), and
  /Bulk's reference resolution at ~450. A body nested deeper than
  :data:`MAX_DEPTH` is refused (invalidSyntax): real SCIM bodies use at
  most about ten levels (a /Bulk PATCH of an enterprise manager).
- The text must be UTF-8 (RFC 8259 §8.1) and every string valid Unicode: a
  lone UTF-16 surrogate escape (``"\\ud800"``) is refused with its position.
- No string, key or value, may hold U+0000: PostgreSQL cannot store it in
  text and SQLite can, so both refuse it (invalidValue, naming the attribute).
"""

from __future__ import annotations

from typing import Any

import pydantic_core
from flask import request
from scim2_models import InvalidSyntaxException, InvalidValueException, PayloadTooLargeException, SCIMException
from werkzeug.exceptions import RequestEntityTooLarge

MAX_DEPTH = 64
"""The deepest nesting of objects and arrays a body may have (the body itself is level 1); README.md says it."""

_BOM = b"\xef\xbb\xbf"  # RFC 8259 §8.1: a parser may ignore it, and clients' JSON libraries sometimes write it
_CACHE = "roster.scim.body"  # the request's parsed body, in its WSGI environ (a /Bulk operation has its own)
_ABSENT: Any = object()


def parse(body: bytes) -> Any:
    """The JSON value of ``body``; a SCIMException (400, or 413 never) for a body refused as described above."""
    if body.startswith(_BOM):
        body = body[len(_BOM):]
    if not body.strip():
        raise InvalidSyntaxException(detail="The request body is empty: send a JSON object.")
    try:
        value = pydantic_core.from_json(body, allow_inf_nan=False)
    except ValueError as exc:
        raise _refusal(str(exc)) from None
    _check(value)
    return value


def _refusal(problem: str) -> SCIMException:
    """The SCIM error for one of the parser's messages (each ends with "at line L column C")."""
    if problem.startswith("recursion limit exceeded"):
        return _too_deep()
    if "surrogate" in problem or problem.startswith("unexpected end of hex escape"):
        # jiter's words for a \ud800-\udbff escape with no low surrogate after it, or a \udc00-\udfff alone
        where = problem.rpartition(" at ")[2]
        return InvalidValueException(
            detail=f"The request body has a lone UTF-16 surrogate escape (\\ud800 to \\udfff without its pair) at "
                   f"{where}: every string must be valid Unicode.")
    if problem.startswith("invalid unicode code point"):
        where = problem.rpartition(" at ")[2]
        return InvalidSyntaxException(detail=f"The request body is not UTF-8 text (at {where}): send JSON in UTF-8.")
    return InvalidSyntaxException(detail=f"The request body is not valid JSON: {problem}.")


def _too_deep() -> SCIMException:
    return InvalidSyntaxException(
        detail=f"The request body nests objects and arrays deeper than {MAX_DEPTH} levels; SCIM needs far fewer.")


def _check(value: Any) -> None:
    """Refuse too deep a value or a string with U+0000, walking without recursion (the value may be ~200 deep)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > MAX_DEPTH:
                raise _too_deep()
            for key, child in item.items():
                if "\x00" in key:
                    raise _nul(value)
                if isinstance(child, dict | list):
                    stack.append((child, depth + 1))
                elif isinstance(child, str) and "\x00" in child:
                    raise _nul(value)
        elif isinstance(item, list):
            if depth > MAX_DEPTH:
                raise _too_deep()
            for child in item:
                if isinstance(child, dict | list):
                    stack.append((child, depth + 1))
                elif isinstance(child, str) and "\x00" in child:
                    raise _nul(value)
        elif isinstance(item, str) and "\x00" in item:
            raise _nul(value)


def _nul(value: Any) -> SCIMException:
    where = _path_to_nul(value)
    return InvalidValueException(
        detail=f"{where} contains a NUL character (U+0000), which no attribute may hold: remove it.")


def _path_to_nul(value: Any) -> str:
    """Where the first U+0000 is, as an attribute path (``Operations[0].value.displayName``)."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str) and "\x00" in item:
            return f"The value of {path}" if path else "The request body"
        if isinstance(item, dict):
            for key, child in reversed(item.items()):
                if "\x00" in key:
                    shown = key.replace("\x00", "\\u0000")
                    return f'The attribute name "{shown}"' + (f" in {path}" if path else "")
                stack.append((child, f"{path}.{key}" if path else key))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{index}]") for index, child in reversed(list(enumerate(item))))
    return "The request body"


def read() -> Any:
    """The request's body as a JSON value, parsed once per request; None when there is no body."""
    cached = request.environ.get(_CACHE, _ABSENT)
    if cached is not _ABSENT:
        return cached
    try:
        body = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise PayloadTooLargeException(
            detail=f"The request body is larger than {request.max_content_length} bytes, the most this server "
                   "accepts (maxPayloadSize).") from None
    value = parse(body) if body.strip() else None
    request.environ[_CACHE] = value
    return value


def json_body() -> Any:
    """The body as a JSON object, whatever the Content-Type (application/scim+json, application/json, none)."""
    return as_object(read())


def as_object(payload: Any) -> dict[str, Any]:
    """``payload`` (a request's body, a /Bulk operation's data) when it is a JSON object; invalidSyntax otherwise."""
    if payload is None:
        raise InvalidSyntaxException(detail="The request body is empty: send a JSON object.")
    if not isinstance(payload, dict):
        raise InvalidSyntaxException(detail="The request body must be a JSON object.")
    return payload
