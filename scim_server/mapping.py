"""SCIM User ⇄ directory record: pure functions (RFC 7643 §4.1, §4.3)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from scim2_models import Context, EnterpriseUser, Extension, Mutability, User
from scim2_models.urn import URN

from models import directory
from models.tenancy import DirectoryRecord, Membership

from . import preconditions

ROSTER_USER_SCHEMA = "urn:roster:params:scim:schemas:extension:roster:2.0:User"


class RosterUser(Extension):
    """Roster's extension: why a record links to no person (DESIGN.md §3).

    ``unlinkedReason`` is ``no_valid_email``, ``already_member_through_other_record``
    or ``email_rejected`` (a disposable or disallowed email domain), and absent
    when the record is linked.
    """

    __schema__ = URN(ROSTER_USER_SCHEMA)
    unlinked_reason: Annotated[str | None, Mutability.read_only] = None


UserModel = User[EnterpriseUser | RosterUser]  # type: ignore[valid-type]


def from_scim_user(payload: Any, context: Context) -> tuple[str, dict[str, Any], str | None, str | None]:
    """Validate a request body; returns (userName, attributes to store, externalId, password).

    Raises pydantic's ValidationError or a SCIMException for an invalid body.
    """
    return from_user_model(UserModel.model_validate(payload, scim_ctx=context), context)


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
    if "active" not in stored:
        stored["active"] = True
    return str(user.user_name or ""), stored, user.external_id, password


def _timestamp(value: dt.datetime) -> str:
    return value.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")


def etag(record: DirectoryRecord) -> str:
    """The record's ETag, also its ``meta.version`` (RFC 7644 §3.14): one format, from preconditions."""
    return preconditions.etag(record.version)


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
