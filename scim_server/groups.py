"""/Groups (RFC 7644 §3.3–§3.6): parse → one call into models.groups → serialise.

Members are SCIM User ids (directory records, linked to a person or not).
``excludedAttributes=members`` never loads them; member changes are set
operations in SQL (models.groups). Lists and searches go through
:mod:`.listing`, registered here like Users.
"""

from __future__ import annotations

import collections
import json
from typing import Any

from flask import Blueprint, Response, g, request, url_for
from scim2_models import Context, ResponseParameters
from scim2_models import Group as GroupModel

from models import groups
from models.database import db
from models.tenancy import Account, Group

from . import rendered
from .errors import MEDIA_TYPE
from .group_filters import compile_group_filter, group_sort_key
from .group_mapping import (
    Member,
    from_scim_group,
    member_documents,
    member_models,
    member_selection,
    patch_group,
    to_scim_group,
)
from .listing import ListQuery, ResourceListing, list_resources, register
from .payload import json_body
from .preconditions import NotModified, check_read, check_write, etag
from .sorting import SortKey

bp = Blueprint("groups", __name__)


def location(group_id: str) -> str:
    return url_for("scim.groups.get_group", group_id=group_id, _external=True)


def _users_url() -> str:
    """The URL of /Users/ with a trailing slash: a member's $ref is this and its id."""
    return url_for("scim.users.get_user", record_id="-", _external=True)[:-1]


def _parameters() -> ResponseParameters[Any] | None:
    attributes, excluded = request.args.get("attributes"), request.args.get("excludedAttributes")
    if not attributes and not excluded:
        return None
    return ResponseParameters[GroupModel].model_validate({"attributes": attributes, "excludedAttributes": excluded})


def _document(group: Group, members: list[Member] | None, parameters: Any, context: Context) -> dict[str, Any]:
    document: dict[str, Any] = to_scim_group(group, location(group.id)).model_dump(
        scim_ctx=context, response_parameters=parameters)
    if members:
        document["members"] = member_documents(members, _users_url(), member_selection(parameters))
    return document


_MEMBERS_CACHE: collections.OrderedDict[tuple[str, int], list[Member]] = collections.OrderedDict()
_MEMBERS_CACHE_LIMIT = 200_000  # members kept in all, per process; the least recently used group goes first


def _members(group: Group) -> list[Member]:
    """The group's SCIM members, kept per (group id, version): every change of them gives the group a new version.

    Outside a transaction only: what a transaction reads may yet be rolled back.
    """
    if db.in_transaction():
        return groups.directory_members([group.id])[group.id]
    key = (group.id, group.version)
    members = _MEMBERS_CACHE.get(key)
    if members is not None:
        _MEMBERS_CACHE.move_to_end(key)
        return members
    members = groups.directory_members([group.id])[group.id]
    if len(members) <= _MEMBERS_CACHE_LIMIT:
        for stale in [k for k in _MEMBERS_CACHE if k[0] == group.id]:
            del _MEMBERS_CACHE[stale]
        _MEMBERS_CACHE[key] = members
        while sum(len(m) for m in _MEMBERS_CACHE.values()) > _MEMBERS_CACHE_LIMIT:
            _MEMBERS_CACHE.popitem(last=False)
    return members


def _render(group: Group, status: int = 200) -> Response:
    headers = {"ETag": etag(group.version)}
    if status == 201:
        headers["Location"] = location(group.id)
        return Response(_body(group, Context.RESOURCE_CREATION_RESPONSE), status=status, mimetype=MEDIA_TYPE,
                        headers=headers)
    # the document is the group's row at this version (members included: changing them, or a member's
    # name, raises the version) seen through the request's location and attribute selection
    key = (group.id, group.version, location(group.id), request.args.get("attributes"),
           request.args.get("excludedAttributes"))
    body = rendered.groups.get(key)
    if body is None:
        body = _body(group, Context.RESOURCE_QUERY_RESPONSE)
        rendered.groups.put(key, body)
    return Response(body, status=status, mimetype=MEDIA_TYPE, headers=headers)


def _body(group: Group, context: Context) -> bytes:
    parameters = _parameters()
    members = _members(group) if member_selection(parameters).included else None
    return json.dumps(_document(group, members, parameters, context), separators=(",", ":")).encode()


def _group_rows(account: Account) -> Any:
    return Group.select().where(Group.account == account.id)


def _group_resources(rows: list[Group], query: ListQuery) -> list[GroupModel]:
    """A page of groups; their members are read in one query, and not at all when the query leaves them out."""
    parameters = None
    if query.attributes or query.excluded_attributes:
        parameters = ResponseParameters[GroupModel].model_validate(
            {"attributes": query.attributes, "excludedAttributes": query.excluded_attributes})
    members = groups.directory_members([r.id for r in rows]) if rows and member_selection(parameters).included \
        else {}
    resources = [to_scim_group(r, location(r.id)) for r in rows]
    if members:
        users_url = _users_url()
        for resource in resources:
            resource.members = member_models(members[str(resource.id)], users_url) or None
    return resources


GROUPS = register(ResourceListing(
    name="Group", endpoint="Groups", model=GroupModel, query=_group_rows, compile_filter=compile_group_filter,
    sort_key=group_sort_key, default_sort=lambda: SortKey(Group.display_name_key), id_column=lambda: Group.id,
    serialise=_group_resources))


@bp.get("/Groups")
def list_groups() -> Response:
    """Filter, sort and page the account's Groups in SQL (RFC 7644 §3.4.2; cursors RFC 9865), like Users."""
    return list_resources([GROUPS.name], g.account, ListQuery.from_args(request.args))


@bp.get("/Groups/<id:group_id>")
def get_group(group_id: str) -> Response:
    group = groups.find_group(g.account, group_id)
    try:
        check_read(group.version)
    except NotModified:
        return Response(status=304, headers={"ETag": etag(group.version)})
    return _render(group)


@bp.post("/Groups")
def create_group() -> Response:
    name, external_id, member_ids = from_scim_group(json_body(), Context.RESOURCE_CREATION_REQUEST)
    group = groups.create_directory_group(g.account, name, external_id=external_id, member_records=member_ids,
                                          by=g.actor)
    return _render(group, 201)


@bp.put("/Groups/<id:group_id>")
def replace_group(group_id: str) -> Response:
    """RFC 7644 §3.5.1: displayName, externalId and members become what the body says."""
    group = groups.find_group(g.account, group_id)
    name, external_id, member_ids = from_scim_group(json_body(), Context.RESOURCE_REPLACEMENT_REQUEST)
    group = groups.update_group(group, display_name=name, external_id=external_id,
                                members=groups.MemberChanges(add=tuple(member_ids), replace=True), by=g.actor,
                                check=check_write)
    return _render(group)


@bp.patch("/Groups/<id:group_id>")
def patch_group_view(group_id: str) -> Response:
    """RFC 7644 §3.5.2; answers 200 with the group (without members under ``excludedAttributes=members``)."""
    group = groups.find_group(g.account, group_id)
    change = patch_group(json_body(), group)
    # If-Match is checked under the account lock, against the version a concurrent change may have raised
    group = groups.update_group(group, display_name=change.display_name, external_id=change.external_id,
                                members=change.members, by=g.actor, check=check_write)
    return _render(group)


@bp.delete("/Groups/<id:group_id>")
def delete_group(group_id: str) -> Response:
    group = groups.find_group(g.account, group_id)
    groups.delete_group(group, by=g.actor, check=check_write)
    return Response(status=204)
