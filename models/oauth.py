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

import dataclasses
import datetime as dt
import secrets
from typing import Any

from peewee import JOIN, fn

from . import audit, clients, clock
from .audit import Actor
from .database import is_postgres, transaction
from .prepared import Prepared
from .secrets import token_hash
from .security import AuthorizationCode, OAuthClient, OAuthToken, Session
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
        tokens = _live_in_families(OAuthToken.select(OAuthToken.family_id)
                                   .where(OAuthToken.authorization_code_hash == digest))
        _revoke_and_notify(tokens, now)
        audit.record(Actor.system("oauth"), "oauth.code_replayed", account_id=found.account_id,
                     target_type="client", target_id=client_id, user_id=found.user_id, revoked=len(tokens))
    return None


def _live_in_families(families: Any) -> list[OAuthToken]:
    """The unrevoked tokens of the given families (ids, or a subquery selecting them)."""
    return list(OAuthToken.select().where(OAuthToken.family_id.in_(families) & OAuthToken.revoked_at.is_null()))


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
            if holder_is_active(token):
                return token
            _revoke_and_notify([token], now)
            return None
        if token is not None and token.rotated_at is not None:
            family = _live_in_families([token.family_id])
            _revoke_and_notify(family, now)
            audit.record(Actor.system("oauth"), "oauth.refresh_token_reused", account_id=token.account_id,
                         target_type="client", target_id=client_id, user_id=token.user_id, revoked=len(family))
    return None


@dataclasses.dataclass
class Grant:
    """A token as a request presents it: the row, which of its two values it was, and who holds it."""

    token: OAuthToken
    kind: str  # "access" or "refresh"
    user: User
    account: Account | None
    membership: Membership | None
    session: Session | None
    groups: list[str] | None = None  # the person's groups in the account, when read with the token

    @property
    def active(self) -> bool:
        """May be used now: not revoked or expired, its person active and, for an account, an active member."""
        token, now = self.token, clock.now()
        if token.revoked_at is not None or self.user.status != "active":
            return False
        if self.kind == "access" and token.access_expires_at <= now:
            return False
        if self.kind == "refresh" and (token.rotated_at is not None or token.refresh_expires_at is None
                                       or token.refresh_expires_at <= now):
            return False
        return token.account_id is None or (self.membership is not None and self.membership.status == "active")


# token, holder, account, membership and session in one statement whose SQL is built once: every API call
# that carries a token reads this, so it is the hot path of userinfo, introspection and /Me
def _grant_columns() -> list[Any]:
    # only the columns a token's checks and claims read: turning a row into models is most of this call
    columns = [OAuthToken, User.id, User.email, User.given_name, User.family_name, User.display_name, User.status,
               User.locale, User.timezone, Account.id, Account.name, Account.type, Membership.id, Membership.status,
               Membership.role, Session.id, Session.amr]
    if is_postgres():
        # the person's groups ride along (each statement is a round trip there); SQLite reads them apart, cheaply
        group, link = Group.alias("grant_group"), GroupMember.alias("grant_link")
        columns.append(link.select(fn.json_agg(group.display_name).order_by(group.display_name_key))
                       .join(group, on=(link.group == group.id)).where(link.membership == Membership.id)
                       .alias("group_names"))
    return columns


def _holder_joins(query: Any, holder_join: str, *, with_account: bool = True) -> Any:
    """Join the token's person, account, membership and session onto ``query``, which has just joined the token."""
    query = query.join(User, holder_join, on=(OAuthToken.user == User.id), attr="holder")
    if with_account:
        query = (query.switch(OAuthToken)
                 .join(Account, JOIN.LEFT_OUTER, on=(OAuthToken.account == Account.id), attr="account_row"))
    return (query.switch(OAuthToken)
            .join(Membership, JOIN.LEFT_OUTER, on=((Membership.user == OAuthToken.user)
                                                   & (Membership.account == OAuthToken.account)),
                  attr="membership_row")
            .switch(OAuthToken)
            .join(Session, JOIN.LEFT_OUTER, on=(OAuthToken.session == Session.id), attr="session_row"))


def _is_token(hashed: str) -> Any:
    return (OAuthToken.access_token_hash == hashed) | (OAuthToken.refresh_token_hash == hashed)


_GRANT = Prepared(lambda hashed: _holder_joins(OAuthToken.select(*_grant_columns()), JOIN.INNER)
                  .where(_is_token(hashed)).limit(1))

# introspection and revocation read their client and then the token: one statement for both when the token
# exists, the presented client left-joined to it by its id (a constant: the plan stays the token's own). They
# need no claims, so neither the account nor the groups: each table joined costs the database a share of the call
_GRANT_AND_CLIENT = Prepared(lambda hashed, client_id: _holder_joins(
    OAuthToken.select(
        OAuthToken.id, OAuthToken.client, OAuthToken.user, OAuthToken.account, OAuthToken.session,
        OAuthToken.family_id, OAuthToken.access_token_hash, OAuthToken.scope, OAuthToken.issued_at,
        OAuthToken.access_expires_at, OAuthToken.refresh_expires_at, OAuthToken.rotated_at, OAuthToken.revoked_at,
        User.id, User.email, User.status, Membership.id, Membership.status, Session.id, Session.amr,
        OAuthClient.client_id, OAuthClient.account, OAuthClient.secret_hash, OAuthClient.public),
    JOIN.INNER, with_account=False)
    .switch(OAuthToken).join(OAuthClient, JOIN.LEFT_OUTER, on=(OAuthClient.client_id == client_id),
                             attr="presented_client")
    .where(_is_token(hashed)).limit(1))


_GROUPS_OF = Prepared(lambda membership_id: (
    Group.select(Group.display_name).join(GroupMember, on=(GroupMember.group == Group.id))
    .where(GroupMember.membership == membership_id).order_by(Group.display_name_key)))


def _readable(raw: str) -> bool:
    return bool(raw) and len(raw) <= 512


def _grant_of(row: Any, digest: str) -> Grant:  # an OAuthToken with its joined rows
    read_groups = "group_names" in vars(row)  # only a claims read on PostgreSQL brings them
    return Grant(token=row, kind="access" if row.access_token_hash == digest else "refresh", user=row.holder,
                 account=_present(getattr(row, "account_row", None)),
                 membership=_present(getattr(row, "membership_row", None)),
                 session=_present(getattr(row, "session_row", None)),
                 groups=(row.group_names or []) if read_groups else None)


def load(raw: str) -> Grant | None:
    """The token whose access or refresh value is ``raw``, whatever its state (revocation, introspection)."""
    if not _readable(raw):
        return None
    digest = token_hash(raw)
    row = _GRANT.first(digest)
    return _grant_of(row, digest) if row is not None else None


def load_with_client(client_id: str, raw: str) -> tuple[OAuthClient | None, Grant | None]:
    """The client ``client_id`` and the token ``raw``: in one statement when the token exists.

    What client authentication, introspection (RFC 7662) and revocation
    (RFC 7009) read: the client's id, account, secret hash and kind; the
    token with whether it is :attr:`Grant.active`, its person's email, its
    session. No claims: the account and groups are not read.
    """
    if not _readable(raw):
        return clients.get_client(client_id), None
    digest = token_hash(raw)
    row = _GRANT_AND_CLIENT.first(digest, client_id)
    if row is None:
        return clients.get_client(client_id), None
    return _present_client(row.__dict__.pop("presented_client", None)), _grant_of(row, digest)


def _present_client(client: OAuthClient | None) -> OAuthClient | None:
    return client if client is not None and client.client_id is not None else None


def _present(model: Any) -> Any:
    """A LEFT JOIN that found nothing gives a model of NULLs: None instead."""
    return model if model is not None and model.id is not None else None


def active_access_token(raw: str) -> Grant | None:
    """The access token if it may be used now (R11: a revoked or deprovisioned one is refused at once)."""
    grant = load(raw)
    return grant if grant is not None and grant.kind == "access" and grant.active else None


def holder_is_active(token: OAuthToken) -> bool:
    """Defence in depth for R11 at refresh: the person is active and, for an account's token, an active member."""
    user = User.get_or_none(User.id == token.user_id)
    if user is None or user.status != "active":
        return False
    return token.account_id is None or holder_is_member(token.user_id, token.account_id)


def holder_is_member(user_id: str, account_id: str) -> bool:
    return bool(Membership.select().where((Membership.user == user_id) & (Membership.account == account_id)
                                          & (Membership.status == "active")).exists())


def introspection(grant: Grant, *, issuer: str) -> dict[str, Any]:
    """RFC 7662 §2.2: ``active`` first; details only for a token that may be used now."""
    if not grant.active:
        return {"active": False}
    token = grant.token
    expires = token.access_expires_at if grant.kind == "access" else token.refresh_expires_at
    body: dict[str, Any] = {
        "active": True, "scope": token.scope, "client_id": token.client_id, "token_type": "Bearer",
        "sub": token.user_id, "iss": issuer, "aud": token.client_id, "username": grant.user.email,
        "iat": _epoch(token.issued_at), "exp": _epoch(expires or token.access_expires_at),
    }
    if token.account_id:
        body["account_id"] = token.account_id
    if grant.session is not None:
        body["sid"] = grant.session.id
        body["amr"] = list(grant.session.amr or [])
    return body


def _epoch(value: dt.datetime) -> int:
    return int(value.replace(tzinfo=dt.UTC).timestamp())


def revoke(token: OAuthToken, *, kind: str) -> None:
    """RFC 7009: revoking a refresh token ends its whole family; an access token ends alone."""
    now = clock.now()
    with transaction():
        if kind == "refresh":
            tokens = _live_in_families([token.family_id])
        else:
            tokens = [token] if token.revoked_at is None else []
        if tokens:
            OAuthToken.update(revoked_at=now).where(OAuthToken.id.in_([t.id for t in tokens])).execute()
            audit.record(Actor.system("oauth"), "oauth.token_revoked", account_id=token.account_id,
                         target_type="client", target_id=token.client_id, user_id=token.user_id, count=len(tokens))


# --- claims -------------------------------------------------------------------


def claims_for(user: User, account_id: str | None, scope: str) -> dict[str, Any]:
    """The ID token claims ``scope`` allows (OpenID Connect Core §5.4), and the account the sign-in was for."""
    account = Account.get_or_none(Account.id == account_id) if account_id else None
    membership = (Membership.get_or_none((Membership.user == user.id) & (Membership.account == account_id))
                  if account_id else None)
    return _claims(user, account, membership, scope)


def userinfo(grant: Grant) -> dict[str, Any]:
    """The userinfo claims of an access token, from what :func:`load` already read."""
    return _claims(grant.user, grant.account, grant.membership, grant.token.scope, grant.groups)


def _claims(user: User, account: Account | None, membership: Membership | None, scope: str,
            groups: list[str] | None = None) -> dict[str, Any]:
    scopes = set(scope.split())
    claims: dict[str, Any] = {"sub": user.id}
    if "profile" in scopes:
        claims.update(name=user.name, given_name=user.given_name, family_name=user.family_name,
                      locale=user.locale, zoneinfo=user.timezone)
    if "email" in scopes:
        # Roster only registers people through a mailed link, so an active person's address is verified
        claims.update(email=user.email, email_verified=user.status == "active")
    if account is not None and membership is not None:
        if groups is None:
            groups = [g.display_name for g in _GROUPS_OF.all(membership.id)]
        claims["account"] = {"id": account.id, "name": account.name, "type": account.type,
                             "role": membership.role, "groups": groups}
    return claims
