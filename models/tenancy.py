"""Accounts and the people in them: the entities of DESIGN.md §2."""

from __future__ import annotations

from typing import Any

import peewee as pw

from . import clock
from .database import BaseModel
from .fields import IdField, JSONField

ACCOUNT_TYPES = ("vendor", "distributor", "reseller", "provider")
USER_STATUSES = ("pending", "active", "disabled")
MEMBERSHIP_STATUSES = ("invited", "active", "deactivated")
ROLES = ("admin", "user")
CREATED_VIA = ("scim", "console", "cli", "invitation")
INVITATION_STATUSES = ("pending", "accepted", "revoked", "expired")


class Account(BaseModel):
    id = IdField()
    name = pw.CharField(max_length=200, unique=True)
    type = pw.CharField(max_length=20, choices=[(t, t) for t in ACCOUNT_TYPES])
    parent = pw.ForeignKeyField("self", null=True, backref="children", on_delete="SET NULL")
    mfa_required = pw.BooleanField(default=False)
    invitation_ttl_days = pw.IntegerField(default=7)
    allowed_email_domains = JSONField(null=True)
    created_at = pw.DateTimeField(default=clock.now)
    # the raw foreign-key values peewee exposes, declared for type checkers
    parent_id: str | None


class User(BaseModel):
    """One global identity; belongs to accounts through memberships."""

    id = IdField()
    email = pw.CharField(max_length=320)
    # lower-cased copy: the unique index makes the database, not a
    # check-then-insert, refuse a second user with the same email
    email_key = pw.CharField(max_length=320, unique=True)
    given_name = pw.CharField(max_length=200, default="")
    family_name = pw.CharField(max_length=200, default="")
    display_name = pw.CharField(max_length=400, default="")
    password_hash = pw.CharField(max_length=200, null=True)
    status = pw.CharField(max_length=20, default="pending")
    timezone = pw.CharField(max_length=64, default="UTC")
    date_format = pw.CharField(max_length=32, default="YYYY-MM-DD")
    locale = pw.CharField(max_length=32, default="en")
    news_opt_in = pw.BooleanField(default=False)
    email_notifications = JSONField(default=dict)
    terms_accepted_at = pw.DateTimeField(null=True)
    must_change_password = pw.BooleanField(default=False)
    created_at = pw.DateTimeField(default=clock.now)
    updated_at = pw.DateTimeField(default=clock.now)

    @property
    def name(self) -> str:
        return self.display_name or " ".join(p for p in (self.given_name, self.family_name) if p)


class Membership(BaseModel):
    id = IdField()
    user = pw.ForeignKeyField(User, backref="memberships", on_delete="CASCADE")
    account = pw.ForeignKeyField(Account, backref="memberships", on_delete="CASCADE")
    status = pw.CharField(max_length=20, default="active")
    role = pw.CharField(max_length=20, default="user")
    permissions = JSONField(default=list)
    # None: every sub-account; a list of account ids limits the scope (R7)
    sub_account_scope = JSONField(null=True)
    created_via = pw.CharField(max_length=20, default="console")
    created_at = pw.DateTimeField(default=clock.now)
    updated_at = pw.DateTimeField(default=clock.now)
    # the raw foreign-key values peewee exposes, declared for type checkers
    user_id: str
    account_id: str

    class Meta:
        indexes = (
            (("user", "account"), True),
            (("account", "status", "role"), False),
        )


class Group(BaseModel):
    id = IdField()
    account = pw.ForeignKeyField(Account, backref="groups", on_delete="CASCADE")
    display_name = pw.CharField(max_length=256)
    display_name_key = pw.CharField(max_length=256)
    external_id = pw.CharField(max_length=256, null=True)
    permissions = JSONField(default=list)
    version = pw.IntegerField(default=1)
    created_at = pw.DateTimeField(default=clock.now)
    updated_at = pw.DateTimeField(default=clock.now)
    # the raw foreign-key values peewee exposes, declared for type checkers
    account_id: str

    class Meta:
        indexes = ((("account", "display_name_key"), True),)


class GroupMember(BaseModel):
    group = pw.ForeignKeyField(Group, backref="member_links", on_delete="CASCADE")
    membership = pw.ForeignKeyField(Membership, backref="group_links", on_delete="CASCADE")
    # the raw foreign-key values peewee exposes, declared for type checkers
    group_id: str
    membership_id: str

    class Meta:
        primary_key = pw.CompositeKey("group", "membership")
        indexes = ((("membership",), False),)


class Invitation(BaseModel):
    id = IdField()
    account = pw.ForeignKeyField(Account, backref="invitations", on_delete="CASCADE")
    membership = pw.ForeignKeyField(Membership, null=True, backref="invitations", on_delete="SET NULL")
    email = pw.CharField(max_length=320)
    email_key = pw.CharField(max_length=320)
    given_name = pw.CharField(max_length=200, default="")
    family_name = pw.CharField(max_length=200, default="")
    token_hash = pw.CharField(max_length=64, unique=True)
    # the link token is an HMAC of this nonce under the server's secret key:
    # the database alone never reveals a working link, and "copy link" can
    # still rebuild it; resend draws a new nonce
    token_nonce = pw.CharField(max_length=64)
    expires_at = pw.DateTimeField()
    status = pw.CharField(max_length=20, default="pending")
    invited_by = pw.ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    sent_count = pw.IntegerField(default=1)
    last_sent_at = pw.DateTimeField(default=clock.now)
    accepted_at = pw.DateTimeField(null=True)
    created_at = pw.DateTimeField(default=clock.now)
    # the raw foreign-key values peewee exposes, declared for type checkers
    account_id: str
    membership_id: str | None
    invited_by_id: str | None


# One pending invitation per (account, email), enforced by the database.
Invitation.add_index(
    Invitation.index(Invitation.account, Invitation.email_key, unique=True).where(
        Invitation.status == "pending"
    )
)


class DirectoryRecord(BaseModel):
    """The account's directory's view of a person: what SCIM reads and writes."""

    id = IdField()
    account = pw.ForeignKeyField(Account, backref="directory_records", on_delete="CASCADE")
    membership = pw.ForeignKeyField(
        Membership, null=True, unique=True, backref="directory_records", on_delete="SET NULL"
    )
    user_name = pw.CharField(max_length=512)
    user_name_key = pw.CharField(max_length=512)
    external_id = pw.CharField(max_length=512, null=True)
    attributes = JSONField(default=dict)
    unlinked_reason = pw.CharField(max_length=64, null=True)
    # models.directory.is_active of the record, kept by its writers so sorts and filters read an index (migration 0009)
    active = pw.BooleanField(default=True)
    version = pw.IntegerField(default=1)
    created_at = pw.DateTimeField(default=clock.now)
    updated_at = pw.DateTimeField(default=clock.now)
    # the raw foreign-key values peewee exposes, declared for type checkers
    account_id: str
    membership_id: str | None

    class Meta:
        indexes = ((("account", "user_name_key"), True),
                   # sortBy=externalId and sortBy=active walk these in the listing's order (migration 0009)
                   (("account", "external_id", "id"), False),
                   (("account", "active", "id"), False))


def directory_says_active(attributes: dict[str, Any]) -> bool:
    """What a record's directory said of ``active``; after each write, also the record's ``active``.

    A write applies it to the linked membership (models.directory) or, for a
    record linked to nobody, it is the answer; a membership's own changes
    store theirs (models.members).
    """
    return bool(attributes.get("active", True))


class ScimToken(BaseModel):
    id = IdField()
    account = pw.ForeignKeyField(Account, backref="scim_tokens", on_delete="CASCADE")
    token_hash = pw.CharField(max_length=64, unique=True)
    # the first characters, so an admin can tell tokens apart without the secret
    hint = pw.CharField(max_length=16)
    description = pw.CharField(max_length=200, default="")
    created_at = pw.DateTimeField(default=clock.now)
    created_by = pw.CharField(max_length=200, default="")
    last_used_at = pw.DateTimeField(null=True)
    revoked_at = pw.DateTimeField(null=True)
    # the raw foreign-key values peewee exposes, declared for type checkers
    account_id: str


TABLES = [Account, User, Membership, Group, GroupMember, Invitation, DirectoryRecord, ScimToken]


class DirectoryValue(BaseModel):
    """One filterable value of a directory record (RFC 7644 §3.4.2.2), kept so filters and sorts run in SQL.

    ``models.directory_index`` writes these rows from the record's SCIM
    attributes: one per value of a multi-valued attribute (``emails.value``
    with its ``type`` and ``primary``) and one per single-valued string.
    ``value`` is as sent, for caseExact attributes; ``value_key`` is its
    case-folded form. No column is ever NULL. ``account_id`` is the record's
    account, copied so a filter reads one account's rows from an index;
    ``lead`` marks the one row per (record, path) a sort reads: the primary
    value of a multi-valued attribute, else its first (RFC 7644 §3.4.2.3).
    """

    record = pw.ForeignKeyField(DirectoryRecord, backref="values", on_delete="CASCADE")
    account_id = pw.CharField(max_length=32)
    path = pw.CharField(max_length=64)
    type = pw.CharField(max_length=64, default="")
    primary = pw.BooleanField(default=False)
    lead = pw.BooleanField(default=False)
    value = pw.CharField(max_length=512)
    value_key = pw.CharField(max_length=512)
    # the raw foreign-key values peewee exposes, declared for type checkers
    record_id: str

    class Meta:
        # a filter's subquery and a sort's join read from the index alone, without the rows
        indexes = ((("record", "path", "lead", "value_key"), False),
                   (("account_id", "path", "value_key", "record", "type", "primary"), False),
                   # an unfiltered sort walks the account's lead rows of a path in its key's order (migration 0008)
                   (("account_id", "path", "lead", "value_key", "record"), False),
                   (("account_id", "path", "lead", "value", "record"), False),
                   (("account_id", "path", "lead", "type", "record"), False),
                   (("account_id", "path", "lead", "primary", "record"), False))


# The default listing order (created_at, then id) and sortBy=meta.lastModified
# read from an index, so a deep keyset page costs what the first one does.
DirectoryRecord.add_index(DirectoryRecord.account, DirectoryRecord.created_at, DirectoryRecord.id)
DirectoryRecord.add_index(DirectoryRecord.account, DirectoryRecord.updated_at, DirectoryRecord.id)
# and an unfiltered sort by a stored value reads the records without it by id
DirectoryRecord.add_index(DirectoryRecord.account, DirectoryRecord.id)

TABLES.append(DirectoryValue)


class GroupRecord(BaseModel):
    """A directory record in a group: the account's directory said so (DESIGN.md §3, RFC 7643 §4.2).

    SCIM Group members are directory records, linked to a person or not.
    ``models.groups`` keeps GroupMember in step for the records that are
    linked, so a group's permissions still flow through memberships; a record
    linked later gets the memberships of its groups then.
    """

    group = pw.ForeignKeyField(Group, backref="record_links", on_delete="CASCADE")
    record = pw.ForeignKeyField(DirectoryRecord, backref="group_links", on_delete="CASCADE")
    # the raw foreign-key values peewee exposes, declared for type checkers
    group_id: str
    record_id: str

    class Meta:
        primary_key = pw.CompositeKey("group", "record")
        indexes = ((("record",), False),)


TABLES.append(GroupRecord)
