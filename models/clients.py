"""OpenID Connect clients (relying parties): registered by an operator or an account admin.

A confidential client gets a secret shown once and stored only as a hash
(:mod:`models.secrets`); a public client (a browser or native app) has none and
must use PKCE. Redirect URIs are matched exactly at the authorization endpoint
(RFC 6749 §3.1.2, OpenID Connect Core §3.1.2.1), so they are validated here,
once, when registered.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable
from types import EllipsisType
from typing import Any
from urllib.parse import urlsplit

from . import audit, clock
from .accounts import require_admin
from .audit import Actor
from .database import transaction
from .errors import ForbiddenError, InvalidInputError
from .i18n import Text
from .prepared import Prepared
from .secrets import new_token, same, token_hash
from .security import AuthorizationCode, OAuthClient, OAuthToken
from .tenancy import Account

SECRET_PREFIX = "rcs_"
# letters and digits only: an id that starts with "-" reads as an option on a command line
CLIENT_ID_ALPHABET = string.ascii_letters + string.digits
CLIENT_ID_LENGTH = 32  # about 190 bits
MAX_URI_LENGTH = 2048
MAX_URIS = 50
MAX_NAME_LENGTH = 200
# plain http is for a developer's own machine only, as Auth0, Okta and Entra ID allow it
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def create_client(
    account: Account | None,
    *,
    redirect_uris: Iterable[str],
    public: bool = False,
    backchannel_logout_uri: str | None = None,
    post_logout_redirect_uris: Iterable[str] = (),
    name: str = "",
    first_party: bool = True,
    by: Actor,
) -> tuple[OAuthClient, str | None]:
    """Register a client of ``account`` (platform-wide when None: operators only).

    Returns the client and, for a confidential client, its secret: shown this
    once, stored as a hash. Public clients get None.
    """
    redirects = validate_redirect_uris(redirect_uris)
    post_logout = validate_redirect_uris(post_logout_redirect_uris, field="post_logout_redirect_uris",
                                         required=False)
    backchannel = validate_backchannel_logout_uri(backchannel_logout_uri)
    clean_name = _name(name)
    secret = None if public else new_token(SECRET_PREFIX)
    account_id = account.id if account is not None else None
    with transaction():
        _require_manager(account_id, by)
        client = OAuthClient.create(
            client_id=new_client_id(),
            account=account_id,
            name=clean_name,
            secret_hash=token_hash(secret) if secret is not None else None,
            redirect_uris=redirects,
            public=bool(public),
            first_party=bool(first_party),
            backchannel_logout_uri=backchannel,
            post_logout_redirect_uris=post_logout,
            created_at=clock.now(),
        )
        audit.record(by, "client.created", account_id=account_id, target_type="oauth_client",
                     target_id=client.client_id, **_described(client))
    return client, secret


def new_client_id() -> str:
    """A random, URL-safe client_id."""
    return "".join(secrets.choice(CLIENT_ID_ALPHABET) for _ in range(CLIENT_ID_LENGTH))


def get_client(client_id: str) -> OAuthClient | None:
    """The client with this id, or None."""
    if not client_id or len(client_id) > 64:
        return None
    return _CLIENT.first(client_id)


# every token, introspection and revocation request reads its client: the SQL is built once
_CLIENT = Prepared(lambda client_id: OAuthClient.select().where(OAuthClient.client_id == client_id).limit(1))


def check_secret(client: OAuthClient, secret: str | None) -> bool:
    """Whether ``secret`` is the confidential client's secret (compared in constant time); never for public ones."""
    if client.public or not client.secret_hash or not secret or len(secret) > 512:
        return False
    return same(token_hash(secret), client.secret_hash)


def rotate_secret(client: OAuthClient, by: Actor) -> str:
    """A new secret for a confidential client, returned this once; the old one stops working at once."""
    if client.public:
        raise InvalidInputError("A public client has no secret to rotate.", field="client_secret")
    secret = new_token(SECRET_PREFIX)
    with transaction():
        _require_manager(client.account_id, by)
        OAuthClient.update(secret_hash=token_hash(secret)).where(OAuthClient.client_id == client.client_id).execute()
        audit.record(by, "client.secret_rotated", account_id=client.account_id, target_type="oauth_client",
                     target_id=client.client_id)
    client.secret_hash = token_hash(secret)
    return secret


def update_client(
    client: OAuthClient,
    *,
    redirect_uris: Iterable[str] | None = None,
    backchannel_logout_uri: str | None | EllipsisType = ...,
    post_logout_redirect_uris: Iterable[str] | None = None,
    name: str | None = None,
    by: Actor,
) -> OAuthClient:
    """Change what is given; None (``...`` for the back-channel URI, where None removes it) keeps a value."""
    changes: dict[str, Any] = {}
    if redirect_uris is not None:
        changes["redirect_uris"] = validate_redirect_uris(redirect_uris)
    if post_logout_redirect_uris is not None:
        changes["post_logout_redirect_uris"] = validate_redirect_uris(
            post_logout_redirect_uris, field="post_logout_redirect_uris", required=False)
    if not isinstance(backchannel_logout_uri, EllipsisType):
        changes["backchannel_logout_uri"] = validate_backchannel_logout_uri(backchannel_logout_uri)
    if name is not None:
        changes["name"] = _name(name)
    with transaction():
        _require_manager(client.account_id, by)
        if changes:
            OAuthClient.update(**changes).where(OAuthClient.client_id == client.client_id).execute()
            audit.record(by, "client.updated", account_id=client.account_id, target_type="oauth_client",
                         target_id=client.client_id, **changes)
    return OAuthClient.get_by_id(client.client_id)


def delete_client(client: OAuthClient, by: Actor) -> None:
    """Remove the client with its authorization codes and tokens: none of them is accepted any more."""
    with transaction():
        _require_manager(client.account_id, by)
        tokens = OAuthToken.delete().where(OAuthToken.client == client.client_id).execute()
        AuthorizationCode.delete().where(AuthorizationCode.client == client.client_id).execute()
        OAuthClient.delete().where(OAuthClient.client_id == client.client_id).execute()
        audit.record(by, "client.deleted", account_id=client.account_id, target_type="oauth_client",
                     target_id=client.client_id, name=client.name, tokens_ended=tokens)


def list_clients(account: Account | None) -> list[OAuthClient]:
    """The clients of ``account`` (the platform-wide ones when None), oldest first."""
    where = OAuthClient.account.is_null() if account is None else (OAuthClient.account == account.id)
    return list(OAuthClient.select().where(where).order_by(OAuthClient.created_at, OAuthClient.client_id))


# ----------------------------------------------------------------- validation


def validate_redirect_uris(uris: Iterable[str], *, field: str = "redirect_uris", required: bool = True) -> list[str]:
    """Absolute http(s) URIs without a fragment (RFC 6749 §3.1.2), http only on loopback; duplicates dropped."""
    if isinstance(uris, str):
        uris = [uris]
    cleaned = list(dict.fromkeys(_uri(uri, field, loopback_http_only=True) for uri in uris))
    if required and not cleaned:
        raise InvalidInputError("At least one redirect URI is required.", field=field)
    if len(cleaned) > MAX_URIS:
        raise InvalidInputError(Text("At most %(count)s URIs may be registered.", count=MAX_URIS), field=field)
    return cleaned


def validate_backchannel_logout_uri(uri: str | None) -> str | None:
    """An absolute http(s) URI without a fragment (OpenID Connect Back-Channel Logout 1.0 §2.2), or None."""
    if uri is None or not str(uri).strip():
        return None
    return _uri(uri, "backchannel_logout_uri", loopback_http_only=False)


def _uri(value: Any, field: str, *, loopback_http_only: bool) -> str:
    if not isinstance(value, str):
        raise InvalidInputError("A URI must be a string.", field=field)
    uri = value.strip()
    if not uri:
        raise InvalidInputError("A URI may not be empty.", field=field)
    if len(uri) > MAX_URI_LENGTH:
        raise InvalidInputError(Text("A URI may have at most %(count)s characters.", count=MAX_URI_LENGTH), field=field)
    if any(c.isspace() for c in uri):
        raise InvalidInputError(Text("%(uri)r contains whitespace.", uri=uri), field=field)
    try:
        parts = urlsplit(uri)
        host = parts.hostname
        _port = parts.port  # raises on a port that is not a number
    except ValueError as exc:
        raise InvalidInputError(Text("%(uri)r is not a valid URI.", uri=uri), field=field) from exc
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise InvalidInputError(Text("%(uri)r must be an absolute http:// or https:// URI.", uri=uri), field=field)
    if "#" in uri:
        raise InvalidInputError(Text("%(uri)r must not contain a fragment (#…).", uri=uri), field=field)
    if parts.username is not None or parts.password is not None:
        raise InvalidInputError(Text("%(uri)r must not contain a user name or password.", uri=uri), field=field)
    if loopback_http_only and parts.scheme.lower() == "http" and host.lower() not in LOOPBACK_HOSTS:
        raise InvalidInputError(Text("%(uri)r must use https://; plain http:// is only allowed for localhost and "
                                     "127.0.0.1.", uri=uri), field=field)
    return uri


def _name(name: str | None) -> str:
    cleaned = (name or "").strip()
    if len(cleaned) > MAX_NAME_LENGTH:
        raise InvalidInputError(Text("A client name may have at most %(count)s characters.", count=MAX_NAME_LENGTH),
                                field="name")
    return cleaned


def _require_manager(account_id: str | None, by: Actor) -> None:
    """An account's admins manage its clients; platform-wide clients belong to the operator alone."""
    if account_id is not None:
        require_admin(account_id, by)
    elif by.type not in ("cli", "system"):
        raise ForbiddenError("Only the operator manages platform-wide clients.")


def _described(client: OAuthClient) -> dict[str, Any]:
    """What an audit event says about a client: everything but its secret."""
    return {
        "name": client.name,
        "redirect_uris": list(client.redirect_uris),
        "public": client.public,
        "first_party": client.first_party,
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
    }
