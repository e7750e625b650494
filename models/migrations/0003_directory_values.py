"""Filterable values of directory records (emails, phone numbers, name parts, enterprise attributes)."""
import json
import unicodedata

from peewee import *

ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'
# frozen copy of models.directory_index as it was when this table appeared
MULTI_VALUED = ('emails', 'phoneNumbers')
SINGLE_VALUED = {
    'name.givenName': (None, 'name', 'givenName'),
    'name.familyName': (None, 'name', 'familyName'),
    'name.formatted': (None, 'name', 'formatted'),
    'displayName': (None, 'displayName', None),
    'nickName': (None, 'nickName', None),
    'title': (None, 'title', None),
    'userType': (None, 'userType', None),
    'preferredLanguage': (None, 'preferredLanguage', None),
    'locale': (None, 'locale', None),
    'timezone': (None, 'timezone', None),
    'enterprise.employeeNumber': (ENTERPRISE, 'employeeNumber', None),
    'enterprise.costCenter': (ENTERPRISE, 'costCenter', None),
    'enterprise.organization': (ENTERPRISE, 'organization', None),
    'enterprise.division': (ENTERPRISE, 'division', None),
    'enterprise.department': (ENTERPRISE, 'department', None),
    'enterprise.manager.value': (ENTERPRISE, 'manager', 'value'),
}


def _fold(value):
    return unicodedata.normalize('NFC', value).lower()[:512]


def _text(value):
    if isinstance(value, (bool, dict, list)) or value is None:
        return None
    return str(value)[:512] or None


def _rows(record_id, attributes):
    def row(path, value, type_='', primary=False):
        return {'record': record_id, 'path': path, 'type': _fold(str(type_ or ''))[:64],
                'primary': primary is True, 'value': value, 'value_key': _fold(value)}
    for name in MULTI_VALUED:
        for entry in attributes.get(name) or []:
            if isinstance(entry, dict) and _text(entry.get('value')) is not None:
                yield row(name + '.value', _text(entry['value']), entry.get('type'), entry.get('primary'))
    for path, (schema, attribute, sub_attribute) in SINGLE_VALUED.items():
        holder = attributes.get(schema) if schema else attributes
        value = holder.get(attribute) if isinstance(holder, dict) else None
        if sub_attribute is not None:
            value = value.get(sub_attribute) if isinstance(value, dict) else None
        if _text(value) is not None:
            yield row(path, _text(value))


def up(migrator, db):
    class DirectoryRecord(Model):
        id = CharField(primary_key=True, max_length=32)
        attributes = TextField()
        class Meta:
            database = db
            table_name = 'directory_record'

    class DirectoryValue(Model):
        record = ForeignKeyField(DirectoryRecord, on_delete='CASCADE')
        path = CharField(max_length=64)
        type = CharField(max_length=64, default='')
        primary = BooleanField(default=False)
        value = CharField(max_length=512)
        value_key = CharField(max_length=512)
        class Meta:
            database = db
            table_name = 'directory_value'
            indexes = ((('record', 'path'), False), (('path', 'value_key'), False))
    db.create_tables([DirectoryValue])
    migrator.migrate(migrator.add_index('directory_record', ('account_id', 'created_at', 'id')))

    for record in DirectoryRecord.select().iterator():
        rows = list(_rows(record.id, json.loads(record.attributes or '{}')))
        if rows:
            DirectoryValue.insert_many(rows).execute()


def down(migrator, db):
    migrator.migrate(migrator.drop_index('directory_record', 'directory_record_account_id_created_at_id'))
    migrator.migrate(migrator.drop_table('directory_value'))
