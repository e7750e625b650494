"""Passwords a directory sends (Okta's password sync): set when they meet Roster's policy, else left out, never
refused.

Okta sends its users' passwords under Okta's own policy (8 characters, say).
The request succeeds either way; a password that misses the policy is not
set, and the audit log says why without the password. The person then
chooses one when they accept their invitation.
"""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import AuditEvent, User, passwords

from .scim_support import tenant, user

PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
OKTA_PASSWORD = "Okta1234"  # meets Okta's default policy: 8 characters, upper, lower, digit
GOOD_PASSWORD = "a long and unusual passphrase"


@pytest.fixture
def scim(client, database, account, admin):
    return tenant(client, account)


def person(email: str) -> User:
    return User.get(User.email_key == email.lower())


def not_set_events() -> list[AuditEvent]:
    return list(AuditEvent.select().where(AuditEvent.action == "directory_record.password_not_set")
                .order_by(AuditEvent.id))


def recorded(record_id: str) -> AuditEvent:
    [event] = [e for e in not_set_events() if e.target_id == record_id]
    assert event.actor_type == "scim_token" and event.target_type == "directory_record"
    assert set(event.detail) == {"reason"}
    return event


def assert_recorded_without_the_password(record_id: str, password: str, because: str) -> None:
    event = recorded(record_id)
    assert because in event.detail["reason"]
    assert password not in json.dumps(event.detail)


def test_a_password_that_misses_the_policy_is_left_out_and_the_creation_succeeds(scim):
    response = scim.post("/Users", user("okta.person@example.com", password=OKTA_PASSWORD))

    assert response.status_code == 201, response.get_json()
    assert "password" not in response.get_json()
    created = person("okta.person@example.com")
    assert created.status == "pending" and created.password_hash is None
    assert_recorded_without_the_password(response.get_json()["id"], OKTA_PASSWORD, "at least 12 characters")


def test_a_password_that_meets_the_policy_is_the_initial_one(scim, deployment):
    response = scim.post("/Users", user("good.person@example.com", password=GOOD_PASSWORD))

    assert response.status_code == 201
    assert deployment.hasher.verify(person("good.person@example.com").password_hash, GOOD_PASSWORD)
    assert not_set_events() == []


def test_the_email_as_password_is_left_out_too(scim):
    response = scim.post("/Users", user("plain.person@example.com", password="plain.person@example.com"))
    assert response.status_code == 201
    assert person("plain.person@example.com").password_hash is None
    assert_recorded_without_the_password(response.get_json()["id"], "plain.person@example.com",
                                         "must not be your email")


def test_put_and_patch_with_a_short_password_succeed_without_setting_it(scim):
    created = scim.create("sync.person@example.com")
    path = f"/Users/{created['id']}"

    put = scim.put(path, user("sync.person@example.com", password=OKTA_PASSWORD))
    patch = scim.client.patch("/scim/v2" + path, headers=scim.headers, json={
        "schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "password", "value": "Short1!x"}]})

    assert put.status_code == 200 and patch.status_code == 200, (put.get_json(), patch.get_json())
    assert person("sync.person@example.com").password_hash is None
    assert [e.target_id for e in not_set_events()] == [created["id"], created["id"]]
    assert all("Okta1234" not in json.dumps(e.detail) and "Short1!x" not in json.dumps(e.detail)
               for e in not_set_events())


def test_a_person_with_a_password_keeps_it_and_nothing_is_recorded(scim):
    created = scim.create("admin@acme.example")  # the admin fixture's person, who has a password
    before = person("admin@acme.example").password_hash
    response = scim.put(f"/Users/{created['id']}", user("admin@acme.example", password=OKTA_PASSWORD))
    assert response.status_code == 200
    assert person("admin@acme.example").password_hash == before
    assert not_set_events() == []


def test_bulk_creation_with_a_short_password_succeeds(scim, deployment):
    response = scim.client.post("/scim/v2/Bulk", headers=scim.headers, json={
        "schemas": [BULK_REQUEST], "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "a", "data": user("bulk.a@example.com",
                                                                             password=OKTA_PASSWORD)},
            {"method": "POST", "path": "/Users", "bulkId": "b", "data": user("bulk.b@example.com",
                                                                             password=GOOD_PASSWORD)}]})
    assert response.status_code == 200
    assert [o["status"] for o in response.get_json()["Operations"]] == ["201", "201"]
    assert person("bulk.a@example.com").password_hash is None
    assert deployment.hasher.verify(person("bulk.b@example.com").password_hash, GOOD_PASSWORD)


# what a directory may hold as a password: any text a JSON string can carry to both databases
PASSWORDS = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(password=PASSWORDS)
def test_any_password_a_directory_sends_is_set_or_left_out_never_refused(scim, deployment, password):
    email = f"p{uuid.uuid4().hex[:12]}@example.com"
    response = scim.post("/Users", user(email, password=password))

    assert response.status_code == 201, (password, response.get_json())
    stored = person(email).password_hash
    problem = passwords.policy_problem(password, email=email)
    if problem is None:
        assert deployment.hasher.verify(stored, password)
    else:
        assert stored is None
        # the policy's own sentence, never the password (the one detail the event has)
        assert recorded(response.get_json()["id"]).detail["reason"] == problem
