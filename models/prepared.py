"""Statements whose SQL is built once (DESIGN.md §3 "Speed").

peewee builds a statement's SQL anew on every call by walking the query
tree; for a wide SELECT (every column of two models) that walk costs several
times what SQLite takes to answer it, and it is most of a SCIM read. A
:class:`Prepared` query is built once per database kind with placeholder
values; each call runs that SQL with the real values, and the rows come back
through peewee as usual (model instances, joined models, field conversions).

Writes on the hot paths get the same treatment: :meth:`Prepared.execute`
runs a built UPDATE/DELETE (or a SELECT whose raw rows are wanted), and
:func:`insert` writes rows with an INSERT whose SQL peewee built once per
model, set of columns and number of rows (defaults and field conversions as
peewee applies them; the first build checks that the values match).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any

import peewee

from .database import db


class _Statement:
    """One query's SQL for one kind of database, and the row reader peewee set up for it."""

    def __init__(self, query: peewee.Query, sql: str, params: list[Any], slots: list[tuple[int, int]]) -> None:
        self.query, self.sql, self.params, self.slots = query, sql, params, slots
        # peewee works out, per cursor, which column goes to which model and converter; the SQL is
        # fixed, so that is the same every time: the first cursor's reader reads every later row too
        self.reader: Any = None

    def read(self, cursor: Any) -> list[Any]:
        rows = cursor.fetchall()
        reader = self.reader
        if reader is None:
            reader = self.query._get_cursor_wrapper(cursor)  # type: ignore[attr-defined]
            reader.initialize()
            self.reader = reader
        return [reader.process_row(row) for row in rows]


class Prepared:
    """A query built by ``build(*values)``, compiled once per kind of database.

    The values are strings compared with text columns (ids, keys, hashes):
    each must reach the statement unchanged, which compiling checks. What
    ``build`` writes as constants (LIMIT 1, a status) stays as built.
    """

    def __init__(self, build: Callable[..., peewee.Query]) -> None:
        self._build = build
        self._arity = len(inspect.signature(build).parameters)
        self._compiled: dict[type, _Statement] = {}
        self._lock = threading.Lock()

    def _statement(self) -> _Statement:
        kind = type(db.obj)
        statement = self._compiled.get(kind)
        if statement is None:
            with self._lock:
                markers = [f"\x00prepared:{index}:{id(self)}\x00" for index in range(self._arity)]
                query = self._build(*markers)
                sql, params = query.sql()
                slots = [(position, markers.index(value)) for position, value in enumerate(params)
                         if isinstance(value, str) and value in markers]
                missing = set(range(self._arity)) - {index for _, index in slots}
                if missing:
                    raise ValueError(f"prepared values {sorted(missing)} did not reach the SQL unchanged")
                statement = _Statement(query, sql, list(params), slots)
                self._compiled[kind] = statement
        return statement

    def all(self, *values: Any) -> list[Any]:
        """The rows for ``values``, as the built query would return them (model instances, joins set)."""
        statement = self._statement()
        bound = list(statement.params)
        for position, index in statement.slots:
            bound[position] = values[index]
        return statement.read(db.execute_sql(statement.sql, bound))

    def first(self, *values: Any) -> Any | None:
        """The first row for ``values``, or None."""
        rows = self.all(*values)
        return rows[0] if rows else None

    def execute(self, *values: Any) -> Any:
        """Run the statement for ``values``; returns the cursor (``rowcount``, raw rows of a RETURNING or SELECT).

        Values go to the database as given: a field's conversion (e.g. JSON)
        is the caller's, and the build marks such a value ``Value(…, converter=False)``.
        """
        statement = self._statement()
        bound = list(statement.params)
        for position, index in statement.slots:
            bound[position] = values[index]
        return db.execute_sql(statement.sql, bound)


class _InsertPlan:
    """How one shape of INSERT turns rows into parameters: per column, its row keys, default and converter."""

    def __init__(self, model: type[peewee.Model], keys: tuple[str, ...]) -> None:
        meta = model._meta
        fields: list[peewee.Field] = []
        for key in keys:
            field = meta.fields.get(key) or meta.combined.get(key)
            if not isinstance(field, peewee.Field):
                raise KeyError(f"{model.__name__} has no field {key!r}")
            fields.append(field)
        named = {f.name for f in fields}  # by name: a Field's == builds an expression
        fields += [f for f in meta.defaults if f.name not in named]
        fields.sort(key=lambda f: f._sort_key)  # type: ignore[attr-defined]  # what peewee orders columns by
        self.fields = fields
        defaults = {f.name: value for f, value in meta.defaults.items()}
        self.columns: list[tuple[tuple[str, ...], Any, bool, Callable[[Any], Any]]] = [
            (tuple(dict.fromkeys((f.name, f.column_name))), defaults.get(f.name, _MISSING), f.null, f.db_value)
            for f in fields]

    def complete(self, row: dict[str, Any]) -> dict[str, Any]:
        """``row`` keyed by field name, with every column of the plan (defaults filled, as peewee fills them)."""
        full: dict[str, Any] = {}
        for (lookups, default, nullable, _), field in zip(self.columns, self.fields, strict=True):
            for lookup in lookups:
                if lookup in row:
                    full[field.name] = row[lookup]
                    break
            else:
                if default is not _MISSING:
                    full[field.name] = default() if callable(default) else default
                elif nullable:
                    full[field.name] = None
                else:
                    raise ValueError(f"Missing value for {field.name}.")
        return full

    def params(self, rows: list[dict[str, Any]]) -> list[Any]:
        converters = [(f.name, convert) for f, (_, _, _, convert) in zip(self.fields, self.columns, strict=True)]
        return [convert(row[name]) for row in rows for name, convert in converters]


_MISSING: Any = object()
_PLANS: dict[tuple[type, tuple[str, ...]], _InsertPlan] = {}
_INSERTS: dict[tuple[Any, ...], str] = {}


def insert(model: type[peewee.Model], rows: list[dict[str, Any]], *, ignore_conflicts: bool = False,
           returning_ids: bool = False) -> Any:
    """``model.insert_many(rows)`` (``.on_conflict_ignore()``, ``.returning(model.id)``) with SQL built once.

    Every row has the keys of the first (field or column names); missing
    columns get the field's default. Returns the cursor: with
    ``returning_ids``, its rows are the ids that went in.
    """
    if not rows:
        raise ValueError("no rows to insert")
    keys = tuple(rows[0])
    plan = _PLANS.get((model, keys))
    if plan is None:
        plan = _PLANS[(model, keys)] = _InsertPlan(model, keys)
    full = [plan.complete(row) for row in rows]
    params = plan.params(full)
    shape = (type(db.obj), model, keys, len(rows), ignore_conflicts, returning_ids)
    sql = _INSERTS.get(shape)
    if sql is None:
        query = model.insert_many(full)
        if ignore_conflicts:
            query = query.on_conflict_ignore()
        if returning_ids:
            query = query.returning(model._meta.primary_key)
        sql, built = query.sql()
        columns = "(" + ", ".join(f'"{f.column_name}"' for f in plan.fields) + ")"
        if list(built) != params or columns not in sql:
            raise ValueError(f"an INSERT into {model.__name__} did not take its values as computed")
        with _INSERT_LOCK:
            _INSERTS[shape] = sql
    return db.execute_sql(sql, params)


_INSERT_LOCK = threading.Lock()
