"""How the string operators of a filter read an index (issue 11 point 7), one place per database.

``sw`` adds a range of the compared column, ``[prefix, successor(prefix))``, to
its exact test, which holds under code-point order (SQLite's BINARY, and
PostgreSQL's when the database's collation is C-like). ``co`` and ``ew`` on
``value_key`` read its trigram index (migration 0010): SQLite's FTS5 table
``directory_value_trigram``, PostgreSQL's pg_trgm GIN index through ``LIKE``.
"""

from __future__ import annotations

import re
import weakref
from typing import Any

import peewee
from peewee import fn

from models.database import db, is_postgres
from models.tenancy import DirectoryValue

from .user_attributes import Expression


def contains(expression: Expression, value: str) -> Expression:
    if is_postgres():
        return fn.STRPOS(expression, value) > 0
    return fn.INSTR(expression, value) > 0


TRIGRAM = 3
"""Characters an operand needs for a trigram index to find it (a shorter one has no trigram)."""

TRIGRAM_TABLE = peewee.Table("directory_value_trigram")
"""SQLite's FTS5 index of ``directory_value.value_key`` by trigrams (migration 0010)."""

_LIKE_ESCAPE = "\\"
_LIKE_SPECIAL = re.compile(r"[\\%_]")

_LAST_CODE_POINT = 0x10FFFF
_SURROGATES = (0xD800, 0xDFFF)


def successor(prefix: str) -> str | None:
    """The least string greater than every string starting with ``prefix`` (in code-point order); None if none.

    The last character incremented, skipping the surrogates no stored text
    holds; a last U+10FFFF cannot be, so it is dropped and the one before is.
    """
    for end in range(len(prefix) - 1, -1, -1):
        code = ord(prefix[end]) + 1
        if _SURROGATES[0] <= code <= _SURROGATES[1]:
            code = _SURROGATES[1] + 1
        if code <= _LAST_CODE_POINT:
            return prefix[:end] + chr(code)
    return None


def prefix_range(expression: Expression, prefix: str) -> Expression:
    """``expression`` in [prefix, successor(prefix)): what starts with ``prefix`` does, in code-point order."""
    above = successor(prefix)
    return (expression >= prefix) if above is None else ((expression >= prefix) & (expression < above))


CODE_POINT_ORDER: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def code_point_order() -> bool:
    """Whether the database orders text by code point, so a prefix is a range; asked once per database.

    SQLite compares text with BINARY (UTF-8 bytes: code points), as no
    column here names another collation. PostgreSQL compares with the
    database's collation: code points only for the libc "C", "POSIX" and
    "C.UTF-8" (glibc 2.35+) or the builtin provider's (PostgreSQL 17+); an
    ICU default (PostgreSQL 15+) or a language's collation orders otherwise.
    """
    database = db.obj
    if not isinstance(database, peewee.PostgresqlDatabase):
        return True
    known = CODE_POINT_ORDER.get(database)
    if known is None:
        # to_jsonb: datlocprovider exists only from PostgreSQL 15
        collation, provider = database.execute_sql(  # type: ignore[no-untyped-call]  # peewee-stubs leave it untyped
            "SELECT d.datcollate, to_jsonb(d) ->> 'datlocprovider' FROM pg_database AS d "
            "WHERE d.datname = current_database()", ()).fetchone()
        known = provider == "b" or (provider in (None, "c") and (
            collation in ("C", "POSIX") or collation.lower() in ("c.utf-8", "c.utf8")))
        CODE_POINT_ORDER[database] = known
    return known


def like_escaped(text: str) -> str:
    return _LIKE_SPECIAL.sub(lambda found: _LIKE_ESCAPE + found.group(), text)


def like(expression: Expression, pattern: str) -> Expression:
    """PostgreSQL's ``LIKE``, case-sensitive and exact with ``pattern`` escaped, which pg_trgm's index serves."""
    return peewee.NodeList((expression, peewee.SQL("LIKE"), pattern, peewee.SQL("ESCAPE"), _LIKE_ESCAPE))


class TrigramTest(peewee.Expression):
    """``directory_value.id IN (rowids of a trigram match)``, told apart by :meth:`UserFilterCompiler._rows`."""


def conjuncts(expression: Expression) -> list[Expression]:
    """The terms of ``expression``'s top-level AND (itself when it is none); the trees are balanced, so shallow."""
    if isinstance(expression, peewee.Expression) and expression.op == peewee.OP.AND:
        return conjuncts(expression.lhs) + conjuncts(expression.rhs)
    return [expression]


def unindexed(column: Expression, unindexed: bool) -> Expression:
    """``+column`` when ``unindexed``: SQLite then reads no index for the term."""
    return peewee.NodeList((peewee.SQL("+"), column), glue="") if unindexed else column


def trigram_match(value: str) -> Expression:
    """SQLite: the row is among those whose ``value_key`` holds every trigram of ``value`` in sequence.

    A phrase of the FTS5 trigram table: the rows holding ``value``, no
    others, as the tokenizer is case-sensitive and ``value_key`` folded
    already; the exact test stays beside it all the same.
    """
    phrase = '"' + value.replace('"', '""') + '"'
    return TrigramTest(DirectoryValue._meta.primary_key, peewee.OP.IN, TRIGRAM_TABLE.select(
        TRIGRAM_TABLE.c.rowid).where(peewee.Expression(TRIGRAM_TABLE.c.value_key, "MATCH", phrase)))
