"""SCIM User ⇄ directory record: pure functions (RFC 7643 §4.1, §4.3)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import pydantic
from pydantic import Field
from scim2_models import (
    Context,
    Email,
    EnterpriseUser,
    Extension,
    Mutability,
    Reference,
    Required,
    ScimFilter,
    User,
)
from scim2_models.path import Path
from scim2_models.resources.enterprise_user import Manager
from scim2_models.resources.resource import AnyExtension
from scim2_models.urn import URN

from models import directory, urns
from models.tenancy import DirectoryRecord, Membership

from . import preconditions
from .errors import validation_error
from .policy import TOLERANT

ROSTER_USER_SCHEMA = urns.ROSTER_USER


ROSTER_USER_DESCRIPTION = (
    "Why a directory record links to no Roster user: unlinkedReason is no_valid_email, "
    "already_member_through_other_record or email_rejected, and absent when the record is linked.")



class RosterUser(Extension):
    """Roster's extension: why a record links to no person (DESIGN.md §3).

    ``unlinkedReason`` is ``no_valid_email``, ``already_member_through_other_record``
    or ``email_rejected`` (a disposable or disallowed email domain), and absent
    when the record is linked.
    """

    __schema__ = URN(ROSTER_USER_SCHEMA)
    unlinked_reason: Annotated[str | None, Mutability.read_only] = None


class DirectoryEmail(Email):
    """An email as a directory says it: any string (DESIGN.md §3).

    A record whose email is not an address is still created, unlinked with
    ``no_valid_email``; the domain, not the payload check, decides.
    """

    value: str | None = None


class DirectoryManager(Manager):
    """The enterprise ``manager`` (RFC 7643 §4.3): Entra ID sends its ``value`` without ``$ref``."""

    ref: Annotated[Reference["User"] | None, Required.false] = Field(  # type: ignore[type-arg]  # noqa: UP037
        None, serialization_alias="$ref", validation_alias="$ref")


class DirectoryEnterpriseUser(EnterpriseUser):
    """The Enterprise User extension (RFC 7643 §4.3) with a manager that needs no ``$ref``."""

    manager: DirectoryManager | None = None


class DirectoryUser(User[AnyExtension]):
    """The core User (RFC 7643 §4.1) with emails that are any string."""

    emails: list[DirectoryEmail] | None = None  # type: ignore[assignment]


UserModel = DirectoryUser[DirectoryEnterpriseUser | RosterUser]

# scim2-models keeps its Path[...] and ScimFilter[...] classes in a WeakValueDictionary and makes one on a miss;
# a class that the cyclic garbage collector frees between that insertion and the lookup after it is a KeyError
# (seen as a 500 under generated traffic). Bound here once and referenced for good, every lookup finds them.
USER_PATH = Path[UserModel]
USER_FILTER = ScimFilter[UserModel]


def from_scim_user(payload: Any, context: Context) -> tuple[str, dict[str, Any], str | None, str | None]:
    """Validate a request body under :data:`TOLERANT`; returns (userName, attributes to store, externalId, password).

    Unknown and misspelled attributes are ignored (DESIGN.md §3). Raises a
    SCIMException for an invalid body.
    """
    try:
        with TOLERANT:
            user = UserModel.model_validate(payload, scim_ctx=context)
    except pydantic.ValidationError as exc:
        raise validation_error(exc) from None
    return from_user_model(user, context)


def from_user_model(user: Any, context: Context = Context.RESOURCE_REPLACEMENT_REQUEST,
                    ) -> tuple[str, dict[str, Any], str | None, str | None]:
    """A validated (e.g. patched) User as (userName, attributes to store, externalId, password).

    Dumped as a request of ``context``, so read-only attributes (id, meta,
    groups, Roster's extension) are never stored.
    """
    stored = user.model_dump(scim_ctx=context)
    stored.pop("schemas", None)
    stored.pop(ROSTER_USER_SCHEMA, None)
    password = stored.pop("password", None)
    return str(user.user_name or ""), stored, user.external_id, password


def _timestamp(value: dt.datetime) -> str:
    return value.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")


def etag(record: DirectoryRecord) -> str:
    """The record's ETag, also its ``meta.version`` (RFC 7644 §3.14): one format, from preconditions."""
    return preconditions.etag(record.version)


_EXTENSIONS = tuple(str(field.serialization_alias) for name, field in UserModel.model_fields.items()
                    if str(field.serialization_alias or "").startswith("urn:"))
_RETURNED = tuple(str(field.serialization_alias or name) for name, field in UserModel.model_fields.items()
                  if name not in ("schemas", "id", "external_id", "meta", "user_name", "password")
                  and not str(field.serialization_alias or "").startswith("urn:"))
"""The stored core attributes a response returns, in the model's order (``password`` is returned never)."""


def user_document(record: DirectoryRecord, membership: Membership | None, location: str) -> dict[str, Any]:
    """The record as the JSON of a User query response (RFC 7643 §4.1), built from the stored row.

    The same JSON value as ``to_scim_user(...).model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)``
    (tests/scim/test_user_documents.py checks it over the shapes clients send): the attributes were
    validated and dumped by scim2-models when they were stored, so reading them back needs no
    second pass through pydantic (DESIGN.md §3 "Speed").
    """
    attributes = record.attributes
    document: dict[str, Any] = {"schemas": [User.__schema__], "id": record.id}
    if record.external_id is not None:
        document["externalId"] = record.external_id
    document["meta"] = {"resourceType": "User", "created": _timestamp(record.created_at),
                        "lastModified": _timestamp(record.updated_at), "location": location,
                        "version": etag(record)}
    document["userName"] = record.user_name
    for key in _RETURNED:
        if key == "active":
            document["active"] = directory.is_active(record, membership)
        elif attributes.get(key) is not None:
            document[key] = attributes[key]
    for urn in _EXTENSIONS:
        if urn == ROSTER_USER_SCHEMA:  # read-only: the record's, never what a directory sent
            value = {"unlinkedReason": record.unlinked_reason} if record.unlinked_reason else None
        else:
            value = attributes.get(urn)
        if value:
            document["schemas"].append(urn)
            document[urn] = value
    return document


def to_scim_user(record: DirectoryRecord, membership: Membership | None, location: str) -> Any:
    """The record as a SCIM User model (RFC 7643 §4.1), ``active`` from the membership."""
    document = dict(record.attributes)
    document.update(
        schemas=[User.__schema__],
        id=record.id,
        userName=record.user_name,
        active=directory.is_active(record, membership),
        meta={"resourceType": "User", "created": _timestamp(record.created_at),
              "lastModified": _timestamp(record.updated_at), "location": location, "version": etag(record)},
    )
    if record.external_id is not None:
        document["externalId"] = record.external_id
    if record.unlinked_reason:
        document[ROSTER_USER_SCHEMA] = {"unlinkedReason": record.unlinked_reason}
    return UserModel.model_validate(document)
