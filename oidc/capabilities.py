"""What this OpenID Provider supports: configured into authlib's server (oidc.provider) and published by discovery.

One list each, so the metadata (OpenID Connect Discovery 1.0 §3, RFC 8414 §2)
cannot say something the server does not do.
"""

from __future__ import annotations

SCOPES = ("openid", "profile", "email", "offline_access")
RESPONSE_TYPES = ("code",)
RESPONSE_MODES = ("query",)
GRANT_TYPES = ("authorization_code", "refresh_token")
CODE_CHALLENGE_METHODS = ("S256",)  # ``plain`` protects nothing once the request is seen
TOKEN_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")  # the token and revocation endpoints
INTROSPECTION_AUTH_METHODS = ("client_secret_basic", "client_secret_post")  # a public client introspects nothing
ID_TOKEN_ALGORITHM = "RS256"
