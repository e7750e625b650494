"""/Users (RFC 7644 §3.3–§3.6): parse → one call into models.directory → serialise."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, request, url_for
from peewee import JOIN
from scim2_models import Context, InvalidSyntaxException, InvalidValueException, ListResponse, ResponseParameters

from models import directory
from models.tenancy import DirectoryRecord, Membership

from .errors import scim_response
from .filters import compile_user_filter, sort_column
from .mapping import UserModel, etag, from_scim_user, to_scim_user

bp = Blueprint("users", __name__)

MAX_PAGE_SIZE = 200


def _body() -> Any:
    # Clients send application/scim+json, application/json or nothing at all
    payload = request.get_json(force=True, silent=True)
    if not isinstance(payload, dict):
        raise InvalidSyntaxException(detail="The request body must be a JSON object.")
    return payload


def _location(record_id: str) -> str:
    return url_for("scim.users.get_user", record_id=record_id, _external=True)


def _parameters() -> ResponseParameters[Any] | None:
    attributes, excluded = request.args.get("attributes"), request.args.get("excludedAttributes")
    if not attributes and not excluded:
        return None
    return ResponseParameters[UserModel].model_validate(  # type: ignore[valid-type]
        {"attributes": attributes, "excludedAttributes": excluded})


def _render(record: DirectoryRecord, membership: Membership | None, status: int = 200) -> Response:
    user = to_scim_user(record, membership, _location(record.id))
    context = Context.RESOURCE_CREATION_RESPONSE if status == 201 else Context.RESOURCE_QUERY_RESPONSE
    headers = {"ETag": etag(record)}
    if status == 201:
        headers["Location"] = _location(record.id)
    return scim_response(user.model_dump(scim_ctx=context, response_parameters=_parameters()), status, headers)


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
    resources = [to_scim_user(r, r.membership if r.membership_id else None, _location(r.id)) for r in page]
    listing = ListResponse[UserModel](total_results=total, start_index=start,  # type: ignore[valid-type]
                                      items_per_page=len(resources), resources=resources)
    return scim_response(listing.model_dump(scim_ctx=Context.SEARCH_RESPONSE, response_parameters=_parameters()))


@bp.get("/Users/<record_id>")
def get_user(record_id: str) -> Response:
    record = directory.get_record(g.account, record_id)
    return _render(record, directory.membership_of(record))


@bp.post("/Users")
def create_user() -> Response:
    user_name, attributes, external_id, password = from_scim_user(_body(), Context.RESOURCE_CREATION_REQUEST)
    record = directory.create_record(g.account, user_name, attributes, external_id, by=g.actor, password=password)
    return _render(record, directory.membership_of(record), 201)


@bp.put("/Users/<record_id>")
def replace_user(record_id: str) -> Response:
    record = directory.get_record(g.account, record_id)
    user_name, attributes, external_id, password = from_scim_user(_body(), Context.RESOURCE_REPLACEMENT_REQUEST)
    record = directory.replace_record(record, user_name, attributes, external_id, by=g.actor, password=password)
    return _render(record, directory.membership_of(record))


@bp.delete("/Users/<record_id>")
def delete_user(record_id: str) -> Response:
    directory.delete_record(directory.get_record(g.account, record_id), by=g.actor)
    return Response(status=204)
