"""The link of an invitation: a token signed with the secret key, its URL and status (its mail: models.mails).

Only a hash of the token's MAC is stored (``token_hash``); the link is
rebuilt from the invitation's id and nonce, so a new nonce (a resend) kills
the old link. The token is ``<MAC>.<invitation id>.<nonce>``: a link killed by
a resend still proves, by its MAC, which invitation it was made for, so its
page can say that a newer link was sent rather than "not valid". Links
mailed before the id and nonce were added are the MAC alone, and still work.
"""

from __future__ import annotations

import base64
import secrets as _secrets

from .. import clock
from ..crypto import Secrets
from ..deployment import Deployment
from ..secrets import same, token_hash
from ..tenancy import Invitation

SEPARATOR = "."


def _mac(invitation_id: str, nonce: str, secrets: Secrets) -> str:
    mac = secrets.mac(f"invitation:{invitation_id}:{nonce}")
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def link_token(invitation_id: str, nonce: str, secrets: Secrets) -> str:
    return SEPARATOR.join((_mac(invitation_id, nonce, secrets), invitation_id, nonce))


def stored_hash(token: str) -> str:
    """What ``Invitation.token_hash`` holds for a link token: the hash of its MAC."""
    return token_hash(token.split(SEPARATOR, 1)[0])


def names(token: str, invitation: Invitation) -> bool:
    """Whether a token whose MAC matched ``invitation`` also names its id and current nonce (or names none)."""
    _, dot, rest = token.partition(SEPARATOR)
    return not dot or same(rest, f"{invitation.id}{SEPARATOR}{invitation.token_nonce}")


def replaced(token: str, secrets: Secrets) -> Invitation | None:
    """The invitation a genuine link was made for when that link is no longer its current one (a resend).

    None for a made-up token, a link of no invitation, or the current link.
    """
    parts = token.split(SEPARATOR)
    if len(parts) != 3:
        return None
    mac, invitation_id, nonce = parts
    if not same(mac, _mac(invitation_id, nonce, secrets)):
        return None
    invitation: Invitation | None = Invitation.get_or_none(Invitation.id == invitation_id)
    if invitation is None or invitation.token_nonce == nonce:
        return None
    return invitation


def invitation_url(invitation: Invitation, deployment: Deployment) -> str:
    """The link that leads to acceptance (and registration for a new person)."""
    return url_of(invitation.id, invitation.token_nonce, deployment)


def url_of(invitation_id: str, nonce: str, deployment: Deployment) -> str:
    return deployment.links.invitation(link_token(invitation_id, nonce, deployment.secrets))


def new_token_fields(invitation_id: str, secrets: Secrets) -> dict[str, str]:
    nonce = _secrets.token_urlsafe(16)
    return {"token_nonce": nonce, "token_hash": stored_hash(link_token(invitation_id, nonce, secrets))}


def effective_status(invitation: Invitation) -> str:
    if invitation.status == "pending" and invitation.expires_at <= clock.now():
        return "expired"
    return invitation.status
