"""Discovery (RFC 7644 §4): each resource type and schema by id, only stored attributes published, PATCH and Bulk."""

from __future__ import annotations

import pytest

from scim_server import bulk

from .scim_support import ROSTER_SCHEMA, USER_SCHEMA, tenant

ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"


@pytest.fixture
def scim(client, database, account, admin):
    return tenant(client, account)


def test_service_provider_config_advertises_patch_and_bulk_limits(scim):
    config = scim.get("/ServiceProviderConfig").get_json()
    assert config["patch"] == {"supported": True}
    assert config["bulk"] == {"supported": True, "maxOperations": bulk.MAX_OPERATIONS,
                              "maxPayloadSize": bulk.MAX_PAYLOAD_SIZE}


def test_resource_types_are_users_and_groups_each_by_id(scim):
    listed = {t["id"]: t for t in scim.get("/ResourceTypes").get_json()["Resources"]}
    assert set(listed) == {"User", "Group"}
    assert listed["Group"]["endpoint"] == "/Groups" and listed["Group"]["schema"] == GROUP_SCHEMA
    assert listed["User"]["description"] == "User Account"
    assert {e["schema"] for e in listed["User"]["schemaExtensions"]} == {ENTERPRISE_SCHEMA, ROSTER_SCHEMA}
    for name, resource_type in listed.items():
        response = scim.get(f"/ResourceTypes/{name}")
        assert response.status_code == 200 and response.mimetype == "application/scim+json"
        assert response.get_json() == resource_type


def test_schemas_each_by_urn(scim):
    listed = {s["id"]: s for s in scim.get("/Schemas").get_json()["Resources"]}
    assert set(listed) == {USER_SCHEMA, ENTERPRISE_SCHEMA, ROSTER_SCHEMA, GROUP_SCHEMA}
    for urn, schema in listed.items():
        assert scim.get(f"/Schemas/{urn}").get_json() == schema


@pytest.mark.parametrize("path", ["/ResourceTypes/Device", "/Schemas/urn:ietf:params:scim:schemas:core:2.0:Device"])
def test_unknown_resource_type_or_schema_is_a_404_scim_error(scim, path):
    response = scim.get(path)
    assert response.status_code == 404 and response.mimetype == "application/scim+json"
    assert response.get_json()["status"] == "404"


def test_schema_names_and_descriptions_follow_rfc_7643_8_7_1(scim):
    listed = {s["id"]: s for s in scim.get("/Schemas").get_json()["Resources"]}
    assert (listed[USER_SCHEMA]["name"], listed[USER_SCHEMA]["description"]) == ("User", "User Account")
    assert listed[ENTERPRISE_SCHEMA]["description"] == "Enterprise User"
    assert listed[GROUP_SCHEMA]["description"] == "Group"
    roster = listed[ROSTER_SCHEMA]["description"]
    assert "\n" not in roster and "``" not in roster and roster.endswith(".")


def test_only_stored_attributes_are_published(scim):
    listed = {s["id"]: s for s in scim.get("/Schemas").get_json()["Resources"]}
    user = {a["name"]: a for a in listed[USER_SCHEMA]["attributes"]}
    assert "groups" not in user  # not stored, never returned
    for stored in ("emails", "addresses", "ims", "photos", "entitlements", "roles", "x509Certificates"):
        assert stored in user
    manager = next(a for a in listed[ENTERPRISE_SCHEMA]["attributes"] if a["name"] == "manager")
    subs = {s["name"]: s for s in manager["subAttributes"]}
    assert "displayName" not in subs and subs["$ref"]["required"] is False
    members = next(a for a in listed[GROUP_SCHEMA]["attributes"] if a["name"] == "members")
    subs = {s["name"]: s for s in members["subAttributes"]}
    assert subs["$ref"]["referenceTypes"] == ["User"] and subs["display"]["mutability"] == "readOnly"


def test_published_multi_valued_attributes_round_trip(scim):
    body = scim.create("rt@example.com", ims=[{"value": "rt", "type": "xmpp"}],
                       addresses=[{"locality": "Paris", "type": "work"}], roles=[{"value": "admin"}],
                       entitlements=[{"value": "e1"}], photos=[{"value": "https://example.com/p.png"}])
    again = scim.get(f"/Users/{body['id']}").get_json()
    assert again["ims"] == [{"value": "rt", "type": "xmpp"}] and again["addresses"][0]["locality"] == "Paris"
    assert again["roles"] == [{"value": "admin"}] and again["entitlements"] == [{"value": "e1"}]
    assert again["photos"][0]["value"] == "https://example.com/p.png"
