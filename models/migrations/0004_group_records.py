"""Directory records as group members: SCIM Group members may be unlinked records (DESIGN.md §3).

Nothing to copy: the members SCIM wrote before this are linked records, whose
memberships are in group_member, and a group's SCIM members are the union of
both tables (models.groups).
"""
from peewee import *


def up(migrator, db):
    class Group(Model):
        id = CharField(primary_key=True, max_length=32)
        class Meta:
            database = db
            table_name = 'group'

    class DirectoryRecord(Model):
        id = CharField(primary_key=True, max_length=32)
        class Meta:
            database = db
            table_name = 'directory_record'

    class GroupRecord(Model):
        group = ForeignKeyField(Group, on_delete='CASCADE')
        record = ForeignKeyField(DirectoryRecord, on_delete='CASCADE')
        class Meta:
            database = db
            table_name = 'group_record'
            primary_key = CompositeKey('group', 'record')
            indexes = ((('record',), False),)
    db.create_tables([GroupRecord])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('group_record'))
