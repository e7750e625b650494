"""Console, Groups and Settings: groups and their members; policy (R10), SCIM tokens, OIDC clients."""

from __future__ import annotations

import re

from models import clients, groups, members, scim_tokens
from models.security import OAuthClient
from models.tenancy import Account, Group, ScimToken

# the shared fixtures are imported by name; tests naming them as arguments is how pytest works
# ruff: noqa: F811
from .test_console_base import PASSWORD, console, other  # noqa: F401


def text(response) -> str:
    return response.get_data(as_text=True)


# ----------------------------------------------------------------- groups


def test_create_rename_delete_a_group(console, account):
    empty = console.post("/groups", {"display_name": ""})
    assert empty.status_code == 400 and "A group name is required." in text(empty)
    created = console.post("/groups", {"display_name": "Support"})
    assert created.status_code == 302
    group = Group.get(Group.display_name == "Support")
    assert "Group Support created." in text(console.client.get(created.headers["Location"]))
    duplicate = console.post("/groups", {"display_name": "support"})
    assert duplicate.status_code == 400 and "exists already" in text(duplicate)
    assert 'value="support"' in text(duplicate)
    console.post(f"/groups/{group.id}/rename", {"display_name": "Help desk"})
    assert Group.get_by_id(group.id).display_name == "Help desk"
    assert "Delete the group Help desk?" in text(console.get(f"/groups/{group.id}/delete"))
    assert Group.get_or_none(Group.id == group.id) is not None
    console.post(f"/groups/{group.id}/delete")
    assert Group.get_or_none(Group.id == group.id) is None


def test_group_members_add_and_remove(console, account, cli_actor, deployment):
    group = groups.create_group(account, "Ops", by=cli_actor)
    added = members.add_user(account, "ops@acme.example", password=PASSWORD, by=cli_actor, deployment=deployment)
    unknown = console.post(f"/groups/{group.id}/members", {"email": "nobody@acme.example"})
    assert unknown.status_code == 400 and "not a member" in text(unknown)
    console.post(f"/groups/{group.id}/members", {"email": "OPS@acme.example"})
    assert groups.group_member_emails(group) == ["ops@acme.example"]
    listing = text(console.get("/groups"))
    assert "Ops" in listing and '<span class="label-sm">Members: </span>1</td>' in listing
    assert "ops@acme.example" in text(console.get(f"/groups/{group.id}"))
    console.post(f"/groups/{group.id}/members/{added.membership.id}/remove")
    assert groups.group_member_emails(group) == []


# ----------------------------------------------------------------- policy


def test_policy_is_saved_and_validated(console, account):
    page = text(console.get("/settings"))
    assert "http://roster.test/scim/v2" in page
    bad = console.post("/settings/policy", {"invitation_ttl_days": "120", "allowed_email_domains": "acme.example"})
    assert bad.status_code == 400 and "from 1 to 90" in text(bad) and 'value="acme.example"' in text(bad)
    ok = console.post("/settings/policy", {"mfa_required": "y", "invitation_ttl_days": "3",
                                           "allowed_email_domains": "acme.example, partner.example"})
    assert ok.status_code == 302
    saved = Account.get_by_id(account.id)
    assert (saved.mfa_required, saved.invitation_ttl_days) == (True, 3)
    assert saved.allowed_email_domains == ["acme.example", "partner.example"]
    # the policy now asks this admin's password-only session for a second factor (R10)
    assert "/login/mfa" in console.get("/settings").headers["Location"]


# ----------------------------------------------------------------- SCIM tokens


def test_scim_token_shown_once_listed_and_revoked(console, account):
    response = console.post("/settings/tokens", {"description": "Okta"})
    html = text(response)
    secret = re.search(r'id="secret" class="secret" readonly value="(rst_[^"]+)"', html).group(1)
    assert "shown this once" in html and "/scim/v2" in html
    assert scim_tokens.authenticate(secret) is not None
    token = ScimToken.get(ScimToken.account == account.id)
    listing = text(console.get("/settings"))
    assert secret not in listing, listing[max(0, listing.find(secret) - 400):listing.find(secret) + 50]
    assert token.hint in listing and "Okta" in listing
    console.post(f"/settings/tokens/{token.id}/revoke")
    assert scim_tokens.authenticate(secret) is None


def test_another_accounts_token_cannot_be_revoked(console, other, cli_actor):
    token, secret = scim_tokens.create_token(other.account, by=cli_actor)
    assert console.post(f"/settings/tokens/{token.id}/revoke").status_code == 404
    assert scim_tokens.authenticate(secret) is not None


# ----------------------------------------------------------------- OIDC clients


def test_clients_create_rotate_delete(console, account):
    bad = console.post("/settings/clients", {"name": "Shop", "redirect_uris": "ftp://x", "kind": "confidential"})
    assert bad.status_code == 400 and 'value="Shop"' in text(bad)
    made = console.post("/settings/clients", {"name": "Shop", "redirect_uris": "https://shop.example/cb",
                                              "kind": "confidential",
                                              "backchannel_logout_uri": "https://shop.example/logout"})
    secret = re.search(r'id="secret" class="secret" readonly value="(rcs_[^"]+)"', text(made)).group(1)
    client = OAuthClient.get(OAuthClient.account == account.id)
    assert clients.check_secret(client, secret)
    assert client.backchannel_logout_uri == "https://shop.example/logout"
    rotated = console.post(f"/settings/clients/{client.client_id}/rotate")
    new = re.search(r'id="secret" class="secret" readonly value="(rcs_[^"]+)"', text(rotated)).group(1)
    client = OAuthClient.get_by_id(client.client_id)
    assert not clients.check_secret(client, secret) and clients.check_secret(client, new)
    assert "Delete the application Shop?" in text(console.get(f"/settings/clients/{client.client_id}/delete"))
    console.post(f"/settings/clients/{client.client_id}/delete")
    assert OAuthClient.get_or_none(OAuthClient.client_id == client.client_id) is None


def test_a_public_client_has_no_secret(console, account):
    made = console.post("/settings/clients", {"name": "SPA", "redirect_uris": "https://spa.example/cb",
                                              "kind": "public"})
    assert "A public client has no secret" in text(made)
    assert OAuthClient.get(OAuthClient.account == account.id).public


def test_another_accounts_client_is_not_found(console, other, cli_actor):
    client, _ = clients.create_client(other.account, redirect_uris=["https://o.example/cb"], name="Theirs",
                                      by=cli_actor)
    assert console.post(f"/settings/clients/{client.client_id}/rotate").status_code == 404
    assert console.post(f"/settings/clients/{client.client_id}/delete").status_code == 404
    assert OAuthClient.get_or_none(OAuthClient.client_id == client.client_id) is not None


def test_an_applications_addresses_can_be_edited(console, account, other, cli_actor):
    client, _ = clients.create_client(account, redirect_uris=["https://shop.example/cb"], name="Shop", by=cli_actor)
    page = text(console.get(f"/settings/clients/{client.client_id}"))
    assert "https://shop.example/cb" in page and 'value="Shop"' in page
    bad = console.post(f"/settings/clients/{client.client_id}", {"name": "Shop", "redirect_uris": "http://shop.example/cb"})
    assert bad.status_code == 400 and "http://shop.example/cb" in text(bad)
    assert OAuthClient.get_by_id(client.client_id).redirect_uris == ["https://shop.example/cb"]
    saved = console.post(f"/settings/clients/{client.client_id}", {
        "name": "Shop 2", "redirect_uris": "https://shop.example/cb\nhttps://shop.example/cb2",
        "post_logout_redirect_uris": "https://shop.example/bye",
        "backchannel_logout_uri": "https://shop.example/logout"})
    assert saved.status_code == 302
    row = OAuthClient.get_by_id(client.client_id)
    assert row.name == "Shop 2" and row.redirect_uris == ["https://shop.example/cb", "https://shop.example/cb2"]
    assert row.post_logout_redirect_uris == ["https://shop.example/bye"]
    assert row.backchannel_logout_uri == "https://shop.example/logout"
    theirs, _ = clients.create_client(other.account, redirect_uris=["https://o.example/cb"], name="Theirs",
                                      by=cli_actor)
    assert console.get(f"/settings/clients/{theirs.client_id}").status_code == 404
    assert console.post(f"/settings/clients/{theirs.client_id}", {"name": "Mine", "redirect_uris": "https://x.example/cb"}
                        ).status_code == 404
    assert OAuthClient.get_by_id(theirs.client_id).name == "Theirs"
