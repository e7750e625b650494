"""Paths, methods and body sizes as real clients send them; every refusal a SCIM Error."""

from __future__ import annotations

import json

import pytest

from models import Actor, scim_tokens

SCIM_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


@pytest.fixture
def headers(account):
    _, secret = scim_tokens.create_token(account, by=Actor.cli())
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.parametrize("path", ["/scim/v2/Users", "/scim/v2/users", "/scim/v2/Users/", "/scim/v2/USERS/"])
def test_resource_paths_in_any_case_and_with_a_trailing_slash(client, headers, path):
    response = client.get(path, headers=headers)
    assert response.status_code == 200
    assert response.get_json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]


def test_resource_ids_keep_their_case(client, headers):
    created = client.post("/scim/v2/users/", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                                    "userName": "case@example.com"}, headers=headers)
    assert created.status_code == 201
    user_id = created.get_json()["id"]
    assert client.get(f"/scim/v2/users/{user_id}/", headers=headers).status_code == 200
    assert client.get(f"/scim/v2/Users/{user_id.upper()}", headers=headers).status_code == 404


@pytest.mark.parametrize("path", ["/scim/v2/serviceproviderconfig", "/scim/v2/resourcetypes/", "/scim/v2/schemas"])
def test_discovery_paths_in_any_case(client, headers, path):
    assert client.get(path, headers=headers).status_code == 200


def test_wrong_method_is_a_405_scim_error_with_allow(client, headers):
    response = client.delete("/scim/v2/Users", headers=headers)
    assert response.status_code == 405
    assert response.mimetype == "application/scim+json"
    body = response.get_json()
    assert body["schemas"] == [SCIM_ERROR] and body["status"] == "405"
    assert "GET" in response.headers["Allow"] and "POST" in response.headers["Allow"]


def test_unknown_path_is_a_404_scim_error(client, headers):
    response = client.get("/scim/v2/Nothing", headers=headers)
    assert response.status_code == 404
    assert response.get_json()["schemas"] == [SCIM_ERROR]


def test_oversized_body_is_a_413_scim_error_and_creates_nothing(client, headers):
    payload = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "big@example.com",
               "displayName": "x" * (2 * 1024 * 1024)}
    response = client.post("/scim/v2/Users", data=json.dumps(payload), headers=headers,
                           content_type="application/scim+json")
    assert response.status_code == 413
    assert response.get_json()["schemas"] == [SCIM_ERROR]
    assert client.get("/scim/v2/Users", headers=headers).get_json()["totalResults"] == 0


def test_other_paths_keep_their_own_errors(client):
    response = client.get("/nothing-here")
    assert response.status_code == 404 and response.mimetype != "application/scim+json"
