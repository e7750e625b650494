"""Ending access (R11): sessions, tokens and back-channel logout, in the caller's transaction."""

from __future__ import annotations

from . import clock, outbox
from .security import OAuthClient, OAuthToken, Session


def end_access(user_id: str, account_id: str | None, reason: str) -> int:
    """End ``user_id``'s sessions and revoke their tokens in ``account_id``'s context (every context if None).

    Queues an OIDC back-channel logout to each client that had a token in
    that context. Returns the number of sessions ended.
    """
    now = clock.now()
    sessions = Session.select(Session.id).where((Session.user == user_id) & Session.ended_at.is_null())
    tokens = OAuthToken.select().where((OAuthToken.user == user_id) & OAuthToken.revoked_at.is_null())
    if account_id is not None:
        sessions = sessions.where(Session.account == account_id)
        tokens = tokens.where(OAuthToken.account == account_id)
    session_ids = [s.id for s in sessions]
    affected = {(t.client_id, t.session_id) for t in tokens}
    if session_ids:
        Session.update(ended_at=now, end_reason=reason).where(Session.id.in_(session_ids)).execute()
    if affected:
        OAuthToken.update(revoked_at=now).where(
            OAuthToken.id.in_(tokens.select(OAuthToken.id))
        ).execute()
        clients = {
            c.client_id: c
            for c in OAuthClient.select().where(
                OAuthClient.client_id.in_([client_id for client_id, _ in affected])
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
                for client_id, session_id in sorted(affected, key=str)
                if client_id in clients
            )
        )
    return len(session_ids)
