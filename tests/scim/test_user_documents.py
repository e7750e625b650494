"""A User read back from its stored row is the document scim2-models would make of it (DESIGN.md §3 "Speed").

``mapping.user_document`` builds the query response from the record without a
second pass through pydantic; here it is compared, as a JSON value, with
``to_scim_user(...).model_dump(...)`` over the shapes Okta, Entra ID and the
conformance suites send, linked and unlinked, active and not, and after PATCHes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from scim2_models import Context

from models import directory
from models.tenancy import DirectoryRecord
from scim_server.mapping import to_scim_user, user_document

from .scim_support import USER_SCHEMA, tenant

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

SHAPES: list[dict[str, Any]] = [
    {"userName": "plain@example.com"},
    {"userName": "emp3"},  # no email: unlinked, active from the payload
    {"userName": "OMalley", "active": False},
    {"userName": "full@example.com", "externalId": "ext-1", "displayName": "Full Person", "nickName": "Fully",
     "profileUrl": "https://example.com/full", "title": "Boss", "userType": "Employee", "preferredLanguage": "en-GB",
     "locale": "en-GB", "timezone": "Europe/London",
     "name": {"formatted": "Ms. Full Person", "familyName": "Person", "givenName": "Full", "middleName": "M",
              "honorificPrefix": "Ms.", "honorificSuffix": "III"},
     "emails": [{"value": "full@example.com", "type": "work", "primary": True},
                {"value": "home@example.org", "type": "home"}],
     "phoneNumbers": [{"value": "+1 555 0100", "type": "work"}, {"value": "+1 555 0101", "type": "mobile"}],
     "addresses": [{"type": "work", "streetAddress": "1 Main St", "locality": "Springfield", "postalCode": "12345",
                    "country": "US", "formatted": "1 Main St\nSpringfield", "primary": True}],
     "ims": [{"value": "full", "type": "xmpp"}], "photos": [{"value": "https://example.com/p.jpg", "type": "photo"}],
     "entitlements": [{"value": "e1"}], "roles": [{"value": "r1", "primary": True}],
     "x509Certificates": [{"value": "TUlJQ0lqQ0NBWXFnQXdJQkFnSUpBUHU="}],
     ENTERPRISE: {"employeeNumber": "701984", "costCenter": "4130", "organization": "Universal Studios",
                  "division": "Theme Park", "department": "Tour Operations",
                  "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}}},
    # Entra ID: enterprise schema, meta and roles: [] in the payload, the name with formatted
    {"schemas": [USER_SCHEMA, ENTERPRISE], "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
     "userName": "Test_User_ab6490ee@contoso.com", "active": True,
     "emails": [{"primary": True, "type": "work", "value": "Test_User_ab6490ee@contoso.com"}],
     "meta": {"resourceType": "User"}, "roles": [],
     "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
     ENTERPRISE: {"department": "Engineering"}},
    # Okta: password, groups: [] and a string "true"
    {"userName": "okta.user@example.com", "name": {"givenName": "Okta", "familyName": "User"},
     "emails": [{"primary": True, "value": "okta.user@example.com", "type": "work"}], "displayName": "Okta User",
     "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7", "groups": [],
     "password": "a long enough initial passphrase", "active": "true"},
    {"userName": "blank@example.com", "name": {"formatted": "", "givenName": "Blank"}, "emails": []},
    {"userName": "nobody", "emails": [{"value": "not an address", "type": "work"}]},
]


@pytest.fixture
def scim(client, database, account, admin):
    return tenant(client, account)


def _same_as_pydantic(record_id: str) -> None:
    record = directory.load_record(record_id)
    assert record is not None
    membership = directory.membership_of(record)
    url = f"http://roster.test/scim/v2/Users/{record.id}"
    fast = json.loads(json.dumps(user_document(record, membership, url)))
    for context in (Context.RESOURCE_QUERY_RESPONSE, Context.RESOURCE_CREATION_RESPONSE,
                    Context.RESOURCE_REPLACEMENT_RESPONSE, Context.RESOURCE_PATCH_RESPONSE):
        slow = json.loads(json.dumps(to_scim_user(record, membership, url).model_dump(scim_ctx=context)))
        assert fast == slow, (context, fast, slow)
        assert fast["schemas"] == slow["schemas"]  # the list's order too


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: str(s["userName"]))
def test_a_created_user_reads_back_as_scim2_models_renders_it(scim, shape):
    response = scim.post("/Users", {"schemas": [USER_SCHEMA], **shape})
    assert response.status_code == 201, response.get_json()
    _same_as_pydantic(response.get_json()["id"])
    assert scim.get(f"/Users/{response.get_json()['id']}").get_json() == response.get_json()


def test_patched_deactivated_and_renamed_users_read_back_the_same(scim):
    created = scim.post("/Users", {"schemas": [USER_SCHEMA], **SHAPES[3]}).get_json()
    operations = [
        [{"op": "Replace", "path": "active", "value": "False"}],
        [{"op": "Add", "path": 'emails[type eq "work"].value', "value": "other@example.com"}],
        [{"op": "replace", "value": {"name.givenName": "New", f"{ENTERPRISE}:department": "Sales"}}],
        [{"op": "remove", "path": "phoneNumbers"}, {"op": "remove", "path": f"{ENTERPRISE}:manager"}],
        [{"op": "add", "path": f"{ENTERPRISE}:manager", "value": "manager-id"}],
        [{"op": "replace", "path": "active", "value": True}],
    ]
    for operation in operations:
        response = scim.client.patch(f"/scim/v2/Users/{created['id']}", headers=scim.headers,
                                     json={"schemas": [PATCH_OP], "Operations": operation})
        assert response.status_code == 200, response.get_json()
        _same_as_pydantic(created["id"])
        assert scim.get(f"/Users/{created['id']}").get_json() == response.get_json()


def test_every_stored_record_of_a_listing_reads_back_the_same(scim):
    for shape in SHAPES:
        assert scim.post("/Users", {"schemas": [USER_SCHEMA], **shape}).status_code == 201
    for record in DirectoryRecord.select():
        _same_as_pydantic(record.id)
