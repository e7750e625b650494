"""Credentials, sessions and OpenID Connect state."""
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

    class OAuthClient(Model):
        client_id = CharField(primary_key=True, max_length=64)
        account = ForeignKeyField(Account, null=True, on_delete='CASCADE')
        name = CharField(max_length=200, default='')
        secret_hash = CharField(null=True, max_length=64)
        redirect_uris = TextField()
        public = BooleanField(default=False)
        first_party = BooleanField(default=True)
        backchannel_logout_uri = CharField(null=True, max_length=2048)
        post_logout_redirect_uris = TextField()
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'o_auth_client'
    db.create_tables([OAuthClient])

    class Session(Model):
        id = CharField(primary_key=True, max_length=32)
        user = ForeignKeyField(User, on_delete='CASCADE')
        account = ForeignKeyField(Account, null=True, on_delete='SET NULL')
        token_hash = CharField(unique=True, max_length=64)
        started_at = DateTimeField()
        last_seen_at = DateTimeField()
        ip = CharField(max_length=64, default='')
        user_agent = CharField(max_length=512, default='')
        amr = TextField()
        ended_at = DateTimeField(null=True)
        end_reason = CharField(null=True, max_length=64)
        class Meta:
            database = db
            table_name = 'session'
            indexes = ((('user', 'ended_at'), False),)
    db.create_tables([Session])

    class AuthorizationCode(Model):
        code_hash = CharField(primary_key=True, max_length=64)
        client = ForeignKeyField(OAuthClient, on_delete='CASCADE')
        user = ForeignKeyField(User, on_delete='CASCADE')
        account = ForeignKeyField(Account, null=True, on_delete='CASCADE')
        session = ForeignKeyField(Session, null=True, on_delete='SET NULL')
        redirect_uri = CharField(max_length=2048)
        scope = TextField(default='')
        nonce = CharField(null=True, max_length=512)
        code_challenge = CharField(null=True, max_length=128)
        code_challenge_method = CharField(null=True, max_length=16)
        auth_time = DateTimeField()
        amr = TextField()
        acr = CharField(null=True, max_length=64)
        expires_at = DateTimeField()
        used_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'authorization_code'
    db.create_tables([AuthorizationCode])

    class OAuthToken(Model):
        id = CharField(primary_key=True, max_length=32)
        client = ForeignKeyField(OAuthClient, on_delete='CASCADE')
        user = ForeignKeyField(User, on_delete='CASCADE')
        account = ForeignKeyField(Account, null=True, on_delete='CASCADE')
        session = ForeignKeyField(Session, null=True, on_delete='SET NULL')
        family_id = CharField(index=True, max_length=32)
        authorization_code_hash = CharField(index=True, null=True, max_length=64)
        access_token_hash = CharField(unique=True, max_length=64)
        refresh_token_hash = CharField(unique=True, null=True, max_length=64)
        scope = TextField(default='')
        issued_at = DateTimeField()
        access_expires_at = DateTimeField()
        refresh_expires_at = DateTimeField(null=True)
        rotated_at = DateTimeField(null=True)
        revoked_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'o_auth_token'
    db.create_tables([OAuthToken])

    class PasswordResetToken(Model):
        token_hash = CharField(primary_key=True, max_length=64)
        user = ForeignKeyField(User, on_delete='CASCADE')
        expires_at = DateTimeField()
        used_at = DateTimeField(null=True)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'password_reset_token'
    db.create_tables([PasswordResetToken])

    class RecoveryCode(Model):
        id = CharField(primary_key=True, max_length=32)
        user = ForeignKeyField(User, on_delete='CASCADE')
        code_hash = CharField(max_length=64)
        used_at = DateTimeField(null=True)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'recovery_code'
    db.create_tables([RecoveryCode])

    class SigningKey(Model):
        kid = CharField(primary_key=True, max_length=64)
        alg = CharField(max_length=16)
        private_key_encrypted = TextField()
        public_jwk = TextField()
        created_at = DateTimeField()
        retired_at = DateTimeField(null=True)
        publish_until = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'signing_key'
    db.create_tables([SigningKey])

    class ThrottleCounter(Model):
        key = CharField(primary_key=True, max_length=400)
        failures = IntegerField(default=0)
        window_started_at = DateTimeField()
        locked_until = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'throttle_counter'
    db.create_tables([ThrottleCounter])

    class TotpCredential(Model):
        id = CharField(primary_key=True, max_length=32)
        user = ForeignKeyField(User, on_delete='CASCADE')
        secret_encrypted = TextField()
        confirmed_at = DateTimeField(null=True)
        last_used_step = BigIntegerField(default=0)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'totp_credential'
    db.create_tables([TotpCredential])

    class WebAuthnCredential(Model):
        id = CharField(primary_key=True, max_length=32)
        user = ForeignKeyField(User, on_delete='CASCADE')
        credential_id = CharField(unique=True, max_length=1024)
        public_key = TextField()
        sign_count = BigIntegerField(default=0)
        transports = TextField()
        nickname = CharField(max_length=100, default='Security key')
        created_at = DateTimeField()
        last_used_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'web_authn_credential'
    db.create_tables([WebAuthnCredential])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('web_authn_credential'))
    migrator.migrate(migrator.drop_table('totp_credential'))
    migrator.migrate(migrator.drop_table('throttle_counter'))
    migrator.migrate(migrator.drop_table('signing_key'))
    migrator.migrate(migrator.drop_table('recovery_code'))
    migrator.migrate(migrator.drop_table('password_reset_token'))
    migrator.migrate(migrator.drop_table('o_auth_token'))
    migrator.migrate(migrator.drop_table('authorization_code'))
    migrator.migrate(migrator.drop_table('session'))
    migrator.migrate(migrator.drop_table('o_auth_client'))
