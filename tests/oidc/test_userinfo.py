"""The userinfo endpoint (OpenID Connect Core §5.3) and its bearer-token answers (RFC 6750 §3), exactly."""

from __future__ import annotations

from playhouse.test_utils import count_queries

from models import Actor, groups, members
from models.database import is_postgres

from .flow import RelyingParty, ready_person, sign_in_for_tokens

INVALID = "The access token is missing, expired or revoked."


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_missing_unreadable_or_unknown_token_is_401_invalid_token_with_its_challenge(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    tokens = sign_in_for_tokens(client, RelyingParty.register(account), person.email)
    for headers in ({}, {"Authorization": "Basic eDp5"}, {"Authorization": "Bearer"}, {"Authorization": "Bearer "},
                    {"Authorization": "Digest x"}, _bearer("nope"), _bearer("a" * 600),
                    _bearer(tokens["refresh_token"])):  # a refresh token is no access token
        for method in ("GET", "POST"):
            response = client.open("/oauth/userinfo", method=method, headers=headers)
            assert response.status_code == 401, (headers, response.get_data(as_text=True))
            assert response.mimetype == "application/json"
            assert response.get_json() == {"error": "invalid_token", "error_description": INVALID}
            assert response.headers["WWW-Authenticate"] == (
                f'Bearer error="invalid_token", error_description="{INVALID}"')
            assert "Set-Cookie" not in response.headers


def test_the_scheme_is_case_insensitive_and_the_token_is_read_without_surrounding_spaces(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    tokens = sign_in_for_tokens(client, RelyingParty.register(account), person.email)
    for header in (f"bearer {tokens['access_token']}", f"BEARER {tokens['access_token']}",
                   f"Bearer  {tokens['access_token']}", f"Bearer {tokens['access_token']} "):
        response = client.get("/oauth/userinfo", headers={"Authorization": header})
        assert response.status_code == 200, (header, response.get_data(as_text=True))
        assert response.get_json()["sub"] == person.id


def test_a_live_token_gets_its_claims_uncached_read_with_the_token(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    membership = members.get_membership(account, person.email).id
    groups.add_members(groups.create_group(account, "Support", by=Actor.cli("tests")), [membership],
                       by=Actor.cli("tests"))
    tokens = sign_in_for_tokens(client, RelyingParty.register(account), person.email)
    with count_queries() as counted:
        response = client.post("/oauth/userinfo", headers=_bearer(tokens["access_token"]))
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.get_json() == {
        "sub": person.id, "name": "Pat Person", "given_name": "Pat", "family_name": "Person", "locale": "en",
        "zoneinfo": "UTC", "email": person.email, "email_verified": True,
        "account": {"id": account.id, "name": account.name, "type": account.type, "role": "user",
                    "groups": ["Support"]}}
    # PostgreSQL reads the groups with the token (a round trip each); SQLite reads them apart
    assert len(counted.get_queries()) == (1 if is_postgres() else 2)


def test_a_token_issued_without_openid_is_403_insufficient_scope(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    tokens = sign_in_for_tokens(client, RelyingParty.register(account), person.email, scope="email")
    response = client.get("/oauth/userinfo", headers=_bearer(tokens["access_token"]))
    assert response.status_code == 403
    assert response.get_json() == {"error": "insufficient_scope",
                                   "error_description": "The token was not issued for openid."}
    assert response.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope", scope="openid"'


def test_userinfo_answers_whatever_the_transport_as_it_always_has(client, account, deployment):
    """Only the token endpoints refuse plain HTTP (test_provider); a resource like userinfo reads its token alone."""
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    tokens = sign_in_for_tokens(client, RelyingParty.register(account), person.email)
    for base in ("http://id.example.com", "https://id.example.com", "http://127.0.0.1:8000"):
        response = client.get("/oauth/userinfo", headers=_bearer(tokens["access_token"]), base_url=base)
        assert response.status_code == 200, (base, response.get_json())
        assert client.get("/oauth/userinfo", base_url=base).status_code == 401
