"""The link of an invitation: a token signed with the secret key, its URL and status (its mail: models.mails).

Only a hash of the token is stored (``token_hash``); the link is rebuilt from
the invitation's id and nonce, so a new nonce (a resend) kills the old link.
"""

from __future__ import annotations

import base64
import secrets as _secrets

from .. import clock
from ..crypto import Secrets
from ..deployment import Deployment
from ..secrets import token_hash
from ..tenancy import Invitation


def link_token(invitation_id: str, nonce: str, secrets: Secrets) -> str:
    mac = secrets.mac(f"invitation:{invitation_id}:{nonce}")
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def invitation_url(invitation: Invitation, deployment: Deployment) -> str:
    """The link that leads to acceptance (and registration for a new person)."""
    return url_of(invitation.id, invitation.token_nonce, deployment)


def url_of(invitation_id: str, nonce: str, deployment: Deployment) -> str:
    return deployment.links.invitation(link_token(invitation_id, nonce, deployment.secrets))


def new_token_fields(invitation_id: str, secrets: Secrets) -> dict[str, str]:
    nonce = _secrets.token_urlsafe(16)
    return {"token_nonce": nonce, "token_hash": token_hash(link_token(invitation_id, nonce, secrets))}


def effective_status(invitation: Invitation) -> str:
    if invitation.status == "pending" and invitation.expires_at <= clock.now():
        return "expired"
    return invitation.status
