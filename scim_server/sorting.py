"""sortBy (RFC 7644 §3.4.2.3): the sort key of a User attribute, read from one row per record.

Every attribute a filter can test sorts: the columns of ``directory_record``
(``active`` too, false before true) and the values of
``directory_value``. A multi-valued attribute sorts by its primary value,
else its first, which models.directory_index marks as the ``lead`` row: the
key is a LEFT JOIN of at most one row, found by the (record_id, path) index,
not an aggregate over the record's rows. Any other sortBy is
``invalidValue``; the listing orders by the key, then id.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from peewee import JOIN
from scim2_models import InvalidFilterException, InvalidValueException, ScimFilter
from scim2_models.path import Present

from models.database import is_postgres
from models.tenancy import DirectoryRecord, DirectoryValue, Membership

from .filters import CORE, USER_COLUMNS, USER_VALUES, Expression, active
from .mapping import UserModel

MAX_SORT_BY_LENGTH = 256
"""Characters a sortBy may have: the longest attribute URN path is well below."""


@dataclasses.dataclass(frozen=True)
class SortKey:
    """What a listing orders by (RFC 7644 §3.4.2.3).

    ``nullable``: a record may have no value (it then sorts last ascending,
    first descending), which ``missing`` (of the key's type) stands for in
    the ORDER BY. ``join(select)`` adds what ``expression`` reads to a
    SELECT of the listed table: at most one row per record, so it changes no
    count and is left out of the COUNT.
    """

    expression: Expression
    nullable: bool = False
    missing: Any = ""
    join: Callable[[Any], Any] | None = None


def refuse(sort_by: str, reason: str = "is not an attribute this server sorts by") -> InvalidValueException:
    return InvalidValueException(detail=f"sortBy {sort_by[:MAX_SORT_BY_LENGTH]!r} {reason}.")


def resolve(model: Any, sort_by: str) -> Any:
    """The scim2-models binding of a sortBy naming one attribute of ``model``; anything else is invalidValue."""
    if len(sort_by) > MAX_SORT_BY_LENGTH:
        raise refuse(sort_by, f"is longer than {MAX_SORT_BY_LENGTH} characters")
    try:
        scim_filter = ScimFilter[model](f"{sort_by} pr")
        node = scim_filter.ast
        binding = scim_filter.resolve(node.attr_path, strict=True) if isinstance(node, Present) else None
    except (ValueError, TypeError, InvalidFilterException) as exc:
        raise refuse(sort_by, "does not name one attribute") from exc
    if binding is None:
        raise refuse(sort_by, "does not name one attribute")
    return binding


def user_sort_key(sort_by: str) -> SortKey:
    """The sort key of a User attribute (RFC 7644 §3.4.2.3); an attribute not stored for sorting is invalidValue."""
    binding = resolve(UserModel, sort_by)
    urn = binding.urn.lower()
    value_spec = USER_VALUES.get(urn)
    if value_spec is not None:
        lead = DirectoryValue.alias("sort_value")
        on = (lead.record == DirectoryRecord.id) & (lead.path == value_spec.path) & (lead.lead == True)  # noqa: E712
        if is_postgres():
            # PostgreSQL carries the records' account over to the joined rows (a hash join then reads the
            # account's, not every account's); SQLite reads the key from the (record_id, path, lead, value_key) index
            on &= lead.account_id == DirectoryRecord.account
        if value_spec.column == "type":
            column, on = lead.type, on & (lead.type != "")  # no type is no value
        elif value_spec.column == "primary":
            column = lead.primary
        else:
            column = lead.value if binding.case_exact else lead.value_key
        return SortKey(column, nullable=True, missing=False if value_spec.column == "primary" else "",
                       join=lambda select: select.join_from(DirectoryRecord, lead, JOIN.LEFT_OUTER, on=on))
    if urn == CORE + "active":
        # its own join of the membership, so the page's ids still come from the
        # records alone (listing's narrow query) and only they are loaded in full
        membership = Membership.alias("sort_membership")
        return SortKey(active(membership), join=lambda select: select.join_from(
            DirectoryRecord, membership, JOIN.LEFT_OUTER, on=(DirectoryRecord.membership == membership.id)))
    column_spec = USER_COLUMNS.get(urn)
    if column_spec is None:
        raise refuse(sort_by)
    return SortKey(column_spec.expression(), nullable=column_spec.nullable)
