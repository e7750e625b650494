"""The body of ``POST …/.search`` (RFC 7644 §3.4.3), read with scim2-models' SearchRequest.

A search answers like the GET of the same parameters (scim_server.listing
does both); this module only turns the JSON body into those parameters.
"""

from __future__ import annotations

from typing import Any

import pydantic
from scim2_models import Context, InvalidSyntaxException, SearchRequest

from .errors import validation_error


def _names(paths: Any) -> list[str] | None:
    return [str(path) for path in paths] if paths else None


def parse(payload: Any) -> dict[str, Any]:
    """The SearchRequest ``payload`` as keyword arguments of ``listing.ListQuery.build``.

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
        raise validation_error(exc) from None
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
