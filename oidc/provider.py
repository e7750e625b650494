"""authlib's authorization server, wired to models/: each storage hook is one call into the domain.

Protocol lives in authlib (grants, PKCE, client authentication, error
responses); state lives in models.oauth, models.clients and models.keys.
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
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.rpinitiated import EndSessionEndpoint
from flask import Flask, current_app, g, request
from joserfc.jwk import KeySet, RSAKey

from models import clients, keys, oauth
from models.database import transaction
from models.security import AuthorizationCode, OAuthClient
from models.tenancy import User

from . import rate_limit

SCOPES = ("openid", "profile", "email", "offline_access")
ID_TOKEN_LIFETIME = 3600


class Client(ClientMixin):
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
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


def query_client(client_id: str) -> Client | None:
    read = g.get("read_client")
    if read is not None and read[0] == client_id:
        row = read[1]
    else:
        row = clients.get_client(client_id) if client_id else None
    return Client(row) if row is not None else None


def read_client_and_token() -> None:
    """Read the presented client and token in one statement, for authlib's next two questions.

    Introspection and revocation authenticate the client (``query_client``)
    and then look the token up (``query_token``): two statements, two round
    trips on PostgreSQL. The rows read here answer both for this request;
    a client id that authlib reads differently just misses and is read again.
    """
    authorization = request.authorization
    if authorization is not None and authorization.type == "basic":
        client_id = unquote(authorization.username or "")  # RFC 6749 §2.3.1 form-encodes it, as authlib reads it
    else:
        client_id = request.form.get("client_id", "")
    if not client_id:
        return
    token = request.form.get("token", "")
    client, grant = oauth.load_with_client(client_id, token)
    g.read_client = (client_id, client)
    if client is not None:
        g.read_token = (token, grant)


@dataclasses.dataclass
class SignInContext:
    """What the authorization endpoint established about the sign-in; stored with the code."""

    session_id: str
    account_id: str | None
    auth_time: dt.datetime
    amr: list[str]
    acr: str


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


class S256Challenge(CodeChallenge):
    """PKCE with S256 only (``plain`` protects nothing once the request is seen); public clients must use it."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

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


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

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
        context: SignInContext = g.signin_context
        data = request.payload.data
        oauth.save_code(code, client_id=request.client.get_client_id(), user_id=request.user.id,
                        account_id=context.account_id, session_id=context.session_id,
                        redirect_uri=request.payload.redirect_uri or request.client.get_default_redirect_uri(),
                        scope=request.payload.scope or "", nonce=data.get("nonce"),
                        code_challenge=data.get("code_challenge"),
                        code_challenge_method=data.get("code_challenge_method"),
                        auth_time=context.auth_time, amr=context.amr, acr=context.acr)

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        row = oauth.take_code(code, client.get_client_id())
        return Code(row, code) if row is not None else None

    def delete_authorization_code(self, authorization_code: Code) -> None:
        """Kept, marked used by query_authorization_code, so a replay can be recognised."""

    def authenticate_user(self, authorization_code: Code) -> User | None:
        row = authorization_code.row
        user = User.get_or_none(User.id == row.user_id)
        if user is None or user.status != "active":
            return None
        if row.account_id is not None and not oauth.holder_is_member(user.id, row.account_id):
            return None
        return user


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: every use gives a new one and retires the old

    def authenticate_refresh_token(self, refresh_token: str) -> Any:
        row = oauth.take_refresh_token(refresh_token, self.request.client.get_client_id())
        return TokenRef(row, "refresh") if row is not None else None

    def authenticate_user(self, refresh_token: TokenRef) -> User | None:
        return User.get_or_none(User.id == refresh_token.row.user_id)

    def revoke_old_credential(self, refresh_token: TokenRef) -> None:
        """take_refresh_token already marked it rotated, in the same transaction."""


class OpenIDConnectCode(OpenIDCode):
    """ID tokens signed with the provider's active RS256 key (published in the JWKS)."""

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return False  # nonces are the client's replay check; it compares them with its own

    def resolve_client_private_key(self, client: Client) -> RSAKey:
        key = keys.active_key("RS256")
        return keys.private_rsa_key(key)

    def get_client_algorithm(self, client: Client) -> str:
        return "RS256"

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": "RS256", "kid": keys.active_key("RS256").kid, "typ": "JWT"}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        now = int(time.time())
        return {"iss": current_app.config["BASE_URL"].rstrip("/"), "aud": client.get_client_id(),
                "iat": now, "exp": now + ID_TOKEN_LIFETIME, "azp": client.get_client_id()}

    def get_authorization_code_claims(self, authorization_code: Code) -> dict[str, Any]:
        claims = super().get_authorization_code_claims(authorization_code)
        if authorization_code.row.session_id:
            claims["sid"] = authorization_code.row.session_id
        return claims

    def generate_user_info(self, user: User, scope: str) -> dict[str, Any]:
        code: Code | None = getattr(self, "_code", None)
        return oauth.claims_for(user, code.row.account_id if code else None, scope)

    def encode_id_token(self, token: dict[str, Any], request: Any) -> str:
        self._code = request.authorization_code
        return str(super().encode_id_token(token, request))


@dataclasses.dataclass
class TokenRef:
    """A token row and which of its two values was presented (revocation, introspection, refresh)."""

    row: Any
    kind: str
    grant: oauth.Grant | None = None

    def check_client(self, client: Client) -> bool:
        return bool(self.row.client_id == client.get_client_id())

    def get_scope(self) -> str:
        return str(self.row.scope)

    def get_expires_in(self) -> int:
        return int(oauth.ACCESS_TOKEN_LIFETIME.total_seconds())

    def is_expired(self) -> bool:
        return self.grant is not None and not self.grant.active

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenRef | None:
        return _token_ref(token_string)

    def revoke_token(self, token: TokenRef, request: Any) -> None:
        oauth.revoke(token.row, kind=token.kind)


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenRef | None:
        return _token_ref(token_string)

    def check_permission(self, token: TokenRef, client: Client, request: Any) -> bool:
        """The client the token was issued to, or another client of the same account (a resource server)."""
        if token.row.client_id == client.get_client_id():
            return True
        return client.row.account_id is not None and client.row.account_id == token.row.account_id

    def introspect_token(self, token: TokenRef) -> dict[str, Any]:
        assert token.grant is not None
        return oauth.introspection(token.grant, issuer=current_app.config["BASE_URL"].rstrip("/"))


def _token_ref(token_string: str) -> TokenRef | None:
    """Either value of a token pair; the hint is not needed, one statement looks at both (RFC 7009 §2.1)."""
    read = g.get("read_token")
    grant = read[1] if read is not None and read[0] == token_string else oauth.load(token_string)
    return TokenRef(grant.token, grant.kind, grant) if grant is not None else None


class EndSession(EndSessionEndpoint):
    """RP-initiated logout: authlib checks id_token_hint and the post-logout URI; the view ends the session."""

    def get_server_jwks(self) -> KeySet:
        return server_jwks()

    def end_session(self, end_session_request: Any) -> None:
        """The browser's session ends in the view, which also drops the cookie."""


class Request(FlaskOAuth2Request):
    """authlib's view of a Flask request, its URL built without werkzeug's IRI decoding.

    authlib reads the URL only to refuse plain HTTP (``InsecureTransportError``),
    for which the scheme and host are what count; werkzeug's ``request.url``
    decodes the whole URL to an IRI, a noticeable share of an introspection.
    """

    def __init__(self, request: Any):
        OAuth2Request.__init__(self, method=request.method, uri=f"{request.scheme}://{request.host}{request.path}",
                               headers=request.headers)
        self._request = request
        self.payload = FlaskOAuth2Payload(request)


class Server(AuthorizationServer):
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
        client: Client = super().authenticate_client(request, methods, endpoint)
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
    return server


def save_token(token: dict[str, Any], request: Any) -> None:
    """A new token pair: from a code (a new family) or from a rotated refresh token (the same family)."""
    code: Code | None = getattr(request, "authorization_code", None)
    previous: TokenRef | None = getattr(request, "refresh_token", None)
    if code is not None:
        row = code.row
        account_id, session_id, family, code_hash = row.account_id, row.session_id, None, row.code_hash
    elif previous is not None:
        row = previous.row
        account_id, session_id, family, code_hash = row.account_id, row.session_id, row.family_id, None
    else:  # pragma: no cover - only the two grants above are registered
        raise RuntimeError("unexpected grant")
    oauth.save_token(client_id=request.client.get_client_id(), user_id=request.user.id, account_id=account_id,
                     session_id=session_id, scope=token.get("scope", row.scope), access_token=token["access_token"],
                     refresh_token=token.get("refresh_token"), family_id=family, code_hash=code_hash)


def in_transaction(action: Any) -> Any:
    """Token requests claim a code or refresh token and store the new tokens as one change."""
    with transaction():
        return action()


def server_jwks() -> KeySet:
    return KeySet.import_key_set(keys.published_jwks())  # type: ignore[arg-type]
