"""OpenID Connect clients: registration, secrets shown once and stored hashed, validation, audit."""

from __future__ import annotations

import datetime as dt

import pytest

from models import (
    Actor,
    AuditEvent,
    AuthorizationCode,
    ForbiddenError,
    InvalidInputError,
    OAuthClient,
    OAuthToken,
    accounts,
    clients,
    clock,
    members,
)
from models.secrets import token_hash

APP = "https://app.example/callback"


def _audit(action: str) -> list[AuditEvent]:
    return list(AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.id))


def _all_audit_text() -> str:
    return " ".join(f"{e.action} {e.detail}" for e in AuditEvent.select())


def test_confidential_client_gets_a_secret_once_stored_hashed(account, cli_actor):
    client, secret = clients.create_client(account, redirect_uris=[APP], name=" Shop ", by=cli_actor)

    assert secret is not None and len(secret) > 40
    stored = OAuthClient.get_by_id(client.client_id)
    assert stored.secret_hash == token_hash(secret) and secret not in stored.secret_hash
    assert (stored.account_id, stored.name, stored.redirect_uris) == (account.id, "Shop", [APP])
    assert (stored.public, stored.first_party, stored.backchannel_logout_uri) == (False, True, None)
    assert clients.check_secret(stored, secret)
    assert not clients.check_secret(stored, secret + "x")
    assert not clients.check_secret(stored, "")
    assert not clients.check_secret(stored, None)


def test_client_ids_are_random_url_safe_and_distinct(account, cli_actor):
    ids = {clients.create_client(account, redirect_uris=[APP], by=cli_actor)[0].client_id for _ in range(5)}

    assert len(ids) == 5
    # letters and digits only, so an id never starts with "-" and reads as an option on a command line
    assert all(len(i) == 32 and i.isascii() and i.isalnum() for i in ids)
    assert len({clients.new_client_id() for _ in range(1000)}) == 1000


def test_public_client_has_no_secret_and_never_passes_a_secret_check(account, cli_actor):
    client, secret = clients.create_client(account, redirect_uris=["http://localhost:3000/cb"], public=True,
                                           by=cli_actor)

    assert secret is None and client.secret_hash is None and client.public
    assert not clients.check_secret(client, "anything")
    with pytest.raises(InvalidInputError, match="public client has no secret"):
        clients.rotate_secret(client, cli_actor)


def test_all_the_options_are_stored(account, cli_actor):
    client, _ = clients.create_client(
        account, redirect_uris=[APP, "https://app.example/other", APP], backchannel_logout_uri="https://app.example/bc",
        post_logout_redirect_uris=["https://app.example/bye"], name="App", first_party=False, by=cli_actor)

    stored = clients.get_client(client.client_id)
    assert stored is not None
    assert stored.redirect_uris == [APP, "https://app.example/other"]
    assert stored.backchannel_logout_uri == "https://app.example/bc"
    assert stored.post_logout_redirect_uris == ["https://app.example/bye"]
    assert stored.first_party is False


def test_get_client_of_an_unknown_id_is_none(database):
    assert clients.get_client("nope") is None
    assert clients.get_client("") is None
    assert clients.get_client("x" * 500) is None


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("/callback", "absolute http:// or https://"),
        ("app.example/callback", "absolute http:// or https://"),
        ("ftp://app.example/cb", "absolute http:// or https://"),
        ("com.example.app:/callback", "absolute http:// or https://"),
        ("https:///cb", "absolute http:// or https://"),
        ("https://app.example/cb#frag", "fragment"),
        ("https://app.example/cb#", "fragment"),
        ("http://app.example/cb", "plain http:// is only allowed for localhost"),
        ("https://app.example/c b", "whitespace"),
        ("https://user:pw@app.example/cb", "user name or password"),
        ("https://app.example:port/cb", "not a valid URI"),
        ("https://app.example/" + "x" * 2100, "at most 2048"),
        ("", "may not be empty"),
    ],
)
def test_bad_redirect_uris_are_refused_with_a_clear_message(account, cli_actor, uri, message):
    with pytest.raises(InvalidInputError, match=message) as raised:
        clients.create_client(account, redirect_uris=[APP, uri], by=cli_actor)

    assert raised.value.field == "redirect_uris"
    assert OAuthClient.select().count() == 0


@pytest.mark.parametrize("uri", ["http://localhost:8080/cb", "http://127.0.0.1/cb", "http://[::1]:9000/cb",
                                 "https://app.example:8443/cb?x=1", "HTTPS://App.Example/cb"])
def test_good_redirect_uris_are_accepted(account, cli_actor, uri):
    client, _ = clients.create_client(account, redirect_uris=[uri], by=cli_actor)

    assert client.redirect_uris == [uri]


def test_at_least_one_redirect_uri_is_required(account, cli_actor):
    with pytest.raises(InvalidInputError, match="At least one redirect URI"):
        clients.create_client(account, redirect_uris=[], by=cli_actor)


@pytest.mark.parametrize("uri", ["/logout", "mailto:a@b.example", "https://app.example/logout#x"])
def test_bad_backchannel_logout_uri_is_refused(account, cli_actor, uri):
    with pytest.raises(InvalidInputError) as raised:
        clients.create_client(account, redirect_uris=[APP], backchannel_logout_uri=uri, by=cli_actor)

    assert raised.value.field == "backchannel_logout_uri"


def test_backchannel_logout_uri_may_be_plain_http_server_to_server(account, cli_actor):
    client, _ = clients.create_client(account, redirect_uris=[APP],
                                      backchannel_logout_uri="http://app.internal:8080/logout", by=cli_actor)

    assert client.backchannel_logout_uri == "http://app.internal:8080/logout"


def test_post_logout_redirect_uris_follow_the_redirect_rules(account, cli_actor):
    with pytest.raises(InvalidInputError, match="fragment") as raised:
        clients.create_client(account, redirect_uris=[APP], post_logout_redirect_uris=["https://a.example/#x"],
                              by=cli_actor)

    assert raised.value.field == "post_logout_redirect_uris"


def test_a_name_longer_than_200_characters_is_refused(account, cli_actor):
    with pytest.raises(InvalidInputError, match="at most 200"):
        clients.create_client(account, redirect_uris=[APP], name="x" * 201, by=cli_actor)


def test_creation_is_audited_without_the_secret(account, cli_actor):
    client, secret = clients.create_client(account, redirect_uris=[APP], by=cli_actor)

    [event] = _audit("client.created")
    assert (event.account_id, event.target_type, event.target_id) == (account.id, "oauth_client", client.client_id)
    assert event.detail["redirect_uris"] == [APP] and event.detail["public"] is False
    assert secret is not None and secret not in _all_audit_text()
    assert token_hash(secret) not in _all_audit_text()


def test_rotate_secret_replaces_the_old_one_at_once(account, cli_actor):
    client, old = clients.create_client(account, redirect_uris=[APP], by=cli_actor)

    new = clients.rotate_secret(client, cli_actor)

    stored = OAuthClient.get_by_id(client.client_id)
    assert new != old
    assert clients.check_secret(stored, new) and not clients.check_secret(stored, old or "")
    [event] = _audit("client.secret_rotated")
    assert event.target_id == client.client_id
    assert new not in _all_audit_text()


def test_update_changes_only_what_is_given(account, cli_actor):
    client, _ = clients.create_client(account, redirect_uris=[APP], backchannel_logout_uri="https://app.example/bc",
                                      name="App", by=cli_actor)

    renamed = clients.update_client(client, name="New name", by=cli_actor)
    assert (renamed.name, renamed.redirect_uris, renamed.backchannel_logout_uri) == (
        "New name", [APP], "https://app.example/bc")

    moved = clients.update_client(client, redirect_uris=["https://new.example/cb"],
                                  post_logout_redirect_uris=["https://new.example/bye"], by=cli_actor)
    assert moved.redirect_uris == ["https://new.example/cb"]
    assert moved.post_logout_redirect_uris == ["https://new.example/bye"]
    assert moved.backchannel_logout_uri == "https://app.example/bc"

    cleared = clients.update_client(client, backchannel_logout_uri=None, by=cli_actor)
    assert cleared.backchannel_logout_uri is None

    events = _audit("client.updated")
    assert len(events) == 3
    assert events[0].detail == {"name": "New name"}
    assert events[2].detail == {"backchannel_logout_uri": None}


def test_update_validates_and_changes_nothing_on_refusal(account, cli_actor):
    client, _ = clients.create_client(account, redirect_uris=[APP], by=cli_actor)

    with pytest.raises(InvalidInputError):
        clients.update_client(client, redirect_uris=["http://evil.example/cb"], by=cli_actor)
    with pytest.raises(InvalidInputError, match="At least one"):
        clients.update_client(client, redirect_uris=[], by=cli_actor)

    assert OAuthClient.get_by_id(client.client_id).redirect_uris == [APP]
    assert _audit("client.updated") == []


def test_delete_ends_the_clients_codes_and_tokens(account, admin, cli_actor):
    _, user = admin
    client, _ = clients.create_client(account, redirect_uris=[APP], name="Gone", by=cli_actor)
    kept, _ = clients.create_client(account, redirect_uris=[APP], by=cli_actor)
    now = clock.now()
    for c, n in ((client, "1"), (kept, "2")):
        OAuthToken.create(client=c.client_id, user=user.id, account=account.id, family_id="f" + n,
                          access_token_hash=token_hash("a" + n), access_expires_at=now + dt.timedelta(hours=1))
        AuthorizationCode.create(code_hash=token_hash("c" + n), client=c.client_id, user=user.id,
                                 redirect_uri=APP, auth_time=now, expires_at=now + dt.timedelta(minutes=1))

    clients.delete_client(client, cli_actor)

    assert clients.get_client(client.client_id) is None
    assert [t.client_id for t in OAuthToken.select()] == [kept.client_id]
    assert [c.client_id for c in AuthorizationCode.select()] == [kept.client_id]
    [event] = _audit("client.deleted")
    assert (event.target_id, event.detail["tokens_ended"], event.detail["name"]) == (client.client_id, 1, "Gone")


def test_list_clients_is_per_account(account, cli_actor):
    other = accounts.create_account("Other", "reseller", by=cli_actor)
    first, _ = clients.create_client(account, redirect_uris=[APP], by=cli_actor)
    second, _ = clients.create_client(account, redirect_uris=[APP], by=cli_actor)
    elsewhere, _ = clients.create_client(other, redirect_uris=[APP], by=cli_actor)
    platform, _ = clients.create_client(None, redirect_uris=[APP], by=cli_actor)

    assert {c.client_id for c in clients.list_clients(account)} == {first.client_id, second.client_id}
    assert [c.client_id for c in clients.list_clients(other)] == [elsewhere.client_id]
    assert [c.client_id for c in clients.list_clients(None)] == [platform.client_id]


def test_only_admins_of_the_account_manage_its_clients(account, admin, cli_actor, deployment):
    _, admin_user = admin
    plain = members.add_user(account, "plain@acme.example", by=cli_actor, deployment=deployment).user
    other = accounts.create_account("Other", "reseller", by=cli_actor)

    client, _ = clients.create_client(account, redirect_uris=[APP], by=Actor.for_user(admin_user))
    with pytest.raises(ForbiddenError):
        clients.create_client(account, redirect_uris=[APP], by=Actor.for_user(plain))
    with pytest.raises(ForbiddenError):
        clients.rotate_secret(client, Actor.for_user(plain))
    with pytest.raises(ForbiddenError):
        clients.delete_client(client, Actor("scim_token", "t", account_id=other.id))
    with pytest.raises(ForbiddenError, match="platform-wide"):
        clients.create_client(None, redirect_uris=[APP], by=Actor.for_user(admin_user))

    assert OAuthClient.select().count() == 1
    assert clients.get_client(client.client_id) is not None
