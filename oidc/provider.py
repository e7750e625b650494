"""authlib's authorization server, wired to models/: each storage hook is one call into the domain.

Protocol lives in authlib (grants, PKCE, client authentication, error
responses); state lives in models.oauth, models.clients and models.keys.
What a request establishes travels on the objects authlib hands from hook
to hook, never on the registered grants and endpoints (one of each serves
every thread): the person and their sign-in as ``request.user`` (a
:class:`GrantUser`), the client and token read together on the
:class:`Request`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from typing import Any
from urllib.parse import unquote

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2.rfc6749 import (
    ClientMixin,
    InvalidRequestError,
    OAuth2Request,
    UnsupportedResponseTypeError,
    grants,
)
from authlib.oauth2.rfc6749.authenticate_client import ClientAuthentication
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.rpinitiated import EndSessionEndpoint
from flask import Flask, current_app, request
from joserfc.jwk import KeySet, RSAKey

from models import clients, keys, oauth
from models.database import transaction
from models.deployment import Deployment
from models.security import AuthorizationCode, OAuthClient
from models.tenancy import User

from . import rate_limit
from .capabilities import (
    CODE_CHALLENGE_METHODS,
    GRANT_TYPES,
    ID_TOKEN_ALGORITHM,
    RESPONSE_TYPES,
    SCOPES,
    TOKEN_AUTH_METHODS,
)
from .token_endpoints import Introspection, Revocation, TokenRef
from .userinfo import userinfo_endpoint

ID_TOKEN_LIFETIME = 3600


class Client(ClientMixin):  # type: ignore[misc]  # authlib is untyped
    """An OAuthClient row as authlib sees it."""

    def __init__(self, row: OAuthClient):
        self.row = row

    @property
    def client_metadata(self) -> dict[str, Any]:
        # only RP-initiated logout asks; introspection's client row does not even carry these
        return {"post_logout_redirect_uris": list(self.row.post_logout_redirect_uris or [])}

    def get_client_id(self) -> str:
        return str(self.row.client_id)

    def get_default_redirect_uri(self) -> str | None:
        uris = list(self.row.redirect_uris or [])
        # OpenID Connect requires redirect_uri; a lone registered one is the only safe default
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in (self.row.redirect_uris or [])  # exact match, never a prefix

    def check_client_secret(self, client_secret: str) -> bool:
        return clients.check_secret(self.row, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.row.public:
            return method == "none" and endpoint in ("token", "revoke")
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type in RESPONSE_TYPES

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in GRANT_TYPES


def query_client(client_id: str) -> Client | None:
    row = clients.get_client(client_id) if client_id else None
    return Client(row) if row is not None else None


@dataclasses.dataclass(frozen=True)
class GrantUser:
    """The person a grant acts for, with what their sign-in established: authlib's ``request.user``.

    The authorization endpoint passes it as ``grant_user`` and the code keeps
    the sign-in; the token endpoint makes it again from the code or refresh
    token, for the ID token's claims and the new tokens.
    """

    user: User
    account_id: str | None
    session_id: str | None = None
    auth_time: dt.datetime | None = None
    amr: tuple[str, ...] = ()
    acr: str | None = None

    @property
    def id(self) -> str:
        return str(self.user.id)


class Code:
    """An AuthorizationCode row as authlib and its OpenID extension see it."""

    def __init__(self, row: AuthorizationCode, code: str):
        self.row = row
        self.code = code

    def get_redirect_uri(self) -> str:
        return str(self.row.redirect_uri)

    def get_scope(self) -> str:
        return str(self.row.scope)

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return int(self.row.auth_time.replace(tzinfo=dt.UTC).timestamp())

    def get_acr(self) -> str | None:
        return self.row.acr

    def get_amr(self) -> list[str]:
        return list(self.row.amr or [])


class S256Challenge(CodeChallenge):  # type: ignore[misc]  # authlib is untyped
    """PKCE with S256 only (``plain`` protects nothing once the request is seen); public clients must use it."""

    SUPPORTED_CODE_CHALLENGE_METHOD = list(CODE_CHALLENGE_METHODS)

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if grant.request.client.row.public and not data.get("code_challenge"):
            raise InvalidRequestError("Public clients must send a PKCE code_challenge (S256).",
                                      redirect_uri=redirect_uri)
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256.", redirect_uri=redirect_uri)
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code: Code) -> str | None:
        return authorization_code.row.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: Code) -> str | None:
        return authorization_code.row.code_challenge_method


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]  # authlib is untyped
    TOKEN_ENDPOINT_AUTH_METHODS = list(TOKEN_AUTH_METHODS)
    RESPONSE_TYPES = set(RESPONSE_TYPES)

    @staticmethod
    def validate_authorization_redirect_uri(request: Any, client: Client) -> str:
        """The exact registered URI (RFC 6749 §3.1.2.3); an empty one is refused, not replaced by the default.

        authlib's refusal repeats the URI in its description, and its error
        class raises on the characters (a backslash, a tab) a URI may carry.
        """
        uri = request.payload.redirect_uri
        if uri is None and "redirect_uri" in request.payload.data:
            uri = ""
        if uri == "":
            raise InvalidRequestError("redirect_uri is empty: send one of the client's registered redirect URIs.")
        if uri is not None and not client.check_redirect_uri(uri):
            raise InvalidRequestError("redirect_uri is not registered for this client: it must equal a registered "
                                      "redirect URI exactly.")
        return str(grants.AuthorizationCodeGrant.validate_authorization_redirect_uri(request, client))

    def save_authorization_code(self, code: str, request: Any) -> None:
        signed_in: GrantUser = request.user
        assert signed_in.auth_time is not None and signed_in.acr is not None  # the authorization endpoint's
        data = request.payload.data
        oauth.save_code(code, client_id=request.client.get_client_id(), user_id=signed_in.id,
                        account_id=signed_in.account_id, session_id=signed_in.session_id,
                        redirect_uri=request.payload.redirect_uri or request.client.get_default_redirect_uri(),
                        scope=request.payload.scope or "", nonce=data.get("nonce"),
                        code_challenge=data.get("code_challenge"),
                        code_challenge_method=data.get("code_challenge_method"),
                        auth_time=signed_in.auth_time, amr=list(signed_in.amr), acr=signed_in.acr)

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        row = oauth.take_code(code, client.get_client_id())
        return Code(row, code) if row is not None else None

    def delete_authorization_code(self, authorization_code: Code) -> None:
        """Kept, marked used by query_authorization_code, so a replay can be recognised."""

    def authenticate_user(self, authorization_code: Code) -> GrantUser | None:
        row = authorization_code.row
        user = User.get_or_none(User.id == row.user_id)
        if user is None or user.status != "active":
            return None
        if row.account_id is not None and not oauth.holder_is_member(user.id, row.account_id):
            return None
        return GrantUser(user, row.account_id, row.session_id)


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]  # authlib is untyped
    TOKEN_ENDPOINT_AUTH_METHODS = list(TOKEN_AUTH_METHODS)
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: every use gives a new one and retires the old

    def authenticate_refresh_token(self, refresh_token: str) -> Any:
        row = oauth.take_refresh_token(refresh_token, self.request.client.get_client_id())
        return TokenRef(row, "refresh") if row is not None else None

    def authenticate_user(self, refresh_token: TokenRef) -> GrantUser | None:
        row = refresh_token.row
        user = User.get_or_none(User.id == row.user_id)
        return GrantUser(user, row.account_id, row.session_id) if user is not None else None

    def revoke_old_credential(self, refresh_token: TokenRef) -> None:
        """take_refresh_token already marked it rotated, in the same transaction."""


class OpenIDConnectCode(OpenIDCode):  # type: ignore[misc]  # authlib is untyped
    """ID tokens signed with the provider's active RS256 key (published in the JWKS)."""

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return False  # nonces are the client's replay check; it compares them with its own

    def resolve_client_private_key(self, client: Client) -> RSAKey:
        secrets = Deployment.of(current_app).secrets
        return keys.private_rsa_key(keys.active_key(ID_TOKEN_ALGORITHM, secrets), secrets)

    def get_client_algorithm(self, client: Client) -> str:
        return ID_TOKEN_ALGORITHM

    def get_encode_header(self, client: Client) -> dict[str, str]:
        key = keys.active_key(ID_TOKEN_ALGORITHM, Deployment.of(current_app).secrets)
        return {"alg": ID_TOKEN_ALGORITHM, "kid": key.kid, "typ": "JWT"}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        now = int(time.time())
        return {"iss": Deployment.of(current_app).settings.issuer, "aud": client.get_client_id(),
                "iat": now, "exp": now + ID_TOKEN_LIFETIME, "azp": client.get_client_id()}

    def get_authorization_code_claims(self, authorization_code: Code) -> dict[str, Any]:
        claims: dict[str, Any] = super().get_authorization_code_claims(authorization_code)
        if authorization_code.row.session_id:
            claims["sid"] = authorization_code.row.session_id
        return claims

    def generate_user_info(self, user: GrantUser, scope: str) -> dict[str, Any]:
        return oauth.claims_for(user.user, user.account_id, scope)


class EndSession(EndSessionEndpoint):  # type: ignore[misc]  # authlib is untyped
    """RP-initiated logout: authlib checks id_token_hint and the post-logout URI; the view ends the session."""

    def get_server_jwks(self) -> KeySet:
        return server_jwks()

    def end_session(self, end_session_request: Any) -> None:
        """The browser's session ends in the view, which also drops the cookie."""


class Request(FlaskOAuth2Request):  # type: ignore[misc]  # authlib is untyped
    """authlib's view of a Flask request, its URL built without werkzeug's IRI decoding (and its headers not copied).

    authlib reads the URL only to refuse plain HTTP (``InsecureTransportError``),
    for which the scheme and host are what count; werkzeug's ``request.url``
    decodes the whole URL to an IRI, a noticeable share of an introspection.
    """

    def __init__(self, request: Any):
        OAuth2Request.__init__(self, method=request.method, uri=f"{request.scheme}://{request.host}{request.path}")
        self.headers = request.headers  # not through ``headers or {}``, which counts them by walking the environ
        self._request = request
        self.payload = FlaskOAuth2Payload(request)
        self.presented: Presented | None = None

    def read_client_and_token(self) -> None:
        """Read the presented client and token in one statement, for authlib's next two questions.

        Introspection and revocation authenticate the client (``query_client``)
        and then look the token up (``query_token``): two statements, two round
        trips on PostgreSQL. The rows read here answer both for this request;
        a client id that authlib reads differently just misses and is read again.
        """
        authorization = self._request.authorization
        if authorization is not None and authorization.type == "basic":
            client_id = unquote(authorization.username or "")  # RFC 6749 §2.3.1 form-encodes it, as authlib reads it
        else:
            client_id = self._request.form.get("client_id", "")
        if client_id:
            token = self._request.form.get("token", "")
            self.presented = Presented(client_id, token, *oauth.load_with_client(client_id, token))

    def query_client(self, client_id: str) -> Client | None:
        """The client ``client_id``, as read with the token when it is the one presented."""
        if self.presented is None or self.presented.client_id != client_id:
            return query_client(client_id)
        return Client(self.presented.client) if self.presented.client is not None else None

    def presented_token(self, token_string: str) -> TokenRef | None:
        """The token ``token_string``, as read with the client when it is the one presented (and the client exists)."""
        presented = self.presented
        if presented is None or presented.client is None or presented.token != token_string:
            return TokenRef.of(oauth.load(token_string))
        return TokenRef.of(presented.grant)


@dataclasses.dataclass(frozen=True)
class Presented:
    """The client and the token a request presented, read in one statement (:func:`models.oauth.load_with_client`)."""

    client_id: str
    token: str
    client: OAuthClient | None
    grant: oauth.Grant | None


class Server(AuthorizationServer):  # type: ignore[misc]  # authlib is untyped
    def create_oauth2_request(self, _request: Any) -> Request:  # authlib passes None: Flask's request it is
        return Request(request)

    def get_authorization_grant(self, request: Any) -> Any:
        """authlib's, but an unsupported response type is not repeated in the description (its error class
        raises on characters such as NUL); the error goes to the client only through a URI it registered."""
        if request.payload.response_type == "code":
            return super().get_authorization_grant(request)
        client = self.query_client(request.payload.client_id or "")
        redirect_uri = None
        if client is not None:
            try:
                redirect_uri = AuthorizationCodeGrant.validate_authorization_redirect_uri(request, client)
            except InvalidRequestError:
                pass
        raise UnsupportedResponseTypeError(request.payload.response_type, "Only response_type=code is supported.",
                                           redirect_uri=redirect_uri)

    def authenticate_client(self, request: Any, methods: Any, endpoint: str = "token") -> Client:
        """authlib's client authentication, then the client's request budget (token, revocation, introspection).

        One authentication method per request (RFC 6749 §2.3): Basic credentials
        and a ``client_secret`` in the body together are refused, not tried one after the other.
        """
        scheme = (request.headers.get("Authorization") or "").split(None, 1)[:1]
        if scheme and scheme[0].lower() == "basic" and "client_secret" in request.payload.data:
            raise InvalidRequestError("The client authenticated twice: use either HTTP Basic or client_secret in "
                                      "the body, not both (RFC 6749 section 2.3).")
        # authlib's client authentication, asking this request for the client: it may have read it with the token
        client: Client = ClientAuthentication(request.query_client)(request, methods, endpoint)
        rate_limit.spend(client.get_client_id())  # authlib answers its RateLimitedError as a 429
        return client


def create_server(app: Flask) -> AuthorizationServer:
    app.config.setdefault("OAUTH2_REFRESH_TOKEN_GENERATOR", True)
    app.config.setdefault("OAUTH2_TOKEN_EXPIRES_IN", {
        "authorization_code": int(oauth.ACCESS_TOKEN_LIFETIME.total_seconds()),
        "refresh_token": int(oauth.ACCESS_TOKEN_LIFETIME.total_seconds()),
    })
    server = Server(app, query_client=query_client, save_token=save_token)
    server.register_grant(AuthorizationCodeGrant, [S256Challenge(required=True), OpenIDConnectCode()])
    server.register_grant(RefreshTokenGrant)
    server.register_endpoint(Revocation)
    server.register_endpoint(Introspection)
    server.register_endpoint(EndSession)
    server.register_endpoint(userinfo_endpoint())
    return server


def save_token(token: dict[str, Any], request: Any) -> None:
    """A new token pair: from a code (a new family) or from a rotated refresh token (the same family)."""
    code: Code | None = getattr(request, "authorization_code", None)
    previous: TokenRef | None = getattr(request, "refresh_token", None)
    if code is not None:
        row, family, code_hash = code.row, None, code.row.code_hash
    elif previous is not None:
        row, family, code_hash = previous.row, previous.row.family_id, None
    else:  # pragma: no cover - only the two grants above are registered
        raise RuntimeError("unexpected grant")
    holder: GrantUser = request.user
    oauth.save_token(client_id=request.client.get_client_id(), user_id=holder.id, account_id=holder.account_id,
                     session_id=holder.session_id, scope=token.get("scope", row.scope),
                     access_token=token["access_token"], refresh_token=token.get("refresh_token"), family_id=family,
                     code_hash=code_hash)


def in_transaction(action: Any) -> Any:
    """Token requests claim a code or refresh token and store the new tokens as one change."""
    with transaction():
        return action()


def server_jwks() -> KeySet:
    return KeySet.import_key_set(keys.published_jwks())  # type: ignore[arg-type]
