"""The parameters of a list or search (RFC 7644 §3.4.2, §3.4.3; RFC 9865 ``cursor``): :class:`ListQuery`.

From GET's query string or from the SearchRequest body of ``POST …/.search``
(read with scim2-models); a search answers like the GET of the same
parameters (:mod:`.listing` pages both).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pydantic
from scim2_models import InvalidSyntaxException, InvalidValueException, SCIMException, SearchRequest

from .errors import validation_error
from .filter_limits import check_length

MAX_PAGE_SIZE = 200
"""The most resources one page holds, whatever ``count`` asks (advertised in /ServiceProviderConfig)."""

DEFAULT_PAGE_SIZE = MAX_PAGE_SIZE


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
        """From the query string of GET (RFC 7644 §3.4.2): read as the SearchRequest POST sends (§3.4.3).

        A parameter given empty counts as not given (but ``cursor=``, which
        asks for the first page by cursor); ``sortOrder`` is read in any case.
        """
        return cls.build(**parse(search_request(args)))

    @classmethod
    def from_body(cls, payload: Any) -> ListQuery:
        """From the SearchRequest body of ``POST …/.search`` (RFC 7644 §3.4.3), validated by scim2-models."""
        return cls.build(**parse(payload))


def search_request(query: Mapping[str, str]) -> dict[str, Any]:
    """The SearchRequest (RFC 7644 §3.4.3) that GET's query string ``query`` (§3.4.2) stands for."""
    # a plain dict: werkzeug's MultiDict raises (and catches) a BadRequestKeyError for each parameter not
    # given, six on a typical GET, a third of what reading the parameters cost
    args = dict(query.items())
    request: dict[str, Any] = {"schemas": [SearchRequest.__schema__]}
    for name in ("filter", "sortBy"):
        if args.get(name):
            request[name] = args[name]
    if args.get("sortOrder"):
        request["sortOrder"] = args["sortOrder"].lower()
    if "cursor" in args:
        request["cursor"] = args["cursor"]
    for name in ("startIndex", "count"):
        if args.get(name):
            try:
                request[name] = int(args[name])
            except ValueError:
                raise InvalidValueException(detail=f"{name} must be an integer.") from None
    for name in ("attributes", "excludedAttributes"):
        parts = [part.strip() for part in args.get(name, "").split(",") if part.strip()]
        if parts:
            request[name] = parts
    return request


def _names(paths: Any) -> list[str] | None:
    return [str(path) for path in paths] if paths else None


def parse(payload: Any) -> dict[str, Any]:
    """The SearchRequest ``payload`` as keyword arguments of :meth:`ListQuery.build`.

    Raises a SCIMException: invalidSyntax for a body that is not an object,
    the scimType scim2-models gives (invalidFilter, invalidCursor, invalidPath)
    or invalidValue for the rest. ``sortBy`` is only checked to be text here:
    :mod:`.sorting` resolves it against the listed type's schema, and anything
    that is not one attribute it sorts by is invalidValue, saying why.
    """
    if payload is None:
        raise InvalidSyntaxException(detail="The request body is empty: send a SearchRequest JSON object.")
    if not isinstance(payload, dict):
        raise InvalidSyntaxException(detail="The request body must be a SearchRequest JSON object.")
    if isinstance(payload.get("filter"), str):
        check_length(payload["filter"])  # before scim2-models parses it: its size and characters are ours to bound
    sort_by = payload.get("sortBy")
    if sort_by is not None and not isinstance(sort_by, str):
        raise InvalidValueException(detail="sortBy must be the name of an attribute.")
    try:
        # no scim_ctx: a SearchRequest's attributes have no mutability or returned rule for the context to
        # enforce, so it changes no answer (test_search.py checks), and it cost 13 µs of the 21 per request
        search: SearchRequest[Any] = SearchRequest.model_validate(
            {key: value for key, value in payload.items() if key != "sortBy"})
    except pydantic.ValidationError as exc:
        refusal = validation_error(exc)
        if isinstance(refusal, InvalidSyntaxException):
            # the body is a JSON object (checked above): what is wrong is a value in it, such as its schemas
            raise InvalidValueException(detail=refusal.detail) from None
        raise _naming_the_parameter(refusal, exc) from None
    return {
        "filter": str(search.filter) if search.filter is not None else None,
        "sort_by": sort_by,
        "sort_order": search.sort_order.value if search.sort_order is not None else None,
        "start_index": search.start_index,
        "count": search.count,
        "cursor": search.cursor,
        "attributes": _names(search.attributes),
        "excluded_attributes": _names(search.excluded_attributes),
    }


def _naming_the_parameter(refusal: SCIMException, exc: pydantic.ValidationError) -> SCIMException:
    """The refusal, its detail prefixed with the parameter it is about when it does not say (a path's syntax)."""
    where = exc.errors()[0]["loc"]
    parameter = str(where[0]) if where else ""
    if not parameter or parameter in (refusal.detail or ""):
        return refusal
    return type(refusal)(detail=f"{parameter}: {refusal.detail}")
