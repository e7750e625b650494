"""SCIM resources as response documents: Users and Groups rendered once per version (DESIGN.md §3 "Speed").

What :mod:`.storage` returns becomes JSON here, for the views, /Me, listings
and /Bulk alike. A full document is kept in :mod:`.rendered` by what names
it (id, version, location …); one with ``attributes``/``excludedAttributes``
goes through scim2-models (RFC 7644 §3.4.2.5).
"""

from __future__ import annotations

import functools
import json
from typing import Any, cast

from flask import Response, request, url_for
from scim2_models import Context, ResponseParameters
from scim2_models import Group as GroupModel

from models import directory, directory_groups
from models.database import db
from models.tenancy import DirectoryRecord, Group, Membership

from . import rendered
from .errors import MEDIA_TYPE, scim_response
from .group_mapping import Member, member_documents, member_selection, to_scim_group
from .mapping import UserModel, etag, to_scim_user, user_document
from .preconditions import etag as version_tag
from .storage import StoredUser


def user_location(record_id: str) -> str:
    return url_for("scim.users.get_user", record_id=record_id, _external=True)


def group_location(group_id: str) -> str:
    return url_for("scim.groups.get_group", group_id=group_id, _external=True)


def users_url() -> str:
    """This request's /Users/ URL with a trailing slash: a User's location (a member's ``$ref``) is it and its id."""
    return user_location("-")[:-1]


@functools.cache
def _parameters_of(model: Any) -> Any:
    # scim2-models builds a new class at each subscript (milliseconds): once per model
    return ResponseParameters[model]


def response_parameters(model: Any, attributes: Any, excluded: Any) -> ResponseParameters[Any] | None:
    """``attributes``/``excludedAttributes`` (a query string's text or a search's lists) for ``model``, if any."""
    if not attributes and not excluded:
        return None
    return cast(ResponseParameters[Any], _parameters_of(model).model_validate(
        {"attributes": attributes, "excludedAttributes": excluded}))


def request_parameters(model: Any) -> ResponseParameters[Any] | None:
    return response_parameters(model, request.args.get("attributes"), request.args.get("excludedAttributes"))


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


def user_response(user: StoredUser, status: int = 200) -> Response:
    record, membership = user.record, user.membership
    url = user_location(record.id)
    headers = {"ETag": etag(record)}
    if status == 201:
        headers["Location"] = url
    parameters = request_parameters(UserModel)
    if parameters is not None:
        context = Context.RESOURCE_CREATION_RESPONSE if status == 201 else Context.RESOURCE_QUERY_RESPONSE
        document = to_scim_user(record, membership, url).model_dump(scim_ctx=context,
                                                                    response_parameters=parameters)
        return scim_response(document, status, headers)
    # a creation response returns what a query response does (RFC 7644 §3.3)
    return Response(user_text(record, membership, url), status=status, mimetype=MEDIA_TYPE, headers=headers)


def group_members(group: Group) -> list[Member]:
    """The group's SCIM members, kept per (group id, version): every change of them gives the group a new version.

    Outside a transaction only: what a transaction reads may yet be rolled back.
    """
    if db.in_transaction():
        return directory_groups.directory_members([group.id])[group.id]
    key = (group.id, group.version)
    members = rendered.group_members.get(key)
    if members is None:
        members = directory_groups.directory_members([group.id])[group.id]
        rendered.group_members.put(key, members)
    return cast(list[Member], members)


def group_document(group: Group, parameters: ResponseParameters[Any] | None, context: Context) -> dict[str, Any]:
    document: dict[str, Any] = to_scim_group(group, group_location(group.id)).model_dump(
        scim_ctx=context, response_parameters=parameters)
    selection = member_selection(parameters)
    members = group_members(group) if selection.included else None
    if members:
        document["members"] = member_documents(members, users_url(), selection)
    return document


def _group_body(group: Group, context: Context) -> bytes:
    document = group_document(group, request_parameters(GroupModel), context)
    return json.dumps(document, separators=(",", ":")).encode()


def group_response(group: Group, status: int = 200) -> Response:
    headers = {"ETag": version_tag(group.version)}
    if status == 201:
        headers["Location"] = group_location(group.id)
        return Response(_group_body(group, Context.RESOURCE_CREATION_RESPONSE), status=status, mimetype=MEDIA_TYPE,
                        headers=headers)
    # the document is the group's row at this version (members included: changing them, or a member's
    # name, raises the version) seen through the request's location and attribute selection
    key = (group.id, group.version, group_location(group.id), request.args.get("attributes"),
           request.args.get("excludedAttributes"))
    body = rendered.groups.get(key)
    if body is None:
        body = _group_body(group, Context.RESOURCE_QUERY_RESPONSE)
        rendered.groups.put(key, body)
    return Response(body, status=status, mimetype=MEDIA_TYPE, headers=headers)
