"""Shared by the SCIM tests: a tenant with a token, and request helpers."""

from __future__ import annotations

import dataclasses
from typing import Any

from models import Actor, accounts, scim_tokens
from models.tenancy import Account

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ROSTER_SCHEMA = "urn:roster:params:scim:schemas:extension:roster:2.0:User"


@dataclasses.dataclass
class Tenant:
    """An account and a SCIM client holding its token."""

    account: Account
    token: str
    client: Any

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **query: Any) -> Any:
        return self.client.get("/scim/v2" + path, query_string=query, headers=self.headers)

    def post(self, path: str, body: Any) -> Any:
        return self.client.post("/scim/v2" + path, json=body, headers=self.headers)

    def put(self, path: str, body: Any) -> Any:
        return self.client.put("/scim/v2" + path, json=body, headers=self.headers)

    def delete(self, path: str) -> Any:
        return self.client.delete("/scim/v2" + path, headers=self.headers)

    def create(self, user_name: str, **attributes: Any) -> dict[str, Any]:
        response = self.post("/Users", user(user_name, **attributes))
        assert response.status_code == 201, response.get_json()
        return response.get_json()


def user(user_name: str, **attributes: Any) -> dict[str, Any]:
    return {"schemas": [USER_SCHEMA], "userName": user_name, **attributes}


def tenant(client: Any, account: Account) -> Tenant:
    _, secret = scim_tokens.create_token(account, by=Actor.cli("tests"))
    return Tenant(account, secret, client)


def other_tenant(client: Any, name: str = "Other Reseller") -> Tenant:
    return tenant(client, accounts.create_account(name, "reseller", by=Actor.cli("tests")))
