"""The browsers each person signs in from, so a sign-in from a new one is told to them (issue 13).

At sign-in a browser gets a long-lived random device cookie (oidc.web_session
sets it); Roster keeps only its hash, per person, with when it was first and
last seen and what browser and system it said it was. One browser keeps one
cookie for everyone who signs in with it, each person knowing it separately.
"""

from __future__ import annotations

import datetime as dt
import string

from . import clock, notifications, prepared
from .secrets import new_token, token_hash
from .security import KnownDevice, Session
from .tenancy import User
from .user_agents import describe

PREFIX = "rd_"
LIFETIME = dt.timedelta(days=365)
_TOKEN_LENGTH = len(new_token(PREFIX))
_TOKEN_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-_")


def cookie_value(presented: str | None) -> str:
    """The device cookie a browser keeps: the one it presented when that is one of ours, else a new one."""
    if (presented and len(presented) == _TOKEN_LENGTH and presented.startswith(PREFIX)
            and set(presented[len(PREFIX):]) <= _TOKEN_CHARACTERS):
        return presented
    return new_token(PREFIX)


def seen(user: User, token: str, *, user_agent: str = "", ip: str = "") -> bool:
    """Note that ``user`` signs in from the browser whose device cookie is ``token``; True when it is new to them.

    Call in the sign-in's transaction, before its session is stored. A
    browser new to a person who has signed in before sends them the
    ``new_signin`` mail (models.notifications); a person's very first
    sign-in (registration, a temporary password's first use) does not.
    """
    now = clock.now()
    hashed = token_hash(token)
    known = KnownDevice.update(last_seen_at=now, ip=ip[:64]).where(
        (KnownDevice.user == user.id) & (KnownDevice.token_hash == hashed)).execute()
    if known:
        return False
    signed_in_before = Session.select(Session.id).where(Session.user == user.id).exists()
    description = describe(user_agent)[:100]  # English, as the audit trail and the logs speak
    # two sign-ins of one person in one new browser at once: the unique index lets one of them tell it
    added = prepared.insert(KnownDevice, [{"user": user.id, "token_hash": hashed, "description": description,
                                           "ip": ip[:64], "first_seen_at": now, "last_seen_at": now}],
                            ignore_conflicts=True).rowcount
    if added and signed_in_before:
        notifications.notify("new_signin", user.id, user_agent=user_agent[:512], ip=ip[:64] or "unknown")
    return bool(added)
