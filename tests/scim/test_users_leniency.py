"""POST and PUT read real clients' bodies under the PATCH policy (DESIGN.md §3); errors keep their scimType."""

from __future__ import annotations

import pytest

from .scim_support import ROSTER_SCHEMA, USER_SCHEMA, tenant, user

ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@pytest.fixture
def scim(client, database, account, admin):
    return tenant(client, account)


def test_an_invalid_email_is_stored_and_the_record_is_unlinked(scim):
    # Microsoft's collection: {"Primary": true, "type": "work", "value": "emailName357"}
    body = scim.create("UserName111", emails=[{"Primary": True, "type": "work", "value": "emailName357"}])
    assert body["emails"] == [{"value": "emailName357", "type": "work", "primary": True}]
    assert body[ROSTER_SCHEMA] == {"unlinkedReason": "no_valid_email"}
    assert scim.get(f"/Users/{body['id']}").get_json()["emails"][0]["value"] == "emailName357"


def test_enterprise_manager_without_ref_and_with_capitalised_keys(scim):
    body = scim.create("UserName222", schemas=[ENTERPRISE_SCHEMA, USER_SCHEMA],
                       emails=[{"Primary": True, "type": "work", "value": "testing@bob2.example.com"}],
                       **{ENTERPRISE_SCHEMA: {"Department": "bob", "Manager": {"Value": "SuzzyQ"}}})
    assert body[ENTERPRISE_SCHEMA] == {"department": "bob", "manager": {"value": "SuzzyQ"}}


def test_unknown_or_misspelled_attributes_are_ignored_on_post_and_put(scim):
    body = scim.create("typo@example.com", displayNme="x", nickName="Bee")
    assert "displayNme" not in body and body["nickName"] == "Bee"
    response = scim.put(f"/Users/{body['id']}", user("typo@example.com", titel="Boss", title="Chief"))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["title"] == "Chief" and "titel" not in response.get_json()


def test_a_read_only_id_in_a_put_body_is_ignored(scim):
    # RFC 7644 §3.5.1: values of readOnly attributes in a replacement SHALL be ignored
    body = scim.create("immutable@example.com")
    response = scim.put(f"/Users/{body['id']}", user("immutable@example.com", id="another"))
    assert response.status_code == 200 and response.get_json()["id"] == body["id"]


@pytest.mark.parametrize("method", ["post", "put"])
def test_wrong_types_keep_the_scim_type_of_scim2_models(scim, method):
    body = scim.create("types@example.com")
    path = "/Users" if method == "post" else f"/Users/{body['id']}"
    response = getattr(scim, method)(path, user("types2@example.com", name="not an object"))
    error = response.get_json()
    assert response.status_code == 400 and error["scimType"] == "invalidValue"
    assert error["detail"].endswith(": name")  # scim2-models names the attribute
