"""R11: deprovisioning ends access within the same request, whichever path it takes; and /Me (RFC 7644 §3.11)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from models import Actor, clock, members
from models.ops import OutboxMessage
from models.security import OAuthToken, Session
from models.tenancy import Account, User
from oidc.web_session import COOKIE

from ..cli.test_cli import _runner
from ..scim.scim_support import USER_SCHEMA, Tenant, other_tenant, tenant
from .flow import PASSWORD, RelyingParty, introspect, ready_person, refresh, sign_in_for_tokens, submit

PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def scim_deactivate_by_patch(scim: Tenant, record_id: str, email: str, ctx: Paths) -> None:
    response = scim.client.patch(f"/scim/v2/Users/{record_id}", headers=scim.headers, json={
        "schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "value": {"active": False}}]})
    assert response.status_code == 200, response.get_json()


def scim_deactivate_by_put(scim: Tenant, record_id: str, email: str, ctx: Paths) -> None:
    current = scim.get(f"/Users/{record_id}").get_json()
    response = scim.put(f"/Users/{record_id}", {"schemas": [USER_SCHEMA], "userName": current["userName"],
                                                  "active": False})
    assert response.status_code == 200, response.get_json()


def scim_delete(scim: Tenant, record_id: str, email: str, ctx: Paths) -> None:
    assert scim.delete(f"/Users/{record_id}").status_code == 204


def cli_deactivate(scim: Tenant, record_id: str, email: str, ctx: Paths) -> None:
    result = ctx.cli("user", "deactivate", scim.account.id, email)
    assert result.exit_code == 0, result.output


def cli_remove(scim: Tenant, record_id: str, email: str, ctx: Paths) -> None:
    result = ctx.cli("user", "remove", scim.account.id, email)
    assert result.exit_code == 0, result.output


def operator_disable(scim: Tenant, record_id: str, email: str, ctx: Paths) -> None:
    members.disable_user(members.find_user(email), by=Actor.cli("operator"))


def self_delete(scim: Tenant, record_id: str, email: str, ctx: Paths) -> None:
    """The person deletes their own user on the profile page (R9), in the browser that is signed in."""
    page = ctx.person_browser.get("/profile/delete")
    done = submit(ctx.person_browser, page, "/profile/delete", password=PASSWORD, confirm="y")
    assert done.status_code == 302, done.get_data(as_text=True)
    assert members.find_user(email) is None


def _console_post(ctx: Paths, email: str, action: str) -> None:
    membership = members.get_membership(ctx.account, email)
    response = ctx.admin_browser.get(f"/console/{ctx.account.id}/members/{membership.id}")
    assert response.status_code == 200, response.status_code
    done = submit(ctx.admin_browser, response, f"/console/{ctx.account.id}/members/{membership.id}/{action}")
    assert done.status_code == 302, done.get_data(as_text=True)


def console_deactivate(scim: Tenant, record_id: str, email: str, ctx: Paths) -> None:
    _console_post(ctx, email, "deactivate")


def console_remove(scim: Tenant, record_id: str, email: str, ctx: Paths) -> None:
    _console_post(ctx, email, "remove")


@dataclasses.dataclass
class Paths:
    """What the deprovisioning paths act with: the CLI, an admin's browser, the person's own browser."""

    account: Account
    cli: Any
    admin_browser: Any
    person_browser: Any


PATHS = [scim_deactivate_by_patch, scim_deactivate_by_put, scim_delete, cli_deactivate, cli_remove,
         console_deactivate, console_remove, operator_disable, self_delete]


@pytest.fixture
def provisioned(client, account, deployment):
    """A person the directory provisioned, signed in to a client with a back-channel logout URI."""
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    scim = tenant(client, account)
    created = scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": person.email,
                                    "emails": [{"value": person.email, "primary": True}]})
    assert created.status_code == 201, created.get_json()
    rp = RelyingParty.register(account, backchannel="https://app.example/backchannel")
    tokens = sign_in_for_tokens(client, rp, person.email)
    return scim, created.get_json()["id"], person, rp, tokens


@pytest.mark.parametrize("path", PATHS, ids=[p.__name__ for p in PATHS])
def test_r11_every_deprovisioning_path_ends_access_at_once(app, client, provisioned, path, database_url, monkeypatch,
                                                          tmp_path, admin, sign_in):
    scim, record_id, person, rp, tokens = provisioned
    admin_browser = app.test_client()
    User.update(must_change_password=False, terms_accepted_at=clock.now()).where(User.id == admin[1].id).execute()
    sign_in(admin_browser, User.get_by_id(admin[1].id))
    ctx = Paths(scim.account, _runner(monkeypatch, tmp_path, database_url), admin_browser, client)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/oauth/userinfo", headers=bearer).status_code == 200
    assert client.get("/scim/v2/Me", headers=bearer).status_code == 200
    path(scim, record_id, person.email, ctx)
    assert introspect(client, rp, tokens["access_token"]) == {"active": False}
    assert client.get("/oauth/userinfo", headers=bearer).status_code == 401
    assert client.get("/scim/v2/Me", headers=bearer).status_code == 401
    assert refresh(client, rp, tokens["refresh_token"]).status_code == 400
    # the browser's session is over: the sign-in page comes back
    assert client.get("/login/first").status_code == 302
    if path is not self_delete:
        assert not Session.select().where((Session.user == person.id) & Session.ended_at.is_null()).exists()
        assert OAuthToken.select().where(OAuthToken.revoked_at.is_null()).count() == 0
    logout = OutboxMessage.select().where(OutboxMessage.kind == "backchannel_logout")
    assert [m.recipient for m in logout] == ["https://app.example/backchannel"]
    assert logout[0].payload["sub"] == person.id and logout[0].payload["client_id"] == rp.client_id


def test_r11_deprovisioning_in_one_account_leaves_the_others_alone(client, account, cli_actor, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    other = other_tenant(client)
    members.add_user(other.account, person.email, by=cli_actor, via="cli", deployment=deployment)
    mine, theirs = RelyingParty.register(account), RelyingParty.register(other.account)
    kept = sign_in_for_tokens(client, theirs, person.email)
    lost = sign_in_for_tokens(client, mine, person.email)
    members.deactivate(members.get_membership(account, person.email), by=cli_actor)
    assert introspect(client, mine, lost["access_token"]) == {"active": False}
    assert introspect(client, theirs, kept["access_token"])["active"] is True


def test_me_returns_the_persons_directory_record(client, provisioned):
    scim, record_id, person, rp, tokens = provisioned
    response = client.get("/scim/v2/Me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert response.status_code == 200 and response.mimetype == "application/scim+json"
    body = response.get_json()
    assert body["id"] == record_id and body["userName"] == person.email and body["active"] is True
    assert body["meta"]["location"].endswith(f"/scim/v2/Users/{record_id}")


def test_me_refuses_scim_tokens_unknown_tokens_and_changes(client, provisioned):
    scim, record_id, person, rp, tokens = provisioned
    assert client.get("/scim/v2/Me", headers=scim.headers).status_code == 401
    unknown = client.get("/scim/v2/Me", headers={"Authorization": "Bearer nope"})
    assert unknown.status_code == 401 and unknown.get_json()["status"] == "401"
    patch = client.patch("/scim/v2/Me", headers={"Authorization": f"Bearer {tokens['access_token']}"},
                         json={"schemas": [PATCH_SCHEMA], "Operations": []})
    assert patch.status_code == 501
    # an OIDC access token is no SCIM token: the account's other resources stay closed to it
    assert client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {tokens['access_token']}"}
                      ).status_code == 401


def test_me_for_a_person_without_a_directory_record_says_so(client, account, deployment):
    person = ready_person(account, "solo@acme.example", deployment=deployment)
    tokens = sign_in_for_tokens(client, RelyingParty.register(account), person.email)
    response = client.get("/scim/v2/Me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert response.status_code == 404 and "directory" in response.get_json()["detail"]


def test_password_reset_by_mailed_link_ends_every_session(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    rp = RelyingParty.register(account)
    tokens = sign_in_for_tokens(client, rp, person.email)
    page = client.get("/password/forgot")
    from .flow import submit

    answer = submit(client, page, "/password/forgot", email=person.email)
    unknown = submit(client, page, "/password/forgot", email="nobody@acme.example")
    assert answer.get_data(as_text=True) == unknown.get_data(as_text=True)
    mail = OutboxMessage.get(OutboxMessage.kind == "mail", OutboxMessage.recipient == person.email,
                             OutboxMessage.subject.contains("Reset"))
    link = mail.body.split("Choose a new password: ")[1].split()[0]
    path = link.split("roster.test", 1)[1]
    form = client.get(path)
    new = "another long passphrase 7"
    done = submit(client, form, path, password=new, confirm=new)
    assert done.status_code == 200 and "Your password is changed" in done.get_data(as_text=True)
    assert introspect(client, rp, tokens["access_token"]) == {"active": False}
    assert client.get(path).status_code == 410
    assert members.find_user(person.email).password_hash != PASSWORD


def test_rp_initiated_logout_ends_the_session_and_sends_back_channel_logout(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    rp = RelyingParty.register(account, backchannel="https://app.example/backchannel")
    tokens = sign_in_for_tokens(client, rp, person.email)
    from urllib.parse import urlencode

    from .flow import submit

    url = "/oauth/logout?" + urlencode({"id_token_hint": tokens["id_token"], "state": "bye1",
                                        "post_logout_redirect_uri": "https://app.example/bye"})
    page = client.get(url)
    assert page.status_code == 200 and "sign you out" in page.get_data(as_text=True)
    assert Session.select().where(Session.ended_at.is_null()).count() == 1  # a GET changes nothing
    done = submit(client, page, url)
    assert done.status_code == 302 and done.headers["Location"] == "https://app.example/bye?state=bye1"
    assert f"{COOKIE}=;" in " ".join(done.headers.getlist("Set-Cookie"))
    assert Session.get().end_reason == "signed_out"
    assert introspect(client, rp, tokens["access_token"]) == {"active": False}
    assert OutboxMessage.select().where(OutboxMessage.kind == "backchannel_logout").count() == 1
    # an unregistered post-logout URI is never redirected to
    other = sign_in_for_tokens(client, rp, person.email)
    url = "/oauth/logout?" + urlencode({"id_token_hint": other["id_token"],
                                        "post_logout_redirect_uri": "https://evil.example/"})
    stays = submit(client, client.get(url), url)
    assert stays.status_code == 200 and "Location" not in stays.headers
