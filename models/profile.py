"""A person's own profile (DESIGN.md §5 Profile): settings, the accounts they are in, their authenticators.

The choices offered are fixed lists here, so the page, the domain and any
later API agree on what is valid.
"""

from __future__ import annotations

import dataclasses
import zoneinfo
from functools import cache
from typing import Any

from . import audit, clock, members, sso
from .audit import Actor
from .database import transaction
from .errors import InvalidInputError
from .i18n import N_, Text
from .passwords import Hasher
from .security import TotpCredential
from .tenancy import Account, Group, GroupMember, Membership, User

# stored value → how it is shown; the stored value is also the pattern the page formats dates with
DATE_FORMATS = {
    "YYYY-MM-DD": "2026-01-31 (ISO 8601)",
    "DD/MM/YYYY": "31/01/2026",
    "MM/DD/YYYY": "01/31/2026",
    "DD.MM.YYYY": "31.01.2026",
}
# the languages Roster ships (models.i18n.SUPPORTED), each by its own name: a choice the pages cannot
# speak would be a broken promise; a value stored before (or by SCIM) that is not one reads as English
LOCALES = {
    "en": "English",
    "de": "Deutsch",
    "fr": "Français",
}
# the mail a person may choose to get, with what each one is; all on unless turned off
EMAIL_NOTIFICATIONS = {
    "security": N_("Security alerts: a new sign-in, a changed password, a second factor added or removed"),
    "memberships": N_("Account changes: added to an account, role or groups changed, removed"),
    "invitations": N_("Reminders of invitations still waiting for me"),
}
NAME_MAX = 200


@cache
def timezones() -> list[str]:
    """Every IANA time zone name this system knows, sorted (UTC first)."""
    names = sorted(n for n in zoneinfo.available_timezones() if "/" in n and not n.startswith(("Etc/", "SystemV/")))
    return ["UTC", *names]


def notification_settings(user: User) -> dict[str, bool]:
    """The person's choice for every kind of mail (a kind they never set is on)."""
    stored = user.email_notifications or {}
    return {kind: bool(stored.get(kind, True)) for kind in EMAIL_NOTIFICATIONS}


def _name(value: str, field: str) -> str:
    cleaned = " ".join(value.split())
    if len(cleaned) > NAME_MAX:
        raise InvalidInputError(Text("Use at most %(count)s characters.", count=NAME_MAX), field=field)
    return cleaned


def update_settings(user: User, *, given_name: str, family_name: str, display_name: str = "", timezone: str,
                    date_format: str, locale: str, news_opt_in: bool,
                    email_notifications: dict[str, bool]) -> User:
    """Save the person's own settings; InvalidInputError (with ``field``) names the first value refused."""
    values: dict[str, Any] = {
        "given_name": _name(given_name, "given_name"),
        "family_name": _name(family_name, "family_name"),
        "display_name": _name(display_name, "display_name"),
    }
    if not values["given_name"]:
        raise InvalidInputError("Enter your first name.", field="given_name")
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError("Choose a time zone from the list.", field="timezone") from None
    if timezone not in timezones():
        raise InvalidInputError("Choose a time zone from the list.", field="timezone")
    if date_format not in DATE_FORMATS:
        raise InvalidInputError("Choose a date format from the list.", field="date_format")
    if locale not in LOCALES:
        raise InvalidInputError("Choose a language from the list.", field="locale")
    unknown = set(email_notifications) - set(EMAIL_NOTIFICATIONS)
    if unknown:
        raise InvalidInputError(Text("Unknown kind of mail: %(kinds)s.", kinds=", ".join(sorted(unknown))),
                                field="email_notifications")
    notifications = {kind: bool(email_notifications.get(kind, False)) for kind in EMAIL_NOTIFICATIONS}
    values.update(timezone=timezone, date_format=date_format, locale=locale, news_opt_in=bool(news_opt_in),
                  email_notifications=notifications)
    with transaction():
        current = User.get_by_id(user.id)
        changed = sorted(k for k, v in values.items() if getattr(current, k) != v)
        if changed:
            User.update(**values, updated_at=clock.now()).where(User.id == user.id).execute()
            audit.record(Actor.for_user(user), "user.profile_updated", account_id=None, target_type="user",
                         target_id=user.id, fields=changed)
    return User.get_by_id(user.id)


@dataclasses.dataclass
class AccountMembership:
    """One account as the person sees it: the account, their membership there, and their groups in it."""

    account: Account
    membership: Membership
    groups: list[str]
    connection: str = ""  # the name of the company sign-in the person uses there (DESIGN.md §7); "" = password


def accounts_of(user: User) -> list[AccountMembership]:
    """Every account the person belongs to (any membership status), by name, with their groups there."""
    rows = list(Membership.select(Membership, Account).join(Account).where(Membership.user == user.id)
                .order_by(Account.name, Account.id))
    groups: dict[str, list[str]] = {}
    if rows:
        query = (GroupMember.select(GroupMember.membership, Group.display_name).join(Group)
                 .where(GroupMember.membership.in_([m.id for m in rows]))
                 .order_by(Group.display_name_key, Group.id))
        for link in query:
            groups.setdefault(link.membership_id, []).append(link.group.display_name)
    through = sso.connection_names(user) if rows else {}
    return [AccountMembership(m.account, m, groups.get(m.id, []), through.get(m.account_id, "")) for m in rows]


def authenticator_apps(user: User) -> list[TotpCredential]:
    """The person's confirmed authenticator apps (TOTP), oldest first."""
    return list(TotpCredential.select().where((TotpCredential.user == user.id)
                                              & TotpCredential.confirmed_at.is_null(False))
                .order_by(TotpCredential.confirmed_at, TotpCredential.id))


def delete_own_user(user: User, *, password: str, confirm: bool, hasher: Hasher) -> None:
    """R9: the person deletes their whole user, after typing their password; R1 may refuse (nothing changes)."""
    if not confirm:
        raise InvalidInputError("Tick the box to confirm that deleting is final.", field="confirm")
    if not hasher.verify(user.password_hash, password):
        raise InvalidInputError("The password is not correct.", field="password")
    members.delete_user(user, by=Actor.for_user(user))
