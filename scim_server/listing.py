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

import dataclasses
import functools
import json
import operator
from collections.abc import Callable
from typing import Any

import peewee
from flask import Blueprint, Response, current_app, g, request
from scim2_models import (
    Context,
    InvalidCursorException,
    InvalidFilterException,
    ListResponse,
)
from werkzeug.exceptions import NotFound

from models.deployment import Deployment
from models.tenancy import Account

from . import cursor
from .documents import response_parameters, user_location
from .errors import MEDIA_TYPE
from .search import ListQuery
from .sorting import SortKey, Walk
from .storage import UserStore, store_for
from .user_attributes import Expression

bp = Blueprint("listing", __name__)

@dataclasses.dataclass(frozen=True)
class ResourceListing:
    """How one resource type is listed.

    ``query(account)`` is the base SELECT of the account's resources (joins
    included, no WHERE beyond the tenant); ``compile_filter(text, account_id)``
    raises InvalidFilterException and ``sort_key(sortBy)`` InvalidValueException
    for what they cannot do; ``serialise(rows, query)`` turns a page of rows into scim2-models
    resources, told the query so that what ``attributes`` and
    ``excludedAttributes`` leave out need not even be loaded (Groups never
    read members under ``excludedAttributes=members``).

    ``narrow_query(account)``, when given with ``by_ids``, is the same
    SELECT without the joins of ``query`` (whose models are ``joined``), each
    of which matches at most one row: it counts, and picks a page's ids
    through the covering index, whenever neither the filter nor the sort key
    reads a joined model; ``by_ids(account, ids)`` then loads those rows by
    primary key (the account's only). ``documents(rows)``, when given, is
    the full JSON text of each row's resource, used when the query names no
    ``attributes`` or ``excludedAttributes`` (kept per version: see rendered.py);
    ``documents_by_ids(account, ids)``, when given too, is the same from the
    picked ids, which need not load the full rows of documents already kept.
    ``lookup(account, filter)``, when given, answers a first page for a
    filter that names one resource by a unique key (its rows), or None when
    the filter is not of that shape.
    """

    name: str
    endpoint: str
    model: Any
    query: Callable[[Account], Any]
    compile_filter: Callable[[str, str], Expression]
    sort_key: Callable[[str], SortKey]
    default_sort: Callable[[], SortKey]
    id_column: Callable[[], Expression]
    serialise: Callable[[list[Any], ListQuery], list[Any]]
    narrow_query: Callable[[Account], Any] | None = None
    joined: tuple[Any, ...] = ()
    by_ids: Callable[[Account, list[Any]], list[Any]] | None = None
    documents: Callable[[list[Any]], list[str]] | None = None
    documents_by_ids: Callable[[Account, list[Any]], list[str]] | None = None
    lookup: Callable[[Account, str], list[Any] | None] | None = None


RESOURCE_TYPES: dict[str, ResourceListing] = {}
"""The registered listings, by resource type name, in registration order (which /.search follows)."""


def register(listing: ResourceListing) -> ResourceListing:
    """Make ``listing`` answer GET and .search for its resource type; returns it."""
    RESOURCE_TYPES[listing.name] = listing
    return listing


@dataclasses.dataclass
class Page:
    """One page of rows, with what the ListResponse says about it."""

    total: int
    rows: list[Any]
    start_index: int | None = None
    next_cursor: str | None = None
    previous_cursor: str | None = None
    narrow: bool = False  # rows are the picked ids only (fetch_page with full=False)


def _key_parts(listing: ResourceListing, query: ListQuery) -> tuple[list[Expression], SortKey]:
    """The ORDER BY: the sort key, then id; a missing value sorts last ascending, first descending (§3.4.2.3).

    With the sort key, whose join (``SortKey.join``) is added to the page's SELECT only.
    """
    sort = listing.sort_key(query.sort_by) if query.sort_by else listing.default_sort()
    if sort.nullable:
        missing = peewee.Case(None, [(peewee.Expression(sort.expression, peewee.OP.IS, None), 1)], 0)
        return [missing, peewee.fn.COALESCE(sort.expression, sort.missing), listing.id_column()], sort
    if sort.expression is listing.id_column():
        return [listing.id_column()], sort  # ordered by id already: "id, id" would have SQLite sort each tie again
    return [sort.expression, listing.id_column()], sort


def _mentions(node: Any, models: tuple[Any, ...], seen: set[int] | None = None) -> bool:
    """Whether a peewee expression reads a column of one of ``models`` (subqueries included)."""
    if not models:
        return False
    if isinstance(node, peewee.Field):
        return node.model in models  # not further: a foreign key names its related model without reading it
    if isinstance(node, type):
        return node in models
    if isinstance(node, list | tuple | set | frozenset):
        return any(_mentions(item, models, seen) for item in node)
    if isinstance(node, dict):
        return any(_mentions(item, models, seen) for item in node.values())
    if isinstance(node, peewee.Node):
        seen = set() if seen is None else seen
        if id(node) in seen:
            return False
        seen.add(id(node))
        return any(_mentions(value, models, seen) for value in vars(node).values())
    return False


def fetch_page(listing: ResourceListing, account: Account, query: ListQuery, *, cursor_key: str,
               full: bool = True) -> Page:
    """Count and page the account's resources matching ``query``: one COUNT and at most two SELECTs.

    Through ``narrow_query`` when neither filter nor sort reads a joined
    model: the COUNT runs over the listed table alone, and the page's ids
    come from the covering index before its full rows are loaded by id (a
    deep ``startIndex`` skips index entries, not joined rows). With
    ``full=False`` such a page's rows are those ids (``Page.narrow``) and
    nothing more is loaded.

    One function (about 60 lines): the count, the direction a page is read in
    and the cursor's key decide each other's statements, and apart they would
    pass all of them back and forth.
    """
    condition = listing.compile_filter(query.filter, account.id) if query.filter else None
    parts, sort = _key_parts(listing, query)
    join = sort.join
    fingerprint = cursor.fingerprint(account.id, listing.name, query.filter, query.sort_by, query.descending)
    direction, after = "n", None
    if query.cursor:
        direction, after = cursor.decode(cursor_key, query.cursor, fingerprint, len(parts))

    def base(narrow: bool) -> Any:
        select = listing.narrow_query(account) if narrow and listing.narrow_query else listing.query(account)
        return select.where(condition) if condition is not None else select

    narrow_count = listing.narrow_query is not None and not _mentions(condition, listing.joined)
    narrow = narrow_count and listing.by_ids is not None and not _mentions(parts, listing.joined)

    def counted() -> int:
        return int(base(narrow_count).count())

    # a first page (startIndex 1, or a cursor's first) that is not full holds every match: it is
    # counted without a COUNT, which for a filter lookup is a statement saved; any other page counts
    first_page = query.start_index == 1 if query.cursor is None else after is None
    total = None if first_page and query.count > 0 else counted()
    if query.count == 0:
        return Page(counted(), [], start_index=None if query.cursor is not None else query.start_index)
    forward = direction == "n"
    skip = query.start_index - 1
    picked: list[Any]
    if sort.walk is not None and condition is None and narrow:
        size = query.count
        picked = _walked(sort.walk, account.id, forward != query.descending, query, after,
                         lambda: total if total is not None else counted())
    else:
        where = base(narrow) if join is None else join(base(narrow))
        if query.cursor is None and total is not None and skip > total // 2:
            # past the middle, the page is counted from the end, read backwards, and turned
            # round: the order is total (ties broken by id), so a deep page skips as few
            # index entries as the first one does
            forward, skip, size = False, max(total - skip - query.count, 0), min(query.count, max(total - skip, 0))
        else:
            size = query.count
        picked = _ordered_page(listing, where, parts, narrow, forward != query.descending, query, after, skip, size)
    if total is None:
        total = len(picked) if len(picked) < (query.count + 1 if query.cursor is not None else size) else counted()
    more = query.cursor is not None and len(picked) > query.count
    picked = picked[:query.count]
    rows = _full_rows(listing, account, picked) if narrow and picked and full else picked
    if not forward:
        picked.reverse()
        if rows is not picked:
            rows.reverse()
    if query.cursor is None:
        return Page(total, rows, start_index=query.start_index, narrow=narrow and not full)
    if not rows:
        return Page(total, [])
    has_next, has_previous = (more, after is not None) if forward else (True, more)
    next_cursor = cursor.encode(cursor_key, fingerprint, "n", _key(picked[-1], parts)) if has_next else None
    previous_cursor = cursor.encode(cursor_key, fingerprint, "p", _key(picked[0], parts)) if has_previous else None
    return Page(total, rows, narrow=narrow and not full, next_cursor=next_cursor, previous_cursor=previous_cursor)


def _key(row: Any, parts: list[Expression]) -> list[Any]:
    """A picked row's place in the order, as a cursor resumes from it: its sort key (``_key0`` …), then its id."""
    return [getattr(row, f"_key{i}") for i in range(len(parts) - 1)] + [row.id]


def _ordered_page(listing: ResourceListing, where: Any, parts: list[Expression], narrow: bool, ascending: bool,
                  query: ListQuery, after: list[Any] | None, skip: int, size: int) -> list[Any]:
    """The rows of a page in SQL order: by offset (``startIndex``), or after a cursor's key (one more, to see
    whether a next page exists); each row carries its sort key as ``_key0`` … for the cursor built from it."""
    keys = [part.alias(f"_key{i}") for i, part in enumerate(parts[:-1])]
    select = where.select(listing.id_column(), *keys) if narrow else where.select_extend(*keys)
    ordered = select.order_by(*(part.asc() if ascending else part.desc() for part in parts))
    if query.cursor is None:
        ordered = ordered.offset(skip).limit(size)
    else:
        if after is not None:
            row_key, cursor_key = peewee.Tuple(*parts), peewee.Tuple(*(peewee.Value(v) for v in after))
            ordered = ordered.where(row_key > cursor_key if ascending else row_key < cursor_key)
        ordered = ordered.limit(query.count + 1)
    return list(ordered.objects() if narrow else ordered)


@dataclasses.dataclass
class _Walked:
    """A picked row of a walked listing: its id and sort key (missing, value), as the ORDER BY names them."""

    id: str
    _key0: int
    _key1: Any


def _walked(walk: Walk, account_id: str, ascending: bool, query: ListQuery, after: list[Any] | None,
            total: Callable[[], int]) -> list[_Walked]:
    """The picked rows of an unfiltered listing sorted by a stored value, read in index order.

    The order is the ORDER BY's (missing, key, id): the run of records with
    the value, then the run without (descending, the other way round). A
    cursor enters its run by keyset and reads on; an offset skips whole runs
    by their counts and, past a run's middle, reads that run from its end.
    The run without the value is walked by id, probing each record for its
    row, so it is read only when the counts (index-only) say it is not empty:
    when every record has the value (the usual case) nothing is probed; when a
    few lack it, finding them costs about the records walked past.
    """
    runs = [0, 1] if ascending else [1, 0]
    lengths: dict[int, int] = {}

    def length(missing: int) -> int:
        if not lengths:
            lengths[0] = walk.count(account_id)
            lengths[1] = max(total() - lengths[0], 0)
        return lengths[missing]

    def read(missing: int, ascending: bool, after: list[Any] | None, offset: int, limit: int) -> list[_Walked]:
        rows = (walk.with_value(account_id, ascending, after, offset, limit) if missing == 0 else
                walk.without_value(account_id, ascending, after[-1] if after else None, offset, limit))
        return [_Walked(record_id, missing, key) for record_id, key in rows]

    picked: list[_Walked] = []
    if query.cursor is not None:
        limit, reached = query.count + 1, after is None
        for missing in runs:
            if not reached and after is not None and after[0] != missing:
                continue  # the cursor is in the later run
            entry, reached = (None if after is None or after[0] != missing else after[1:]), True
            if missing == 1 and length(1) == 0:
                continue
            picked += read(missing, ascending, entry, 0, limit - len(picked))
            if len(picked) >= limit:
                break
        return picked
    skip, room = query.start_index - 1, query.count
    for missing in runs:
        if room == 0:
            break
        if skip or missing == 1:
            if skip >= length(missing):
                skip -= length(missing)
                continue
            take = min(room, length(missing) - skip)
            if skip > length(missing) // 2:
                rows = read(missing, not ascending, None, length(missing) - skip - take, take)
                rows.reverse()
            else:
                rows = read(missing, ascending, None, skip, take)
        else:
            rows = read(missing, ascending, None, 0, room)
        picked += rows
        room, skip = room - len(rows), 0
    return picked


def _full_rows(listing: ResourceListing, account: Account, picked: list[Any]) -> list[Any]:
    """The full rows (joins included) of the picked ids, in the picked order."""
    assert listing.by_ids is not None
    ids = [row.id for row in picked]
    loaded = {row.id: row for row in listing.by_ids(account, ids)}
    return [loaded[i] for i in ids if i in loaded]


def _respond(model: Any, page: Page, resources: list[Any], query: ListQuery) -> str:
    listing = _list_response(model)(
        total_results=page.total, start_index=page.start_index, items_per_page=len(resources),
        resources=resources, next_cursor=page.next_cursor, previous_cursor=page.previous_cursor)
    document = listing.model_dump(scim_ctx=Context.SEARCH_RESPONSE,
                                  response_parameters=response_parameters(model, query.attributes,
                                                                               query.excluded_attributes))
    document.setdefault("Resources", [])  # a filter miss is 200 with Resources: [] (RFC 7644 §3.4.2)
    return json.dumps(document, separators=(",", ":"))


@functools.cache
def _list_response(model: Any) -> Any:
    """``ListResponse[model]``: scim2-models builds a new class at each subscript (milliseconds), so once per model."""
    return ListResponse[model]


def _respond_documents(model: Any, page: Page, documents: list[str]) -> str:
    """The ListResponse of resources already rendered as JSON text: only its frame goes through scim2-models."""
    frame = _list_response(model)(
        total_results=page.total, start_index=page.start_index, items_per_page=len(documents),
        next_cursor=page.next_cursor, previous_cursor=page.previous_cursor,
    ).model_dump(scim_ctx=Context.SEARCH_RESPONSE)
    frame.pop("Resources", None)
    text = json.dumps(frame, separators=(",", ":"))
    return f'{text[:-1]},"Resources":[{",".join(documents)}]}}'


def list_resources(names: list[str], account: Account, query: ListQuery, *, cursor_key: str) -> str:
    """The ListResponse JSON of a list or search over the registered resource types ``names`` (RFC 7644 §3.4.2,
    §3.4.3).

    Over one type, pages by index or cursor. Over several (root ``/.search``),
    a type the filter cannot apply to is left out (§3.4.2.1: its attributes
    have no value), and the types follow each other in registration order,
    paged by index only. Cursors are signed with ``cursor_key`` (the deployment's secret key).
    """
    listings = [RESOURCE_TYPES[name] for name in names]
    if len(listings) == 1:
        listing = listings[0]
        documents = listing.documents
        if documents is not None and not query.attributes and not query.excluded_attributes:
            # an invalid sortBy must still be refused: a lookup is only a lookup without one
            if listing.lookup is not None and query.filter and not query.sort_by and query.cursor is None \
                    and query.start_index == 1 and query.count > 0:
                rows = listing.lookup(account, query.filter)
                if rows is not None:
                    return _respond_documents(listing.model, Page(len(rows), rows, start_index=1), documents(rows))
            page = fetch_page(listing, account, query, cursor_key=cursor_key, full=listing.documents_by_ids is None)
            if page.narrow and listing.documents_by_ids is not None:
                return _respond_documents(listing.model, page,
                                          listing.documents_by_ids(account, [row.id for row in page.rows]))
            return _respond_documents(listing.model, page, documents(page.rows))
        page = fetch_page(listing, account, query, cursor_key=cursor_key)
        return _respond(listing.model, page, listing.serialise(page.rows, query), query)
    if query.cursor is not None:
        raise InvalidCursorException(detail="Cursor pagination needs one resource type: search /<Type>/.search.")
    return _list_several(listings, account, query, cursor_key)


def _list_several(listings: list[ResourceListing], account: Account, query: ListQuery, cursor_key: str) -> str:
    pages: list[tuple[ResourceListing, Page]] = []
    error: InvalidFilterException | None = None
    for listing in listings:
        try:
            counted = fetch_page(listing, account, dataclasses.replace(query, count=0), cursor_key=cursor_key)
            pages.append((listing, counted))
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
        part = fetch_page(listing, account, dataclasses.replace(query, start_index=skip + 1, count=room),
                          cursor_key=cursor_key)
        resources += listing.serialise(part.rows, query)
        skip, room = 0, room - len(part.rows)
    model = functools.reduce(operator.or_, [listing.model for listing, _ in pages])
    return _respond(model, Page(total, [], start_index=query.start_index), resources, query)


def listed(text: str) -> Response:
    """A ListResponse's JSON as the response to a list or search."""
    return Response(text, mimetype=MEDIA_TYPE)


@bp.get("/Users")
def list_users() -> Response:
    """Filter, sort and page the account's Users in SQL (RFC 7644 §3.4.2; cursors RFC 9865)."""
    users = UserStore(g.account, g.actor, user_location, Deployment.of(current_app))
    return listed(users.search(ListQuery.from_args(request.args)))


def _search_body() -> ListQuery:
    # Clients send application/scim+json, application/json or nothing at all
    return ListQuery.from_body(request.get_json(force=True, silent=True))


@bp.post("/<endpoint>/.search")
def search_resources(endpoint: str) -> Response:
    """POST /<Type>/.search (RFC 7644 §3.4.3): a SearchRequest, answered like GET /<Type>."""
    names = [listing.name for listing in RESOURCE_TYPES.values() if listing.endpoint == endpoint]
    if not names:
        raise NotFound(f"There is no resource type at /{endpoint}.")
    if len(names) == 1:
        return listed(store_for(names[0], g.account, g.actor, user_location, Deployment.of(current_app)).search(
            _search_body()))
    return listed(list_resources(names, g.account, _search_body(), cursor_key=_cursor_key()))


@bp.post("/.search")
def search_everything() -> Response:
    """POST /.search at the root (RFC 7644 §3.4.3): every registered resource type."""
    return listed(list_resources(list(RESOURCE_TYPES), g.account, _search_body(), cursor_key=_cursor_key()))


def _cursor_key() -> str:
    return Deployment.of(current_app).settings.secret_key
