"""Roster's domain: the entities of DESIGN.md §2 and every rule on them (R1–R11).

Plain Python on peewee: no Flask, no HTTP, no protocol library. A SCIM
request, a console click and a CLI command that do the same thing call the
same function here.
"""

from .audit import Actor
from .database import db
from .errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    PolicyViolationError,
    RosterError,
)
from .federation import Domain
from .ops import AuditEvent, OutboxMessage
from .security import (
    AuthorizationCode,
    OAuthClient,
    OAuthToken,
    PasswordResetToken,
    RecoveryCode,
    Session,
    SigningKey,
    ThrottleCounter,
    TotpCredential,
    WebAuthnCredential,
)
from .tenancy import (
    Account,
    DirectoryRecord,
    Group,
    GroupMember,
    Invitation,
    Membership,
    ScimToken,
    User,
)

__all__ = [
    "Account", "Actor", "AuditEvent", "AuthorizationCode", "ConflictError", "DirectoryRecord", "Domain",
    "ForbiddenError", "Group", "GroupMember", "InvalidInputError", "Invitation", "Membership",
    "NotFoundError", "OAuthClient", "OAuthToken", "OutboxMessage", "PasswordResetToken",
    "PolicyViolationError", "RecoveryCode", "RosterError", "ScimToken", "Session", "SigningKey",
    "ThrottleCounter", "TotpCredential", "User", "WebAuthnCredential", "db",
]
