"""Profile → Security over HTTP: password, authenticator app, WebAuthn keys (soft-webauthn), recovery codes, delete."""

from __future__ import annotations

import datetime as dt
import json
import re

import pyotp
import pytest
from soft_webauthn import SoftWebauthnDevice

from models import Actor, Membership, User, WebAuthnCredential, members, mfa
from models.security import RecoveryCode, Session, TotpCredential

from ..models.test_passkeys import for_device, to_json
from .flow import csrf
from .test_profile import PASSWORD, html_of, other_person, post_form, ready

ORIGIN = "http://roster.test"
NEW_PASSWORD = "an entirely different passphrase"


@pytest.fixture
def person(admin):
    return ready(admin[1])


@pytest.fixture
def signed_in(client, person, sign_in):
    return sign_in(client, person)


def token(client) -> str:
    return csrf(html_of(client.get("/profile/security")))


# --- password ---------------------------------------------------------------------


def test_the_security_page_has_every_section(client, signed_in):
    html = html_of(client.get("/profile/security"))
    for heading in ("Password", "Authenticator app", "Security keys and passkeys", "Recovery codes",
                    "Delete my user"):
        assert f">{heading}</h2>" in html
    assert "profile-webauthn.js" in html and "<script>" not in html


def test_changing_the_password(client, signed_in, person, deployment):
    response = post_form(client, "/profile/security", "/profile/security/password", {
        "current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        follow_redirects=True)
    assert "Your password is changed." in html_of(response)
    assert deployment.hasher.verify(User.get_by_id(person.id).password_hash, NEW_PASSWORD)


@pytest.mark.parametrize(("current", "new", "confirm", "field", "message"), [
    ("wrong password here", NEW_PASSWORD, NEW_PASSWORD, "current_password", "The current password is not correct."),
    (PASSWORD, NEW_PASSWORD, "something else entirely", "confirm", "The two passwords differ."),
    (PASSWORD, "short", "short", "new_password", "at least 12 characters"),
    ("", NEW_PASSWORD, NEW_PASSWORD, "current_password", "Enter your current password."),
])
def test_password_errors_show_by_the_field(client, signed_in, person, current, new, confirm, field, message,
                                           deployment):
    response = post_form(client, "/profile/security", "/profile/security/password", {
        "current_password": current, "new_password": new, "confirm": confirm})
    assert response.status_code == 400
    match = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', html_of(response))
    assert match and message in match.group(1)
    assert deployment.hasher.verify(User.get_by_id(person.id).password_hash, PASSWORD)


def test_changing_the_password_needs_csrf(client, signed_in, person, deployment):
    response = client.post("/profile/security/password", data={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 400
    assert deployment.hasher.verify(User.get_by_id(person.id).password_hash, PASSWORD)


# --- authenticator app ------------------------------------------------------------------


def enrol_totp(client, frozen_clock) -> tuple[str, list[str]]:
    """Set up an authenticator app through the pages; returns its secret and the recovery codes shown."""
    response = post_form(client, "/profile/security", "/profile/security/totp/start")
    assert response.status_code == 302 and response.headers["Location"] == "/profile/security/totp"
    page = html_of(client.get("/profile/security/totp"))
    assert "<svg" in page
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page).group(1)
    code = pyotp.TOTP(secret).at(frozen_clock.current.replace(tzinfo=dt.UTC))
    done = client.post("/profile/security/totp", data={"csrf_token": csrf(page), "code": code})
    assert done.status_code == 200
    html = html_of(done)
    assert "Your authenticator app is set up." in html
    codes = re.findall(r"<li><code>([a-z2-7-]+)</code></li>", html)
    return secret, codes


def test_enrolling_an_authenticator_app(client, signed_in, person, frozen_clock):
    _, codes = enrol_totp(client, frozen_clock)
    assert len(codes) == 10
    assert mfa.has_second_factor(person)
    html = html_of(client.get("/profile/security"))
    assert "Authenticator app, set up 2026-01-05 09:00 UTC" in html
    assert 'id="recovery-left">10<' in html
    # shown once: the codes are not on the page any more
    assert codes[0] not in html and client.get("/profile/security/totp").status_code == 302


def test_a_wrong_code_keeps_the_enrolment_open(client, signed_in, person, frozen_clock):
    post_form(client, "/profile/security", "/profile/security/totp/start")
    page = html_of(client.get("/profile/security/totp"))
    response = client.post("/profile/security/totp", data={"csrf_token": csrf(page), "code": "000000"})
    assert response.status_code == 400
    html = html_of(response)
    assert 'id="code-error">That code is not right' in html and 'value="000000"' in html
    assert not mfa.has_second_factor(person)


def test_the_enrolment_page_without_a_started_enrolment(client, signed_in):
    response = client.get("/profile/security/totp", follow_redirects=True)
    assert "Set up an authenticator app" in html_of(response) and "notice-error" in html_of(response)


def test_removing_the_authenticator_app(client, signed_in, person, frozen_clock):
    enrol_totp(client, frozen_clock)
    credential = TotpCredential.get(TotpCredential.user == person.id)
    response = post_form(client, "/profile/security", f"/profile/security/totp/{credential.id}/remove",
                         follow_redirects=True)
    html = html_of(response)
    assert "The authenticator app is removed." in html and "recovery codes no longer work" in html
    assert not mfa.has_second_factor(person)
    assert RecoveryCode.select().where(RecoveryCode.user == person.id).count() == 0


def test_starting_and_removing_need_csrf(client, signed_in, person, frozen_clock):
    assert client.post("/profile/security/totp/start").status_code == 400
    assert not TotpCredential.select().where(TotpCredential.user == person.id).exists()
    enrol_totp(client, frozen_clock)
    credential = TotpCredential.get(TotpCredential.user == person.id)
    assert client.post(f"/profile/security/totp/{credential.id}/remove").status_code == 400
    assert mfa.has_second_factor(person)


def test_a_person_cannot_remove_someone_elses_authenticator(client, signed_in, account, frozen_clock, deployment):
    bea = other_person(account, deployment)
    credential, _ = mfa.begin_totp(bea, deployment=deployment)
    response = post_form(client, "/profile/security", f"/profile/security/totp/{credential.id}/remove",
                         follow_redirects=True)
    assert "This authenticator was not found." in html_of(response)
    assert TotpCredential.get_or_none(TotpCredential.id == credential.id) is not None


# --- recovery codes ---------------------------------------------------------------------


def test_regenerating_recovery_codes(client, signed_in, person, frozen_clock):
    _, old = enrol_totp(client, frozen_clock)
    response = post_form(client, "/profile/security", "/profile/security/recovery-codes")
    html = html_of(response)
    assert response.status_code == 200 and "New recovery codes are made" in html
    new = re.findall(r"<li><code>([a-z2-7-]+)</code></li>", html)
    assert len(new) == 10 and not set(new) & set(old)
    assert not mfa.use_recovery_code(person, old[0])
    assert mfa.use_recovery_code(person, new[0])


def test_no_recovery_codes_without_a_second_factor(client, signed_in, person):
    response = post_form(client, "/profile/security", "/profile/security/recovery-codes", follow_redirects=True)
    assert "Recovery codes come with a second factor" in html_of(response)
    assert mfa.remaining_recovery_codes(person) == 0


def test_regenerating_needs_csrf(client, signed_in, person, frozen_clock):
    enrol_totp(client, frozen_clock)
    before = {r.code_hash for r in RecoveryCode.select().where(RecoveryCode.user == person.id)}
    assert client.post("/profile/security/recovery-codes").status_code == 400
    assert {r.code_hash for r in RecoveryCode.select().where(RecoveryCode.user == person.id)} == before


# --- security keys and passkeys -------------------------------------------------------


def add_key(client, device: SoftWebauthnDevice, nickname: str = "", *, origin: str = ORIGIN):
    csrf = token(client)
    options = client.post("/profile/security/webauthn/options", headers={"X-CSRFToken": csrf})
    assert options.status_code == 200 and options.mimetype == "application/json"
    created = device.create(for_device(options.get_data(as_text=True)), origin)
    return client.post("/profile/security/webauthn", headers={"X-CSRFToken": csrf},
                       json={"credential": json.loads(to_json(created)), "nickname": nickname})


def test_adding_a_security_key(client, signed_in, person):
    response = add_key(client, SoftWebauthnDevice(), "My YubiKey")
    # a first second factor comes with recovery codes, shown once (R10)
    assert response.status_code == 200 and response.json == {"redirect": "/profile/security/new-recovery-codes"}
    codes = html_of(client.get("/profile/security/new-recovery-codes"))
    assert "“My YubiKey” is added" in codes and mfa.remaining_recovery_codes(person) == 10
    assert codes.count("<code>") >= 10
    assert client.get("/profile/security/new-recovery-codes").status_code == 302  # shown once
    second = add_key(client, SoftWebauthnDevice(), "Spare key")
    assert second.json == {"redirect": "/profile/security"}
    assert [k.nickname for k in WebAuthnCredential.select().where(WebAuthnCredential.user == person.id)
            .order_by(WebAuthnCredential.created_at, WebAuthnCredential.id)] in (
        ["My YubiKey", "Spare key"], ["Spare key", "My YubiKey"])
    html = html_of(client.get("/profile/security"))
    assert "<strong>My YubiKey</strong>" in html and mfa.has_second_factor(person)
    assert 'id="recovery-warning"' not in html


def test_a_key_without_a_name_gets_one(client, signed_in, person):
    assert add_key(client, SoftWebauthnDevice()).status_code == 200
    assert WebAuthnCredential.get(WebAuthnCredential.user == person.id).nickname == "Security key"


def test_a_key_answering_for_another_origin_is_refused(client, signed_in, person):
    response = add_key(client, SoftWebauthnDevice(), origin="https://evil.example")
    assert response.status_code == 400 and "another web address" in response.json["error"]
    assert not WebAuthnCredential.select().where(WebAuthnCredential.user == person.id).exists()


def test_the_options_exclude_keys_already_registered(client, signed_in, person):
    assert add_key(client, SoftWebauthnDevice()).status_code == 200
    key = WebAuthnCredential.get(WebAuthnCredential.user == person.id)
    options = client.post("/profile/security/webauthn/options", headers={"X-CSRFToken": token(client)}).json
    assert [c["id"] for c in options["excludeCredentials"]] == [key.credential_id]
    assert options["rp"]["id"] == "roster.test"


def test_a_response_without_its_challenge_is_refused(client, signed_in, person):
    csrf = token(client)
    options = client.post("/profile/security/webauthn/options", headers={"X-CSRFToken": csrf})
    created = SoftWebauthnDevice().create(for_device(options.get_data(as_text=True)), ORIGIN)
    body = {"credential": json.loads(to_json(created))}
    assert client.post("/profile/security/webauthn", headers={"X-CSRFToken": csrf}, json=body).status_code == 200
    # the challenge is used up: replaying the same response fails
    replay = client.post("/profile/security/webauthn", headers={"X-CSRFToken": csrf}, json=body)
    assert replay.status_code == 400 and "expired" in replay.json["error"]
    garbage = client.post("/profile/security/webauthn", headers={"X-CSRFToken": csrf}, json={"x": 1})
    assert garbage.status_code == 400


def test_webauthn_endpoints_need_csrf(client, signed_in, person):
    assert client.post("/profile/security/webauthn/options").status_code == 400
    assert client.post("/profile/security/webauthn", json={"credential": {}}).status_code == 400


def test_renaming_a_key(client, signed_in, person):
    add_key(client, SoftWebauthnDevice(), "Old name")
    key = WebAuthnCredential.get(WebAuthnCredential.user == person.id)
    field = f"key-{key.id}-nickname"
    response = post_form(client, "/profile/security", f"/profile/security/webauthn/{key.id}/rename",
                         {field: "  Desk   key "}, follow_redirects=True)
    assert "The key is renamed to “Desk key”." in html_of(response)
    assert WebAuthnCredential.get_by_id(key.id).nickname == "Desk key"

    empty = post_form(client, "/profile/security", f"/profile/security/webauthn/{key.id}/rename", {field: ""})
    assert empty.status_code == 400
    assert f'id="{field}-error">Give the key a name.' in html_of(empty)
    too_long = post_form(client, "/profile/security", f"/profile/security/webauthn/{key.id}/rename",
                         {field: "x" * 101})
    assert too_long.status_code == 400 and f'value="{"x" * 101}"' in html_of(too_long)
    assert WebAuthnCredential.get_by_id(key.id).nickname == "Desk key"


def test_removing_a_key(client, signed_in, person):
    add_key(client, SoftWebauthnDevice(), "Spare")
    key = WebAuthnCredential.get(WebAuthnCredential.user == person.id)
    response = post_form(client, "/profile/security", f"/profile/security/webauthn/{key.id}/remove",
                         follow_redirects=True)
    assert "The security key is removed." in html_of(response)
    assert not WebAuthnCredential.select().where(WebAuthnCredential.user == person.id).exists()


def test_a_person_cannot_rename_or_remove_someone_elses_key(app, client, signed_in, account, sign_in, deployment):
    bea = other_person(account, deployment)
    bea_browser = app.test_client()
    sign_in(bea_browser, bea)
    assert add_key(bea_browser, SoftWebauthnDevice(), "Bea's key").status_code == 200
    key = WebAuthnCredential.get(WebAuthnCredential.user == bea.id)

    renamed = post_form(client, "/profile/security", f"/profile/security/webauthn/{key.id}/rename",
                        {f"key-{key.id}-nickname": "Stolen"}, follow_redirects=True)
    assert "This security key was not found." in html_of(renamed)
    removed = post_form(client, "/profile/security", f"/profile/security/webauthn/{key.id}/remove",
                        follow_redirects=True)
    assert "This security key was not found." in html_of(removed)
    assert WebAuthnCredential.get_by_id(key.id).nickname == "Bea's key"


def test_renaming_and_removing_need_csrf(client, signed_in, person):
    add_key(client, SoftWebauthnDevice(), "Kept")
    key = WebAuthnCredential.get(WebAuthnCredential.user == person.id)
    assert client.post(f"/profile/security/webauthn/{key.id}/rename",
                       data={f"key-{key.id}-nickname": "New"}).status_code == 400
    assert client.post(f"/profile/security/webauthn/{key.id}/remove").status_code == 400
    assert WebAuthnCredential.get_by_id(key.id).nickname == "Kept"


# --- delete my user ------------------------------------------------------------------------


def test_deleting_asks_to_confirm(client, signed_in, person):
    page = client.get("/profile/delete")
    assert page.status_code == 200 and "Acme Vendor" in html_of(page)
    missing = post_form(client, "/profile/delete", "/profile/delete", {"password": PASSWORD})
    assert missing.status_code == 400 and 'id="confirm-error">Tick the box to confirm.' in html_of(missing)
    wrong = post_form(client, "/profile/delete", "/profile/delete", {"password": "not my password", "confirm": "y"})
    assert wrong.status_code == 400 and 'id="password-error">The password is not correct.' in html_of(wrong)
    assert User.get_or_none(User.id == person.id) is not None


def test_the_last_admin_cannot_delete_themself(client, signed_in, person):
    response = post_form(client, "/profile/delete", "/profile/delete", {"password": PASSWORD, "confirm": "y"})
    assert response.status_code == 400
    assert "must keep at least one active admin" in html_of(response)
    assert User.get_or_none(User.id == person.id) is not None
    assert Membership.select().where(Membership.user == person.id).count() == 1
    assert Session.get_by_id(signed_in.id).ended_at is None


def test_deleting_my_user(app, client, account, sign_in, deployment):
    bea = other_person(account, deployment)
    sign_in(client, bea)
    response = post_form(client, "/profile/delete", "/profile/delete", {"password": PASSWORD, "confirm": "y"})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert User.get_or_none(User.id == bea.id) is None
    after = client.get("/profile")
    assert after.status_code == 302 and after.headers["Location"].startswith("/login")
    assert "Your user is deleted." in html_of(client.get("/login"))


def test_deleting_needs_csrf(client, account, sign_in, deployment):
    bea = other_person(account, deployment)
    sign_in(client, bea)
    assert client.post("/profile/delete", data={"password": PASSWORD, "confirm": "y"}).status_code == 400
    assert User.get_or_none(User.id == bea.id) is not None


def test_domain_delete_refuses_without_confirmation(account, deployment):
    from models import profile
    from models.errors import InvalidInputError

    bea = other_person(account, deployment)
    with pytest.raises(InvalidInputError):
        profile.delete_own_user(bea, password=PASSWORD, confirm=False, hasher=deployment.hasher)
    members.delete_user(bea, by=Actor.for_user(bea))
    assert User.get_or_none(User.id == bea.id) is None
