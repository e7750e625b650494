"""Tenancy and authentication: a token sees only its account (DESIGN.md §3, RFC 6750)."""

from __future__ import annotations

import pytest

from models import Actor, scim_tokens

from .scim_support import other_tenant, tenant, user


@pytest.fixture
def scim(client, database, account, admin):
    return tenant(client, account)


def test_missing_wrong_or_revoked_token_is_401(scim):
    assert scim.client.get("/scim/v2/Users").status_code == 401
    wrong = scim.client.get("/scim/v2/Users", headers={"Authorization": "Bearer rst_nope"})
    assert wrong.status_code == 401
    assert wrong.mimetype == "application/scim+json" and wrong.get_json()["status"] == "401"
    assert "Bearer" in wrong.headers["WWW-Authenticate"]
    basic = scim.client.get("/scim/v2/Users", headers={"Authorization": "Basic " + scim.token})
    assert basic.status_code == 401
    [token] = scim_tokens.list_tokens(scim.account)
    scim_tokens.revoke_token(scim.account, token.id, by=Actor.cli("tests"))
    assert scim.get("/Users").status_code == 401


def test_another_accounts_records_are_404_everywhere(scim):
    mine = scim.create("mine@example.com")
    other = other_tenant(scim.client)
    path = f"/Users/{mine['id']}"
    assert other.get(path).status_code == 404
    assert other.put(path, user("stolen@example.com")).status_code == 404
    assert other.delete(path).status_code == 404
    assert other.get("/Users").get_json()["totalResults"] == 0
    assert other.get("/Users", filter=f'id eq "{mine["id"]}"').get_json()["totalResults"] == 0
    assert scim.get(path).get_json()["userName"] == "mine@example.com"


def test_user_names_are_unique_per_account_not_globally(scim):
    scim.create("shared-name")
    assert other_tenant(scim.client).post("/Users", user("shared-name")).status_code == 201
