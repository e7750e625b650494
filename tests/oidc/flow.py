"""Drives OpenID Connect sign-ins through the real app with form posts, as a browser would."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import html
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet

from models import Actor, clients, clock, members
from models.deployment import Deployment
from models.tenancy import Account, User

PASSWORD = "correct horse battery staple"
REDIRECT = "https://app.example/callback"


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert found, f"the page has no CSRF token:\n{page[:2000]}"
    return found.group(1)


def hidden(page: str, name: str) -> str | None:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    return html.unescape(found.group(1)) if found else None


def ready_person(account: Account, email: str, *, role: str = "user", deployment: Deployment) -> User:
    """An active member with their own password who accepted the terms (no first-login step)."""
    added = members.add_user(account, email, given_name="Pat", family_name="Person", role=role, password=PASSWORD,
                             by=Actor.cli("tests"), via="cli", deployment=deployment)
    User.update(must_change_password=False, terms_accepted_at=clock.now()).where(User.id == added.user.id).execute()
    return User.get_by_id(added.user.id)


@dataclasses.dataclass
class RelyingParty:
    client_id: str
    secret: str | None
    public: bool = False

    @classmethod
    def register(cls, account: Account | None, *, public: bool = False, first_party: bool = True,
                 backchannel: str | None = None) -> RelyingParty:
        row, secret = clients.create_client(account, redirect_uris=[REDIRECT], public=public,
                                            first_party=first_party, backchannel_logout_uri=backchannel,
                                            post_logout_redirect_uris=["https://app.example/bye"],
                                            name="Partner portal", by=Actor.cli("tests"))
        return cls(row.client_id, secret, public)

    @property
    def auth(self) -> tuple[str, str] | None:
        return None if self.public else (self.client_id, self.secret or "")


@dataclasses.dataclass
class Authorization:
    verifier: str
    params: dict[str, str]

    @property
    def url(self) -> str:
        return "/oauth/authorize?" + urlencode(self.params)


def authorization(rp: RelyingParty, *, scope: str = "openid profile email offline_access", pkce: bool = True,
                  **extra: str) -> Authorization:
    verifier = secrets.token_urlsafe(48)
    params = {"response_type": "code", "client_id": rp.client_id, "redirect_uri": REDIRECT, "scope": scope,
              "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8)}
    if pkce:
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        params.update(code_challenge=challenge, code_challenge_method="S256")
    params.update(extra)
    return Authorization(verifier, params)


def follow(client: Any, response: Any, limit: int = 10) -> Any:
    """Follow redirects inside Roster; stop at a page or at the relying party's redirect URI."""
    for _ in range(limit):
        location = response.headers.get("Location")
        if response.status_code not in (302, 303) or not location or location.startswith("https://app.example"):
            return response
        response = client.get(location)
    raise AssertionError("too many redirects")


def submit(client: Any, page: Any, action: str, **fields: Any) -> Any:
    """Post a form of ``page`` with its CSRF token and ``next``."""
    data = {"csrf_token": csrf(page.text), **fields}
    nxt = hidden(page.text, "next")
    if nxt is not None:
        data.setdefault("next", nxt)
    return client.post(action, data=data)


def sign_in_page(client: Any, start: Any, email: str, password: str = PASSWORD) -> Any:
    """From the login page ``start`` reached by a redirect, post the password and follow."""
    page = follow(client, start)
    assert "/login" in page.request.path, page.request.path
    return follow(client, submit(client, page, "/login", email=email, password=password))


def code_from(response: Any) -> str:
    location = response.headers["Location"]
    assert location.startswith(REDIRECT), location
    query = parse_qs(urlsplit(location).query)
    assert "code" in query, query
    return query["code"][0]


def redirect_error(response: Any) -> dict[str, str]:
    location = response.headers["Location"]
    assert location.startswith(REDIRECT), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def exchange(client: Any, rp: RelyingParty, code: str, verifier: str | None) -> Any:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    if verifier:
        data["code_verifier"] = verifier
    if rp.public:
        data["client_id"] = rp.client_id
    return client.post("/oauth/token", data=data, auth=rp.auth)


def refresh(client: Any, rp: RelyingParty, refresh_token: str) -> Any:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if rp.public:
        data["client_id"] = rp.client_id
    return client.post("/oauth/token", data=data, auth=rp.auth)


def introspect(client: Any, rp: RelyingParty, token: str) -> dict[str, Any]:
    response = client.post("/oauth/introspect", data={"token": token}, auth=rp.auth)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def sign_in_for_tokens(client: Any, rp: RelyingParty, email: str, **extra: str) -> dict[str, Any]:
    """A whole password sign-in: authorize, log in, exchange the code. Returns the token response."""
    request = authorization(rp, **extra)
    response = follow(client, client.get(request.url))
    if "/login" in response.request.path and response.status_code == 200:
        response = follow(client, submit(client, response, "/login", email=email, password=PASSWORD))
    tokens = exchange(client, rp, code_from(response), request.verifier)
    assert tokens.status_code == 200, tokens.get_json()
    body: dict[str, Any] = tokens.get_json()
    body["_nonce"] = request.params["nonce"]
    return body


def id_token_claims(client: Any, id_token: str) -> dict[str, Any]:
    """Verify the ID token against the served JWKS, as a relying party does."""
    keys = KeySet.import_key_set(client.get("/oauth/jwks").get_json())
    token = jwt.decode(id_token, keys, algorithms=["RS256", "ES256"])
    return dict(token.claims)
