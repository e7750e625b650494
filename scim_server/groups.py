"""/Groups (RFC 7644 §3.3–§3.6): parse → one call into models.groups → serialise.

Members are SCIM User ids (directory records). ``excludedAttributes=members``
never loads them; member changes are set operations in SQL (models.groups).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, request, url_for
from scim2_models import Context, InvalidSyntaxException, InvalidValueException, ListResponse, ResponseParameters
from scim2_models import Group as GroupModel

from models import groups
from models.tenancy import Group

from .errors import scim_response
from .group_filters import compile_group_filter, group_sort_column
from .group_mapping import (
    Member,
    from_scim_group,
    member_documents,
    member_selection,
    patch_group,
    to_scim_group,
)
from .listing import MAX_PAGE_SIZE
from .preconditions import NotModified, check_read, check_write, etag

bp = Blueprint("groups", __name__)


def _body() -> Any:
    # Clients send application/scim+json, application/json or nothing at all
    payload = request.get_json(force=True, silent=True)
    if not isinstance(payload, dict):
        raise InvalidSyntaxException(detail="The request body must be a JSON object.")
    return payload


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


def _render(group: Group, status: int = 200) -> Response:
    parameters = _parameters()
    members = groups.directory_members([group.id])[group.id] if member_selection(parameters).included else None
    context = Context.RESOURCE_CREATION_RESPONSE if status == 201 else Context.RESOURCE_QUERY_RESPONSE
    headers = {"ETag": etag(group.version)}
    if status == 201:
        headers["Location"] = location(group.id)
    return scim_response(_document(group, members, parameters, context), status, headers)


def _integer(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidValueException(detail=f"{name} must be an integer.") from None


@bp.get("/Groups")
def list_groups() -> Response:
    """Filter, sort and page in SQL (RFC 7644 §3.4.2): ORDER BY the sort key (displayName) then id."""
    where = Group.account == g.account.id
    if request.args.get("filter"):
        where &= compile_group_filter(request.args["filter"])
    start = max(_integer("startIndex", 1), 1)
    count = min(max(_integer("count", MAX_PAGE_SIZE), 0), MAX_PAGE_SIZE)
    query = Group.select().where(where)
    key = group_sort_column(request.args["sortBy"]) if request.args.get("sortBy") else Group.display_name_key
    # groups with no value sort last either way, the same on SQLite and PostgreSQL
    descending = request.args.get("sortOrder", "ascending").lower() == "descending"
    order = key.desc(nulls="LAST") if descending else key.asc(nulls="LAST")
    page = list(query.order_by(order, Group.id).offset(start - 1).limit(count)) if count else []
    parameters = _parameters()
    members = groups.directory_members([p.id for p in page]) if page and member_selection(parameters).included \
        else {}
    listing = ListResponse[GroupModel](total_results=query.count(), start_index=start, items_per_page=len(page),
                                       resources=[to_scim_group(p, location(p.id)) for p in page])
    document = listing.model_dump(scim_ctx=Context.SEARCH_RESPONSE, response_parameters=parameters)
    resources = document.setdefault("Resources", [])
    selection = member_selection(parameters)
    for resource in resources:
        if members.get(resource["id"]):
            resource["members"] = member_documents(members[resource["id"]], _users_url(), selection)
    return scim_response(document)


@bp.get("/Groups/<group_id>")
def get_group(group_id: str) -> Response:
    group = groups.find_group(g.account, group_id)
    try:
        check_read(group.version)
    except NotModified:
        return Response(status=304, headers={"ETag": etag(group.version)})
    return _render(group)


@bp.post("/Groups")
def create_group() -> Response:
    name, external_id, member_ids = from_scim_group(_body(), Context.RESOURCE_CREATION_REQUEST)
    group = groups.create_directory_group(g.account, name, external_id=external_id, member_records=member_ids,
                                          by=g.actor)
    return _render(group, 201)


@bp.put("/Groups/<group_id>")
def replace_group(group_id: str) -> Response:
    """RFC 7644 §3.5.1: displayName, externalId and members become what the body says."""
    group = groups.find_group(g.account, group_id)
    check_write(group.version)
    name, external_id, member_ids = from_scim_group(_body(), Context.RESOURCE_REPLACEMENT_REQUEST)
    group = groups.update_group(group, display_name=name, external_id=external_id,
                                members=groups.MemberChanges(add=tuple(member_ids), replace=True), by=g.actor)
    return _render(group)


@bp.patch("/Groups/<group_id>")
def patch_group_view(group_id: str) -> Response:
    """RFC 7644 §3.5.2; answers 200 with the group (without members under ``excludedAttributes=members``)."""
    group = groups.find_group(g.account, group_id)
    check_write(group.version)
    change = patch_group(_body(), group)
    group = groups.update_group(group, display_name=change.display_name, external_id=change.external_id,
                                members=change.members, by=g.actor)
    return _render(group)


@bp.delete("/Groups/<group_id>")
def delete_group(group_id: str) -> Response:
    group = groups.find_group(g.account, group_id)
    check_write(group.version)
    groups.delete_group(group, by=g.actor)
    return Response(status=204)
