"""Notifications end to end (issue 13 point 1): a change through the real app, the sender run once, the mbox read."""

from __future__ import annotations

import logging
import mailbox
from typing import Any

import pytest
from flask import url_for

from models import Actor, Membership, OutboxMessage, User, members, notifications, profile
from models.security import KnownDevice
from oidc.links import PageLinks
from oidc.web_session import DEVICE_COOKIE
from scim_server.outbox import runner

from ..oidc.flow import PASSWORD, csrf, ready_person, submit
from ..scim.scim_support import tenant
from .test_sender import make_config

NEW_PASSWORD = "a completely different passphrase"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def person(account, admin, deployment) -> User:
    return ready_person(account, "pat@acme.example", deployment=deployment)


def deliver(tmp_path) -> list[Any]:
    """Run the sender once into an mbox; the mails it holds."""
    path = tmp_path / "outbox.mbox"
    runner.run(make_config(MAIL_BACKEND="file", MAIL_FILE=str(path)), once=True)
    if not path.exists():
        return []
    box = mailbox.mbox(str(path), create=False)
    try:
        return list(box)
    finally:
        box.close()


def to(mails: list[Any], email: str) -> list[Any]:
    return [m for m in mails if m["To"] == email]


def body_of(mail: Any) -> str:
    return mail.get_payload(decode=True).decode()


def log_in(client: Any, email: str, password: str = PASSWORD) -> Any:
    page = client.get("/login")
    response = submit(client, page, "/login", email=email, password=password)
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:2000]
    return response


def test_the_links_in_the_mails_are_the_pages_routes(app):
    links = PageLinks("http://roster.test")
    with app.test_request_context(base_url="http://roster.test"):
        assert links.profile() == url_for("profile.general", _external=True)
        assert links.profile("sessions") == url_for("profile.sessions_page", _external=True)
        assert links.profile("security") == url_for("profile.security", _external=True)
        assert links.forgot_password() == url_for("signin.forgot_password", _external=True)


def test_a_password_changed_on_the_profile_arrives_by_mail(client, person, tmp_path):
    log_in(client, person.email)
    page = client.get("/profile/security")
    response = client.post("/profile/security/password", data={
        "csrf_token": csrf(page.get_data(as_text=True)), "current_password": PASSWORD,
        "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code in (302, 303)

    [mail] = to(deliver(tmp_path), person.email)
    assert mail["Subject"] == "Your Roster password was changed"
    body = body_of(mail)
    assert "The password of your Roster user pat@acme.example was changed on " in body
    assert "http://roster.test/password/forgot" in body and "http://roster.test/profile/sessions" in body
    assert PASSWORD not in body and NEW_PASSWORD not in body
    assert OutboxMessage.get(OutboxMessage.recipient == person.email).status == "sent"


def test_the_log_backend_names_the_notification_but_never_its_body(database, account, person, caplog):
    members.deactivate(Membership.get(Membership.user == person.id), by=Actor.cli())
    with caplog.at_level(logging.INFO, logger="roster.mail"):
        runner.run(make_config(MAIL_BACKEND="log"), once=True)
    [line] = [r for r in caplog.records if r.name == "roster.mail" and person.email in r.getMessage()]
    assert "Your access to Acme Vendor was deactivated" in line.getMessage()
    assert line.fields["template"] == "deactivated" and "contact an admin" not in line.getMessage()


# ----------------------------------------------------------------- new sign-ins


def test_a_sign_in_from_a_new_browser_is_mailed_and_a_known_one_is_not(app, person, tmp_path):
    first = app.test_client()
    response = log_in(first, person.email)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith(DEVICE_COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert "Max-Age=31536000" in cookie
    assert deliver(tmp_path) == []  # the very first sign-in is no news

    log_in(first, person.email)
    assert deliver(tmp_path) == []  # the same browser

    second = app.test_client()
    log_in(second, person.email)
    [mail] = to(deliver(tmp_path), person.email)
    assert mail["Subject"].startswith("New sign-in to Roster from ")
    assert "IP address 127.0.0.1" in body_of(mail)
    raw = second.get_cookie(DEVICE_COOKIE).value
    assert raw not in body_of(mail) and KnownDevice.select().count() == 2


def test_the_device_cookie_is_secure_over_https(make_app, person):
    client = make_app(BASE_URL="https://roster.test").test_client()
    page = client.get("/login", base_url="https://roster.test")
    # Flask-WTF checks the referrer of a form posted over HTTPS
    response = client.post("/login", base_url="https://roster.test", headers={"Referer": "https://roster.test/login"},
                           data={"csrf_token": csrf(page.get_data(as_text=True)), "email": person.email,
                                 "password": PASSWORD})
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith(DEVICE_COOKIE + "="))
    assert "Secure" in cookie


# ----------------------------------------------------------------- SCIM


@pytest.fixture
def scim(client, account, admin):
    return tenant(client, account)


def _deactivate(scim: Any, record_id: str, active: bool = False) -> None:
    response = scim.client.patch(f"/scim/v2/Users/{record_id}", headers=scim.headers, json={
        "schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": active}]})
    assert response.status_code == 200, response.get_json()


def test_a_directory_deactivation_is_mailed_as_the_setting_says(scim, person, tmp_path):
    record = scim.create(person.email)
    _deactivate(scim, record["id"])
    [mail] = to(deliver(tmp_path), person.email)
    assert mail["Subject"] == "Your access to Acme Vendor was deactivated"
    assert "This change came from the user directory of Acme Vendor (SCIM provisioning)." in body_of(mail)

    _deactivate(scim, record["id"], active=True)
    assert [m["Subject"] for m in to(deliver(tmp_path), person.email)] == [
        "Your access to Acme Vendor was deactivated", "Your access to Acme Vendor is back"]
    settings = {**profile.notification_settings(person), "memberships": False}
    profile.update_settings(person, given_name="Pat", family_name="Person", timezone="UTC", date_format="YYYY-MM-DD",
                            locale="en", news_opt_in=False, email_notifications=settings)
    _deactivate(scim, record["id"])
    assert len(to(deliver(tmp_path), person.email)) == 2


def test_a_directory_deletion_tells_the_person_they_were_removed(scim, person, tmp_path):
    record = scim.create(person.email)
    assert scim.delete(f"/Users/{record['id']}").status_code == 204
    [mail] = to(deliver(tmp_path), person.email)
    assert mail["Subject"] == "You were removed from Acme Vendor"


def test_group_pushes_from_a_directory_tell_nobody(scim, person, tmp_path):
    record = scim.create(person.email)
    group = scim.post("/Groups", {"schemas": [GROUP], "displayName": "Pushed",
                                  "members": [{"value": record["id"]}]}).get_json()
    response = scim.client.patch(f"/scim/v2/Groups/{group['id']}", headers=scim.headers, json={
        "schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": f'members[value eq "{record["id"]}"]'}]})
    assert response.status_code in (200, 204)
    assert not OutboxMessage.select().where(OutboxMessage.kind == notifications.KIND).exists()
    assert to(deliver(tmp_path), person.email) == []
