"""Signing in through an account's OIDC IdP (F1–F7), against Node's oidc-provider run as a real process."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import Actor, accounts, connections, members
from models.connections import Connection, ExternalIdentity, SsoRequest
from models.ops import AuditEvent
from models.security import Session
from models.tenancy import Membership, User
from tests.oidc.flow import (
    PASSWORD,
    RelyingParty,
    authorization,
    code_from,
    exchange,
    follow,
    id_token_claims,
    ready_person,
    submit,
)
from tests.sso.support import (
    email_step,
    local,
    oidc_connection,
    query_of,
    through_terms,
    to_idp,
    upstream_sign_in,
    verified_domain,
)


@pytest.fixture
def acme(account):
    verified_domain(account, "corp.example")
    return account


def relying_party_sign_in(client, idp, rp, email, **extra):
    """The relying party's request → Roster's email step → the IdP → back: the response at the RP's redirect."""
    request = authorization(rp, **extra)
    page = follow(client, client.get(request.url))
    assert "/login" in page.request.path
    return request, through_terms(client, follow(client, upstream_sign_in(client, idp, email_step(client, page, email),
                                                                           email)))


def test_identifier_first_sends_a_verified_domain_to_its_idp_and_the_relying_party_gets_its_code(
        client, acme, deployment, oidc_idp):
    connection = oidc_connection(acme, oidc_idp, deployment)
    rp = RelyingParty.register(acme)
    oidc_idp.set_account("ann@corp.example", {"given_name": "Ann", "family_name": "Upstream", "groups": ["eng"]})
    request, answer = relying_party_sign_in(client, oidc_idp, rp, "ann@corp.example")
    assert answer.headers["Location"].startswith("https://app.example/callback")
    assert f"state={request.params['state']}" in answer.headers["Location"]
    tokens = exchange(client, rp, code_from(answer), request.verifier).get_json()
    claims = id_token_claims(client, tokens["id_token"])
    assert claims["email"] == "ann@corp.example"
    assert claims["nonce"] == request.params["nonce"]
    assert claims["amr"][0] == "fed"
    user = User.get(User.email_key == "ann@corp.example")
    assert (user.given_name, user.family_name, user.password_hash) == ("Ann", "Upstream", None)
    assert Membership.get(Membership.user == user.id).created_via == "sso"
    assert ExternalIdentity.get(ExternalIdentity.user == user.id).connection_id == connection.id
    assert Session.get(Session.user == user.id).connection_id == connection.id
    assert SsoRequest.select().count() == 0  # the sign-in in flight was used up



def start_at_idp(client, start_path):
    """A sign-in started at ``start_path`` of the app: the IdP URL the browser is sent to."""
    return to_idp(client, client.get(start_path))


def failed_reasons():
    return [e.detail["reason"] for e in AuditEvent.select().where(AuditEvent.action == "sso.failed")]


def test_login_hint_of_the_authorization_request_goes_straight_to_the_idp(client, acme, deployment, oidc_idp):
    connection = oidc_connection(acme, oidc_idp, deployment)
    rp = RelyingParty.register(acme)
    request = authorization(rp, login_hint="hint@corp.example")
    sent = to_idp(client, client.get(request.url))
    assert sent.startswith(oidc_idp.issuer) and "login_hint=hint%40corp.example" in sent
    assert SsoRequest.get().connection_id == connection.id


def test_an_explicit_connection_parameter_chooses_the_idp(client, account, deployment, oidc_idp):
    connection = oidc_connection(account, oidc_idp, deployment)  # no verified domain: only connection= leads there
    assert to_idp(client, client.get(f"/login?connection={connection.id}")).startswith(oidc_idp.issuer)
    page = client.get("/login?connection=not-a-connection")
    assert page.status_code == 200 and 'name="email"' in page.get_data(as_text=True)


def test_everyone_else_gets_the_password_step(client, acme, deployment, oidc_idp, admin):
    oidc_connection(acme, oidc_idp, deployment)
    page = client.get("/login")
    assert 'name="password"' not in page.get_data(as_text=True)
    second = email_step(client, page, "admin@acme.example")
    assert second.status_code == 200 and 'name="password"' in second.get_data(as_text=True)


def test_an_answer_counts_once_and_only_in_the_browser_that_asked(client, app, acme, deployment, oidc_idp):
    oidc_connection(acme, oidc_idp, deployment)
    page = client.get("/login")
    back = oidc_idp.login(requests.Session(), to_idp(client, email_step(client, page, "ann@corp.example")),
                          "ann@corp.example")
    other_browser = app.test_client()
    refused = other_browser.get(local(back))
    assert refused.status_code == 400 and "another browser" in refused.get_data(as_text=True)
    assert "other_browser" in failed_reasons()
    assert Session.select().count() == 0
    assert client.get(local(back)).status_code == 302  # the browser that started it still can, once
    replayed = client.get(local(back))
    assert replayed.status_code == 400 and "finished already" in replayed.get_data(as_text=True)
    assert Session.select().count() == 1


def test_an_idp_refusal_is_shown_and_audited(client, acme, deployment, oidc_idp):
    oidc_connection(acme, oidc_idp, deployment)
    page = client.get("/login")
    back = oidc_idp.deny(requests.Session(), to_idp(client, email_step(client, page, "ann@corp.example")))
    shown = client.get(local(back))
    assert shown.status_code == 400 and "access_denied" in shown.get_data(as_text=True)
    assert failed_reasons() == ["idp_error"]


def test_a_key_rotation_at_the_idp_is_followed(client, app, acme, deployment, oidc_idp):
    oidc_connection(acme, oidc_idp, deployment)
    first = upstream_sign_in(client, oidc_idp, email_step(client, client.get("/login"), "ann@corp.example"),
                             "ann@corp.example")
    assert first.status_code == 302, first.get_data(as_text=True)
    old_kid = oidc_idp.kid
    oidc_idp.restart(rotate_key=True)
    assert oidc_idp.kid != old_kid
    browser = app.test_client()
    again = upstream_sign_in(browser, oidc_idp, email_step(browser, browser.get("/login"), "ann@corp.example"),
                             "ann@corp.example")
    assert again.status_code == 302, again.get_data(as_text=True)


def test_sso_required_turns_a_password_into_the_idp(client, acme, deployment, oidc_idp):
    connection = oidc_connection(acme, oidc_idp, deployment, sso_required=True)
    ready_person(acme, "ina@corp.example", deployment=deployment)
    page = client.get("/login?password=1")
    posted = submit(client, page, "/login", email="ina@corp.example", password=PASSWORD)
    assert to_idp(client, posted).startswith(oidc_idp.issuer)
    assert Session.select().count() == 0, "no password session for a person whose company requires SSO"
    assert SsoRequest.get().connection_id == connection.id


def test_a_password_session_is_sent_to_the_idp_for_an_account_that_requires_it(client, acme, deployment, oidc_idp,
                                                                                 sign_in):
    connection = oidc_connection(acme, oidc_idp, deployment, sso_required=True)
    person = ready_person(acme, "ina@corp.example", deployment=deployment)
    sign_in(client, person)  # a password session from before SSO became required
    rp = RelyingParty.register(acme)
    sent = client.get(authorization(rp).url)
    assert sent.status_code == 302 and f"/sso/{connection.id}/start" in sent.headers["Location"]
    console = client.get(f"/console/{acme.id}/users")
    assert console.status_code in (302, 403)


def test_upstream_mfa_trusted_satisfies_the_accounts_mfa_policy(client, acme, deployment, oidc_idp):
    accounts.set_policy(acme, mfa_required=True, by=Actor.cli("tests"))
    oidc_connection(acme, oidc_idp, deployment, trust_upstream_mfa=True)
    rp = RelyingParty.register(acme)
    request = authorization(rp)
    page = follow(client, client.get(request.url))
    answer = follow(client, upstream_sign_in(client, oidc_idp, email_step(client, page, "mia@corp.example"),
                                             "mia@corp.example", amr=["pwd", "otp"]))
    answer = through_terms(client, answer)
    tokens = exchange(client, rp, code_from(answer), request.verifier).get_json()
    claims = id_token_claims(client, tokens["id_token"])
    assert claims["amr"] == ["fed", "pwd", "otp", "mfa"] and claims["acr"] == "mfa"


def test_upstream_mfa_not_trusted_means_roster_asks_its_own(client, acme, deployment, oidc_idp):
    accounts.set_policy(acme, mfa_required=True, by=Actor.cli("tests"))
    oidc_connection(acme, oidc_idp, deployment, trust_upstream_mfa=False)
    rp = RelyingParty.register(acme)
    page = follow(client, client.get(authorization(rp).url))
    answer = follow(client, upstream_sign_in(client, oidc_idp, email_step(client, page, "mia@corp.example"),
                                             "mia@corp.example", amr=["pwd", "otp"]))
    answer = through_terms(client, answer)
    assert answer.request.path == "/login/mfa/enrol", "the account's own second factor, after the upstream return"


def test_deprovisioning_ends_an_sso_session(client, acme, deployment, oidc_idp):
    oidc_connection(acme, oidc_idp, deployment)
    done = upstream_sign_in(client, oidc_idp, email_step(client, client.get("/login"), "ann@corp.example"),
                            "ann@corp.example")
    assert done.status_code == 302
    membership = Membership.get(Membership.user == User.get(User.email_key == "ann@corp.example").id)
    members.deactivate(membership, by=Actor.cli("tests"))
    assert Session.get().ended_at is not None, "F6: deactivation ends the SSO session like any other (R11)"
    back = upstream_sign_in(client, oidc_idp, email_step(client, client.get("/login"), "ann@corp.example"),
                            "ann@corp.example")
    assert back.status_code == 403 and "deactivated" in back.get_data(as_text=True)


def test_a_sign_in_started_on_one_instance_finishes_on_another(make_app, acme, deployment, oidc_idp):
    first, second = make_app(), make_app()
    oidc_connection(acme, oidc_idp, deployment)
    browser = first.test_client()
    back = oidc_idp.login(requests.Session(), to_idp(browser, email_step(browser, browser.get("/login"),
                                                                         "ann@corp.example")), "ann@corp.example")
    other = second.test_client()
    for cookie in ("roster_sso",):  # the same browser, now reaching the other instance
        other.set_cookie(cookie, browser.get_cookie(cookie).value)
    assert other.get(local(back)).status_code == 302
    assert Session.select().count() == 1


@given(state=st.text(max_size=300), code=st.text(max_size=300), error=st.text(max_size=50), real_state=st.booleans())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_hostile_callbacks_get_a_page_never_a_500(client, acme, deployment, oidc_idp, state, code, error, real_state):
    connection = Connection.get_or_none() or oidc_connection(acme, oidc_idp, deployment)
    if real_state:  # a sign-in really in flight, answered with garbage: the IdP refuses the code, we say so
        state = query_of(start_at_idp(client, f"/sso/{connection.id}/start"))["state"]
    query = urlencode({"state": state, "code": code, **({"error": error} if error else {})})
    answer = client.get(f"/sso/oidc/callback?{query}")
    assert answer.status_code == 400, answer.status_code
    assert Session.select().count() == 0


def test_the_profile_says_how_the_person_signs_in(client, acme, deployment, oidc_idp):
    oidc_connection(acme, oidc_idp, deployment)
    done = upstream_sign_in(client, oidc_idp, email_step(client, client.get("/login"), "ann@corp.example"),
                            "ann@corp.example")
    User.update(terms_accepted_at=User.created_at).where(User.email_key == "ann@corp.example").execute()
    assert done.status_code == 302
    accounts_page = client.get("/profile/accounts").get_data(as_text=True)
    assert "Acme Okta" in accounts_page and "Signs in with" in accounts_page
    sessions_page = client.get("/profile/sessions").get_data(as_text=True)
    assert "your company&#39;s sign-in (Acme Okta)" in sessions_page


def test_an_admins_test_sign_in_shows_the_claims_and_signs_nobody_in(client, acme, deployment, oidc_idp, admin,
                                                                        sign_in):
    connection = oidc_connection(acme, oidc_idp, deployment)
    connections.update(connection, by=Actor.cli("tests"), enabled=False)  # tested before it is switched on
    sign_in(client, admin[1])
    oidc_idp.set_account("tess@corp.example", {"given_name": "Tess", "groups": ["eng", "<b>ops</b>"]})
    back = oidc_idp.login(requests.Session(), start_at_idp(client, f"/sso/{connection.id}/start?test=1"),
                          "tess@corp.example")
    shown = follow(client, client.get(local(back)))
    page = shown.get_data(as_text=True)
    assert shown.request.path == f"/sso/{connection.id}/test" and shown.status_code == 200
    assert "tess@corp.example" in page and "Tess" in page and "&lt;b&gt;ops&lt;/b&gt;" in page
    assert not User.select().where(User.email_key == "tess@corp.example").exists()
    assert Session.select().count() == 1  # the admin's own
    assert AuditEvent.get(AuditEvent.action == "connection.tested").target_id == connection.id


def test_only_an_admin_of_the_account_may_test_its_connection(client, acme, deployment, oidc_idp, sign_in, cli_actor):
    connection = oidc_connection(acme, oidc_idp, deployment)
    other = accounts.create_account("Elsewhere", "vendor", by=cli_actor)
    stranger = ready_person(other, "boss@elsewhere.example", role="admin", deployment=deployment)
    sign_in(client, stranger)
    assert client.get(f"/sso/{connection.id}/start?test=1").status_code == 403
    assert client.get(f"/sso/{connection.id}/test").status_code == 403
    assert SsoRequest.select().count() == 0


def test_sign_ins_never_answered_are_forgotten(client, acme, deployment, oidc_idp):
    import datetime as dt

    from models import clock

    connection = oidc_connection(acme, oidc_idp, deployment)
    start_at_idp(client, f"/sso/{connection.id}/start")
    SsoRequest.update(expires_at=clock.now() - dt.timedelta(seconds=1)).execute()
    start_at_idp(client, f"/sso/{connection.id}/start")
    assert SsoRequest.select().count() == 1


def test_the_admins_audit_log_names_the_connection_and_the_reason(client, app, acme, deployment, oidc_idp, admin,
                                                                  sign_in):
    oidc_connection(acme, oidc_idp, deployment)
    browser = app.test_client()
    back = oidc_idp.deny(requests.Session(), to_idp(browser, email_step(browser, browser.get("/login"),
                                                                         "ann@corp.example")))
    browser.get(local(back))
    User.update(terms_accepted_at=User.created_at).where(User.id == admin[1].id).execute()
    sign_in(client, admin[1])
    page = client.get(f"/console/{acme.id}/audit").get_data(as_text=True)
    assert "Single sign-on failed" in page and "Acme Okta" in page and "idp error" in page
    assert "Single sign-on connection added" in page


def test_two_tabs_of_one_browser_can_each_finish_their_sign_in(client, acme, deployment, oidc_idp):
    oidc_connection(acme, oidc_idp, deployment)
    first = oidc_idp.login(requests.Session(), to_idp(client, email_step(client, client.get("/login"),
                                                                        "ann@corp.example")), "ann@corp.example")
    second = oidc_idp.login(requests.Session(), to_idp(client, email_step(client, client.get("/login"),
                                                                         "ann@corp.example")), "ann@corp.example")
    assert client.get(local(first)).status_code == 302
    assert client.get(local(second)).status_code == 302


def test_the_failure_page_speaks_the_persons_language(app, acme, deployment, oidc_idp):
    oidc_connection(acme, oidc_idp, deployment)
    german = app.test_client()
    german.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de-DE,de;q=0.9"
    back = oidc_idp.deny(requests.Session(), to_idp(german, email_step(german, german.get("/login"),
                                                                        "ann@corp.example")))
    page = german.get(local(back)).get_data(as_text=True)
    assert "Die Anmeldung über Acme Okta ist fehlgeschlagen" in page
    assert "Der IdP hat mit access_denied geantwortet" in page
