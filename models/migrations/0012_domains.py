"""The domains each account claims and proves it owns by DNS (models.federation, DESIGN.md §7).

``verified_name`` repeats the name once verified and is NULL while pending:
its unique index lets one account only own a verified domain (NULLs never
collide, on SQLite and PostgreSQL alike), whoever verifies first.
"""
from peewee import *


def up(migrator, db):
    class Account(Model):
        id = CharField(primary_key=True, max_length=32)
        class Meta:
            database = db
            table_name = 'account'

    class Domain(Model):
        id = CharField(primary_key=True, max_length=32)
        account = ForeignKeyField(Account, on_delete='CASCADE', index=False)
        name = CharField(max_length=253)
        token = CharField(max_length=64)
        status = CharField(max_length=16, default='pending')
        verified_name = CharField(max_length=253, null=True, unique=True)
        created_at = DateTimeField()
        verified_at = DateTimeField(null=True)
        checked_at = DateTimeField(null=True)
        failure = CharField(max_length=500, default='')
        class Meta:
            database = db
            table_name = 'domain'
            indexes = ((('account', 'name'), True),)
    db.create_tables([Domain])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('domain'))
