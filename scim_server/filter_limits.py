"""The size of a SCIM filter a request may send (RFC 7644 §3.4.2.2 sets none; a server must).

A filter has at most :data:`MAX_FILTER_LENGTH` characters, checked before it
is parsed, :data:`MAX_FILTER_TERMS` attribute tests and :data:`MAX_FILTER_DEPTH`
levels of ``and``/``or``/``not``/``[…]``, checked on its parsed tree, and no
value holding a character no attribute can hold. Beyond, it is invalidFilter.
"""

from __future__ import annotations

import re
from typing import Any

from scim2_models import InvalidFilterException, ScimFilter
from scim2_models.path import Comparison, LogicalExpr, Not, ValuePath

MAX_FILTER_LENGTH = 10_000
"""Characters a filter may have, checked before it is parsed."""

MAX_FILTER_TERMS = 100
"""Attribute tests (comparisons and ``pr``, those inside ``[…]`` included) a filter may have."""

MAX_FILTER_DEPTH = 10
"""Levels of ``and``/``or``, ``not`` and ``[…]`` a filter may nest (``a or b`` is one, ``a and (b or c)`` two)."""

def invalid(detail: str) -> InvalidFilterException:
    return InvalidFilterException(detail=detail)


def _shape(node: Any) -> tuple[int, int]:
    """(attribute tests, nesting depth) of a parsed filter; scim2-models bounds its depth, so this recursion too."""
    if isinstance(node, LogicalExpr):
        measures = [_shape(term) for term in node.terms]
        return sum(terms for terms, _ in measures), 1 + max(depth for _, depth in measures)
    if isinstance(node, Not | ValuePath):
        terms, depth = _shape(node.expr if isinstance(node, Not) else node.val_filter)
        return terms, depth + 1
    return 1, 0


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
"""U+0000 and lone UTF-16 surrogates: no stored value holds one (SCIM bodies refuse them; PostgreSQL cannot bind
U+0000, no encoder takes a surrogate), so a filter naming one matches nothing and must never reach SQL."""


def _refuse_unstorable(text: str, where: str) -> None:
    found = _UNSTORABLE.search(text)
    if found:
        raise invalid(f"{where} holds the character U+{ord(found.group()):04X} (a NUL or a lone UTF-16 surrogate), "
                       "which no attribute can hold: remove it.")


def check_length(text: str) -> None:
    """Refuse a filter too long to parse or holding an unstorable character (invalidFilter), before it is parsed."""
    if len(text) > MAX_FILTER_LENGTH:
        raise invalid(f"The filter has {len(text):,} characters; at most {MAX_FILTER_LENGTH:,} are allowed. "
                       "Split it into several requests.")
    _refuse_unstorable(text, "The filter")


def _check_values(node: Any) -> None:
    """Refuse a compared value that an escape (``\\u0000``) made unstorable; depth is bounded as in :func:`_shape`."""
    if isinstance(node, LogicalExpr):
        for term in node.terms:
            _check_values(term)
    elif isinstance(node, Not | ValuePath):
        _check_values(node.expr if isinstance(node, Not) else node.val_filter)
    elif isinstance(node, Comparison) and isinstance(node.value, str):
        _refuse_unstorable(node.value, f"The filter's value for {node.attr_path}")


def check_shape(scim_filter: ScimFilter[Any]) -> None:
    """Refuse a filter with too many attribute tests or levels (invalidFilter): the limits of the module docstring."""
    _check_values(scim_filter.ast)
    terms, depth = _shape(scim_filter.ast)
    if terms > MAX_FILTER_TERMS:
        raise invalid(f"The filter has {terms} attribute tests; at most {MAX_FILTER_TERMS} are allowed. "
                       "Split it into several requests.")
    if depth > MAX_FILTER_DEPTH:
        raise invalid(f"The filter nests {depth} levels of and, or, not and [...]; at most {MAX_FILTER_DEPTH} "
                       "are allowed.")
