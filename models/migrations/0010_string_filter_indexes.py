"""Trigram indexes for the ``co`` and ``ew`` filters on stored values (issue 11 point 7, "no slow query").

``co`` and ``ew`` on a ``directory_value`` attribute read the account's whole
range of the path, since no B-tree orders values by what they contain. Each
database gets an index of ``value_key``'s trigrams (scim_server.filters
compiles the filters to what it can read):

* SQLite: ``directory_value_trigram``, an FTS5 table with the trigram
  tokenizer (case-sensitive: ``value_key`` is folded already) over the
  external content ``directory_value``, kept in step by three triggers and
  filled here by ``rebuild``.
* PostgreSQL: a GIN index ``directory_value_value_key_trigram`` with
  pg_trgm's ``gin_trgm_ops``. Creating the extension needs the right to
  (PostgreSQL 13+: CREATE on the database, pg_trgm being trusted) and the
  contrib package; without them the migration logs a warning and still
  succeeds, and ``co``/``ew`` stay correct, read as before (a walk of the
  account's range). Run ``CREATE EXTENSION pg_trgm`` as a superuser, then
  create the index as below, to get it later.

Only ``value_key`` is indexed: the one caseExact value (the enterprise
``manager.value``) is compared on ``value`` and keeps its walk.
"""
import logging

import peewee

log = logging.getLogger('roster.migrations')

FTS = 'directory_value_trigram'
GIN = 'directory_value_value_key_trigram'
TRIGGERS = {
    # the external content table's pattern (https://sqlite.org/fts5.html#external_content_tables):
    # a row leaves the index by 'delete' with the values it was indexed with
    'ai': f'AFTER INSERT ON directory_value BEGIN '
          f'INSERT INTO {FTS}(rowid, value_key) VALUES (new.id, new.value_key); END',
    'ad': f'AFTER DELETE ON directory_value BEGIN '
          f"INSERT INTO {FTS}({FTS}, rowid, value_key) VALUES ('delete', old.id, old.value_key); END",
    'au': f'AFTER UPDATE OF id, value_key ON directory_value BEGIN '
          f"INSERT INTO {FTS}({FTS}, rowid, value_key) VALUES ('delete', old.id, old.value_key); "
          f'INSERT INTO {FTS}(rowid, value_key) VALUES (new.id, new.value_key); END',
}


def up(migrator, db):
    if isinstance(db, peewee.PostgresqlDatabase):
        try:
            with db.atomic():  # a savepoint: a refusal must not abort the migration's transaction
                db.execute_sql('CREATE EXTENSION IF NOT EXISTS pg_trgm')
                db.execute_sql(f'CREATE INDEX IF NOT EXISTS {GIN} ON directory_value '
                               'USING gin (value_key gin_trgm_ops)')
        except peewee.DatabaseError as exc:
            log.warning('pg_trgm is not available (%s): co and ew filters on stored values are read without '
                        'a trigram index. As a superuser: CREATE EXTENSION pg_trgm; then CREATE INDEX %s ON '
                        'directory_value USING gin (value_key gin_trgm_ops);', str(exc).strip(), GIN)
        return
    db.execute_sql(f"CREATE VIRTUAL TABLE {FTS} USING fts5(value_key, content='directory_value', "
                   "content_rowid='id', tokenize='trigram case_sensitive 1')")
    for suffix, body in TRIGGERS.items():
        db.execute_sql(f'CREATE TRIGGER {FTS}_{suffix} {body}')
    db.execute_sql(f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')")


def down(migrator, db):
    if isinstance(db, peewee.PostgresqlDatabase):
        # the extension stays: other objects may use it, and dropping it needs the right to
        db.execute_sql(f'DROP INDEX IF EXISTS {GIN}')
        return
    for suffix in TRIGGERS:
        db.execute_sql(f'DROP TRIGGER IF EXISTS {FTS}_{suffix}')
    db.execute_sql(f'DROP TABLE IF EXISTS {FTS}')
