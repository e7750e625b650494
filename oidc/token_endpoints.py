"""Revocation (RFC 7009) and introspection (RFC 7662): authlib's endpoints, each hook one call into models.oauth.

Both authenticate the client and then look the token up. The request reads
the two in one statement (``Request.read_client_and_token`` in oidc.provider)
and answers both questions from it: the rows travel on the request authlib
passes, never on these endpoints, which one instance each serves every thread.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import InvalidGrantError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import current_app

from models import oauth
from models.deployment import Deployment

from .capabilities import INTROSPECTION_AUTH_METHODS, TOKEN_AUTH_METHODS

if TYPE_CHECKING:
    from .provider import Client, Request


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

    @classmethod
    def of(cls, grant: oauth.Grant | None) -> TokenRef | None:
        """Either value of a token pair; the hint is not needed, one statement looks at both (RFC 7009 §2.1)."""
        return cls(grant.token, grant.kind, grant) if grant is not None else None


class ClientWithToken:
    """For an endpoint that authenticates a client and then reads a token: the two read in one statement."""

    def authenticate_endpoint_client(self, request: Request) -> Client:
        request.read_client_and_token()
        return super().authenticate_endpoint_client(request)  # type: ignore[misc, no-any-return]

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenRef | None:
        """Only when a request is not at hand; :meth:`Request.presented_token` is what the endpoints ask."""
        return TokenRef.of(oauth.load(token_string))


class Revocation(ClientWithToken, RevocationEndpoint):  # type: ignore[misc]  # authlib is untyped
    CLIENT_AUTH_METHODS = list(TOKEN_AUTH_METHODS)

    def authenticate_token(self, request: Request, client: Client) -> TokenRef | None:
        """authlib's, the token taken from the statement that read the client."""
        self.check_params(request, client)
        token = request.presented_token(request.form["token"])
        if token is not None and not token.check_client(client):
            raise InvalidGrantError()
        return token

    def revoke_token(self, token: TokenRef, request: Any) -> None:
        oauth.revoke(token.row, kind=token.kind)


class Introspection(ClientWithToken, IntrospectionEndpoint):  # type: ignore[misc]  # authlib is untyped
    CLIENT_AUTH_METHODS = list(INTROSPECTION_AUTH_METHODS)

    def authenticate_token(self, request: Request, client: Client) -> TokenRef | None:
        """authlib's, the token taken from the statement that read the client."""
        self.check_params(request, client)
        token = request.presented_token(request.form["token"])
        return token if token is not None and self.check_permission(token, client, request) else None

    def check_permission(self, token: TokenRef, client: Client, request: Any) -> bool:
        """The client the token was issued to, or another client of the same account (a resource server)."""
        if token.row.client_id == client.get_client_id():
            return True
        return client.row.account_id is not None and client.row.account_id == token.row.account_id

    def introspect_token(self, token: TokenRef) -> dict[str, Any]:
        assert token.grant is not None
        return oauth.introspection(token.grant, issuer=Deployment.of(current_app).settings.issuer)
