"""An OAuth client past its budget gets an OAuth error 429 with Retry-After, once it is authenticated (issue 11, 6)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from playhouse.test_utils import count_queries

from models import OAuthToken
from models.deployment import Deployment
from models.rate_limits import RateLimitCounter

from .flow import RelyingParty, introspect, ready_person, refresh, sign_in_for_tokens


def assert_refused(response: Any, *, retry_after: int | None = None) -> None:
    assert response.status_code == 429, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == "temporarily_unavailable"
    assert f"retry after {response.headers['Retry-After']} seconds" in body["error_description"]
    assert response.headers["Cache-Control"] == "no-store"
    seconds = int(response.headers["Retry-After"])
    assert 1 <= seconds <= 60
    if retry_after is not None:
        assert seconds == retry_after


def signed_in(make_app, account, *, limit: int) -> tuple[Any, RelyingParty, dict[str, Any]]:
    """A client whose budget a whole sign-in spent one request of (the code exchange)."""
    app = make_app(OAUTH_RATE_LIMIT=limit)
    client = app.test_client()
    person = ready_person(account, "pat@acme.example", deployment=Deployment.of(app))
    rp = RelyingParty.register(account)
    return client, rp, sign_in_for_tokens(client, rp, person.email)


def test_token_introspection_revocation_and_userinfo_share_the_clients_budget(make_app, account, frozen_clock):
    client, rp, tokens = signed_in(make_app, account, limit=5)
    frozen_clock.advance(seconds=10)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/oauth/userinfo", headers=bearer).status_code == 200
    assert introspect(client, rp, tokens["access_token"])["active"] is True
    rotated = refresh(client, rp, tokens["refresh_token"])
    assert rotated.status_code == 200
    # the fifth request of the minute: an unknown token is revoked as a no-op (RFC 7009 §2.2)
    assert client.post("/oauth/revoke", data={"token": "unknown"}, auth=rp.auth).status_code == 200
    assert_refused(client.get("/oauth/userinfo", headers=bearer), retry_after=50)
    assert_refused(client.post("/oauth/introspect", data={"token": tokens["access_token"]}, auth=rp.auth))
    fresh = rotated.get_json()
    assert_refused(client.post("/oauth/revoke", data={"token": fresh["access_token"]}, auth=rp.auth))
    assert_refused(client.post("/oauth/token", data={"grant_type": "refresh_token",
                                                      "refresh_token": "anything"}, auth=rp.auth))
    # refused means not done: nothing was revoked
    assert not OAuthToken.select().where(OAuthToken.revoked_at.is_null(False)).exists()
    # another client of the account has its own budget and sees the token as it is
    other = RelyingParty.register(account)
    assert introspect(client, other, fresh["access_token"])["active"] is True
    frozen_clock.advance(seconds=50)
    assert introspect(client, rp, fresh["access_token"])["active"] is True


def test_only_an_authenticated_client_spends_its_budget(make_app, account, frozen_clock):
    client, rp, tokens = signed_in(make_app, account, limit=3)
    # naming the client with a wrong secret, or presenting a dead token at userinfo, spends nothing of it
    for _ in range(10):
        wrong = client.post("/oauth/introspect", data={"token": tokens["access_token"]}, auth=(rp.client_id, "x"))
        assert wrong.status_code == 401
        posted = client.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": "x",
                                                   "client_id": rp.client_id, "client_secret": "wrong"})
        assert posted.status_code in (400, 401) and posted.get_json()["error"] == "invalid_client"
        assert client.get("/oauth/userinfo", headers={"Authorization": "Bearer dead"}).status_code == 401
    assert introspect(client, rp, tokens["access_token"])["active"] is True
    assert introspect(client, rp, tokens["access_token"])["active"] is True
    assert_refused(client.post("/oauth/introspect", data={"token": tokens["access_token"]}, auth=rp.auth))


def test_scim_me_counts_against_the_tokens_client(make_app, account, frozen_clock):
    client, rp, tokens = signed_in(make_app, account, limit=2)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/oauth/userinfo", headers=bearer).status_code == 200  # the second request
    refused = client.get("/scim/v2/Me", headers=bearer)
    assert refused.status_code == 429 and refused.mimetype == "application/scim+json"
    assert refused.get_json()["status"] == "429" and refused.headers["Retry-After"] == "60"


def test_two_instances_share_a_clients_budget_within_a_batch_each(make_app, account, frozen_clock):
    client, rp, tokens = signed_in(make_app, account, limit=200)
    other = make_app(OAUTH_RATE_LIMIT=200).test_client()
    batch = 2
    served, first_refusal = 1, None  # the sign-in's code exchange
    for i in range(300):
        response = (client, other)[i % 2].post("/oauth/introspect", data={"token": tokens["access_token"]},
                                               auth=rp.auth)
        if response.status_code == 200:
            served += 1
        else:
            assert_refused(response)
            first_refusal = served if first_refusal is None else first_refusal
    assert first_refusal is not None and first_refusal >= 200
    assert 200 <= served <= 200 + 2 * batch
    assert RateLimitCounter.get_by_id(f"oauth:{rp.client_id}").requests >= 200


def test_an_introspection_adds_no_statement_but_one_write_per_batch(make_app, account, frozen_clock):
    client, rp, tokens = signed_in(make_app, account, limit=6000)  # the default; the exchange was request 1
    with count_queries() as counted:
        for _ in range(38):
            assert introspect(client, rp, tokens["access_token"])["active"] is True
    statements = [str(record.msg) for record in counted.get_queries()]
    assert sum("rate_limit_counter" in sql for sql in statements) == 1  # the 20th request; the 40th is not here
    assert len(statements) == 38 + 1  # each introspection is still one statement


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(endpoint=st.sampled_from(["/oauth/token", "/oauth/introspect", "/oauth/revoke"]),
       form=st.dictionaries(st.sampled_from(["grant_type", "token", "code", "refresh_token", "redirect_uri",
                                             "scope", "token_type_hint", "code_verifier"]),
                            # NUL and lone surrogates are refused before anything else (another test's concern)
                            st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),
                                    max_size=30), max_size=5))
def test_whatever_a_spent_client_sends_it_gets_the_oauth_429(spent_client, endpoint, form):
    client, rp = spent_client
    response = client.post(endpoint, data=form, auth=rp.auth)
    if endpoint == "/oauth/token" and form.get("grant_type") not in ("authorization_code", "refresh_token"):
        # the grant type is read before the client is authenticated: no grant, no client, nothing counted
        assert response.status_code == 400 and response.get_json()["error"] == "unsupported_grant_type"
        return
    assert_refused(response)
    assert not OAuthToken.select().where(OAuthToken.revoked_at.is_null(False)).exists()


@pytest.fixture
def spent_client(make_app, account, frozen_clock) -> tuple[Any, RelyingParty]:
    client, rp, _ = signed_in(make_app, account, limit=1)
    return client, rp
