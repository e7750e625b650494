"""Service discovery (RFC 7644 §4): what this server supports, from the models it really uses."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response
from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    EnterpriseUser,
    ETag,
    Filter,
    ListResponse,
    Pagination,
    Patch,
    ResourceType,
    Schema,
    ServiceProviderConfig,
    Sort,
    User,
)

from .errors import scim_response
from .listing import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from .mapping import RosterUser, UserModel

bp = Blueprint("discovery", __name__)


def _config() -> ServiceProviderConfig:
    return ServiceProviderConfig(
        documentation_uri=None,
        patch=Patch(supported=False),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
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


def _schemas() -> list[Schema]:
    return [User.to_schema(), EnterpriseUser.to_schema(), RosterUser.to_schema()]


def _list(model: Any, resources: list[Any]) -> Response:
    listing = ListResponse[model](total_results=len(resources), start_index=1, items_per_page=len(resources),
                                resources=resources)
    return scim_response(listing.model_dump(scim_ctx=Context.SEARCH_RESPONSE))


@bp.get("/ServiceProviderConfig")
def service_provider_config() -> Response:
    return scim_response(_config().model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))


@bp.get("/ResourceTypes")
def resource_types() -> Response:
    return _list(ResourceType, [ResourceType.from_resource(UserModel)])


@bp.get("/Schemas")
def schemas() -> Response:
    return _list(Schema, _schemas())
