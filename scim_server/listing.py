"""Listing resources (RFC 7644 §3.4.2): filter, sort and page in SQL, never in memory.

Each resource type registers a :class:`ResourceListing` (its model, base
query, filter compiler, sort keys and serialiser) with :func:`register`;
``GET /<Type>``, ``POST /<Type>/.search`` and ``POST /.search`` all answer
through :func:`list_resources`. One WHERE counts and pages. Pages are ordered
by the sort key then id, and come by index (``startIndex``, RFC 7644
§3.4.2.4) or by cursor (RFC 9865): a keyset on (sort key, id), so a deep page
costs what the first one does.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import functools
import hashlib
import hmac
import json
import operator
from collections.abc import Callable, Mapping
from typing import Any

import peewee
from flask import Blueprint, Response, g, request
from peewee import JOIN
from scim2_models import (
    Context,
    InvalidCursorException,
    InvalidFilterException,
    InvalidValueException,
    ListResponse,
    ResponseParameters,
)
from werkzeug.exceptions import NotFound

from models import settings
from models.tenancy import Account, DirectoryRecord, Membership

from . import search
from .errors import scim_response
from .filters import Expression, SortKey, compile_user_filter, user_sort_key
from .mapping import UserModel, to_scim_user
from .users import location

bp = Blueprint("listing", __name__)

MAX_PAGE_SIZE = 200
"""The most resources one page holds, whatever ``count`` asks (advertised in /ServiceProviderConfig)."""

DEFAULT_PAGE_SIZE = MAX_PAGE_SIZE


@dataclasses.dataclass(frozen=True)
class ResourceListing:
    """How one resource type is listed.

    ``query(account)`` is the base SELECT of the account's resources (joins
    included, no WHERE beyond the tenant); ``compile_filter(text)`` and
    ``sort_key(sortBy)`` raise InvalidFilterException for what they cannot
    do; ``serialise(rows, query)`` turns a page of rows into scim2-models
    resources, told the query so that what ``attributes`` and
    ``excludedAttributes`` leave out need not even be loaded (Groups never
    read members under ``excludedAttributes=members``).
    """

    name: str
    endpoint: str
    model: Any
    query: Callable[[Account], Any]
    compile_filter: Callable[[str], Expression]
    sort_key: Callable[[str], SortKey]
    default_sort: Callable[[], SortKey]
    id_column: Callable[[], Expression]
    serialise: Callable[[list[Any], ListQuery], list[Any]]


RESOURCE_TYPES: dict[str, ResourceListing] = {}
"""The registered listings, by resource type name, in registration order (which /.search follows)."""


def register(listing: ResourceListing) -> ResourceListing:
    """Make ``listing`` answer GET and .search for its resource type; returns it."""
    RESOURCE_TYPES[listing.name] = listing
    return listing


@dataclasses.dataclass(frozen=True)
class ListQuery:
    """The parameters of a list or search request (RFC 7644 §3.4.2, §3.4.3; RFC 9865 ``cursor``)."""

    filter: str | None = None
    sort_by: str | None = None
    descending: bool = False
    start_index: int = 1
    count: int = DEFAULT_PAGE_SIZE
    cursor: str | None = None  # "" asks for the first page by cursor
    attributes: list[str] | None = None
    excluded_attributes: list[str] | None = None

    @classmethod
    def build(cls, *, filter: str | None = None, sort_by: str | None = None, sort_order: str | None = None,
              start_index: int | None = None, count: int | None = None, cursor: str | None = None,
              attributes: list[str] | None = None, excluded_attributes: list[str] | None = None) -> ListQuery:
        """Normalise what a client sent: startIndex < 1 is 1, count < 0 is 0, count above the maximum is the maximum."""
        order = (sort_order or "ascending").lower()
        if order not in ("ascending", "descending"):
            raise InvalidValueException(detail="sortOrder must be ascending or descending.")
        return cls(filter=filter or None, sort_by=sort_by or None, descending=order == "descending",
                   start_index=max(start_index if start_index is not None else 1, 1),
                   count=min(max(count if count is not None else DEFAULT_PAGE_SIZE, 0), MAX_PAGE_SIZE),
                   cursor=cursor, attributes=attributes or None, excluded_attributes=excluded_attributes or None)

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> ListQuery:
        """From the query string of GET (RFC 7644 §3.4.2)."""

        def integer(name: str) -> int | None:
            raw = args.get(name)
            if raw is None or raw == "":
                return None
            try:
                return int(raw)
            except ValueError:
                raise InvalidValueException(detail=f"{name} must be an integer.") from None

        def names(name: str) -> list[str] | None:
            raw = args.get(name)
            return [part.strip() for part in raw.split(",") if part.strip()] if raw else None

        return cls.build(filter=args.get("filter"), sort_by=args.get("sortBy"), sort_order=args.get("sortOrder"),
                         start_index=integer("startIndex"), count=integer("count"), cursor=args.get("cursor"),
                         attributes=names("attributes"), excluded_attributes=names("excludedAttributes"))


@dataclasses.dataclass
class Page:
    """One page of rows, with what the ListResponse says about it."""

    total: int
    rows: list[Any]
    start_index: int | None = None
    next_cursor: str | None = None
    previous_cursor: str | None = None


# Cursors: base64url(JSON) "." base64url(HMAC-SHA256), all RFC 3986 unreserved
# characters as RFC 9865 §2 asks. The JSON names the account and the query the
# cursor belongs to, the direction, and the sort key of the row to resume after.

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(payload: str) -> str:
    key = hashlib.sha256(b"scim-cursor:" + settings.current.secret_key.encode()).digest()
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest()[:16])


def _fingerprint(account_id: str, listing: ResourceListing, query: ListQuery) -> str:
    text = json.dumps([account_id, listing.name, query.filter, query.sort_by, query.descending])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _encode_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"t": value.isoformat()}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and isinstance(value.get("t"), str):
        return dt.datetime.fromisoformat(value["t"])
    if value is None or isinstance(value, str | int | float):
        return value
    raise ValueError("not a key value")


def encode_cursor(fingerprint: str, direction: str, key: list[Any]) -> str:
    payload = _b64(json.dumps({"q": fingerprint, "d": direction, "k": [_encode_value(v) for v in key]},
                              separators=(",", ":")).encode())
    return f"{payload}.{_signature(payload)}"


def decode_cursor(cursor: str, fingerprint: str, width: int) -> tuple[str, list[Any]]:
    """(direction, key) of a cursor this server issued for the same query; anything else is invalidCursor."""
    try:
        payload, signature = cursor.split(".")
        if not hmac.compare_digest(signature, _signature(payload)):
            raise ValueError("bad signature")
        data = json.loads(_unb64(payload))
        if data["q"] != fingerprint or data["d"] not in ("n", "p") or len(data["k"]) != width:
            raise ValueError("another query")
        return data["d"], [_decode_value(v) for v in data["k"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidCursorException(detail="The cursor is not one this server issued for this query; "
                                            "start again with an empty cursor.") from exc


def _key_parts(listing: ResourceListing, query: ListQuery) -> list[Expression]:
    """The ORDER BY: the sort key, then id; a missing value sorts last ascending, first descending (§3.4.2.3)."""
    sort = listing.sort_key(query.sort_by) if query.sort_by else listing.default_sort()
    if sort.nullable:
        missing = peewee.Case(None, [(peewee.Expression(sort.expression, peewee.OP.IS, None), 1)], 0)
        return [missing, peewee.fn.COALESCE(sort.expression, ""), listing.id_column()]
    return [sort.expression, listing.id_column()]


def fetch_page(listing: ResourceListing, account: Account, query: ListQuery) -> Page:
    """Count and page the account's resources matching ``query``: one COUNT and at most one SELECT."""
    where = listing.query(account)
    if query.filter:
        where = where.where(listing.compile_filter(query.filter))
    parts = _key_parts(listing, query)
    fingerprint = _fingerprint(account.id, listing, query)
    direction, after = "n", None
    if query.cursor:
        direction, after = decode_cursor(query.cursor, fingerprint, len(parts))
    total = where.count()
    if query.count == 0:
        return Page(total, [], start_index=None if query.cursor is not None else query.start_index)
    select = where.select_extend(*(part.alias(f"_key{i}") for i, part in enumerate(parts[:-1])))
    forward = direction == "n"
    ascending = forward != query.descending
    ordered = select.order_by(*(part.asc() if ascending else part.desc() for part in parts))
    if query.cursor is None:
        rows = list(ordered.offset(query.start_index - 1).limit(query.count))
        return Page(total, rows, start_index=query.start_index)
    if after is not None:
        row_key, cursor_key = peewee.Tuple(*parts), peewee.Tuple(*(peewee.Value(v) for v in after))
        ordered = ordered.where(row_key > cursor_key if ascending else row_key < cursor_key)
    rows = list(ordered.limit(query.count + 1))
    more = len(rows) > query.count
    rows = rows[:query.count]
    if not forward:
        rows.reverse()
    if not rows:
        return Page(total, [])

    def key(row: Any) -> list[Any]:
        return [getattr(row, f"_key{i}") for i in range(len(parts) - 1)] + [row.id]

    has_next, has_previous = (more, after is not None) if forward else (True, more)
    return Page(total, rows,
                next_cursor=encode_cursor(fingerprint, "n", key(rows[-1])) if has_next else None,
                previous_cursor=encode_cursor(fingerprint, "p", key(rows[0])) if has_previous else None)


def _response_parameters(model: Any, query: ListQuery) -> ResponseParameters[Any] | None:
    if not query.attributes and not query.excluded_attributes:
        return None
    return ResponseParameters[model].model_validate(  # type: ignore[valid-type]
        {"attributes": query.attributes, "excludedAttributes": query.excluded_attributes})


def _respond(model: Any, page: Page, resources: list[Any], query: ListQuery) -> Response:
    listing = ListResponse[model](  # type: ignore[valid-type]
        total_results=page.total, start_index=page.start_index, items_per_page=len(resources),
        resources=resources, next_cursor=page.next_cursor, previous_cursor=page.previous_cursor)
    document = listing.model_dump(scim_ctx=Context.SEARCH_RESPONSE,
                                  response_parameters=_response_parameters(model, query))
    document.setdefault("Resources", [])  # a filter miss is 200 with Resources: [] (RFC 7644 §3.4.2)
    return scim_response(document)


def list_resources(names: list[str], account: Account, query: ListQuery) -> Response:
    """Answer a list or search over the registered resource types ``names`` (RFC 7644 §3.4.2, §3.4.3).

    Over one type, pages by index or cursor. Over several (root ``/.search``),
    a type the filter cannot apply to is left out (§3.4.2.1: its attributes
    have no value), and the types follow each other in registration order,
    paged by index only.
    """
    listings = [RESOURCE_TYPES[name] for name in names]
    if len(listings) == 1:
        page = fetch_page(listings[0], account, query)
        return _respond(listings[0].model, page, listings[0].serialise(page.rows, query), query)
    if query.cursor is not None:
        raise InvalidCursorException(detail="Cursor pagination needs one resource type: search /<Type>/.search.")
    return _list_several(listings, account, query)


def _list_several(listings: list[ResourceListing], account: Account, query: ListQuery) -> Response:
    pages: list[tuple[ResourceListing, Page]] = []
    error: InvalidFilterException | None = None
    for listing in listings:
        try:
            pages.append((listing, fetch_page(listing, account, dataclasses.replace(query, count=0))))
        except InvalidFilterException as exc:
            error = error or exc
    if not pages and error is not None:
        raise error
    total = sum(page.total for _, page in pages)
    skip, room, resources = query.start_index - 1, query.count, []
    for listing, counted in pages:
        if room == 0:
            break
        if skip >= counted.total:
            skip -= counted.total
            continue
        part = fetch_page(listing, account, dataclasses.replace(query, start_index=skip + 1, count=room))
        resources += listing.serialise(part.rows, query)
        skip, room = 0, room - len(part.rows)
    model = functools.reduce(operator.or_, [listing.model for listing, _ in pages])
    return _respond(model, Page(total, [], start_index=query.start_index), resources, query)


def _users(account: Account) -> Any:
    return (DirectoryRecord.select(DirectoryRecord, Membership)
            .join(Membership, JOIN.LEFT_OUTER, on=(DirectoryRecord.membership == Membership.id))
            .where(DirectoryRecord.account == account.id))


def _user_resources(rows: list[Any], query: ListQuery) -> list[Any]:
    return [to_scim_user(r, r.membership if r.membership_id else None, location(r.id)) for r in rows]


USERS = register(ResourceListing(
    name="User", endpoint="Users", model=UserModel, query=_users, compile_filter=compile_user_filter,
    sort_key=user_sort_key,
    default_sort=lambda: SortKey(DirectoryRecord.created_at), id_column=lambda: DirectoryRecord.id,
    serialise=_user_resources))


@bp.get("/Users")
def list_users() -> Response:
    """Filter, sort and page the account's Users in SQL (RFC 7644 §3.4.2; cursors RFC 9865)."""
    return list_resources([USERS.name], g.account, ListQuery.from_args(request.args))


def _search_body() -> ListQuery:
    # Clients send application/scim+json, application/json or nothing at all
    return ListQuery.build(**search.parse(request.get_json(force=True, silent=True)))


@bp.post("/<endpoint>/.search")
def search_resources(endpoint: str) -> Response:
    """POST /<Type>/.search (RFC 7644 §3.4.3): a SearchRequest, answered like GET /<Type>."""
    names = [listing.name for listing in RESOURCE_TYPES.values() if listing.endpoint == endpoint]
    if not names:
        raise NotFound(f"There is no resource type at /{endpoint}.")
    return list_resources(names, g.account, _search_body())


@bp.post("/.search")
def search_everything() -> Response:
    """POST /.search at the root (RFC 7644 §3.4.3): every registered resource type."""
    return list_resources(list(RESOURCE_TYPES), g.account, _search_body())
