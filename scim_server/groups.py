"""/Groups (RFC 7644 §3.3–§3.6): parse → one call into the storage port → serialise.

Members are SCIM User ids (directory records, linked to a person or not).
``excludedAttributes=members`` never loads them; member changes are set
operations in SQL (models.groups). Lists and searches go through
:mod:`.listing`, registered here like Users.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, g, request
from scim2_models import Group as GroupModel

from models import directory_groups
from models.deployment import Deployment
from models.tenancy import Account, Group

from .documents import group_location, group_response, response_parameters, users_url
from .group_filters import compile_group_filter, group_sort_key
from .group_mapping import member_models, member_selection, to_scim_group
from .listing import ResourceListing, listed
from .payload import json_body
from .preconditions import NotModified, check_read, etag, expected_versions
from .search import ListQuery
from .sorting import SortKey
from .storage import GroupStore

bp = Blueprint("groups", __name__)


def store() -> GroupStore:
    """The account's Groups, changed by the request's actor."""
    return GroupStore(g.account, g.actor, Deployment.of(current_app))


def _group_rows(account: Account) -> Any:
    return Group.select().where(Group.account == account.id)


def _group_resources(rows: list[Group], query: ListQuery) -> list[GroupModel]:
    """A page of groups; their members are read in one query, and not at all when the query leaves them out."""
    parameters = response_parameters(GroupModel, query.attributes, query.excluded_attributes)
    wanted = bool(rows) and member_selection(parameters).included
    members = directory_groups.directory_members([r.id for r in rows]) if wanted else {}
    resources = [to_scim_group(r, group_location(r.id)) for r in rows]
    if members:
        url = users_url()
        for resource in resources:
            resource.members = member_models(members[str(resource.id)], url) or None
    return resources


GROUPS = ResourceListing(
    name="Group", endpoint="Groups", model=GroupModel, query=_group_rows, compile_filter=compile_group_filter,
    sort_key=group_sort_key, default_sort=lambda: SortKey(Group.display_name_key), id_column=lambda: Group.id,
    serialise=_group_resources)


@bp.get("/Groups")
def list_groups() -> Response:
    """Filter, sort and page the account's Groups in SQL (RFC 7644 §3.4.2; cursors RFC 9865), like Users."""
    return listed(store().search(ListQuery.from_args(request.args)))


@bp.get("/Groups/<id:group_id>")
def get_group(group_id: str) -> Response:
    group = store().get(group_id)
    try:
        check_read(group.version, request.headers.get("If-None-Match"))
    except NotModified:
        return Response(status=304, headers={"ETag": etag(group.version)})
    return group_response(group)


@bp.post("/Groups")
def create_group() -> Response:
    return group_response(store().create(json_body()), 201)


@bp.put("/Groups/<id:group_id>")
def replace_group(group_id: str) -> Response:
    """RFC 7644 §3.5.1: displayName, externalId and members become what the body says."""
    return group_response(store().replace(group_id, json_body(), expected_versions(request.headers.get("If-Match"))))


@bp.patch("/Groups/<id:group_id>")
def patch_group_view(group_id: str) -> Response:
    """RFC 7644 §3.5.2; answers 200 with the group (without members under ``excludedAttributes=members``)."""
    return group_response(store().patch(group_id, json_body(), expected_versions(request.headers.get("If-Match"))))


@bp.delete("/Groups/<id:group_id>")
def delete_group(group_id: str) -> Response:
    store().delete(group_id, expected_versions(request.headers.get("If-Match")))
    return Response(status=204)
