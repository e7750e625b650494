"""WebAuthn credentials say whether they are hardware-bound keys or synced passkeys.

``device_type`` is WebAuthn's credential device type (the backup-eligible
flag, fixed for a credential's life): ``single_device`` for a key bound to
one authenticator (RFC 8176 ``hwk``), ``multi_device`` for a passkey a
provider syncs (``swk``). Keys registered before this were only ever
security keys, so they become ``single_device``.
"""
from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('web_authn_credential', 'device_type',
                            CharField(max_length=16, default='single_device')))


def down(migrator, db):
    migrator.migrate(migrator.drop_column('web_authn_credential', 'device_type'))
