"""Browsers each person has signed in from (models.devices), so a sign-in from a new one is told to them.

A browser's long-lived device cookie is kept only as a hash, per person,
with when it was first and last seen and what it said it was.
"""
from peewee import *


def up(migrator, db):
    class User(Model):
        id = CharField(primary_key=True, max_length=32)
        class Meta:
            database = db
            table_name = 'user'

    class KnownDevice(Model):
        id = CharField(primary_key=True, max_length=32)
        user = ForeignKeyField(User, on_delete='CASCADE', index=False)
        token_hash = CharField(max_length=64)
        description = CharField(max_length=100, default='')
        ip = CharField(max_length=64, default='')
        first_seen_at = DateTimeField()
        last_seen_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'known_device'
            indexes = ((('user', 'token_hash'), True),)
    db.create_tables([KnownDevice])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('known_device'))
