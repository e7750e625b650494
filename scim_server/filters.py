"""SCIM filters (RFC 7644 §3.4.2.2) compiled to peewee expressions, never evaluated in memory.

scim2-models parses and type-checks the filter; :class:`UserFilterCompiler`
walks its tree. Every attribute a filter may name is in an explicit map; any
other is an ``invalidFilter`` error. Every condition is true or false, never
NULL, so ``not`` means what it says.

Columns of ``directory_record`` are compared in place. Multi-valued and nested
attributes (``emails``, ``name.givenName``, the enterprise extension …) are
rows of ``directory_value`` (models.directory_index): each test on them is
one subquery over the account's rows, planned from an index and never as a
walk of the rows for each record (``UserFilterCompiler._rows``); a value
path (``emails[type eq "work" and value co "@x"]``) is one such subquery
whose conditions hold on the same row.

The string operators read an index too (issue 11 point 7): ``sw`` adds a
range of the compared column, ``[prefix, successor(prefix))``, to its exact
test, which holds under code-point order: SQLite's BINARY collation, and
PostgreSQL's when the database's collation is C-like (else the range is left
out, and the test reads the account's range as before). ``co`` and ``ew`` on
``value_key`` read its trigram index (migration 0010): on SQLite the FTS5
table ``directory_value_trigram`` beside the exact test, which it cannot
replace, on PostgreSQL a ``LIKE`` pg_trgm's GIN index serves. Operands under
three characters have no trigram: they keep the walk of the account's range
of the path, and so does the caseExact ``value`` column (only the enterprise
``manager.value``).

A filter has at most :data:`.filter_limits.MAX_FILTER_LENGTH` characters,
:data:`.filter_limits.MAX_FILTER_TERMS` attribute tests and :data:`.filter_limits.MAX_FILTER_DEPTH` levels
of ``and``/``or``/``not``/``[…]``; beyond, it is ``invalidFilter``. What is
allowed compiles to SQL of bounded depth: ``and``/``or`` chains become
balanced trees, ``or`` of tests on one path one subquery, and ``or`` of
``eq`` on one column an ``IN`` list.
"""

from __future__ import annotations

import datetime as dt
import functools
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
from models.tenancy import DirectoryRecord, DirectoryValue

from .filter_limits import check_length, check_shape, invalid
from .mapping import UserModel
from .string_index import (
    TRIGRAM,
    TrigramTest,
    code_point_order,
    conjuncts,
    contains,
    like,
    like_escaped,
    prefix_range,
    trigram_match,
    unindexed,
)
from .user_attributes import CORE, USER_COLUMNS, USER_VALUES, Column, Expression, Value

_NEVER = peewee.Value(False) == peewee.Value(True)
_ALWAYS = peewee.Value(True) == peewee.Value(True)


def _balanced(op: LogicalOperator, terms: list[Expression]) -> Expression:
    # a left-deep chain of n terms is SQL nested n parentheses deep: SQLite's parser
    # overflows near 100, peewee's recursion near 1,000; a balanced tree is log2(n) deep
    if len(terms) == 1:
        return terms[0]
    middle = len(terms) // 2
    left, right = _balanced(op, terms[:middle]), _balanced(op, terms[middle:])
    return (left & right) if op == LogicalOperator.and_ else (left | right)


def _any(terms: list[Expression]) -> Expression:
    """OR of ``terms``, those that are ``column = constant`` on one column made one ``column IN (…)``."""
    listed: dict[int, tuple[Any, list[Any]]] = {}
    rest = []
    for term in terms:
        if (isinstance(term, peewee.Expression) and term.op == peewee.OP.EQ and isinstance(term.lhs, peewee.Field)
                and not isinstance(term.rhs, peewee.Node)):
            listed.setdefault(id(term.lhs), (term.lhs, []))[1].append(term.rhs)
        else:
            rest.append(term)
    rest += [column == values[0] if len(values) == 1 else column.in_(values) for column, values in listed.values()]
    return _balanced(LogicalOperator.or_, rest)


def _combine(op: LogicalOperator, terms: list[Expression]) -> Expression:
    return _any(terms) if op == LogicalOperator.or_ else _balanced(op, terms)


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
                 values: dict[str, Value] | None = None, account_id: str | None = None):
        self.filter = scim_filter
        self.columns = columns
        self.values = values if values is not None else (USER_VALUES if columns is USER_COLUMNS else {})
        self.account_id = account_id

    def _rows(self, value: Value, condition: Expression | None = None) -> Expression:
        """The record has a row at ``value.path`` meeting ``condition``: true or false, never NULL.

        Shaped for each planner. SQLite: ``id IN (…)``, a subquery it runs
        once into a temporary index, reading the account's rows from the
        (account_id, path, value_key) index; a correlated EXISTS was planned as
        a walk of every account's rows of that path for each record (minutes
        at 100,000 records). PostgreSQL: ``EXISTS``, a semi- or anti-join, or
        under ``or`` a probe of the record's rows by (record_id, path); an
        ``IN`` whose rows exceed ``work_mem`` is rescanned for each record.
        ``record_id`` is never NULL, so NOT IN is never NULL either.
        """
        # SQLite prefers an index of two equalities to the rowids of a trigram match; the unary + leaves
        # it only the match to start from, where a match is a term of the whole condition
        matched = condition is not None and any(isinstance(term, TrigramTest) for term in conjuncts(condition))
        where = unindexed(DirectoryValue.path, matched) == value.path
        if self.account_id is not None:
            where &= unindexed(DirectoryValue.account_id, matched) == self.account_id
        if condition is not None:
            where &= condition
        if is_postgres():
            return fn.EXISTS(DirectoryValue.select(peewee.SQL("1")).where(
                (DirectoryValue.record == DirectoryRecord.id) & where))
        return DirectoryRecord.id.in_(DirectoryValue.select(DirectoryValue.record).where(where))

    def _row_test(self, node: Any) -> tuple[Value, Expression] | None:
        """(rows, condition) when ``node`` is true exactly when the record has such a row, else None.

        Such tests under one ``or`` on the same path are one subquery of the
        conditions' OR (a row meeting any of them), not one subquery each.
        """
        if not self.values:
            return None
        if isinstance(node, ValuePath) and node.sub_attr is None and node.attr_path.sub_attr is None:
            binding = self._binding(node.attr_path, comparison=False)
            value_spec = self.values.get(binding.urn.lower())
            if value_spec is not None and binding.is_multivalued:
                return value_spec, _RowCompiler(self, node.attr_path, value_spec.path).visit(node.val_filter)
        elif isinstance(node, Present):
            binding = self._binding(node.attr_path, comparison=False)
            value_spec = self.values.get(binding.urn.lower())
            if value_spec is not None:
                return value_spec, _row_present(value_spec)
        elif isinstance(node, Comparison) and node.op != CompareOperator.ne and node.value is not None:
            binding = self._binding(node.attr_path, comparison=True)
            value_spec = self.values.get(binding.urn.lower())
            if value_spec is not None:
                condition = self._row_condition(node, binding, in_value_path=False)
                if condition is not None:
                    return value_spec, condition
        return None

    def _binding(self, attr_path: AttrPath, *, comparison: bool) -> Any:
        resolve = self.filter.resolve_comparison if comparison else self.filter.resolve
        binding = resolve(attr_path, strict=True)
        if binding is None:
            raise invalid(f"Filtering on {attr_path} is not supported.")
        return binding

    def _column(self, attr_path: AttrPath, *, comparison: bool) -> Column:
        binding = self._binding(attr_path, comparison=comparison)
        column = self.columns.get(binding.urn.lower())
        if column is None:
            raise invalid(f"Filtering on {attr_path} is not supported.")
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
                raise invalid(f"{node.op.value} cannot compare with null.")
            absent = self._absent(column, expression)
            return absent if node.op == CompareOperator.eq else ~absent
        if column.kind == "boolean":
            if node.op not in (CompareOperator.eq, CompareOperator.ne) or not isinstance(value, bool):
                raise invalid(f"{node.attr_path} takes eq or ne with true or false.")
            return expression if (node.op == CompareOperator.eq) == value else ~expression
        if column.kind == "datetime":
            if node.op in (CompareOperator.co, CompareOperator.sw, CompareOperator.ew):
                raise invalid(f"{node.op.value} does not apply to the dateTime {node.attr_path}.")
            if isinstance(value, dt.datetime) and value.tzinfo is not None:
                value = value.astimezone(dt.UTC).replace(tzinfo=None)  # stored as naive UTC
        elif not isinstance(value, str):
            raise invalid(f"{node.attr_path} is compared with a string.")
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
                raise invalid(f"{node.op.value} cannot compare with null.")
            present = _row_present(value_spec)
            if not in_value_path:
                return None
            return ~present if node.op == CompareOperator.eq else present
        op = node.op
        if op == CompareOperator.ne and not in_value_path:
            op = CompareOperator.eq  # negated by the caller: no value equals the operand
        if value_spec.column == "primary":
            if op not in (CompareOperator.eq, CompareOperator.ne) or not isinstance(value, bool):
                raise invalid(f"{node.attr_path} takes eq or ne with true or false.")
            return column == value if op == CompareOperator.eq else column != value
        if not isinstance(value, str):
            raise invalid(f"{node.attr_path} is compared with a string.")
        if column is not DirectoryValue.value:
            value = fold(value)
        return self._compare(column, op, value, False)

    def _compare_rows(self, node: Comparison, binding: Any) -> Expression:
        value_spec = self.values[binding.urn.lower()]
        condition = self._row_condition(node, binding, in_value_path=False)
        if condition is None:  # eq null: not present; ne null: present
            present = self._rows(value_spec, _row_present(value_spec))
            return ~present if node.op == CompareOperator.eq else present
        if node.op == CompareOperator.ne:
            # RFC 7644 leaves "ne" on a multi-valued attribute open; like
            # scim2-models' own evaluator, it holds when no value equals
            return ~self._rows(value_spec, condition)
        return self._rows(value_spec, condition)

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
            # an operand without a trigram gains nothing from the index, and PostgreSQL's estimate of such
            # a LIKE (nearly every row) turned a semi-join into a walk of the records (x8 for value co "x")
            trigrams = expression is DirectoryValue.value_key and length >= TRIGRAM
            if op == CompareOperator.sw:
                condition = fn.SUBSTR(expression, 1, length) == value
                if value and code_point_order():
                    condition = prefix_range(expression, value) & condition
            elif trigrams and is_postgres():
                pattern = like_escaped(value)
                condition = like(expression, "%" + pattern + ("%" if op == CompareOperator.co else ""))
            elif op == CompareOperator.ew:
                condition = (fn.LENGTH(expression) >= length) & (
                    fn.SUBSTR(expression, fn.LENGTH(expression) - length + 1, length) == value)
            else:
                condition = contains(expression, value)
            if trigrams and op != CompareOperator.sw and not is_postgres():
                condition = trigram_match(value) & condition
        return (expression.is_null(False) & condition) if nullable else condition

    def visit_present(self, node: Present) -> Expression:
        binding = self._binding(node.attr_path, comparison=False)
        value_spec = self.values.get(binding.urn.lower())
        if value_spec is not None:
            return self._rows(value_spec, _row_present(value_spec))
        column = self._column(node.attr_path, comparison=False)
        return ~self._absent(column, column.expression())

    def visit_not(self, node: Not) -> Expression:
        return ~self.visit(node.expr)

    def visit_logical_expr(self, node: LogicalExpr) -> Expression:
        if node.op != LogicalOperator.or_:
            return _combine(node.op, [self.visit(term) for term in node.terms])
        paths: dict[str, tuple[Value, list[Expression]]] = {}
        others = []
        for term in node.terms:
            row_test = self._row_test(term)
            if row_test is None:
                others.append(self.visit(term))
            else:
                paths.setdefault(row_test[0].path, (row_test[0], []))[1].append(row_test[1])
        return _any([self._rows(value_spec, _any(conditions)) for value_spec, conditions in paths.values()] + others)

    def visit_value_path(self, node: ValuePath) -> Expression:
        """``attr[filter]`` (RFC 7644 §3.4.2.2): one EXISTS, every condition of ``filter`` on the same row."""
        binding = self._binding(node.attr_path, comparison=False)
        value_spec = self.values.get(binding.urn.lower())
        if value_spec is None or node.sub_attr is not None or node.attr_path.sub_attr is not None:
            raise invalid(f"Filtering on {node.attr_path}[…] is not supported.")
        if not binding.is_multivalued:
            raise invalid(f"{node.attr_path} holds one value and has no values to select.")
        return self._rows(value_spec, _RowCompiler(self, node.attr_path, value_spec.path).visit(node.val_filter))


class _RowCompiler(FilterVisitor[Expression]):
    """The filter inside ``attr[…]``: conditions on one directory_value row of ``attr``."""

    def __init__(self, outer: UserFilterCompiler, attr_path: AttrPath, path: str):
        self.outer = outer
        self.attr_path = attr_path
        self.path = path

    def _binding(self, attr_path: AttrPath) -> Any:
        if attr_path.sub_attr is not None or attr_path.uri is not None:
            raise invalid(f"{attr_path} is not a sub-attribute of {self.attr_path}.")
        full = AttrPath(self.attr_path.attr, attr_path.attr, self.attr_path.uri)
        binding = self.outer._binding(full, comparison=True)
        value_spec = self.outer.values.get(binding.urn.lower())
        if value_spec is None or value_spec.path != self.path:
            raise invalid(f"Filtering on {full} is not supported.")
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
        raise invalid("A value path cannot hold another one.")


@functools.lru_cache(maxsize=64)
def parse_user_filter(text: str) -> ScimFilter[Any]:
    """Parse ``text`` with scim2-models against the Roster User; raises InvalidFilterException.

    Within the size limits (:func:`check_length`, :func:`check_shape`). Kept
    for a few filters: a lookup that is not :func:`user_name_lookup`'s
    shape is parsed again by :func:`compile_user_filter` in the same request.
    """
    check_length(text)
    try:
        scim_filter = ScimFilter[UserModel](text)
    except InvalidFilterException:
        raise
    except (ValueError, TypeError) as exc:
        raise invalid(str(exc)) from exc
    check_shape(scim_filter)
    return scim_filter


def compile_user_filter(text: str, account_id: str | None = None) -> Expression:
    """Parse ``text`` with scim2-models and compile it; raises InvalidFilterException (400 invalidFilter).

    With ``account_id``, tests on directory_value read that account's rows only (the listed records' account).
    """
    scim_filter = parse_user_filter(text)
    return UserFilterCompiler(scim_filter, account_id=account_id).visit(scim_filter.ast)


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
