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
from scim2_models import Context, InvalidSyntaxException, InvalidValueException, SearchRequest

from .errors import validation_error

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

    @classmethod
    def from_body(cls, payload: Any) -> ListQuery:
        """From the SearchRequest body of ``POST …/.search`` (RFC 7644 §3.4.3), validated by scim2-models."""
        return cls.build(**parse(payload))


def _names(paths: Any) -> list[str] | None:
    return [str(path) for path in paths] if paths else None


def parse(payload: Any) -> dict[str, Any]:
    """The SearchRequest ``payload`` as keyword arguments of :meth:`ListQuery.build`.

    Raises a SCIMException: invalidSyntax for a body that is not an object,
    the scimType scim2-models gives (invalidFilter, invalidCursor, invalidPath)
    or invalidValue for the rest.
    """
    if payload is None:
        raise InvalidSyntaxException(detail="The request body is empty: send a SearchRequest JSON object.")
    if not isinstance(payload, dict):
        raise InvalidSyntaxException(detail="The request body must be a SearchRequest JSON object.")
    try:
        search: SearchRequest[Any] = SearchRequest.model_validate(payload, scim_ctx=Context.SEARCH_REQUEST)
    except pydantic.ValidationError as exc:
        refusal = validation_error(exc)
        if isinstance(refusal, InvalidSyntaxException):
            # the body is a JSON object (checked above): what is wrong is a value in it, such as its schemas
            raise InvalidValueException(detail=refusal.detail) from None
        raise refusal from None
    return {
        "filter": str(search.filter) if search.filter is not None else None,
        "sort_by": str(search.sort_by) if search.sort_by is not None else None,
        "sort_order": search.sort_order.value if search.sort_order is not None else None,
        "start_index": search.start_index,
        "count": search.count,
        "cursor": search.cursor,
        "attributes": _names(search.attributes),
        "excluded_attributes": _names(search.excluded_attributes),
    }
