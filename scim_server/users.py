"""/Users (RFC 7644 §3.3–§3.6): parse → one call into models.directory → serialise."""

from __future__ import annotations

import json
from typing import Any, cast

from flask import Blueprint, Response, g, request, url_for
from scim2_models import Context, ResponseParameters

from models import directory
from models.tenancy import DirectoryRecord, Membership

from . import patch, rendered
from .errors import MEDIA_TYPE, scim_response
from .mapping import UserModel, etag, from_scim_user, from_user_model, to_scim_user, user_document
from .payload import json_body
from .preconditions import NotModified, check_read, check_write

bp = Blueprint("users", __name__)


def location(record_id: str) -> str:
    return url_for("scim.users.get_user", record_id=record_id, _external=True)


def response_parameters() -> ResponseParameters[Any] | None:
    attributes, excluded = request.args.get("attributes"), request.args.get("excludedAttributes")
    if not attributes and not excluded:
        return None
    return ResponseParameters[UserModel].model_validate(  # type: ignore[valid-type]
        {"attributes": attributes, "excludedAttributes": excluded})


def user_text(record: DirectoryRecord, membership: Membership | None, url: str) -> str:
    """The record's full User as query-response JSON, kept per (id, version, active, url).

    ``active`` is in the key as well as the version, which a membership
    status change raises too: a key can only ever name one document.
    """
    key = (record.id, record.version, directory.is_active(record, membership), url)
    text = rendered.users.get(key)
    if text is None:
        text = json.dumps(user_document(record, membership, url), separators=(",", ":"))
        rendered.users.put(key, text)
    return cast(str, text)


def render_user(record: DirectoryRecord, membership: Membership | None, status: int = 200) -> Response:
    url = location(record.id)
    headers = {"ETag": etag(record)}
    if status == 201:
        headers["Location"] = url
    parameters = response_parameters()
    if parameters is not None:
        context = Context.RESOURCE_CREATION_RESPONSE if status == 201 else Context.RESOURCE_QUERY_RESPONSE
        document = to_scim_user(record, membership, url).model_dump(scim_ctx=context,
                                                                    response_parameters=parameters)
        return scim_response(document, status, headers)
    # a creation response returns what a query response does (RFC 7644 §3.3)
    return Response(user_text(record, membership, url), status=status, mimetype=MEDIA_TYPE, headers=headers)


@bp.get("/Users/<id:record_id>")
def get_user(record_id: str) -> Response:
    record = directory.get_record(g.account, record_id)  # with its membership, in one statement
    membership = directory.membership_of(record)
    try:
        check_read(record.version)
    except NotModified:
        return Response(status=304, headers={"ETag": etag(record)})
    return render_user(record, membership)


@bp.post("/Users")
def create_user() -> Response:
    user_name, attributes, external_id, password = from_scim_user(json_body(), Context.RESOURCE_CREATION_REQUEST)
    record = directory.create_record(g.account, user_name, attributes, external_id, by=g.actor, password=password)
    return render_user(record, directory.membership_of(record), 201)


@bp.put("/Users/<id:record_id>")
def replace_user(record_id: str) -> Response:
    user_name, attributes, external_id, password = from_scim_user(json_body(), Context.RESOURCE_REPLACEMENT_REQUEST)
    record = directory.replace_record(g.account.id, record_id, user_name, attributes, external_id, by=g.actor,
                                      password=password, check=check_write)
    return render_user(record, directory.membership_of(record))


@bp.patch("/Users/<id:record_id>")
def patch_user(record_id: str) -> Response:
    """RFC 7644 §3.5.2: the operations apply to the User as it is under the lock, then replace the record."""
    body = json_body()
    active = patch.only_active(body)
    if active is not None:
        change = _set_active(active)
    else:
        operations = patch.parse(body)
        url = location(record_id)

        def change(current: DirectoryRecord, membership: Membership | None) -> directory.Replacement | None:
            user = to_scim_user(current, membership, url)
            return from_user_model(user) if patch.apply(operations, user) else None

    record = directory.update_record(g.account.id, record_id, change, by=g.actor, check=check_write,
                                     action="directory_record.patched")
    return render_user(record, directory.membership_of(record))


def _set_active(active: bool) -> directory.Change:
    """The change of a PATCH that only sets ``active`` (:func:`patch.only_active`), without a User model.

    What scim2-models would make of it: the stored attributes with the new
    ``active``, nothing else; no change at all when it is ``active`` already.
    """

    def change(current: DirectoryRecord, membership: Membership | None) -> directory.Replacement | None:
        if directory.is_active(current, membership) == active:
            return None
        return current.user_name, {**current.attributes, "active": active}, current.external_id, None

    return change


@bp.delete("/Users/<id:record_id>")
def delete_user(record_id: str) -> Response:
    directory.delete_record(g.account.id, record_id, by=g.actor, check=check_write)
    return Response(status=204)
