"""A User's ``active`` is stored on its directory record, so sortBy=active and ``active`` filters read an index.

``active`` was computed for each record from its membership's status (or,
for a record linked to nobody, from what the directory last said), so
sorting by it read the whole account. The column is kept by the writers in
models (directory, members, invitations); ``is_active`` stays the rule and
tests/models/test_record_active.py holds the column to it. The index
(account_id, active, id) gives the listing order (false before true, then
id) and, with (account_id, external_id, id) replacing (account_id,
external_id), sortBy=externalId walks an index too.
"""
from peewee import *


def up(migrator, db):
    migrator.migrate(migrator.add_column('directory_record', 'active', BooleanField(default=True)))
    param = db.param
    position = 'STRPOS' if isinstance(db, PostgresqlDatabase) else 'INSTR'
    db.execute_sql(  # attributes are stored with sorted keys and no spaces: the text form is fixed
        'UPDATE directory_record SET active = %s WHERE membership_id IS NULL AND %s(attributes, %s) > 0'
        % (param, position, param), (False, '"active":false'))
    db.execute_sql(
        'UPDATE directory_record SET active = (SELECT m.status <> %s FROM membership AS m '
        'WHERE m.id = directory_record.membership_id) WHERE membership_id IS NOT NULL' % param, ('deactivated',))
    migrator.migrate(
        migrator.add_index('directory_record', ('account_id', 'active', 'id')),
        migrator.drop_index('directory_record', 'directoryrecord_account_id_external_id'),
        migrator.add_index('directory_record', ('account_id', 'external_id', 'id')),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_index('directory_record', 'directory_record_account_id_external_id_id'),
        migrator.add_index('directory_record', ('account_id', 'external_id'), name='directoryrecord_account_id_external_id'),
        migrator.drop_index('directory_record', 'directory_record_account_id_active_id'),
        migrator.drop_column('directory_record', 'active'),
    )
