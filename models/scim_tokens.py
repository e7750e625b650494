"""SCIM bearer tokens: one account each, shown once, stored hashed, revocable."""

from __future__ import annotations

import datetime as dt

from . import audit, clock
from .accounts import require_admin
from .audit import Actor
from .database import transaction
from .errors import NotFoundError
from .i18n import Text
from .prepared import Prepared
from .secrets import new_token, token_hash
from .tenancy import Account, ScimToken

PREFIX = "rst_"
# last_used_at is a hint for admins, not a log: write it at most this often
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def create_token(account: Account, *, description: str = "", by: Actor) -> tuple[ScimToken, str]:
    """A new token for ``account``; the secret is returned here and never again."""
    secret = new_token(PREFIX)
    with transaction():
        require_admin(account, by)
        token = ScimToken.create(account=account.id, token_hash=token_hash(secret), hint=secret[: len(PREFIX) + 6],
                                 description=description.strip()[:200], created_by=by.label)
        audit.record(by, "scim_token.created", account_id=account.id, target_type="scim_token", target_id=token.id)
    return token, secret


def list_tokens(account: Account) -> list[ScimToken]:
    return list(ScimToken.select().where(ScimToken.account == account.id).order_by(ScimToken.created_at))


def revoke_token(account: Account, token_id: str, *, by: Actor) -> ScimToken:
    with transaction():
        require_admin(account, by)
        token = ScimToken.get_or_none((ScimToken.id == token_id) & (ScimToken.account == account.id))
        if token is None:
            raise NotFoundError(Text("No SCIM token %(id)s in %(account)s.", id=token_id, account=account.name))
        if token.revoked_at is None:
            ScimToken.update(revoked_at=clock.now()).where(ScimToken.id == token.id).execute()
            audit.record(by, "scim_token.revoked", account_id=account.id, target_type="scim_token",
                         target_id=token.id)
    return ScimToken.get_by_id(token_id)


# every SCIM request reads this row: its SQL is built once (models.prepared)
_TOKEN_AND_ACCOUNT = Prepared(lambda hashed: ScimToken.select(ScimToken, Account).join(Account)
                              .where(ScimToken.token_hash == hashed).limit(1))


def authenticate(secret: str) -> ScimToken | None:
    """The live token for a presented secret, or None (unknown or revoked).

    The lookup is by hash, so no secret is ever compared byte by byte. The
    token's account comes in the same statement (``token.account`` reads no
    more). ``last_used_at`` is written at most once per
    :data:`LAST_USED_RESOLUTION`, so a busy token costs one read a request.
    """
    if not secret or not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    token: ScimToken | None = _TOKEN_AND_ACCOUNT.first(token_hash(secret))
    if token is None or token.revoked_at is not None:
        return None
    now = clock.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ScimToken.update(last_used_at=now).where(ScimToken.id == token.id).execute()
    return token
