"""Service discovery (RFC 7644 §4): what this server supports, from the models it really uses.

/Schemas publishes only what Roster stores and returns (issue 3): the models'
own schemas, less the attributes no record holds (the User's ``groups``,
the manager's ``displayName``), with the names and descriptions of
RFC 7643 §8.7.1.
"""

from __future__ import annotations

import functools
from typing import Any

from flask import Blueprint, Response
from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    ETag,
    Filter,
    ListResponse,
    Mutability,
    Pagination,
    Patch,
    ResourceType,
    Schema,
    ServiceProviderConfig,
    Sort,
)
from scim2_models import Group as GroupModel
from werkzeug.exceptions import NotFound

from models import urns

from .bulk import MAX_OPERATIONS, MAX_PAYLOAD_SIZE
from .errors import scim_response
from .mapping import (
    ROSTER_USER_DESCRIPTION,
    DirectoryEnterpriseUser,
    DirectoryUser,
    RosterUser,
    UserModel,
)
from .search import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

bp = Blueprint("discovery", __name__)

# attribute paths (lower case) that no record stores or returns
_UNPUBLISHED = {
    urns.CORE_USER: {"groups"},
    urns.ENTERPRISE_USER: {"manager.displayname"},
}


def _config() -> ServiceProviderConfig:
    return ServiceProviderConfig(
        documentation_uri=None,
        patch=Patch(supported=True),
        bulk=Bulk(supported=True, max_operations=MAX_OPERATIONS, max_payload_size=MAX_PAYLOAD_SIZE),
        filter=Filter(supported=True, max_results=MAX_PAGE_SIZE),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=True),
        etag=ETag(supported=True),
        # RFC 9865 §4: cursors (keyset, no timeout) and startIndex both work; index is what a client gets by default
        pagination=Pagination(cursor=True, index=True,
                              default_pagination_method=Pagination.DefaultPaginationMethod.index,
                              default_page_size=DEFAULT_PAGE_SIZE, max_page_size=MAX_PAGE_SIZE),
        authentication_schemes=[AuthenticationScheme(
            type=AuthenticationScheme.Type.oauthbearertoken, name="OAuth Bearer Token", primary=True,
            description="Authentication with a SCIM token created by 'roster token create'.")],
    )


def _published(schema: Schema, name: str, description: str) -> Schema:
    """``schema`` named as RFC 7643 §8.7.1 names it, without the attributes Roster does not store."""
    hidden = _UNPUBLISHED.get(str(schema.id), set())
    attributes = []
    for attribute in schema.attributes or []:
        attr_name = str(attribute.name).lower()
        if attr_name in hidden:
            continue
        if attribute.sub_attributes:
            subs = [s for s in attribute.sub_attributes if f"{attr_name}.{str(s.name).lower()}" not in hidden]
            attribute = attribute.model_copy(update={"sub_attributes": subs})
        attributes.append(attribute)
    return schema.model_copy(update={"name": name, "description": description, "attributes": attributes})


def _group_schema() -> Schema:
    """Members are Users of the account (DESIGN.md §3): no nested groups."""
    schema = GroupModel.to_schema()
    attributes = []
    for attribute in schema.attributes or []:
        if str(attribute.name) == "members" and attribute.sub_attributes:
            subs = []
            for sub in attribute.sub_attributes:
                if str(sub.name) == "$ref":
                    sub = sub.model_copy(update={"reference_types": ["User"]})
                elif str(sub.name) == "type":
                    sub = sub.model_copy(update={"canonical_values": ["User"]})
                elif str(sub.name) == "display":
                    # the member User's own displayName, not what a client sends
                    sub = sub.model_copy(update={"mutability": Mutability.read_only})
                subs.append(sub)
            attribute = attribute.model_copy(update={"sub_attributes": subs})
        attributes.append(attribute)
    return schema.model_copy(update={"name": "Group", "description": "Group", "attributes": attributes})


@functools.cache
def _schemas() -> dict[str, Schema]:
    schemas = [
        _published(DirectoryUser.to_schema(), "User", "User Account"),
        _published(DirectoryEnterpriseUser.to_schema(), "EnterpriseUser", "Enterprise User"),
        _published(RosterUser.to_schema(), "RosterUser", ROSTER_USER_DESCRIPTION),
        _group_schema(),
    ]
    return {str(schema.id): schema for schema in schemas}


@functools.cache
def _resource_types() -> dict[str, ResourceType]:
    user = ResourceType.from_resource(UserModel).model_copy(update={"description": "User Account"})
    group = ResourceType.from_resource(GroupModel)
    return {str(r.id): r for r in (user, group)}


def _list(model: Any, resources: list[Any]) -> Response:
    listing = ListResponse[model](total_results=len(resources), start_index=1, items_per_page=len(resources),
                                resources=resources)
    return scim_response(listing.model_dump(scim_ctx=Context.SEARCH_RESPONSE))


def _one(resource: Any) -> Response:
    return scim_response(resource.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))


@bp.get("/ServiceProviderConfig")
def service_provider_config() -> Response:
    return _one(_config())


@bp.get("/ResourceTypes")
def resource_types() -> Response:
    return _list(ResourceType, list(_resource_types().values()))


@bp.get("/ResourceTypes/<resource_type_id>")
def resource_type(resource_type_id: str) -> Response:
    """One resource type by its id (RFC 7644 §4): ``User`` or ``Group``."""
    found = _resource_types().get(resource_type_id)
    if found is None:
        raise NotFound(f"There is no resource type {resource_type_id!r}.")
    return _one(found)


@bp.get("/Schemas")
def schemas() -> Response:
    return _list(Schema, list(_schemas().values()))


@bp.get("/Schemas/<path:schema_id>")
def schema(schema_id: str) -> Response:
    """One schema by its URN (RFC 7644 §4)."""
    found = _schemas().get(schema_id)
    if found is None:
        raise NotFound(f"There is no schema {schema_id!r}.")
    return _one(found)
