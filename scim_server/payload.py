"""Request bodies as SCIM clients send them."""

from __future__ import annotations

from typing import Any

from flask import request
from scim2_models import InvalidSyntaxException


def json_body() -> Any:
    """The body as a JSON object, whatever the Content-Type (application/scim+json, application/json, none)."""
    payload = request.get_json(force=True, silent=True)
    if not isinstance(payload, dict):
        raise InvalidSyntaxException(detail="The request body must be a JSON object.")
    return payload
