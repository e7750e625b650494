"""Enterprise SSO connections (models.connections, DESIGN.md §7): the upstream IdPs of each account, the
identities they sign in, the sign-ins in flight, the SAML assertions already used, and which connection a
session came through; a domain's last verification failure becomes a text column (kept with its template).
"""
from peewee import *


def up(migrator, db):
    class Account(Model):
        id = CharField(primary_key=True, max_length=32)
        class Meta:
            database = db
            table_name = 'account'

    class User(Model):
        id = CharField(primary_key=True, max_length=32)
        class Meta:
            database = db
            table_name = 'user'

    class Connection(Model):
        id = CharField(primary_key=True, max_length=32)
        account = ForeignKeyField(Account, on_delete='CASCADE')
        kind = CharField(max_length=8)
        name = CharField(max_length=200)
        enabled = BooleanField(default=False)
        issuer = CharField(max_length=2048, default='')
        client_id = CharField(max_length=512, default='')
        client_secret = TextField(default='')
        scopes = TextField(default='[]')
        claim_mapping = TextField(default='{}')
        idp_metadata_xml = TextField(default='')
        idp_metadata_url = CharField(max_length=2048, default='')
        idp_entity_id = CharField(max_length=1024, default='')
        mfa_contexts = TextField(default='[]')
        sso_required = BooleanField(default=False)
        jit = BooleanField(default=False)
        default_role = CharField(max_length=20, default='user')
        default_groups = TextField(default='[]')
        trust_upstream_mfa = BooleanField(default=False)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'connection'

    class ExternalIdentity(Model):
        id = CharField(primary_key=True, max_length=32)
        connection = ForeignKeyField(Connection, on_delete='CASCADE', index=False)
        subject = CharField(max_length=512)
        user = ForeignKeyField(User, on_delete='CASCADE')
        email = CharField(max_length=320, default='')
        created_at = DateTimeField()
        last_sign_in_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'external_identity'
            indexes = ((('connection', 'subject'), True),)

    class SsoRequest(Model):
        id = CharField(primary_key=True, max_length=64)
        connection = ForeignKeyField(Connection, on_delete='CASCADE')
        browser_hash = CharField(max_length=64)
        nonce = CharField(max_length=128, default='')
        code_verifier = TextField(default='')
        saml_request_id = CharField(max_length=128, default='')
        next = TextField(default='')
        test = BooleanField(default=False)
        result = TextField(null=True)
        created_at = DateTimeField()
        expires_at = DateTimeField(index=True)
        class Meta:
            database = db
            table_name = 'sso_request'

    class SamlAssertion(Model):
        id = CharField(primary_key=True, max_length=32)
        connection = ForeignKeyField(Connection, on_delete='CASCADE', index=False)
        assertion_id = CharField(max_length=256)
        expires_at = DateTimeField(index=True)
        class Meta:
            database = db
            table_name = 'saml_assertion'
            indexes = ((('connection', 'assertion_id'), True),)

    db.create_tables([Connection, ExternalIdentity, SsoRequest, SamlAssertion])
    # a domain's last failure is kept with its template and values (models.fields.MessageField), past 500 characters
    migrator.migrate(migrator.alter_column_type('domain', 'failure', TextField(default='')))
    migrator.migrate(migrator.add_column(
        'session', 'connection_id', ForeignKeyField(Connection, field=Connection.id, null=True, on_delete='SET NULL')))


def down(migrator, db):
    migrator.migrate(migrator.alter_column_type('domain', 'failure', CharField(max_length=500, default='')))
    migrator.migrate(migrator.drop_column('session', 'connection_id'))
    for table in ('saml_assertion', 'sso_request', 'external_identity', 'connection'):
        migrator.migrate(migrator.drop_table(table))
