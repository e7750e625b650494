"""Credentials, sessions and OpenID Connect state (DESIGN.md §2, §4).

The tables exist from the first release so later features only add
behaviour; every secret here is stored hashed or encrypted.
"""

from __future__ import annotations

import peewee as pw

from . import clock
from .connections import Connection
from .database import BaseModel
from .fields import IdField, JSONField
from .tenancy import Account, User


class TotpCredential(BaseModel):
    id = IdField()
    user = pw.ForeignKeyField(User, backref="totp_credentials", on_delete="CASCADE")
    secret_encrypted = pw.TextField()
    confirmed_at = pw.DateTimeField(null=True)
    # the last accepted time step, so one code cannot be used twice
    last_used_step = pw.BigIntegerField(default=0)
    created_at = pw.DateTimeField(default=clock.now)
    # the raw foreign-key values peewee exposes, declared for type checkers
    user_id: str


class WebAuthnCredential(BaseModel):
    id = IdField()
    user = pw.ForeignKeyField(User, backref="webauthn_credentials", on_delete="CASCADE")
    credential_id = pw.CharField(max_length=1024, unique=True)
    public_key = pw.TextField()
    sign_count = pw.BigIntegerField(default=0)
    transports = JSONField(default=list)
    nickname = pw.CharField(max_length=100, default="Security key")
    created_at = pw.DateTimeField(default=clock.now)
    last_used_at = pw.DateTimeField(null=True)
    # WebAuthn's credential device type: single_device (hardware-bound, amr hwk) or multi_device (synced passkey, swk)
    device_type = pw.CharField(max_length=16, default="single_device")
    # the raw foreign-key values peewee exposes, declared for type checkers
    user_id: str


class RecoveryCode(BaseModel):
    id = IdField()
    user = pw.ForeignKeyField(User, backref="recovery_codes", on_delete="CASCADE")
    code_hash = pw.CharField(max_length=64)
    used_at = pw.DateTimeField(null=True)
    created_at = pw.DateTimeField(default=clock.now)
    # the raw foreign-key values peewee exposes, declared for type checkers
    user_id: str


class Session(BaseModel):
    id = IdField()
    user = pw.ForeignKeyField(User, backref="sessions", on_delete="CASCADE")
    account = pw.ForeignKeyField(Account, null=True, backref="+", on_delete="SET NULL")
    token_hash = pw.CharField(max_length=64, unique=True)
    started_at = pw.DateTimeField(default=clock.now)
    last_seen_at = pw.DateTimeField(default=clock.now)
    ip = pw.CharField(max_length=64, default="")
    user_agent = pw.CharField(max_length=512, default="")
    amr = JSONField(default=list)
    # the SSO connection the sign-in came through (F4, F5; the profile names its IdP), None for Roster's own
    connection = pw.ForeignKeyField(Connection, null=True, backref="+", on_delete="SET NULL")
    ended_at = pw.DateTimeField(null=True)
    end_reason = pw.CharField(max_length=64, null=True)
    # the raw foreign-key values peewee exposes, declared for type checkers
    user_id: str
    account_id: str | None
    connection_id: str | None

    class Meta:
        indexes = ((("user", "ended_at"), False),)


class OAuthClient(BaseModel):
    client_id = pw.CharField(max_length=64, primary_key=True)
    account = pw.ForeignKeyField(Account, null=True, backref="oauth_clients", on_delete="CASCADE")
    name = pw.CharField(max_length=200, default="")
    secret_hash = pw.CharField(max_length=64, null=True)
    redirect_uris = JSONField(default=list)
    public = pw.BooleanField(default=False)
    first_party = pw.BooleanField(default=True)
    backchannel_logout_uri = pw.CharField(max_length=2048, null=True)
    post_logout_redirect_uris = JSONField(default=list)
    created_at = pw.DateTimeField(default=clock.now)
    # the raw foreign-key values peewee exposes, declared for type checkers
    account_id: str | None


class AuthorizationCode(BaseModel):
    code_hash = pw.CharField(max_length=64, primary_key=True)
    client = pw.ForeignKeyField(OAuthClient, backref="+", on_delete="CASCADE")
    user = pw.ForeignKeyField(User, backref="+", on_delete="CASCADE")
    account = pw.ForeignKeyField(Account, null=True, backref="+", on_delete="CASCADE")
    session = pw.ForeignKeyField(Session, null=True, backref="+", on_delete="SET NULL")
    redirect_uri = pw.CharField(max_length=2048)
    scope = pw.TextField(default="")
    nonce = pw.CharField(max_length=512, null=True)
    code_challenge = pw.CharField(max_length=128, null=True)
    code_challenge_method = pw.CharField(max_length=16, null=True)
    auth_time = pw.DateTimeField()
    amr = JSONField(default=list)
    acr = pw.CharField(max_length=64, null=True)
    expires_at = pw.DateTimeField()
    used_at = pw.DateTimeField(null=True)
    # the raw foreign-key values peewee exposes, declared for type checkers
    client_id: str
    user_id: str
    account_id: str | None
    session_id: str | None


class OAuthToken(BaseModel):
    id = IdField()
    client = pw.ForeignKeyField(OAuthClient, backref="+", on_delete="CASCADE")
    user = pw.ForeignKeyField(User, backref="+", on_delete="CASCADE")
    account = pw.ForeignKeyField(Account, null=True, backref="+", on_delete="CASCADE")
    session = pw.ForeignKeyField(Session, null=True, backref="+", on_delete="SET NULL")
    # tokens rotated from one authorization share a family; reuse revokes it all
    family_id = pw.CharField(max_length=32, index=True)
    authorization_code_hash = pw.CharField(max_length=64, null=True, index=True)
    access_token_hash = pw.CharField(max_length=64, unique=True)
    refresh_token_hash = pw.CharField(max_length=64, null=True, unique=True)
    scope = pw.TextField(default="")
    issued_at = pw.DateTimeField(default=clock.now)
    access_expires_at = pw.DateTimeField()
    refresh_expires_at = pw.DateTimeField(null=True)
    rotated_at = pw.DateTimeField(null=True)
    revoked_at = pw.DateTimeField(null=True)
    # the raw foreign-key values peewee exposes, declared for type checkers
    client_id: str
    user_id: str
    account_id: str | None
    session_id: str | None


class SigningKey(BaseModel):
    kid = pw.CharField(max_length=64, primary_key=True)
    alg = pw.CharField(max_length=16)
    private_key_encrypted = pw.TextField()
    public_jwk = JSONField()
    created_at = pw.DateTimeField(default=clock.now)
    retired_at = pw.DateTimeField(null=True)
    # published until the last token it signed has expired
    publish_until = pw.DateTimeField(null=True)


class ThrottleCounter(BaseModel):
    """Failed attempts per key (email, IP, TOTP …), shared by every instance."""

    key = pw.CharField(max_length=400, primary_key=True)
    failures = pw.IntegerField(default=0)
    window_started_at = pw.DateTimeField(default=clock.now)
    locked_until = pw.DateTimeField(null=True)


class PasswordResetToken(BaseModel):
    token_hash = pw.CharField(max_length=64, primary_key=True)
    user = pw.ForeignKeyField(User, backref="+", on_delete="CASCADE")
    expires_at = pw.DateTimeField()
    used_at = pw.DateTimeField(null=True)
    created_at = pw.DateTimeField(default=clock.now)
    # the raw foreign-key values peewee exposes, declared for type checkers
    user_id: str


class KnownDevice(BaseModel):
    """A browser a person signed in from (models.devices): its device cookie, kept only as a hash (migration 0011)."""

    id = IdField()
    # no index of its own: the unique index below starts with it
    user = pw.ForeignKeyField(User, backref="+", on_delete="CASCADE", index=False)
    token_hash = pw.CharField(max_length=64)
    # "Firefox on Linux", from the User-Agent the browser sent when it was first seen
    description = pw.CharField(max_length=100, default="")
    ip = pw.CharField(max_length=64, default="")
    first_seen_at = pw.DateTimeField(default=clock.now)
    last_seen_at = pw.DateTimeField(default=clock.now)
    # the raw foreign-key values peewee exposes, declared for type checkers
    user_id: str

    class Meta:
        indexes = ((("user", "token_hash"), True),)


TABLES = [
    TotpCredential,
    WebAuthnCredential,
    RecoveryCode,
    Session,
    OAuthClient,
    AuthorizationCode,
    OAuthToken,
    SigningKey,
    ThrottleCounter,
    PasswordResetToken,
    KnownDevice,
]
