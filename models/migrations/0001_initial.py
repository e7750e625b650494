"""Accounts, users, memberships, groups, invitations, directory records, SCIM tokens, audit, outbox."""
from peewee import *


def up(migrator, db):
    class Account(Model):
        id = CharField(primary_key=True, max_length=32)
        name = CharField(unique=True, max_length=200)
        type = CharField(max_length=20)
        parent = ForeignKeyField('self', null=True, on_delete='SET NULL')
        mfa_required = BooleanField(default=False)
        invitation_ttl_days = IntegerField(default=7)
        allowed_email_domains = TextField(null=True)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'account'
    db.create_tables([Account])

    class AuditEvent(Model):
        id = BigAutoField()
        at = DateTimeField(index=True)
        actor_type = CharField(max_length=20)
        actor_id = CharField(max_length=64, default='')
        actor_label = CharField(max_length=320, default='')
        account_id = CharField(index=True, null=True, max_length=32)
        action = CharField(index=True, max_length=64)
        target_type = CharField(max_length=32, default='')
        target_id = CharField(max_length=64, default='')
        detail = TextField()
        request_id = CharField(max_length=64, default='')
        class Meta:
            database = db
            table_name = 'audit_event'
    db.create_tables([AuditEvent])

    class User(Model):
        id = CharField(primary_key=True, max_length=32)
        email = CharField(max_length=320)
        email_key = CharField(unique=True, max_length=320)
        given_name = CharField(max_length=200, default='')
        family_name = CharField(max_length=200, default='')
        display_name = CharField(max_length=400, default='')
        password_hash = CharField(null=True, max_length=200)
        status = CharField(max_length=20, default='pending')
        timezone = CharField(max_length=64, default='UTC')
        date_format = CharField(max_length=32, default='YYYY-MM-DD')
        locale = CharField(max_length=32, default='en')
        news_opt_in = BooleanField(default=False)
        email_notifications = TextField()
        terms_accepted_at = DateTimeField(null=True)
        must_change_password = BooleanField(default=False)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'user'
    db.create_tables([User])

    class Membership(Model):
        id = CharField(primary_key=True, max_length=32)
        user = ForeignKeyField(User, on_delete='CASCADE')
        account = ForeignKeyField(Account, on_delete='CASCADE')
        status = CharField(max_length=20, default='active')
        role = CharField(max_length=20, default='user')
        permissions = TextField()
        sub_account_scope = TextField(null=True)
        created_via = CharField(max_length=20, default='console')
        created_at = DateTimeField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'membership'
            indexes = ((('user', 'account'), True), (('account', 'status', 'role'), False))
    db.create_tables([Membership])

    class DirectoryRecord(Model):
        id = CharField(primary_key=True, max_length=32)
        account = ForeignKeyField(Account, on_delete='CASCADE')
        membership = ForeignKeyField(Membership, unique=True, null=True, on_delete='SET NULL')
        user_name = CharField(max_length=512)
        user_name_key = CharField(max_length=512)
        external_id = CharField(null=True, max_length=512)
        attributes = TextField()
        unlinked_reason = CharField(null=True, max_length=64)
        version = IntegerField(default=1)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'directory_record'
            indexes = ((('account', 'user_name_key'), True), (('account', 'external_id'), False))
    db.create_tables([DirectoryRecord])

    class Group(Model):
        id = CharField(primary_key=True, max_length=32)
        account = ForeignKeyField(Account, on_delete='CASCADE')
        display_name = CharField(max_length=256)
        display_name_key = CharField(max_length=256)
        external_id = CharField(null=True, max_length=256)
        permissions = TextField()
        version = IntegerField(default=1)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'group'
            indexes = ((('account', 'display_name_key'), True),)
    db.create_tables([Group])

    class GroupMember(Model):
        group = ForeignKeyField(Group, on_delete='CASCADE')
        membership = ForeignKeyField(Membership, on_delete='CASCADE')
        class Meta:
            database = db
            table_name = 'group_member'
            primary_key = CompositeKey('group', 'membership')
            indexes = ((('membership',), False),)
    db.create_tables([GroupMember])

    class Invitation(Model):
        id = CharField(primary_key=True, max_length=32)
        account = ForeignKeyField(Account, on_delete='CASCADE')
        membership = ForeignKeyField(Membership, null=True, on_delete='SET NULL')
        email = CharField(max_length=320)
        email_key = CharField(max_length=320)
        given_name = CharField(max_length=200, default='')
        family_name = CharField(max_length=200, default='')
        token_hash = CharField(unique=True, max_length=64)
        token_nonce = CharField(max_length=64)
        expires_at = DateTimeField()
        status = CharField(max_length=20, default='pending')
        invited_by = ForeignKeyField(User, null=True, on_delete='SET NULL')
        sent_count = IntegerField(default=1)
        last_sent_at = DateTimeField()
        accepted_at = DateTimeField(null=True)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'invitation'
    # one pending invitation per (account, email): a partial unique index
    Invitation.add_index(
        Invitation.index(Invitation.account, Invitation.email_key, unique=True).where(
            Invitation.status == 'pending'))
    db.create_tables([Invitation])

    class OutboxMessage(Model):
        id = BigAutoField()
        kind = CharField(max_length=32)
        recipient = CharField(max_length=2048)
        subject = CharField(max_length=400, default='')
        body = TextField(default='')
        payload = TextField()
        created_at = DateTimeField()
        status = CharField(max_length=16, default='pending')
        attempts = IntegerField(default=0)
        next_attempt_at = DateTimeField()
        claimed_by = CharField(null=True, max_length=128)
        lease_until = DateTimeField(null=True)
        last_error = TextField(null=True)
        sent_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'outbox_message'
            indexes = ((('status', 'next_attempt_at'), False),)
    db.create_tables([OutboxMessage])

    class ScimToken(Model):
        id = CharField(primary_key=True, max_length=32)
        account = ForeignKeyField(Account, on_delete='CASCADE')
        token_hash = CharField(unique=True, max_length=64)
        hint = CharField(max_length=16)
        description = CharField(max_length=200, default='')
        created_at = DateTimeField()
        created_by = CharField(max_length=200, default='')
        last_used_at = DateTimeField(null=True)
        revoked_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'scim_token'
    db.create_tables([ScimToken])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('scim_token'))
    migrator.migrate(migrator.drop_table('outbox_message'))
    migrator.migrate(migrator.drop_table('invitation'))
    migrator.migrate(migrator.drop_table('group_member'))
    migrator.migrate(migrator.drop_table('group'))
    migrator.migrate(migrator.drop_table('directory_record'))
    migrator.migrate(migrator.drop_table('membership'))
    migrator.migrate(migrator.drop_table('user'))
    migrator.migrate(migrator.drop_table('audit_event'))
    migrator.migrate(migrator.drop_table('account'))
