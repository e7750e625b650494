"""An unfiltered sort by a stored value reads its page in index order (issue 11, "no slow query").

``sortBy`` on a ``directory_value`` attribute joined each record's lead row
and sorted the whole account for one page. scim_server.sorting.ValueWalk
walks instead the account's lead rows of the path in the key's order — one
index per key column: ``value_key``, ``value`` (caseExact), ``type`` and
``primary`` — then the records without one by (account_id, id).
"""
from peewee import *

WALKS = ('value_key', 'value', 'type', 'primary')


def up(migrator, db):
    migrator.migrate(
        *(migrator.add_index('directory_value', ('account_id', 'path', 'lead', column, 'record_id'))
          for column in WALKS),
        migrator.add_index('directory_record', ('account_id', 'id')),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_index('directory_record', 'directory_record_account_id_id'),
        *(migrator.drop_index('directory_value', f'directory_value_account_id_path_lead_{column}_record_id')
          for column in WALKS),
    )
