"""Every refusal as a SCIM Error document (RFC 7644 §3.12), translated in one place."""

from __future__ import annotations

import json
import logging
from typing import Any

import pydantic
from flask import Response
from scim2_models import Context, Error, SCIMException
from werkzeug.exceptions import HTTPException

from models.database import DatabaseUnavailableError
from models.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    PolicyViolationError,
    PreconditionFailedError,
    RosterError,
)

log = logging.getLogger("roster.scim")

MEDIA_TYPE = "application/scim+json"


def scim_response(document: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(document, separators=(",", ":")), status=status, mimetype=MEDIA_TYPE,
                    headers=headers)


def error_response(status: int, detail: str, scim_type: str | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    error = Error(status=status, scim_type=scim_type, detail=detail)
    return scim_response(error.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE), status, headers)


def _from_domain(exc: RosterError) -> tuple[int, str | None]:
    if isinstance(exc, NotFoundError):
        return 404, None
    if isinstance(exc, ConflictError):
        return 409, "uniqueness" if exc.reason == "uniqueness" else None
    if isinstance(exc, PolicyViolationError):
        return 409, None  # e.g. R1: the change is refused, nothing changed
    if isinstance(exc, PreconditionFailedError):
        return 412, None  # RFC 7644 §3.14: If-Match named another version
    if isinstance(exc, ForbiddenError):
        return 403, None
    if isinstance(exc, InvalidInputError):
        return 400, "invalidValue"
    return 400, None


def validation_error(exc: pydantic.ValidationError) -> SCIMException:
    """An invalid payload's SCIMException, with the scimType scim2-models chose (mutability, invalidPath,
    invalidFilter …) and the attribute named; the one converter from pydantic's errors."""
    return SCIMException.from_error(Error.from_validation_errors(exc)[0])


def to_error(exc: Exception) -> Error:
    """The SCIM Error for any exception, the one converter every SCIM surface uses; unexpected ones are logged."""
    if isinstance(exc, SCIMException):
        return exc.to_error()
    if isinstance(exc, RosterError):
        status, scim_type = _from_domain(exc)
        return Error(status=status, scim_type=scim_type, detail=exc.message)
    if isinstance(exc, pydantic.ValidationError):
        return validation_error(exc).to_error()
    if isinstance(exc, HTTPException):
        return Error(status=exc.code or 500, detail=exc.description or exc.name)
    if isinstance(exc, DatabaseUnavailableError):
        # RFC 7644 §3.12 lists 503 for a service that cannot answer now; Okta and Entra retry after Retry-After
        log.warning("database unavailable: %s", exc.orig)
        return Error(status=503, detail=f"The directory is temporarily unavailable; retry in {exc.retry_after} "
                                        "seconds.")
    log.exception("unexpected error in a SCIM request")  # the log line carries the request id
    return Error(status=500, detail="The server could not complete this request; it has been logged.")


def to_response(exc: Exception) -> Response:
    """The SCIM Error response for any exception (:func:`to_error`)."""
    error = to_error(exc)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, DatabaseUnavailableError) else None
    return scim_response(error.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE), int(error.status or 500),
                         headers)
