"""Authorization codes and tokens: issued, exchanged, rotated, revoked — and checked on every use.

Codes and tokens are random strings kept only as SHA-256 hashes. Every
use looks the token up in the database, so revocation (R11, RFC 7009,
refresh reuse) takes effect at the next request on every instance.

Single use is the database's decision: a code or refresh token is claimed
by a conditional UPDATE that only one of two concurrent requests wins; the
loser is treated as a replay (RFC 6749 §4.1.2, OAuth 2.0 Security BCP §4.14)
and everything issued from that code or token family is revoked.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from . import audit, clock
from .audit import Actor
from .database import transaction
from .secrets import token_hash
from .security import AuthorizationCode, OAuthToken, Session
from .sessions import _revoke_and_notify
from .tenancy import Account, Group, GroupMember, Membership, User

CODE_LIFETIME = dt.timedelta(minutes=5)
ACCESS_TOKEN_LIFETIME = dt.timedelta(minutes=15)
REFRESH_TOKEN_LIFETIME = dt.timedelta(days=30)


def save_code(code: str, *, client_id: str, user_id: str, account_id: str | None, session_id: str | None,
              redirect_uri: str, scope: str, nonce: str | None, code_challenge: str | None,
              code_challenge_method: str | None, auth_time: dt.datetime, amr: list[str], acr: str) -> None:
    now = clock.now()
    AuthorizationCode.create(code_hash=token_hash(code), client=client_id, user=user_id, account=account_id,
                             session=session_id, redirect_uri=redirect_uri, scope=scope, nonce=nonce,
                             code_challenge=code_challenge, code_challenge_method=code_challenge_method,
                             auth_time=auth_time, amr=amr, acr=acr, expires_at=now + CODE_LIFETIME)


def take_code(code: str, client_id: str) -> AuthorizationCode | None:
    """The code, claimed for this one exchange; None if unknown, expired, another client's or used.

    A second use revokes every token the first one gave (call inside the token request's transaction).
    """
    now = clock.now()
    digest = token_hash(code)
    claimed = (AuthorizationCode.update(used_at=now)
               .where((AuthorizationCode.code_hash == digest) & (AuthorizationCode.client == client_id)
                      & AuthorizationCode.used_at.is_null() & (AuthorizationCode.expires_at > now))
               .execute())
    found = AuthorizationCode.get_or_none((AuthorizationCode.code_hash == digest)
                                          & (AuthorizationCode.client == client_id))
    if claimed == 1:
        return found
    if found is not None and found.used_at is not None:
        families = OAuthToken.select(OAuthToken.family_id).where(OAuthToken.authorization_code_hash == digest)
        tokens = list(OAuthToken.select().where(OAuthToken.family_id.in_(families)
                                                & OAuthToken.revoked_at.is_null()))
        _revoke_and_notify(tokens, now)
        audit.record(Actor.system("oauth"), "oauth.code_replayed", account_id=found.account_id,
                     target_type="client", target_id=client_id, user_id=found.user_id, revoked=len(tokens))
    return None


def save_token(*, client_id: str, user_id: str, account_id: str | None, session_id: str | None, scope: str,
               access_token: str, refresh_token: str | None, family_id: str | None = None,
               code_hash: str | None = None) -> OAuthToken:
    now = clock.now()
    return OAuthToken.create(
        client=client_id, user=user_id, account=account_id, session=session_id,
        family_id=family_id or secrets.token_hex(16), authorization_code_hash=code_hash,
        access_token_hash=token_hash(access_token),
        refresh_token_hash=token_hash(refresh_token) if refresh_token else None, scope=scope, issued_at=now,
        access_expires_at=now + ACCESS_TOKEN_LIFETIME,
        refresh_expires_at=now + REFRESH_TOKEN_LIFETIME if refresh_token else None)


def take_refresh_token(raw: str, client_id: str) -> OAuthToken | None:
    """The refresh token, claimed for one rotation; None if unusable.

    Presenting a refresh token that was already rotated means it leaked
    (or the client is confused): the whole family is revoked (RFC 9700 §4.14.2).
    """
    now = clock.now()
    digest = token_hash(raw)
    with transaction():
        claimed = (OAuthToken.update(rotated_at=now)
                   .where((OAuthToken.refresh_token_hash == digest) & (OAuthToken.client == client_id)
                          & OAuthToken.rotated_at.is_null() & OAuthToken.revoked_at.is_null()
                          & (OAuthToken.refresh_expires_at > now))
                   .execute())
        token = OAuthToken.get_or_none((OAuthToken.refresh_token_hash == digest) & (OAuthToken.client == client_id))
        if claimed == 1 and token is not None:
            if _holder_is_active(token):
                return token
            _revoke_and_notify([token], now)
            return None
        if token is not None and token.rotated_at is not None:
            family = list(OAuthToken.select().where((OAuthToken.family_id == token.family_id)
                                                    & OAuthToken.revoked_at.is_null()))
            _revoke_and_notify(family, now)
            audit.record(Actor.system("oauth"), "oauth.refresh_token_reused", account_id=token.account_id,
                         target_type="client", target_id=client_id, user_id=token.user_id, revoked=len(family))
    return None


def find_token(raw: str, hint: str | None = None) -> OAuthToken | None:
    """An access or refresh token by its value, whatever its state (revocation, introspection)."""
    digest = token_hash(raw)
    fields = [OAuthToken.access_token_hash, OAuthToken.refresh_token_hash]
    if hint == "refresh_token":
        fields.reverse()
    for field in fields:
        token = OAuthToken.get_or_none(field == digest)
        if token is not None:
            return token
    return None


def active_access_token(raw: str) -> OAuthToken | None:
    """The access token if it may be used now: not revoked or expired, its person still in its account."""
    token = OAuthToken.get_or_none(OAuthToken.access_token_hash == token_hash(raw))
    if token is None or not is_active(token, kind="access"):
        return None
    return token


def is_active(token: OAuthToken, *, kind: str) -> bool:
    now = clock.now()
    if token.revoked_at is not None:
        return False
    if kind == "access" and token.access_expires_at <= now:
        return False
    if kind == "refresh" and (token.rotated_at is not None or token.refresh_expires_at is None
                              or token.refresh_expires_at <= now):
        return False
    return _holder_is_active(token)


def kind_of(token: OAuthToken, raw: str) -> str:
    return "refresh" if token.refresh_token_hash == token_hash(raw) else "access"


def _holder_is_active(token: OAuthToken) -> bool:
    """Defence in depth for R11: the person is active and, for an account's token, an active member."""
    user = User.get_or_none(User.id == token.user_id)
    if user is None or user.status != "active":
        return False
    return token.account_id is None or holder_is_member(token.user_id, token.account_id)


def holder_is_member(user_id: str, account_id: str) -> bool:
    return bool(Membership.select().where((Membership.user == user_id) & (Membership.account == account_id)
                                          & (Membership.status == "active")).exists())


def introspection(token: OAuthToken, *, kind: str, issuer: str) -> dict[str, Any]:
    """RFC 7662 §2.2: ``active`` first; details only for a token that may be used now."""
    if not is_active(token, kind=kind):
        return {"active": False}
    expires = token.access_expires_at if kind == "access" else token.refresh_expires_at
    session = session_of(token)
    body: dict[str, Any] = {
        "active": True, "scope": token.scope, "client_id": token.client_id, "token_type": "Bearer",
        "sub": token.user_id, "iss": issuer, "aud": token.client_id,
        "iat": _epoch(token.issued_at), "exp": _epoch(expires or token.access_expires_at),
    }
    user = User.get_or_none(User.id == token.user_id)
    if user is not None:
        body["username"] = user.email
    if token.account_id:
        body["account_id"] = token.account_id
    if session is not None:
        body["sid"] = session.id
        body["amr"] = list(session.amr or [])
    return body


def _epoch(value: dt.datetime) -> int:
    return int(value.replace(tzinfo=dt.UTC).timestamp())


def revoke(token: OAuthToken, *, kind: str) -> None:
    """RFC 7009: revoking a refresh token ends its whole family; an access token ends alone."""
    now = clock.now()
    with transaction():
        if kind == "refresh":
            tokens = list(OAuthToken.select().where((OAuthToken.family_id == token.family_id)
                                                    & OAuthToken.revoked_at.is_null()))
        else:
            tokens = [token] if token.revoked_at is None else []
        if tokens:
            OAuthToken.update(revoked_at=now).where(OAuthToken.id.in_([t.id for t in tokens])).execute()
            audit.record(Actor.system("oauth"), "oauth.token_revoked", account_id=token.account_id,
                         target_type="client", target_id=token.client_id, user_id=token.user_id, count=len(tokens))


def session_of(token: OAuthToken) -> Session | None:
    return Session.get_or_none(Session.id == token.session_id) if token.session_id else None


# --- claims -------------------------------------------------------------------


def claims_for(user: User, account_id: str | None, scope: str) -> dict[str, Any]:
    """The userinfo / ID token claims ``scope`` allows (OpenID Connect Core §5.4), and the account context."""
    scopes = set(scope.split())
    claims: dict[str, Any] = {"sub": user.id}
    if "profile" in scopes:
        claims.update(name=user.name, given_name=user.given_name, family_name=user.family_name,
                      locale=user.locale, zoneinfo=user.timezone)
    if "email" in scopes:
        # Roster only registers people through a mailed link, so an active person's address is verified
        claims.update(email=user.email, email_verified=user.status == "active")
    if account_id is not None:
        account = Account.get_or_none(Account.id == account_id)
        membership = Membership.get_or_none((Membership.user == user.id) & (Membership.account == account_id))
        if account is not None and membership is not None:
            groups = [g.display_name for g in Group.select(Group.display_name)
                      .join(GroupMember, on=(GroupMember.group == Group.id))
                      .where(GroupMember.membership == membership.id).order_by(Group.display_name_key)]
            claims["account"] = {"id": account.id, "name": account.name, "type": account.type,
                                 "role": membership.role, "groups": groups}
    return claims
