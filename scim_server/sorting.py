"""sortBy (RFC 7644 §3.4.2.3): the sort key of a User attribute, read from one row per record.

Every attribute a filter can test sorts: the columns of ``directory_record``
(``active`` too, false before true) and the values of
``directory_value``. A multi-valued attribute sorts by its primary value,
else its first, which models.directory_index marks as the ``lead`` row: the
key is a LEFT JOIN of at most one row, found by the (record_id, path) index,
not an aggregate over the record's rows. Any other sortBy is
``invalidValue``; the listing orders by the key, then id.

Unfiltered, such a listing is walked in index order instead (:class:`ValueWalk`):
the lead rows by (account, path, lead, key, record), then the records without
one by (account, id), so a page costs its size, not the account's;
``externalId`` likewise from (account, external_id, id) (:class:`ColumnWalk`),
and ``active``, stored on the record, is read in the order of its index.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from peewee import JOIN, Tuple, fn
from scim2_models import InvalidFilterException, InvalidValueException, ScimFilter
from scim2_models.path import Present

from models.database import is_postgres
from models.tenancy import DirectoryRecord, DirectoryValue

from .mapping import UserModel
from .user_attributes import CORE, USER_COLUMNS, USER_VALUES, Expression

MAX_SORT_BY_LENGTH = 256
"""Characters a sortBy may have: the longest attribute URN path is well below."""


def _by_key(select: Any, key: Any, record: Any, ascending: bool, after: list[Any] | None,
            offset: int, limit: int) -> list[tuple[str, Any]]:
    """``select``'s (record, key) rows by (key, record), after the (key, record) ``after``: the run with the value."""
    if after is not None:
        row, at = Tuple(key, record), Tuple(*after)
        select = select.where(row > at if ascending else row < at)
    order = (key.asc(), record.asc()) if ascending else (key.desc(), record.desc())
    return list(select.order_by(*order).offset(offset or None).limit(limit).tuples())


def _by_id(select: Any, missing: Any, ascending: bool, after: str | None,
           offset: int, limit: int) -> list[tuple[str, Any]]:
    """(record id, ``missing``) of ``select``'s records by id, after the id ``after``: the run without the value."""
    if after is not None:
        select = select.where(DirectoryRecord.id > after if ascending else DirectoryRecord.id < after)
    order = DirectoryRecord.id.asc() if ascending else DirectoryRecord.id.desc()
    page = select.order_by(order).offset(offset or None).limit(limit)
    return [(record_id, missing) for (record_id,) in page.tuples()]


@dataclasses.dataclass(frozen=True)
class ValueWalk:
    """An unfiltered listing sorted by a stored value, read in index order (migration 0008).

    The listing's order (RFC 7644 §3.4.2.3, ascending) is two runs: the
    records with a lead row at ``path`` by (``column``, record id), then those
    without by id. Each run is one index range, entered by a keyset or an
    offset, so a page reads about its size of index entries.
    """

    path: str
    column: str  # value_key, value (caseExact), type or primary
    missing: Any

    def _has(self, rows: Any = DirectoryValue) -> Any:
        condition = (rows.path == self.path) & (rows.lead == True)  # noqa: E712
        # a lead row without a type is no value; "> ''" keeps the index range
        return condition & (rows.type > "") if self.column == "type" else condition

    def count(self, account_id: str) -> int:
        """How many records have the value: an index-only count."""
        return int(DirectoryValue.select().where((DirectoryValue.account_id == account_id) & self._has()).count())

    def with_value(self, account_id: str, ascending: bool, after: list[Any] | None,
                   offset: int, limit: int) -> list[tuple[str, Any]]:
        """(record id, key) of the records with the value, in order, after the (key, id) ``after``."""
        key, record = getattr(DirectoryValue, self.column), DirectoryValue.record
        select = DirectoryValue.select(record, key).where((DirectoryValue.account_id == account_id) & self._has())
        return _by_key(select, key, record, ascending, after, offset, limit)

    def without_value(self, account_id: str, ascending: bool, after: str | None,
                      offset: int, limit: int) -> list[tuple[str, Any]]:
        """(record id, ``missing``) of the records without the value, by id, after the id ``after``."""
        rows = DirectoryValue.alias("sort_value")
        has = DirectoryValue.select(rows.id).from_(rows).where((rows.record == DirectoryRecord.id) & self._has(rows))
        select = DirectoryRecord.select(DirectoryRecord.id).where(
            (DirectoryRecord.account == account_id) & ~fn.EXISTS(has))
        return _by_id(select, self.missing, ascending, after, offset, limit)


@dataclasses.dataclass(frozen=True)
class ColumnWalk:
    """An unfiltered listing sorted by a nullable column of the record, read in index order (migration 0009).

    The same two runs as :class:`ValueWalk`'s, both from the index
    (account_id, column, id): the records with a value by (column, id), then
    those without (the column NULL) by id.
    """

    column: str
    missing: Any = ""

    def _has(self) -> Any:
        return getattr(DirectoryRecord, self.column).is_null(False)

    def count(self, account_id: str) -> int:
        """How many records have the value: an index-only count."""
        return int(DirectoryRecord.select().where((DirectoryRecord.account == account_id) & self._has()).count())

    def with_value(self, account_id: str, ascending: bool, after: list[Any] | None,
                   offset: int, limit: int) -> list[tuple[str, Any]]:
        key, record = getattr(DirectoryRecord, self.column), DirectoryRecord.id
        select = DirectoryRecord.select(record, key).where((DirectoryRecord.account == account_id) & self._has())
        return _by_key(select, key, record, ascending, after, offset, limit)

    def without_value(self, account_id: str, ascending: bool, after: str | None,
                      offset: int, limit: int) -> list[tuple[str, Any]]:
        select = DirectoryRecord.select(DirectoryRecord.id).where(
            (DirectoryRecord.account == account_id) & getattr(DirectoryRecord, self.column).is_null(True))
        return _by_id(select, self.missing, ascending, after, offset, limit)


Walk = ValueWalk | ColumnWalk


@dataclasses.dataclass(frozen=True)
class SortKey:
    """What a listing orders by (RFC 7644 §3.4.2.3).

    ``nullable``: a record may have no value (it then sorts last ascending,
    first descending), which ``missing`` (of the key's type) stands for in
    the ORDER BY. ``join(select)`` adds what ``expression`` reads to a
    SELECT of the listed table: at most one row per record, so it changes no
    count and is left out of the COUNT. ``walk``, when given, reads the
    same order of an unfiltered listing in index order.
    """

    expression: Expression
    nullable: bool = False
    missing: Any = ""
    join: Callable[[Any], Any] | None = None
    walk: Walk | None = None


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
            name, on = "type", on & (lead.type != "")  # no type is no value
        elif value_spec.column == "primary":
            name = "primary"
        else:
            name = "value" if binding.case_exact else "value_key"
        missing = False if value_spec.column == "primary" else ""
        return SortKey(getattr(lead, name), nullable=True, missing=missing,
                       join=lambda select: select.join_from(DirectoryRecord, lead, JOIN.LEFT_OUTER, on=on),
                       walk=ValueWalk(value_spec.path, name, missing))
    if urn == CORE + "active":
        return SortKey(DirectoryRecord.active)  # stored by the writers: the index (account_id, active, id) orders it
    if urn == CORE + "externalid":
        return SortKey(DirectoryRecord.external_id, nullable=True, walk=ColumnWalk("external_id"))
    column_spec = USER_COLUMNS.get(urn)
    if column_spec is None:
        raise refuse(sort_by)
    return SortKey(column_spec.expression(), nullable=column_spec.nullable)
