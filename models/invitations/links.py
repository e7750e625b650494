"""The link of an invitation: a token signed with the secret key, its URL and status, and the mails it goes out in.

Only a hash of the token is stored (``token_hash``); the link is rebuilt from
the invitation's id and nonce, so a new nonce (a resend) kills the old link.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets as _secrets
from typing import Any

from .. import clock, outbox, settings
from ..secrets import token_hash
from ..tenancy import Account, Invitation


def link_token(invitation_id: str, nonce: str) -> str:
    mac = hmac.new(settings.current.secret_key.encode(), f"invitation:{invitation_id}:{nonce}".encode(),
                   hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def invitation_url(invitation: Invitation) -> str:
    """The link that leads to acceptance (and registration for a new person)."""
    return f"{settings.current.base_url.rstrip('/')}/invitations/{link_token(invitation.id, invitation.token_nonce)}"


def new_token_fields(invitation_id: str) -> dict[str, str]:
    nonce = _secrets.token_urlsafe(16)
    return {"token_nonce": nonce, "token_hash": token_hash(link_token(invitation_id, nonce))}


def effective_status(invitation: Invitation) -> str:
    if invitation.status == "pending" and invitation.expires_at <= clock.now():
        return "expired"
    return invitation.status

def mail_invited(account: Account, email: str, link: str, expires_at: dt.datetime) -> dict[str, Any]:
    product = settings.current.product_name
    return outbox.mail(
        email,
        f"You are invited to {account.name} on {product}",
        f"You have been invited to join {account.name} on {product}.\n\n"
        f"Register and join: {link}\n\nThis link is valid until {expires_at:%Y-%m-%d %H:%M} UTC.\n",
        template="invitation",
        account_id=account.id,
    )


def mail_added(account: Account, email: str) -> dict[str, Any]:
    product = settings.current.product_name
    return outbox.mail(
        email,
        f"You now have access to {account.name} on {product}",
        f"You have been added to {account.name}. Sign in at {settings.current.base_url} to use it.\n",
        template="added",
        account_id=account.id,
    )
