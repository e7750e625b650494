"""SCIM filters (RFC 7644 §3.4.2.2) compiled to peewee expressions, never evaluated in memory.

scim2-models parses and type-checks the filter; :class:`UserFilterCompiler`
walks its tree. Every attribute a filter may name is in an explicit map; any
other is an ``invalidFilter`` error. Every condition is true or false, never
NULL, so ``not`` means what it says.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
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
from models.tenancy import DirectoryRecord, Membership

from .mapping import UserModel

CORE = "urn:ietf:params:scim:schemas:core:2.0:user:"

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

# sortBy (RFC 7644 §3.4.2.3) uses the same map; the id always breaks ties
SORTABLE = {k: v for k, v in USER_COLUMNS.items() if v.kind != "boolean"}


def _invalid(detail: str) -> InvalidFilterException:
    return InvalidFilterException(detail=detail)


class UserFilterCompiler(FilterVisitor[Expression]):
    """Compile a filter bound to the Roster User model to a WHERE expression over DirectoryRecord ⟕ Membership."""

    def __init__(self, scim_filter: ScimFilter[Any], columns: dict[str, Column] = USER_COLUMNS):
        self.filter = scim_filter
        self.columns = columns

    def _column(self, attr_path: AttrPath, *, comparison: bool) -> Column:
        resolve = self.filter.resolve_comparison if comparison else self.filter.resolve
        binding = resolve(attr_path, strict=True)
        column = self.columns.get(binding.urn.lower()) if binding is not None else None
        if column is None:
            raise _invalid(f"Filtering on {attr_path} is not supported.")
        return column

    def visit_comparison(self, node: Comparison) -> Expression:
        column = self._column(node.attr_path, comparison=True)
        binding = self.filter.resolve_comparison(node.attr_path, strict=True)
        assert binding is not None
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

    @staticmethod
    def _absent(column: Column, expression: Expression) -> Expression:
        if column.nullable:
            return expression.is_null(True) | (fn.COALESCE(expression, "") == "")
        return expression.is_null(True) if column.kind != "boolean" else peewee.Value(False) == peewee.Value(True)

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
        column = self._column(node.attr_path, comparison=False)
        return ~self._absent(column, column.expression())

    def visit_not(self, node: Not) -> Expression:
        return ~self.visit(node.expr)

    def visit_logical_expr(self, node: LogicalExpr) -> Expression:
        terms = [self.visit(term) for term in node.terms]
        combined = terms[0]
        for term in terms[1:]:
            combined = (combined & term) if node.op == LogicalOperator.and_ else (combined | term)
        return combined

    def visit_value_path(self, node: ValuePath) -> Expression:
        raise _invalid(f"Filtering on {node.attr_path}[…] is not supported yet.")


def _contains(expression: Expression, value: str) -> Expression:
    if is_postgres():
        return fn.STRPOS(expression, value) > 0
    return fn.INSTR(expression, value) > 0


def compile_user_filter(text: str) -> Expression:
    """Parse ``text`` with scim2-models and compile it; raises InvalidFilterException (400 invalidFilter)."""
    try:
        scim_filter = ScimFilter[UserModel](text)  # type: ignore[valid-type]
    except InvalidFilterException:
        raise
    except (ValueError, TypeError) as exc:
        raise _invalid(str(exc)) from exc
    return UserFilterCompiler(scim_filter).visit(scim_filter.ast)


def sort_column(sort_by: str) -> Expression:
    """The column of a sortBy attribute (RFC 7644 §3.4.2.3); unknown → invalidValue-ish invalidFilter."""
    scim_filter = ScimFilter[UserModel](f"{sort_by} pr")  # type: ignore[valid-type]
    node = scim_filter.ast
    if not isinstance(node, Present):
        raise _invalid(f"Cannot sort by {sort_by}.")
    binding = scim_filter.resolve(node.attr_path, strict=True)
    column = SORTABLE.get(binding.urn.lower()) if binding is not None else None
    if column is None:
        raise _invalid(f"Sorting by {sort_by} is not supported.")
    return column.expression()
