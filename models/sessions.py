"""Sessions and ending access (R11): sessions, tokens and back-channel logout, in the caller's transaction."""

from __future__ import annotations

import datetime as dt

import peewee

from . import audit, clock, devices, outbox
from .audit import Actor
from .connections import Connection
from .database import db, transaction
from .prepared import Prepared
from .secrets import new_token, token_hash
from .security import OAuthClient, OAuthToken, Session
from .tenancy import User


def end_access(user_id: str, account_id: str | None, reason: str) -> int:
    """End ``user_id``'s sessions and revoke their tokens in ``account_id``'s context (every context if None).

    Queues an OIDC back-channel logout to each client that had a token in
    that context. Returns the number of sessions ended.
    """
    # most people a directory deactivates hold no live session or token there: one cheap statement says so
    live = _LIVE_ACCESS.execute(user_id) if account_id is None else _LIVE_ACCESS_IN.execute(user_id, account_id)
    if not live.fetchone()[0]:
        return 0
    now = clock.now()
    sessions = Session.select(Session.id).where((Session.user == user_id) & Session.ended_at.is_null())
    tokens = OAuthToken.select().where((OAuthToken.user == user_id) & OAuthToken.revoked_at.is_null())
    if account_id is not None:
        sessions = sessions.where(Session.account == account_id)
        tokens = tokens.where(OAuthToken.account == account_id)
    session_ids = [s.id for s in sessions]
    if session_ids:
        Session.update(ended_at=now, end_reason=reason).where(Session.id.in_(session_ids)).execute()
    _revoke_and_notify(list(tokens), now)
    return len(session_ids)


def _live_access(user_id: str, account_id: str | None) -> peewee.Query:
    """Whether ``user_id`` has a live session or token (in ``account_id``'s context, unless None)."""
    sessions = Session.select(Session.id).where((Session.user == user_id) & Session.ended_at.is_null())
    tokens = OAuthToken.select(OAuthToken.id).where((OAuthToken.user == user_id) & OAuthToken.revoked_at.is_null())
    if account_id is not None:
        sessions = sessions.where(Session.account == account_id)
        tokens = tokens.where(OAuthToken.account == account_id)
    # bound, so the SQL is written in the database's dialect (its placeholders)
    return peewee.Select(columns=[peewee.fn.EXISTS(sessions) | peewee.fn.EXISTS(tokens)]).bind(db)


_LIVE_ACCESS = Prepared(lambda user_id: _live_access(user_id, None))
_LIVE_ACCESS_IN = Prepared(lambda user_id, account_id: _live_access(user_id, account_id))


def _revoke_and_notify(tokens: list[OAuthToken], now: dt.datetime) -> None:
    """Revoke ``tokens`` and queue one back-channel logout per (client, session) that had one."""
    if not tokens:
        return
    OAuthToken.update(revoked_at=now).where(OAuthToken.id.in_([t.id for t in tokens])).execute()
    affected = {(t.client_id, t.session_id, t.user_id) for t in tokens}
    clients = {
        c.client_id: c
        for c in OAuthClient.select().where(
            OAuthClient.client_id.in_(list({client_id for client_id, _, _ in affected}))
            & OAuthClient.backchannel_logout_uri.is_null(False)
        )
    }
    outbox.enqueue(
        *(
            {
                "kind": "backchannel_logout",
                "recipient": clients[client_id].backchannel_logout_uri,
                "payload": {"client_id": client_id, "sub": user_id, "sid": session_id},
            }
            for client_id, session_id, user_id in sorted(affected, key=str)
            if client_id in clients
        )
    )


# --- browser sessions -------------------------------------------------------

# a session unused this long ends; one older than the lifetime ends whatever its use
IDLE_TIMEOUT = dt.timedelta(hours=12)
LIFETIME = dt.timedelta(days=14)
# last_seen_at is written at most this often, so reading pages is not a write per request
TOUCH_INTERVAL = dt.timedelta(minutes=1)


def start(user: User, *, account_id: str | None, amr: list[str], ip: str = "",
          user_agent: str = "", device: str | None = None, connection_id: str | None = None) -> tuple[Session, str]:
    """A new signed-in session; returns it and the cookie value, which is stored only as a hash.

    ``device``: the browser's device cookie (models.devices), so a browser new to the person is told to them.
    """
    raw = new_token("rs_")
    now = clock.now()
    with transaction():
        if device is not None:
            devices.seen(user, device, user_agent=user_agent, ip=ip)
        session = Session.create(user=user.id, account=account_id, token_hash=token_hash(raw), started_at=now,
                                 last_seen_at=now, ip=ip[:64],
                                 user_agent=user_agent[:512], amr=amr, connection=connection_id)
        audit.record(Actor.for_user(user), "session.started", account_id=account_id, target_type="session",
                     target_id=session.id, amr=amr, ip=ip[:64],
                     **({"connection_id": connection_id} if connection_id else {}))
    return session, raw


def find_active(raw: str | None) -> Session | None:
    """The live session a cookie value names: not ended, not idle or too old, its person active.

    A session found expired is ended here, with the reason, so history says why. The person is read
    in the same statement: ``session.user`` costs nothing afterwards.
    """
    if not raw:
        return None
    session: Session | None = (Session.select(Session, User).join(User)
                               .where((Session.token_hash == token_hash(raw)) & Session.ended_at.is_null()).first())
    if session is None:
        return None
    now = clock.now()
    reason = None
    if session.user.status != "active":
        reason = "user_disabled"
    elif now - session.last_seen_at > IDLE_TIMEOUT:
        reason = "idle_timeout"
    elif now - session.started_at > LIFETIME:
        reason = "expired"
    if reason is not None:
        end(session.id, reason)
        return None
    if now - session.last_seen_at > TOUCH_INTERVAL:
        Session.update(last_seen_at=now).where(Session.id == session.id).execute()
        session.last_seen_at = now
    return session


def add_methods(session: Session, amr: list[str], *, account_id: str | None = None) -> Session:
    """A step-up: the session now also proved ``amr`` (and, if given, is in ``account_id``'s context)."""
    merged = list(dict.fromkeys([*session.amr, *amr]))
    values: dict[peewee.Field, object] = {Session.amr: merged}
    if account_id is not None:
        values[Session.account] = account_id
    Session.update(values).where(Session.id == session.id).execute()
    session.amr = merged
    if account_id is not None:
        session.account_id = account_id
    return session


def switch_account(session: Session, account_id: str) -> None:
    """The context later sign-ins and deprovisioning of this session refer to (R11)."""
    Session.update(account=account_id).where(Session.id == session.id).execute()
    session.account_id = account_id


def end(session_id: str, reason: str, *, user: User | None = None) -> bool:
    """End one session, keeping it as history; with ``user``, only one of that person's own."""
    with transaction():
        query = Session.select().where((Session.id == session_id) & Session.ended_at.is_null())
        if user is not None:
            query = query.where(Session.user == user.id)
        session = query.first()
        if session is None:
            return False
        _end_sessions([session.id], reason)
        if user is not None:
            audit.record(Actor.for_user(user), "session.ended", account_id=session.account_id,
                         target_type="session", target_id=session.id, reason=reason)
    return True


def end_others(user: User, keep_session_id: str, reason: str = "ended_by_user") -> int:
    """End every live session of ``user`` except ``keep_session_id``; returns how many ended."""
    with transaction():
        ids = [s.id for s in Session.select(Session.id).where(
            (Session.user == user.id) & Session.ended_at.is_null() & (Session.id != keep_session_id))]
        if ids:
            _end_sessions(ids, reason)
            audit.record(Actor.for_user(user), "session.others_ended", account_id=None, target_type="user",
                         target_id=user.id, count=len(ids))
    return len(ids)


def list_for(user: User, *, limit: int = 50) -> list[Session]:
    """The person's sessions, live ones first, then the most recent history."""
    # with the connection a session came through, read at once: the page names its IdP
    return list(Session.select(Session, Connection).join(Connection, peewee.JOIN.LEFT_OUTER, on=(
        Session.connection == Connection.id)).where(Session.user == user.id)
                .order_by(Session.ended_at.is_null(False), Session.started_at.desc(), Session.id).limit(limit))


def _end_sessions(ids: list[str], reason: str) -> None:
    """End sessions and revoke the tokens they gave, queueing back-channel logout (R11's path, narrowed)."""
    now = clock.now()
    Session.update(ended_at=now, end_reason=reason).where(Session.id.in_(ids) & Session.ended_at.is_null()).execute()
    tokens = OAuthToken.select().where(OAuthToken.session.in_(ids) & OAuthToken.revoked_at.is_null())
    _revoke_and_notify(list(tokens), now)
