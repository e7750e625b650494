"""The OpenID Provider through the real app: code + PKCE, tokens, claims, refresh, revocation, introspection."""

from __future__ import annotations

from models import Actor, accounts, groups, members
from models.security import OAuthToken

from .flow import (
    REDIRECT,
    RelyingParty,
    authorization,
    code_from,
    exchange,
    follow,
    id_token_claims,
    introspect,
    ready_person,
    redirect_error,
    refresh,
    sign_in_for_tokens,
    sign_in_page,
)
from .test_refusal_pages import refused, returned_error


def test_code_flow_with_pkce_gives_a_signed_id_token_with_the_sign_in_and_account_claims(client, account, deployment):
    person = ready_person(account, "pat@acme.example", role="admin", deployment=deployment)
    group = groups.create_group(account, "Support", by=Actor.cli("tests"))
    groups.add_members(group, [members.get_membership(account, person.email).id], by=Actor.cli("tests"))
    rp = RelyingParty.register(account)
    tokens = sign_in_for_tokens(client, rp, person.email)
    assert tokens["token_type"] == "Bearer" and tokens["refresh_token"] and tokens["expires_in"] > 0
    claims = id_token_claims(client, tokens["id_token"])
    assert claims["iss"] == "http://roster.test"
    assert claims["aud"] == rp.client_id and claims["azp"] == rp.client_id
    assert claims["sub"] == person.id and claims["nonce"] == tokens["_nonce"]
    assert claims["amr"] == ["pwd"] and claims["acr"] == "pwd"
    assert claims["email"] == person.email and claims["email_verified"] is True
    assert claims["given_name"] == "Pat" and claims["family_name"] == "Person" and claims["zoneinfo"] == "UTC"
    assert claims["sid"] and isinstance(claims["auth_time"], int)
    assert claims["account"] == {"id": account.id, "name": account.name, "type": account.type, "role": "admin",
                                 "groups": ["Support"]}
    assert "at_hash" in claims


def test_tokens_are_opaque_and_stored_only_as_hashes(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    tokens = sign_in_for_tokens(client, RelyingParty.register(account), person.email)
    row = OAuthToken.get()
    assert tokens["access_token"].count(".") == 0
    assert tokens["access_token"] not in (row.access_token_hash, row.refresh_token_hash)
    assert tokens["refresh_token"] not in (row.access_token_hash, row.refresh_token_hash)


def test_userinfo_gives_the_claims_of_the_token_scope(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    membership = members.get_membership(account, person.email).id
    for name in ("Support", "Billing"):
        groups.add_members(groups.create_group(account, name, by=Actor.cli("tests")), [membership],
                           by=Actor.cli("tests"))
    rp = RelyingParty.register(account)
    tokens = sign_in_for_tokens(client, rp, person.email, scope="openid email")
    info = client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).get_json()
    assert info["sub"] == person.id and info["email"] == person.email
    assert "given_name" not in info  # no profile scope
    assert info["account"]["id"] == account.id and info["account"]["groups"] == ["Billing", "Support"]


def test_userinfo_without_or_with_a_bad_token_is_401_with_a_bearer_challenge(client, account):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic eDp5"}):
        response = client.get("/oauth/userinfo", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


def test_public_clients_must_use_pkce_s256(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    rp = RelyingParty.register(account, public=True)
    without = authorization(rp, pkce=False)
    error = redirect_error(client.get(without.url))
    assert error["error"] == "invalid_request" and "code_challenge" in error["error_description"]
    plain = authorization(rp, pkce=False, code_challenge="a" * 43, code_challenge_method="plain")
    assert redirect_error(client.get(plain.url))["error"] == "invalid_request"
    # with S256 the public client signs in without a secret
    tokens = sign_in_for_tokens(client, rp, person.email)
    assert tokens["access_token"]


def test_a_wrong_code_verifier_is_refused(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    rp = RelyingParty.register(account)
    request = authorization(rp)
    response = sign_in_page(client, client.get(request.url), person.email)
    answer = exchange(client, rp, code_from(response), "x" * 50)
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_grant"


def test_confidential_clients_accept_basic_and_post_and_refuse_a_wrong_secret(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    rp = RelyingParty.register(account)
    request = authorization(rp)
    code = code_from(sign_in_page(client, client.get(request.url), person.email))
    wrong = client.post("/oauth/token", data={"grant_type": "authorization_code", "code": code,
                                              "redirect_uri": REDIRECT, "code_verifier": request.verifier},
                        auth=(rp.client_id, "wrong"))
    assert wrong.status_code == 401 and wrong.get_json()["error"] == "invalid_client"
    posted = client.post("/oauth/token", data={"grant_type": "authorization_code", "code": code,
                                               "redirect_uri": REDIRECT, "code_verifier": request.verifier,
                                               "client_id": rp.client_id, "client_secret": rp.secret})
    assert posted.status_code == 200, posted.get_json()


def test_redirect_uris_match_exactly_and_a_bad_one_is_never_redirected_to(client, account):
    rp = RelyingParty.register(account)
    for uri in ("https://app.example/callback/extra", "https://evil.example/callback", REDIRECT + "?x=1"):
        response = client.get(authorization(rp, redirect_uri=uri).url)
        assert response.status_code == 400 and "Location" not in response.headers
        assert "not valid" in response.get_data(as_text=True)
    unknown = client.get(authorization(RelyingParty("nobody", None)).url)
    assert unknown.status_code == 400 and "Location" not in unknown.headers


def test_an_authorization_code_works_once_and_a_replay_revokes_what_it_gave(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    rp = RelyingParty.register(account)
    request = authorization(rp)
    code = code_from(sign_in_page(client, client.get(request.url), person.email))
    first = exchange(client, rp, code, request.verifier).get_json()
    assert introspect(client, rp, first["access_token"])["active"] is True
    replay = exchange(client, rp, code, request.verifier)
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    assert introspect(client, rp, first["access_token"]) == {"active": False}
    assert refresh(client, rp, first["refresh_token"]).status_code == 400


def test_refresh_tokens_rotate_and_reusing_an_old_one_revokes_the_family(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    rp = RelyingParty.register(account)
    first = sign_in_for_tokens(client, rp, person.email)
    second = refresh(client, rp, first["refresh_token"])
    assert second.status_code == 200, second.get_json()
    second_tokens = second.get_json()
    assert second_tokens["refresh_token"] != first["refresh_token"]
    assert introspect(client, rp, second_tokens["access_token"])["active"] is True
    reuse = refresh(client, rp, first["refresh_token"])
    assert reuse.status_code == 400 and reuse.get_json()["error"] == "invalid_grant"
    assert introspect(client, rp, second_tokens["access_token"]) == {"active": False}
    assert refresh(client, rp, second_tokens["refresh_token"]).status_code == 400


def test_a_refresh_token_belongs_to_its_client(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    rp, other = RelyingParty.register(account), RelyingParty.register(account)
    tokens = sign_in_for_tokens(client, rp, person.email)
    assert refresh(client, other, tokens["refresh_token"]).status_code == 400
    assert refresh(client, rp, tokens["refresh_token"]).status_code == 200


def test_revocation_of_an_access_token_and_of_a_refresh_token(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    rp = RelyingParty.register(account)
    tokens = sign_in_for_tokens(client, rp, person.email)
    assert client.post("/oauth/revoke", data={"token": tokens["access_token"]}, auth=rp.auth).status_code == 200
    assert introspect(client, rp, tokens["access_token"]) == {"active": False}
    assert client.get("/oauth/userinfo",
                      headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code == 401
    # the pair was issued together, so its refresh token goes with it (RFC 7009 §2.1 allows it)
    assert refresh(client, rp, tokens["refresh_token"]).status_code == 400
    again = sign_in_for_tokens(client, rp, person.email)
    fresh = refresh(client, rp, again["refresh_token"]).get_json()
    revoked = client.post("/oauth/revoke", data={"token": fresh["refresh_token"],
                                                 "token_type_hint": "refresh_token"}, auth=rp.auth)
    assert revoked.status_code == 200
    assert introspect(client, rp, fresh["access_token"]) == {"active": False}
    assert introspect(client, rp, again["access_token"]) == {"active": False}
    # RFC 7009 §2.2: an unknown token is not an error
    assert client.post("/oauth/revoke", data={"token": "unknown"}, auth=rp.auth).status_code == 200


def test_introspection_describes_an_active_token_and_needs_client_authentication(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    rp = RelyingParty.register(account)
    tokens = sign_in_for_tokens(client, rp, person.email)
    body = introspect(client, rp, tokens["access_token"])
    assert body["active"] is True and body["sub"] == person.id and body["client_id"] == rp.client_id
    assert body["account_id"] == account.id and body["exp"] > body["iat"] and body["amr"] == ["pwd"]
    assert introspect(client, rp, tokens["refresh_token"])["active"] is True
    assert client.post("/oauth/introspect", data={"token": tokens["access_token"]}).status_code == 401


def test_a_client_of_another_account_learns_nothing_from_introspection(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    tokens = sign_in_for_tokens(client, RelyingParty.register(account), person.email)
    other_account = accounts.create_account("Other Reseller", "reseller", by=Actor.cli("tests"))
    attacker = RelyingParty.register(other_account)
    assert introspect(client, attacker, tokens["access_token"]) == {"active": False}


def test_a_resource_server_of_the_same_account_may_introspect(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    tokens = sign_in_for_tokens(client, RelyingParty.register(account), person.email)
    assert introspect(client, RelyingParty.register(account), tokens["access_token"])["active"] is True


def test_a_client_bound_to_an_account_admits_only_its_active_members(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    other_account = accounts.create_account("Other Reseller", "reseller", by=Actor.cli("tests"))
    rp = RelyingParty.register(other_account)
    request = authorization(rp)
    # the person is told why first (issue 13: tests/oidc/test_refusal_pages.py); the client still gets the error
    page = sign_in_page(client, client.get(request.url), person.email)
    assert refused(page) == "not_member"
    error = returned_error(page)
    assert error["error"] == "access_denied" and error["state"] == request.params["state"]
    mine = RelyingParty.register(account)
    members.deactivate(members.get_membership(account, person.email), by=Actor.cli("tests"))
    page = follow(client, client.get(authorization(mine).url))
    assert refused(page) == "deactivated" and returned_error(page)["error"] == "access_denied"


def test_unsupported_response_types_and_grants_are_refused(client, account):
    rp = RelyingParty.register(account)
    implicit = client.get(authorization(rp, response_type="token").url)
    assert implicit.status_code in (302, 400)
    if implicit.status_code == 302:
        assert redirect_error(implicit)["error"] == "unsupported_response_type"
    password = client.post("/oauth/token", data={"grant_type": "password", "username": "x", "password": "y"},
                           auth=rp.auth)
    assert password.status_code == 400 and password.get_json()["error"] == "unsupported_grant_type"


def test_api_calls_set_no_cookie(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    rp = RelyingParty.register(account)
    tokens = sign_in_for_tokens(client, rp, person.email)
    for response in (client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}),
                     client.post("/oauth/introspect", data={"token": tokens["access_token"]}, auth=rp.auth),
                     client.get("/oauth/jwks")):
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers


def test_the_token_endpoints_refuse_plain_http_except_on_loopback(client, account, deployment):
    """OAuth 2.0 needs TLS (RFC 6749 §1.6); plain HTTP is for a developer's own machine only (RFC 8252 §7.3)."""
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    rp = RelyingParty.register(account)
    tokens = sign_in_for_tokens(client, rp, person.email)
    form = {"token": tokens["access_token"]}
    for base, status in (("http://id.example.com", 400), ("http://id.example.com:8080", 400),
                         ("https://id.example.com", 200), ("http://127.0.0.1:8000", 200), ("http://localhost", 200)):
        response = client.post("/oauth/introspect", data=form, auth=rp.auth, base_url=base)
        assert response.status_code == status, (base, response.get_json())
        if status == 400:
            assert response.get_json()["error"] == "insecure_transport"
            assert "https://" in response.get_json()["error_description"]
        else:
            assert response.get_json()["active"] is True
    page = client.get(authorization(rp).url, base_url="http://id.example.com")
    assert page.status_code == 400 and "https" in page.get_data(as_text=True)
    token = client.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                        auth=rp.auth, base_url="http://id.example.com")
    assert token.status_code == 400 and token.get_json()["error"] == "insecure_transport"
    assert refresh(client, rp, tokens["refresh_token"]).get_json()["access_token"]  # the refusal spent nothing
