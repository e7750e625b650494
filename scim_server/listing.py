"""Listing resources (RFC 7644 §3.4.2): filter, sort and page in SQL, never in memory."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, request
from peewee import JOIN
from scim2_models import Context, InvalidValueException, ListResponse

from models.tenancy import DirectoryRecord, Membership

from .errors import scim_response
from .filters import compile_user_filter, sort_column
from .mapping import UserModel, to_scim_user
from .users import location, response_parameters

bp = Blueprint("listing", __name__)

MAX_PAGE_SIZE = 200


def _integer(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidValueException(detail=f"{name} must be an integer.") from None


@bp.get("/Users")
def list_users() -> Response:
    """Filter, sort and page in SQL (RFC 7644 §3.4.2): ORDER BY the sort key then id, one WHERE for both."""
    where = DirectoryRecord.account == g.account.id
    if request.args.get("filter"):
        where &= compile_user_filter(request.args["filter"])
    start = max(_integer("startIndex", 1), 1)
    count = min(max(_integer("count", MAX_PAGE_SIZE), 0), MAX_PAGE_SIZE)
    query = (DirectoryRecord.select(DirectoryRecord, Membership)
             .join(Membership, JOIN.LEFT_OUTER, on=(DirectoryRecord.membership == Membership.id)).where(where))
    total = query.count()
    order: list[Any] = [DirectoryRecord.created_at]
    if request.args.get("sortBy"):
        order = [sort_column(request.args["sortBy"])]
    if request.args.get("sortOrder", "ascending").lower() == "descending":
        order = [o.desc() for o in order]
    page = list(query.order_by(*order, DirectoryRecord.id).offset(start - 1).limit(count)) if count else []
    resources = [to_scim_user(r, r.membership if r.membership_id else None, location(r.id)) for r in page]
    listing = ListResponse[UserModel](total_results=total, start_index=start,  # type: ignore[valid-type]
                                      items_per_page=len(resources), resources=resources)
    document = listing.model_dump(scim_ctx=Context.SEARCH_RESPONSE, response_parameters=response_parameters())
    return scim_response(document)
