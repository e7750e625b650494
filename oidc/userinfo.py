"""The userinfo endpoint (OpenID Connect Core §5.3): authlib's UserInfoEndpoint behind its ResourceProtector.

The bearer token is parsed by authlib (RFC 6750 §2.1) and looked up in
models.oauth on every request, so a revoked or deprovisioned token is
refused at once (R11). A missing, unreadable or dead token is one
``invalid_token`` with its ``WWW-Authenticate`` challenge (RFC 6750 §3), the
same words whatever was wrong, so a caller learns nothing about which tokens
exist; a live one spends its client's budget (429 past it) and needs the
``openid`` scope (403 ``insufficient_scope``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.integrations.flask_oauth2.requests import FlaskJsonPayload
from authlib.oauth2.rfc6749 import JsonRequest, MissingAuthorizationError, TokenMixin, UnsupportedTokenTypeError
from authlib.oauth2.rfc6750 import BearerTokenValidator, InsufficientScopeError, InvalidTokenError
from authlib.oidc.core import UserInfoEndpoint
from flask import request as flask_request

from models import oauth

from . import rate_limit


class DeadTokenError(InvalidTokenError):  # type: ignore[misc]  # authlib is untyped
    """RFC 6750 §3.1 ``invalid_token``: no header, another scheme, or a token that is unknown, expired or revoked."""

    description = "The access token is missing, expired or revoked."


class NotForOpenIDError(InsufficientScopeError):  # type: ignore[misc]  # authlib is untyped
    """RFC 6750 §3.1 ``insufficient_scope``, naming the scope userinfo needs in the challenge, as §3 suggests.

    authlib's class sends no ``WWW-Authenticate``; Roster always has.
    """

    description = "The token was not issued for openid."

    def get_headers(self) -> list[tuple[str, str]]:
        return [*super().get_headers(), ("WWW-Authenticate", 'Bearer error="insufficient_scope", scope="openid"')]


class TokenClient:
    """The client a token was issued to, as UserInfoEndpoint asks for it: no client asks for signed userinfo."""

    client_metadata: Mapping[str, Any] = MappingProxyType({})

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id


@dataclasses.dataclass(frozen=True)
class AccessToken(TokenMixin):  # type: ignore[misc]  # authlib is untyped
    """A live access token as authlib's protector and userinfo endpoint see it; ``grant`` is what models read.

    The scope and client are copied off the row once: each is asked for more than once per request.
    """

    grant: oauth.Grant
    scope: str
    client_id: str

    def get_scope(self) -> str:
        return self.scope

    def get_client(self) -> TokenClient:
        return TokenClient(self.client_id)

    def get_user(self) -> oauth.Grant:
        return self.grant  # the claims are built from the rows read with the token

    def get_expires_in(self) -> int:
        return int(oauth.ACCESS_TOKEN_LIFETIME.total_seconds())

    def is_expired(self) -> bool:
        return not self.grant.active

    def is_revoked(self) -> bool:
        return self.grant.token.revoked_at is not None

    @classmethod
    def of(cls, grant: oauth.Grant | None) -> AccessToken | None:
        return cls(grant, str(grant.token.scope), str(grant.token.client_id)) if grant is not None else None


class AccessTokenValidator(BearerTokenValidator):  # type: ignore[misc]  # authlib is untyped
    def authenticate_token(self, token_string: str) -> AccessToken | None:
        # a header value's trailing space is not the token's (RFC 9110 §5.5 strips it around a field value)
        return AccessToken.of(oauth.active_access_token(token_string.strip()))

    def validate_token(self, token: AccessToken | None, scopes: list[str] | None, request: Any) -> None:
        """Live, then the budget of the client the token was issued to, then the scope (RFC 6750 §3.1).

        Only a live token spends a budget, so nobody spends another client's
        by presenting a dead one; a rate-limited client learns nothing more.
        """
        if token is None:  # models.oauth.active_access_token gives live tokens only: no expiry or revocation to ask
            raise DeadTokenError()
        rate_limit.spend(token.client_id)  # authlib answers its RateLimitedError as a 429
        # authlib's scope_insufficient, without its two conversions of both lists on every call
        if scopes and not set(scopes).issubset(token.scope.split()):
            raise NotForOpenIDError()


class BearerRequest(JsonRequest):  # type: ignore[misc]  # authlib is untyped
    """authlib's JSON view of the Flask request, reading only what a bearer check reads.

    authlib's FlaskJsonRequest decodes the whole URL to an IRI (werkzeug's
    ``request.url``) and its ``headers or {}`` counts werkzeug's headers by
    walking the WSGI environ. The protector reads one header, ``Authorization``;
    the method, URL (scheme and host only) and payload are computed if asked.
    Together these were 8 µs of a 260 µs userinfo call.
    """

    def __init__(self, request: Any) -> None:
        self.request = request

    @property
    def headers(self) -> Any:
        return self.request.headers

    @property
    def method(self) -> str:
        return str(self.request.method)

    @property
    def uri(self) -> str:
        return f"{self.request.scheme}://{self.request.host}{self.request.path}"

    @property
    def payload(self) -> FlaskJsonPayload:
        return FlaskJsonPayload(self.request)


class BearerProtector(ResourceProtector):  # type: ignore[misc]  # authlib is untyped
    def acquire_token(self, scopes: str | list[str] | None = None) -> AccessToken:
        """authlib's, reading the request as a :class:`BearerRequest`; neither ``current_token`` (on ``g``) nor
        the ``token_authenticated`` signal is set or sent: nothing reads or listens to them."""
        required = [scopes] if isinstance(scopes, str) else scopes
        token: AccessToken = self.validate_request(scopes=required, request=BearerRequest(flask_request))
        return token

    def parse_request_authorization(self, request: Any) -> tuple[AccessTokenValidator, str]:
        """authlib's, but no header or another scheme is the same ``invalid_token`` as a dead token.

        authlib answers those ``missing_authorization`` / ``unsupported_token_type``,
        codes RFC 6750 does not register; Roster's relying parties know ``invalid_token``.
        """
        try:
            validator, token_string = super().parse_request_authorization(request)
        except (MissingAuthorizationError, UnsupportedTokenTypeError) as error:
            raise DeadTokenError() from error
        return validator, token_string


class UserInfo(UserInfoEndpoint):  # type: ignore[misc]  # authlib is untyped
    def create_endpoint_request(self, request: Any) -> Any:
        """A JSON request, as the protector reads one, not authlib's OAuth2Request, which refuses plain HTTP.

        Only the token endpoints refuse it (RFC 6749 §1.6); userinfo, a protected
        resource that reads nothing but its bearer token, has always answered.
        """
        return BearerRequest(flask_request)

    def generate_user_info(self, user: oauth.Grant, scope: str) -> dict[str, Any]:
        return oauth.userinfo(user)  # the token's own scope decides, which is ``scope``


def userinfo_endpoint() -> UserInfo:
    """The userinfo endpoint, with a protector that accepts a live bearer access token and nothing else."""
    protector = BearerProtector()
    protector.register_token_validator(AccessTokenValidator())
    return UserInfo(resource_protector=protector)
