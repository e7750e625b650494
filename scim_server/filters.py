"""SCIM filters (RFC 7644 §3.4.2.2) compiled to peewee expressions, never evaluated in memory.

scim2-models parses and type-checks the filter; :class:`UserFilterCompiler`
walks its tree. Every attribute a filter may name is in an explicit map; any
other is an ``invalidFilter`` error. Every condition is true or false, never
NULL, so ``not`` means what it says.

Columns of ``directory_record`` are compared in place. Multi-valued and nested
attributes (``emails``, ``name.givenName``, the enterprise extension …) are
rows of ``directory_value`` (models.directory_index): each test on them is one
``EXISTS`` over the record's rows, and a value path (``emails[type eq "work"
and value co "@x"]``) is one ``EXISTS`` whose conditions hold on the same row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable
from typing import Any

import peewee
from peewee import fn
from scim2_models import InvalidFilterException, ScimFilter
from scim2_models.path import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterVisitor,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)
from scim2_models.path.resolution import coerce_value

from models.database import is_postgres
from models.directory_index import fold
from models.tenancy import DirectoryRecord, DirectoryValue, Membership

from .mapping import UserModel

CORE = "urn:ietf:params:scim:schemas:core:2.0:user:"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:"

Expression = Any  # a peewee expression; peewee ships no type hints


@dataclasses.dataclass(frozen=True)
class Column:
    """How one SCIM attribute is stored: an expression, and whether values are lower-cased first."""

    expression: Callable[[], Expression]
    kind: str = "string"  # string, datetime, boolean
    fold_case: bool = False
    nullable: bool = False


def _active() -> Expression:
    # An unlinked record has no membership, so its "active" is the directory's
    # own value, kept in the JSON attributes (stored with sorted keys and no
    # spaces, so the text form is fixed; no other User attribute is "active").
    unlinked_inactive = _contains(DirectoryRecord.attributes, '"active":false')
    return (Membership.id.is_null(False) & (fn.COALESCE(Membership.status, "") != "deactivated")) | (
        Membership.id.is_null(True) & ~unlinked_inactive)


USER_COLUMNS: dict[str, Column] = {
    CORE + "id": Column(lambda: DirectoryRecord.id),
    CORE + "username": Column(lambda: DirectoryRecord.user_name_key, fold_case=True),
    CORE + "externalid": Column(lambda: DirectoryRecord.external_id, nullable=True),
    CORE + "meta.created": Column(lambda: DirectoryRecord.created_at, kind="datetime"),
    CORE + "meta.lastmodified": Column(lambda: DirectoryRecord.updated_at, kind="datetime"),
    CORE + "active": Column(_active, kind="boolean"),
}



@dataclasses.dataclass(frozen=True)
class Value:
    """An attribute kept as ``directory_value`` rows: the rows' ``path`` and the column compared."""

    path: str
    column: str = "value"  # value, type or primary


def _multi_valued(name: str, path: str) -> dict[str, Value]:
    return {CORE + name: Value(path), CORE + name + ".value": Value(path),
            CORE + name + ".type": Value(path, "type"), CORE + name + ".primary": Value(path, "primary")}


USER_VALUES: dict[str, Value] = {
    **_multi_valued("emails", "emails.value"),
    **_multi_valued("phonenumbers", "phoneNumbers.value"),
    **{CORE + path.lower(): Value(path) for path in (
        "name.givenName", "name.familyName", "name.formatted", "displayName", "nickName", "title", "userType",
        "preferredLanguage", "locale", "timezone")},
    **{ENTERPRISE + name.lower(): Value("enterprise." + name) for name in (
        "employeeNumber", "costCenter", "organization", "division", "department")},
    ENTERPRISE + "manager": Value("enterprise.manager.value"),
    ENTERPRISE + "manager.value": Value("enterprise.manager.value"),
}
"""Attributes filtered and sorted through directory_value, by lower-cased URN."""

# sortBy (RFC 7644 §3.4.2.3) uses the same maps; the id always breaks ties
SORTABLE = {k: v for k, v in USER_COLUMNS.items() if v.kind != "boolean"}

_NEVER = peewee.Value(False) == peewee.Value(True)
_ALWAYS = peewee.Value(True) == peewee.Value(True)


def _invalid(detail: str) -> InvalidFilterException:
    return InvalidFilterException(detail=detail)


def _rows(value: Value, condition: Expression | None = None) -> Expression:
    """EXISTS a row of the outer record at ``value.path`` meeting ``condition``: true or false, never NULL."""
    where = (DirectoryValue.record == DirectoryRecord.id) & (DirectoryValue.path == value.path)
    if condition is not None:
        where &= condition
    return fn.EXISTS(DirectoryValue.select(peewee.SQL("1")).where(where))


def _row_column(value: Value, case_exact: bool) -> Expression:
    if value.column == "type":
        return DirectoryValue.type
    if value.column == "primary":
        return DirectoryValue.primary
    return DirectoryValue.value if case_exact else DirectoryValue.value_key


def _row_present(value: Value) -> Expression:
    if value.column == "type":
        return DirectoryValue.type != ""
    if value.column == "primary":
        return DirectoryValue.primary == True  # noqa: E712 - a SQL comparison
    return _ALWAYS  # only non-empty values have rows


class UserFilterCompiler(FilterVisitor[Expression]):
    """Compile a filter bound to the Roster User model to a WHERE expression over DirectoryRecord ⟕ Membership.

    ``columns`` maps lower-cased attribute URNs to columns of the listed
    table; ``values`` to directory_value rows (by default the User's, when
    ``columns`` is the User's map, else none).
    """

    def __init__(self, scim_filter: ScimFilter[Any], columns: dict[str, Column] = USER_COLUMNS,
                 values: dict[str, Value] | None = None):
        self.filter = scim_filter
        self.columns = columns
        self.values = values if values is not None else (USER_VALUES if columns is USER_COLUMNS else {})

    def _binding(self, attr_path: AttrPath, *, comparison: bool) -> Any:
        resolve = self.filter.resolve_comparison if comparison else self.filter.resolve
        binding = resolve(attr_path, strict=True)
        if binding is None:
            raise _invalid(f"Filtering on {attr_path} is not supported.")
        return binding

    def _column(self, attr_path: AttrPath, *, comparison: bool) -> Column:
        binding = self._binding(attr_path, comparison=comparison)
        column = self.columns.get(binding.urn.lower())
        if column is None:
            raise _invalid(f"Filtering on {attr_path} is not supported.")
        return column

    def visit_comparison(self, node: Comparison) -> Expression:
        binding = self._binding(node.attr_path, comparison=True)
        if binding.urn.lower() in self.values:
            return self._compare_rows(node, binding)
        column = self._column(node.attr_path, comparison=True)
        value = coerce_value(binding, node.value, node.op)
        expression = column.expression()
        if value is None:
            # "attr eq null" is how some clients write "not present"
            if node.op not in (CompareOperator.eq, CompareOperator.ne):
                raise _invalid(f"{node.op.value} cannot compare with null.")
            absent = self._absent(column, expression)
            return absent if node.op == CompareOperator.eq else ~absent
        if column.kind == "boolean":
            if node.op not in (CompareOperator.eq, CompareOperator.ne) or not isinstance(value, bool):
                raise _invalid(f"{node.attr_path} takes eq or ne with true or false.")
            return expression if (node.op == CompareOperator.eq) == value else ~expression
        if column.kind == "datetime":
            if node.op in (CompareOperator.co, CompareOperator.sw, CompareOperator.ew):
                raise _invalid(f"{node.op.value} does not apply to the dateTime {node.attr_path}.")
            if isinstance(value, dt.datetime) and value.tzinfo is not None:
                value = value.astimezone(dt.UTC).replace(tzinfo=None)  # stored as naive UTC
        elif not isinstance(value, str):
            raise _invalid(f"{node.attr_path} is compared with a string.")
        elif column.fold_case:
            value = value.lower()
        return self._compare(expression, node.op, value, column.nullable)

    def _row_condition(self, node: Comparison, binding: Any, *, in_value_path: bool) -> Expression | None:
        """The condition on one directory_value row; None for ``eq null`` (tested by the caller)."""
        value_spec = self.values[binding.urn.lower()]
        value = coerce_value(binding, node.value, node.op)
        column = _row_column(value_spec, bool(binding.case_exact))
        if value is None:
            if node.op not in (CompareOperator.eq, CompareOperator.ne):
                raise _invalid(f"{node.op.value} cannot compare with null.")
            present = _row_present(value_spec)
            if not in_value_path:
                return None
            return ~present if node.op == CompareOperator.eq else present
        op = node.op
        if op == CompareOperator.ne and not in_value_path:
            op = CompareOperator.eq  # negated by the caller: no value equals the operand
        if value_spec.column == "primary":
            if op not in (CompareOperator.eq, CompareOperator.ne) or not isinstance(value, bool):
                raise _invalid(f"{node.attr_path} takes eq or ne with true or false.")
            return column == value if op == CompareOperator.eq else column != value
        if not isinstance(value, str):
            raise _invalid(f"{node.attr_path} is compared with a string.")
        if column is not DirectoryValue.value:
            value = fold(value)
        return self._compare(column, op, value, False)

    def _compare_rows(self, node: Comparison, binding: Any) -> Expression:
        value_spec = self.values[binding.urn.lower()]
        condition = self._row_condition(node, binding, in_value_path=False)
        if condition is None:  # eq null: not present; ne null: present
            present = _rows(value_spec, _row_present(value_spec))
            return ~present if node.op == CompareOperator.eq else present
        if node.op == CompareOperator.ne:
            # RFC 7644 leaves "ne" on a multi-valued attribute open; like
            # scim2-models' own evaluator, it holds when no value equals
            return ~_rows(value_spec, condition)
        return _rows(value_spec, condition)

    @staticmethod
    def _absent(column: Column, expression: Expression) -> Expression:
        if column.nullable:
            return expression.is_null(True) | (fn.COALESCE(expression, "") == "")
        return expression.is_null(True) if column.kind != "boolean" else _NEVER

    @staticmethod
    def _compare(expression: Expression, op: CompareOperator, value: Any, nullable: bool) -> Expression:
        if op == CompareOperator.ne:
            different = expression != value
            return (expression.is_null(True) | different) if nullable else different
        if op == CompareOperator.eq:
            condition = expression == value
        elif op == CompareOperator.gt:
            condition = expression > value
        elif op == CompareOperator.ge:
            condition = expression >= value
        elif op == CompareOperator.lt:
            condition = expression < value
        elif op == CompareOperator.le:
            condition = expression <= value
        else:
            # SUBSTR and LENGTH compare exactly on both databases, where LIKE
            # would ignore case on SQLite and need escaping everywhere.
            length = len(value)
            if op == CompareOperator.sw:
                condition = fn.SUBSTR(expression, 1, length) == value
            elif op == CompareOperator.ew:
                condition = (fn.LENGTH(expression) >= length) & (
                    fn.SUBSTR(expression, fn.LENGTH(expression) - length + 1, length) == value)
            else:
                condition = _contains(expression, value)
        return (expression.is_null(False) & condition) if nullable else condition

    def visit_present(self, node: Present) -> Expression:
        binding = self._binding(node.attr_path, comparison=False)
        value_spec = self.values.get(binding.urn.lower())
        if value_spec is not None:
            return _rows(value_spec, _row_present(value_spec))
        column = self._column(node.attr_path, comparison=False)
        return ~self._absent(column, column.expression())

    def visit_not(self, node: Not) -> Expression:
        return ~self.visit(node.expr)

    def visit_logical_expr(self, node: LogicalExpr) -> Expression:
        terms = [self.visit(term) for term in node.terms]
        return _combine(node.op, terms)

    def visit_value_path(self, node: ValuePath) -> Expression:
        """``attr[filter]`` (RFC 7644 §3.4.2.2): one EXISTS, every condition of ``filter`` on the same row."""
        binding = self._binding(node.attr_path, comparison=False)
        value_spec = self.values.get(binding.urn.lower())
        if value_spec is None or node.sub_attr is not None or node.attr_path.sub_attr is not None:
            raise _invalid(f"Filtering on {node.attr_path}[…] is not supported.")
        if not binding.is_multivalued:
            raise _invalid(f"{node.attr_path} holds one value and has no values to select.")
        return _rows(value_spec, _RowCompiler(self, node.attr_path, value_spec.path).visit(node.val_filter))


class _RowCompiler(FilterVisitor[Expression]):
    """The filter inside ``attr[…]``: conditions on one directory_value row of ``attr``."""

    def __init__(self, outer: UserFilterCompiler, attr_path: AttrPath, path: str):
        self.outer = outer
        self.attr_path = attr_path
        self.path = path

    def _binding(self, attr_path: AttrPath) -> Any:
        if attr_path.sub_attr is not None or attr_path.uri is not None:
            raise _invalid(f"{attr_path} is not a sub-attribute of {self.attr_path}.")
        full = AttrPath(self.attr_path.attr, attr_path.attr, self.attr_path.uri)
        binding = self.outer._binding(full, comparison=True)
        value_spec = self.outer.values.get(binding.urn.lower())
        if value_spec is None or value_spec.path != self.path:
            raise _invalid(f"Filtering on {full} is not supported.")
        return binding

    def visit_comparison(self, node: Comparison) -> Expression:
        binding = self._binding(node.attr_path)
        return self.outer._row_condition(node, binding, in_value_path=True)

    def visit_present(self, node: Present) -> Expression:
        return _row_present(self.outer.values[self._binding(node.attr_path).urn.lower()])

    def visit_not(self, node: Not) -> Expression:
        return ~self.visit(node.expr)

    def visit_logical_expr(self, node: LogicalExpr) -> Expression:
        return _combine(node.op, [self.visit(term) for term in node.terms])

    def visit_value_path(self, node: ValuePath) -> Expression:
        raise _invalid("A value path cannot hold another one.")


def _combine(op: LogicalOperator, terms: list[Expression]) -> Expression:
    combined = terms[0]
    for term in terms[1:]:
        combined = (combined & term) if op == LogicalOperator.and_ else (combined | term)
    return combined


def _contains(expression: Expression, value: str) -> Expression:
    if is_postgres():
        return fn.STRPOS(expression, value) > 0
    return fn.INSTR(expression, value) > 0


@functools.lru_cache(maxsize=64)
def parse_user_filter(text: str) -> ScimFilter[Any]:
    """Parse ``text`` with scim2-models against the Roster User; raises InvalidFilterException.

    Kept for a few filters: a lookup that is not :func:`user_name_lookup`'s
    shape is parsed again by :func:`compile_user_filter` in the same request.
    """
    try:
        return ScimFilter[UserModel](text)  # type: ignore[valid-type]
    except InvalidFilterException:
        raise
    except (ValueError, TypeError) as exc:
        raise _invalid(str(exc)) from exc


def compile_user_filter(text: str) -> Expression:
    """Parse ``text`` with scim2-models and compile it; raises InvalidFilterException (400 invalidFilter)."""
    scim_filter = parse_user_filter(text)
    return UserFilterCompiler(scim_filter).visit(scim_filter.ast)


def user_name_lookup(text: str) -> str | None:
    """The folded userName of a filter that is exactly ``userName eq "…"``, else None.

    It is what Okta and Entra ID send before every create; with userName
    unique in the account, the answer is one row found by its key.
    """
    scim_filter = parse_user_filter(text)
    node = scim_filter.ast
    if not isinstance(node, Comparison) or node.op != CompareOperator.eq or not isinstance(node.value, str):
        return None
    binding = scim_filter.resolve_comparison(node.attr_path, strict=True)
    if binding is None or binding.urn.lower() != CORE + "username":
        return None
    return str(node.value).lower()  # as UserFilterCompiler folds it


@dataclasses.dataclass(frozen=True)
class SortKey:
    """What a listing orders by (RFC 7644 §3.4.2.3): an expression, and whether it may be NULL (no value)."""

    expression: Expression
    nullable: bool = False


def user_sort_key(sort_by: str) -> SortKey:
    """The sort key of a sortBy attribute of the User; unknown or unsortable → invalidFilter.

    A multi-valued or nested attribute sorts by its smallest value
    (case-folded unless caseExact), a correlated subquery over directory_value.
    """
    try:
        scim_filter = ScimFilter[UserModel](f"{sort_by} pr")  # type: ignore[valid-type]
    except (ValueError, TypeError) as exc:
        raise _invalid(f"Cannot sort by {sort_by}.") from exc
    node = scim_filter.ast
    if not isinstance(node, Present):
        raise _invalid(f"Cannot sort by {sort_by}.")
    binding = scim_filter.resolve(node.attr_path, strict=True)
    urn = binding.urn.lower() if binding is not None else ""
    value_spec = USER_VALUES.get(urn)
    if value_spec is not None:
        column = _row_column(value_spec, bool(binding.case_exact) if binding is not None else False)
        smallest = DirectoryValue.select(fn.MIN(column)).where(
            (DirectoryValue.record == DirectoryRecord.id) & (DirectoryValue.path == value_spec.path))
        return SortKey(smallest, nullable=True)
    column_spec = SORTABLE.get(urn)
    if column_spec is None:
        raise _invalid(f"Sorting by {sort_by} is not supported.")
    return SortKey(column_spec.expression(), nullable=column_spec.nullable)


def sort_column(sort_by: str) -> Expression:
    """The column of a sortBy attribute (RFC 7644 §3.4.2.3); unknown → invalidFilter."""
    return user_sort_key(sort_by).expression
