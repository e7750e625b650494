"""Cursors for RFC 9865 paging: a page's resume point, signed by itsdangerous.

A cursor is ``URLSafeSerializer`` text (base64url JSON, ``.``, base64url HMAC):
only RFC 3986 unreserved characters, as RFC 9865 §2 asks. Its JSON names the
query it belongs to (a fingerprint of account, resource type, filter and
sort), the direction, and the sort key of the row to resume after. A cursor
that another server signed, another query issued or someone edited is
invalidCursor.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from typing import Any

from itsdangerous import BadData, URLSafeSerializer
from scim2_models import InvalidCursorException

_SALT = "scim-cursor"


@functools.lru_cache(maxsize=4)
def _serializer(secret_key: str) -> URLSafeSerializer:
    # built once per key: a page encodes two cursors and decodes one
    return URLSafeSerializer(secret_key, salt=_SALT)


def fingerprint(account_id: str, resource_type: str, filter: str | None, sort_by: str | None,
                descending: bool) -> str:
    """What a cursor is bound to: a page of another query, or of another account, is not its page."""
    text = json.dumps([account_id, resource_type, filter, sort_by, descending])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _encode_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"t": value.isoformat()}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and isinstance(value.get("t"), str):
        return dt.datetime.fromisoformat(value["t"])
    if value is None or isinstance(value, str | int | float):
        return value
    raise ValueError("not a key value")


def encode(secret_key: str, query_fingerprint: str, direction: str, key: list[Any]) -> str:
    """A cursor resuming after ``key`` forwards (``"n"``) or backwards (``"p"``), signed with ``secret_key``."""
    data = {"q": query_fingerprint, "d": direction, "k": [_encode_value(v) for v in key]}
    return str(_serializer(secret_key).dumps(data))


def decode(secret_key: str, cursor: str, query_fingerprint: str, width: int) -> tuple[str, list[Any]]:
    """(direction, key) of a cursor this deployment (``secret_key``) issued for the same query; anything else is
    invalidCursor."""
    try:
        data = _serializer(secret_key).loads(cursor)
        if data["q"] != query_fingerprint or data["d"] not in ("n", "p") or len(data["k"]) != width:
            raise ValueError("another query")
        return data["d"], [_decode_value(v) for v in data["k"]]
    except (BadData, ValueError, KeyError, TypeError) as exc:
        raise InvalidCursorException(detail="The cursor is not one this server issued for this query; "
                                            "start again with an empty cursor.") from exc
