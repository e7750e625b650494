"""Statements whose SQL is built once (DESIGN.md §3 "Speed").

peewee builds a statement's SQL anew on every call by walking the query
tree; for a wide SELECT (every column of two models) that walk costs several
times what SQLite takes to answer it, and it is most of a SCIM read. A
:class:`Prepared` query is built once per database kind with placeholder
values; each call runs that SQL with the real values, and the rows come back
through peewee as usual (model instances, joined models, field conversions).
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
