"""Filters and sorts read one account's values from an index (issue 11, "no slow query").

``directory_value`` gets ``account_id`` (the record's account, copied) and
``lead`` (the row a sort reads: the primary value of a multi-valued
attribute, else its first, RFC 7644 §3.4.2.3; every single value). The index
on (path, value_key), which the planners picked for correlated lookups and
walked once per record, becomes (account_id, path, value_key, record_id,
type, primary);
(record_id, path) becomes (record_id, path, lead, value_key), from which a
sort reads its key without the row; ``directory_record`` gets
(account_id, updated_at, id) for ``sortBy=meta.lastModified``.

Rows were written in the order of their attribute's list, so a record's
first value of a path is its row with the lowest id.
"""
from peewee import *

MULTI_VALUED_PATHS = ('emails.value', 'phoneNumbers.value')
ACCOUNT_INDEX = ('account_id', 'path', 'value_key', 'record_id', 'type', 'primary')
ACCOUNT_INDEX_NAME = 'directory_value_account_path_value_key'  # the columns' name is too long for PostgreSQL


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('directory_value', 'account_id', CharField(max_length=32, null=True)),
        migrator.add_column('directory_value', 'lead', BooleanField(default=False)),
    )
    db.execute_sql(
        'UPDATE directory_value SET account_id = (SELECT r.account_id FROM directory_record AS r '
        'WHERE r.id = directory_value.record_id)')
    db.execute_sql('UPDATE directory_value SET lead = %s WHERE path NOT IN (%s, %s)' % ((db.param,) * 3),
                   (True, *MULTI_VALUED_PATHS))
    db.execute_sql(
        'UPDATE directory_value SET lead = %s WHERE path IN (%s, %s) AND id = ('
        'SELECT d.id FROM directory_value AS d WHERE d.record_id = directory_value.record_id '
        'AND d.path = directory_value.path ORDER BY d."primary" DESC, d.id LIMIT 1)' % ((db.param,) * 3),
        (True, *MULTI_VALUED_PATHS))
    migrator.migrate(
        migrator.add_not_null('directory_value', 'account_id'),
        migrator.drop_index('directory_value', 'directoryvalue_path_value_key'),
        migrator.drop_index('directory_value', 'directoryvalue_record_id_path'),
        migrator.add_index('directory_value', ACCOUNT_INDEX, name=ACCOUNT_INDEX_NAME),
        migrator.add_index('directory_value', ('record_id', 'path', 'lead', 'value_key')),
        migrator.add_index('directory_record', ('account_id', 'updated_at', 'id')),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_index('directory_record', 'directory_record_account_id_updated_at_id'),
        migrator.drop_index('directory_value', ACCOUNT_INDEX_NAME),
        migrator.drop_index('directory_value', 'directory_value_record_id_path_lead_value_key'),
        migrator.add_index('directory_value', ('path', 'value_key')),
        migrator.add_index('directory_value', ('record_id', 'path')),
        migrator.drop_column('directory_value', 'lead'),
        migrator.drop_column('directory_value', 'account_id'),
    )
