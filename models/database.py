"""The database: one proxy for every model, bound at start-up from a URL.

SQLite is the embedded default; PostgreSQL is for production and for several
instances sharing one store. Both keep every piece of state, so any instance
can serve any request.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import select
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote, urlparse

import peewee
from playhouse.pool import MaxConnectionsExceeded, PooledPostgresqlDatabase

db = peewee.DatabaseProxy()

# WAL lets readers and one writer work at once; NORMAL is durable in WAL mode
# except for the last commits on power loss, the usual trade for servers.
SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "normal",
    "foreign_keys": 1,
    "busy_timeout": 30_000,
    "cache_size": -16_000,
}


# seconds a PostgreSQL connection attempt may take: an unreachable host answers 503 soon, not after TCP's minutes
CONNECT_TIMEOUT = 5


class BaseModel(peewee.Model):
    class Meta:
        database = db
        legacy_table_names = False


class DatabaseUnavailableError(peewee.OperationalError):
    """The database cannot serve now — down, restarting, unreachable, out of connections, locked, unreadable.

    The transaction is rolled back (or, when the connection died during its
    COMMIT, as the server decided), and the same request may succeed later:
    each protocol answers 503 with ``Retry-After: retry_after``. ``orig`` is the
    driver's error. Raised only by :func:`is_unavailable`'s classification,
    at the calls where peewee reaches the driver; constraint violations,
    deadlocks and SQL errors keep their own types.
    """

    retry_after = 5  # seconds: a restart or failover usually takes a few
    orig: BaseException


# SQLite primary result codes (https://sqlite.org/rescode.html) that say the file cannot be used now
_SQLITE_UNAVAILABLE = frozenset({
    5,  # SQLITE_BUSY: locked by another writer beyond the busy timeout
    6,  # SQLITE_LOCKED
    8,  # SQLITE_READONLY: the file or its directory became read-only
    10,  # SQLITE_IOERR
    13,  # SQLITE_FULL
    14,  # SQLITE_CANTOPEN: missing, unreadable or not a file
    15,  # SQLITE_PROTOCOL: WAL lock contention
})
# PostgreSQL SQLSTATE classes (Appendix A): connection exception, insufficient resources (too many
# connections, disk full), operator intervention (admin/crash shutdown, starting up) but not 57014 query_canceled
_POSTGRES_UNAVAILABLE = ("08", "53", "57P")


def _driver_error(exc: BaseException) -> BaseException:
    """What the driver raised under peewee's wrapping (which wraps our own error again when connect() fails
    inside a query)."""
    orig = getattr(exc, "orig", exc)
    while isinstance(orig, DatabaseUnavailableError):
        orig = orig.orig
    return orig


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (a peewee or driver error) means the database cannot serve now, rather than a refusal.

    PostgreSQL: a client-side connection failure (no SQLSTATE: refused,
    reset, closed) or a server SQLSTATE of the classes above; an integrity,
    serialization or deadlock error is not one. SQLite: the result codes
    above; a constraint is not one. The pool running out of connections is one.
    """
    orig = _driver_error(exc)
    if isinstance(orig, (DatabaseUnavailableError, MaxConnectionsExceeded)):
        return True
    if isinstance(orig, sqlite3.Error):
        code = getattr(orig, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in _SQLITE_UNAVAILABLE
    if type(orig).__module__.startswith("psycopg"):
        import psycopg

        if isinstance(orig, psycopg.OperationalError):
            return orig.sqlstate is None or orig.sqlstate.startswith(_POSTGRES_UNAVAILABLE)
    return False


class _Classifying(peewee.Database):
    """Raises :class:`DatabaseUnavailableError` where peewee calls the driver, so the protocols answer 503.

    A connection that failed so is not kept for the thread's next request.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._failed = threading.local()
        super().__init__(*args, **kwargs)

    def _classify(self, exc: Exception) -> None:
        if is_unavailable(exc) and not isinstance(exc, DatabaseUnavailableError):
            self._failed.since_last_request = True
            raise DatabaseUnavailableError(_driver_error(exc)) from exc

    def failed_since_last_request(self) -> bool:
        """Whether this thread's connection failed as unavailable since the last call (then forgotten)."""
        if getattr(self._failed, "since_last_request", False):
            self._failed.since_last_request = False
            return True
        return False

    def connect(self, reuse_if_open: bool = False) -> bool:
        try:
            return bool(super().connect(reuse_if_open))
        except Exception as exc:
            self._classify(exc)
            raise

    def execute_sql(self, sql: str, params: Any = None) -> Any:
        try:
            return super().execute_sql(sql, params)  # type: ignore[no-untyped-call]  # peewee-stubs leave it untyped
        except Exception as exc:
            self._classify(exc)
            raise

    def begin(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().begin(*args, **kwargs)
        except Exception as exc:
            self._classify(exc)
            raise

    def commit(self) -> None:
        try:
            super().commit()
        except Exception as exc:
            self._classify(exc)
            raise

    def rollback(self) -> None:
        try:
            super().rollback()
        except Exception as exc:
            self._classify(exc)
            raise


class _Sqlite(_Classifying, peewee.SqliteDatabase):
    pass


class _PostgresPool(_Classifying, PooledPostgresqlDatabase):  # type: ignore[misc]  # playhouse has no type hints
    """peewee's pool, minus a round trip on almost every check-out.

    peewee 4 pings each pooled connection with ``SELECT 1`` before handing it
    out: on a busy server that is a second round trip for a one-statement
    request. A connection handed back moments ago, idle and not broken, is
    reused without the ping (HikariCP's "alive bypass window" does the same);
    one idle for longer is pinged as before, so a server restart costs no
    request that comes after a pause. An idle connection has nothing to
    read unless the server sent something unasked (the notice it sends when
    it shuts down or terminates the backend, or the socket's end): a
    readable socket is pinged too, so a restart within the window costs no
    request either.
    """

    TRUSTED_FOR_SECONDS = 1.0

    def __init__(self, *args: object, **kwargs: object) -> None:
        self._returned_at: dict[int, float] = {}
        super().__init__(*args, **kwargs)

    def _close(self, conn: object, close_conn: bool = False) -> None:
        if not close_conn:
            self._returned_at[id(conn)] = time.monotonic()
        super()._close(conn, close_conn)

    def _is_closed(self, conn: object) -> bool:
        returned_at = self._returned_at.pop(id(conn), None)
        if (returned_at is not None and time.monotonic() - returned_at < self.TRUSTED_FOR_SECONDS
                and not conn.closed and not conn.broken  # type: ignore[attr-defined]
                and conn.info.transaction_status == 0  # type: ignore[attr-defined]  # 0: IDLE
                and not _has_unread_input(conn)):
            return False
        return bool(super()._is_closed(conn))


def _has_unread_input(conn: Any) -> bool:
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    return bool(readable)


def default_sqlite_path() -> str:
    return os.path.join(os.environ.get("ROSTER_DATA_DIR", "data"), "roster.sqlite3")


def open_database(url: str | None) -> peewee.Database:
    """Return an unconnected database for ``url`` (``sqlite:///path`` or ``postgresql://…``)."""
    if not url:
        url = "sqlite:///" + default_sqlite_path()
    parsed = urlparse(url)
    if parsed.scheme in ("postgres", "postgresql"):
        return _PostgresPool(
            unquote(parsed.path.lstrip("/")) or "postgres",
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 5432,
            user=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            max_connections=int(os.environ.get("ROSTER_DB_POOL_SIZE", "20")),
            stale_timeout=300,
            timeout=30,
            connect_timeout=CONNECT_TIMEOUT,
        )
    if parsed.scheme == "sqlite":
        # sqlite:///relative/path and sqlite:////absolute/path, as SQLAlchemy reads them
        path = url.split("://", 1)[1][1:] or default_sqlite_path()
        if path != ":memory:":
            directory = os.path.dirname(os.path.abspath(path))
            os.makedirs(directory, exist_ok=True)
        return _Sqlite(path, pragmas=SQLITE_PRAGMAS, timeout=30)
    raise ValueError(f"DATABASE_URL must start with sqlite:/// or postgresql://, not {parsed.scheme!r}")


def bind(database: peewee.Database) -> None:
    db.initialize(database)


def is_postgres() -> bool:
    return isinstance(db.obj, peewee.PostgresqlDatabase)


def supports_returning() -> bool:
    """INSERT/UPDATE … RETURNING: PostgreSQL, and SQLite from 3.35."""
    return is_postgres() or sqlite3.sqlite_version_info >= (3, 35, 0)


def end_request(error: BaseException | None = None) -> None:
    """After each request: no transaction stays open, and the connection is kept or handed back.

    SQLite keeps the thread's connection for its next request (opening one
    costs a connect and its pragmas; in WAL mode an idle connection holds no
    lock and sees every commit). A transaction left open is rolled back, and
    a database error closes the connection so the next request opens a fresh
    one. PostgreSQL's pooled connection goes back to the pool. A connection
    that failed or could not reach the database is closed, even when the
    protocol answered the failure (a 503) instead of raising it; cleaning up
    a connection the database has dropped never raises.
    """
    if db.obj is None:
        return
    broken = isinstance(db.obj, _Classifying) and db.obj.failed_since_last_request()
    if db.is_closed():
        return
    try:
        if db.in_transaction():
            # an atomic block that never ended (a bug): forget it, roll back, start afresh
            while db.in_transaction():
                db.pop_transaction()
            db.rollback()
        elif isinstance(db.obj, peewee.SqliteDatabase) and not broken and not isinstance(error, peewee.DatabaseError):
            connection = db.connection()
            if connection.in_transaction:
                connection.rollback()
            return
    except (peewee.PeeweeException, sqlite3.Error):
        broken = True  # the database dropped the connection: closing it below is all that is left to do
    if broken and isinstance(db.obj, PooledPostgresqlDatabase):
        db.obj.manual_close()  # not back to the pool: the next request connects afresh
    else:
        db.close()


# Rows queued by defer_to_commit for the outermost transaction(), each with the function that writes a batch of them
_deferred: contextvars.ContextVar[list[tuple[Callable[[list[Any]], None], Any]] | None] = contextvars.ContextVar(
    "roster_deferred_writes", default=None)


def defer_to_commit(write: Callable[[list[Any]], None], item: Any) -> bool:
    """Leave ``item`` for the outermost :func:`transaction` to ``write`` just before it commits.

    A change that leaves several rows of one kind (the audit trail) then
    writes them in one statement instead of one each, a round trip apiece
    on PostgreSQL. Returns False outside a transaction: write it now.
    """
    queue = _deferred.get()
    if queue is None or not db.in_transaction():
        return False
    queue.append((write, item))
    return True


def _write_deferred(queue: list[tuple[Callable[[list[Any]], None], Any]]) -> None:
    while queue:
        write = queue[0][0]
        count = next((i for i, (other, _) in enumerate(queue) if other is not write), len(queue))
        batch = [item for _, item in queue[:count]]
        del queue[:count]
        write(batch)


@contextlib.contextmanager
def transaction() -> Iterator[None]:
    """A write transaction; nested calls become savepoints.

    SQLite starts writers with BEGIN IMMEDIATE so two writers queue on the
    busy timeout instead of failing when a reader upgrades to a writer.
    Rows deferred inside a savepoint that rolls back are dropped with it.
    """
    queue = _deferred.get()
    outermost = queue is None or not db.in_transaction()
    atomic = db.atomic() if not outermost or is_postgres() else db.atomic("IMMEDIATE")
    if outermost:
        queue = []
        token = _deferred.set(queue)
        try:
            with atomic:
                yield
                _write_deferred(queue)
        finally:
            _deferred.reset(token)
        return
    assert queue is not None
    kept = len(queue)
    try:
        with atomic:
            yield
    except BaseException:
        del queue[kept:]
        raise
