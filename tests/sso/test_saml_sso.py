"""Signing in through an account's SAML IdP (F1–F7), against pysaml2's IdP run as a real process."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import Actor, accounts
from models.connections import Connection, ExternalIdentity, SamlAssertion
from models.ops import AuditEvent
from models.security import Session
from models.tenancy import User
from tests.oidc.flow import RelyingParty, authorization, code_from, exchange, follow, id_token_claims
from tests.sso.support import email_step, post_answer, saml_answer, saml_connection, through_terms, verified_domain

MFA_CONTEXT = "https://refeds.org/profile/mfa"


@pytest.fixture
def corp(account):
    verified_domain(account, "corp.example")
    return account


def test_a_saml_sign_in_ends_with_the_relying_partys_code(client, corp, saml_idp):
    connection = saml_connection(corp, saml_idp, client)
    rp = RelyingParty.register(corp)
    request = authorization(rp)
    page = follow(client, client.get(request.url))
    answer = saml_answer(client, saml_idp, email_step(client, page, "sam@corp.example"), "sam@corp.example",
                         given_name="Sam", family_name="Saml", groups=["eng", "ops"])
    done = through_terms(client, follow(client, post_answer(client, answer)))
    assert f"state={request.params['state']}" in done.headers["Location"]
    tokens = exchange(client, rp, code_from(done), request.verifier).get_json()
    claims = id_token_claims(client, tokens["id_token"])
    assert claims["email"] == "sam@corp.example" and claims["amr"] == ["fed", "pwd"]
    user = User.get(User.email_key == "sam@corp.example")
    assert (user.given_name, user.family_name) == ("Sam", "Saml")
    assert ExternalIdentity.get(ExternalIdentity.user == user.id).connection_id == connection.id
    assert Session.get(Session.user == user.id).connection_id == connection.id
    assert SamlAssertion.select().count() == 1


def failed_reasons():
    return [e.detail["reason"] for e in AuditEvent.select().where(AuditEvent.action == "sso.failed")]


def answer_for(client, idp, email="sam@corp.example", **knobs):
    """The IdP's answer to a sign-in started on ``client``'s sign-in page (not posted yet)."""
    return saml_answer(client, idp, email_step(client, client.get("/login"), email), email, **knobs)


@pytest.mark.parametrize(("knobs", "reason"), [
    ({"sign": "none"}, "bad_signature"),
    ({"tamper": True}, "bad_signature"),
    ({"audience": "https://someone-else.example/sp"}, "invalid_response"),
    ({"destination": "https://someone-else.example/acs"}, "wrong_destination"),
    ({"recipient": "https://someone-else.example/acs"}, "invalid_response"),
    ({"in_response_to": "id-of-another-request"}, "wrong_in_response_to"),
    ({"in_response_to": ""}, "wrong_in_response_to"),
    ({"not_on_or_after_seconds": -300}, "invalid_response"),
    ({"issuer": "https://impostor.example/metadata"}, "invalid_response"),
], ids=["unsigned", "tampered", "audience", "destination", "recipient", "in-response-to", "unsolicited", "expired",
        "issuer"])
def test_a_response_that_fails_a_protocol_check_signs_nobody_in(client, corp, saml_idp, knobs, reason):
    saml_connection(corp, saml_idp, client)
    refused = post_answer(client, answer_for(client, saml_idp, **knobs))
    assert refused.status_code == 400, refused.get_data(as_text=True)[:500]
    assert "The SAML response" in refused.get_data(as_text=True)
    reasons = failed_reasons()
    assert reasons == [reason]
    assert Session.select().count() == 0 and not User.select().where(User.email_key == "sam@corp.example").exists()


def test_the_control_answer_of_the_attack_cases_is_accepted(client, corp, saml_idp):
    saml_connection(corp, saml_idp, client)
    accepted = follow(client, post_answer(client, answer_for(client, saml_idp, sign="both")))
    assert accepted.status_code in (200, 302) and Session.select().count() == 1


def test_a_replayed_assertion_is_refused_by_the_other_instance(make_app, corp, saml_idp):
    first, second = make_app(), make_app()
    browser = first.test_client()
    saml_connection(corp, saml_idp, browser)
    answer = answer_for(browser, saml_idp)
    assert post_answer(browser, answer).status_code == 303
    replayed = post_answer(second.test_client(), answer)
    assert replayed.status_code == 400 and "used already" in replayed.get_data(as_text=True)
    assert "replayed" in failed_reasons()


def test_an_answer_posted_after_its_sign_in_finished_is_refused(client, corp, saml_idp):
    saml_connection(corp, saml_idp, client)
    answer = answer_for(client, saml_idp)
    follow(client, post_answer(client, answer))
    again = post_answer(client, answer)
    assert again.status_code == 400 and "unsolicited" in failed_reasons()
    assert Session.select().count() == 1


def test_the_sp_metadata_names_the_entity_id_and_acs(client, corp, saml_idp):
    connection = saml_connection(corp, saml_idp, client)
    body = client.get(f"/sso/saml/{connection.id}/metadata").get_data(as_text=True)
    assert f'entityID="http://roster.test/sso/saml/{connection.id}/metadata"' in body
    assert f'Location="http://roster.test/sso/saml/{connection.id}/acs"' in body


def test_a_trusted_authn_context_satisfies_the_mfa_policy(client, corp, saml_idp):
    accounts.set_policy(corp, mfa_required=True, by=Actor.cli("tests"))
    saml_connection(corp, saml_idp, client, trust_upstream_mfa=True, mfa_contexts=[MFA_CONTEXT])
    rp = RelyingParty.register(corp)
    request = authorization(rp)
    page = follow(client, client.get(request.url))
    answer = saml_answer(client, saml_idp, email_step(client, page, "sam@corp.example"), "sam@corp.example",
                         authn_context=MFA_CONTEXT)
    done = through_terms(client, follow(client, post_answer(client, answer)))
    claims = id_token_claims(client, exchange(client, rp, code_from(done), request.verifier).get_json()["id_token"])
    assert claims["amr"] == ["fed", "mfa"] and claims["acr"] == "mfa"


@given(relay=st.text(max_size=200), response=st.text(max_size=2000))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_hostile_posts_to_the_acs_get_a_page_never_a_500(client, corp, saml_idp, relay, response):
    connection = Connection.get_or_none() or saml_connection(corp, saml_idp, client)
    answer = client.post(f"/sso/saml/{connection.id}/acs", data={"RelayState": relay, "SAMLResponse": response})
    assert answer.status_code == 400
    assert Session.select().count() == 0
