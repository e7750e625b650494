"""Console, Settings → Single sign-on: connections (OIDC, SAML) added, edited, switched, tested and deleted,
their secret never shown, SSO-required only after a warning, and another tenant's admin kept out."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from models import AuditEvent, connections, federation, groups, members
from models.audit import Actor
from models.connections import Connection, ExternalIdentity, client_secret
from models.crypto import Secrets
from models.database import db
from models.settings import Settings
from tests.dns_server import LoopbackDns
from tests.idp.metadata import ENTITY_ID, SSO_URL, MetadataServer, idp_metadata

from ..conftest import BASE_URL, SECRET_KEY

# the shared fixtures are imported by name; tests naming them as arguments is how pytest works
# ruff: noqa: F811
from .flow import csrf
from .test_console_base import PASSWORD, Console, console, other, ready  # noqa: F401

SECRET = "upstream-client-secret-Xq7!v9"
NEW_SECRET = "rotated-upstream-secret-Zz3#"
SSO = "/settings/sso"
BASE = f"{BASE_URL}/sso"


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def follow(console: Console, response) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    client: Any = console.client
    return text(client.get(response.headers["Location"]))


def registered(connection: Connection | str) -> connections.Urls:
    """What the pages must show to register at the IdP: the domain's URLs on the test app's base URL."""
    return connections.urls(connection, Settings(secret_key=SECRET_KEY, base_url=BASE_URL))


def secrets() -> Secrets:
    return Secrets(SECRET_KEY)


def make_oidc(account, by: Actor, **policy) -> Connection:
    made = connections.create_oidc(account, issuer="https://idp.acme.example", client_id="roster-client",
                                   client_secret=SECRET, secrets=secrets(), name="Acme Okta", by=by)
    return connections.update(made, by=by, **policy) if policy else made


def make_saml(account, by: Actor) -> Connection:
    return connections.create_saml(account, metadata_xml=idp_metadata(), name="Acme SAML", by=by)


def edit_data(connection: Connection, **changes: Any) -> dict[str, Any]:
    """The edit form as the browser posts it unchanged (a checkbox left unticked is not sent)."""
    data: dict[str, Any] = {"name": connection.name, "default_role": connection.default_role,
                  "default_groups": list(connection.default_groups or [])}
    for switch in ("enabled", "sso_required", "jit", "trust_upstream_mfa"):
        if getattr(connection, switch):
            data[switch] = "y"
    if connection.kind == "oidc":
        data |= {"issuer": connection.issuer, "client_id": connection.client_id,
                 "scopes": " ".join(connection.scopes)}
    else:
        data |= {"metadata_url": connection.idp_metadata_url, "mfa_contexts": "\n".join(connection.mfa_contexts)}
    data |= changes
    return {k: v for k, v in data.items() if v is not None}


def hidden_fields(page: str) -> list[tuple[str, str]]:
    return [(html.unescape(n), html.unescape(v)) for n, v in
            re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page) if n != "csrf_token"]


def updates() -> int:
    return AuditEvent.select().where(AuditEvent.action == "connection.updated").count()


@pytest.fixture
def loopback_dns():
    with LoopbackDns() as server:
        yield server


@pytest.fixture
def verified(account, cli_actor, loopback_dns) -> str:
    """acme.example verified for the account (its admin, admin@acme.example, is inside it)."""
    domain = federation.add_domain(account, "acme.example", by=cli_actor)
    loopback_dns.publish(domain.record_name, domain.record_value)
    outcome = federation.verify_domain(account, "acme.example", by=cli_actor, settings=Settings(
        secret_key=SECRET_KEY, dns_nameservers=loopback_dns.nameserver, dns_timeout=2))
    assert outcome.verified
    return domain.name


# ----------------------------------------------------------------- list and add


def test_the_page_lists_connections_and_offers_both_kinds(console, account, cli_actor):
    page = text(console.get(SSO))
    assert "No connections yet." in page and "No domains yet." in page
    assert f"/console/{account.id}{SSO}/connections/new/oidc" in page
    assert f"/console/{account.id}{SSO}/connections/new/saml" in page

    made = make_oidc(account, cli_actor)
    page = text(console.get(SSO))
    assert "Acme Okta" in page and "https://idp.acme.example" in page and "Disabled" in page
    assert f'href="/sso/{made.id}/start?test=1"' in page
    assert 'data-label="Name"' in page and "label-sm" in page  # phone width: each cell says what it is
    assert SECRET not in page


def test_add_oidc_shows_the_redirect_uri_and_never_the_secret(console, account):
    form = text(console.get(f"{SSO}/connections/new/oidc"))
    assert 'name="issuer"' in form and 'name="client_secret"' in form and 'type="password"' in form
    redirect_uri = registered("").redirect_uri
    assert redirect_uri.startswith(f"{BASE}/") and f'readonly value="{redirect_uri}"' in form  # before the client

    response = console.post(f"{SSO}/connections/new/oidc", {"name": "Acme Okta", "issuer": "https://idp.acme.example/",
                                                            "client_id": "roster-client", "client_secret": SECRET})
    page = follow(console, response)

    made = Connection.get()
    assert (made.account_id, made.kind, made.issuer, made.client_id, made.enabled) == (
        account.id, "oidc", "https://idp.acme.example", "roster-client", False)
    assert "The connection Acme Okta is added and disabled." in page
    assert f'readonly value="{registered(made).redirect_uri}"' in page
    assert f'href="/sso/{made.id}/start?test=1"' in page
    assert made.client_secret and SECRET not in made.client_secret
    assert client_secret(made, secrets()) == SECRET
    for shown in (page, text(console.get(SSO)), text(console.get(f"{SSO}/connections/{made.id}"))):
        assert SECRET not in shown
    event = AuditEvent.get(AuditEvent.action == "connection.created")
    assert (event.actor_id, event.account_id, event.target_id) == (console.user.id, account.id, made.id)
    assert SECRET not in str(event.detail)


def test_add_saml_by_pasting_metadata_shows_what_to_register(console, account):
    page = follow(console, console.post(f"{SSO}/connections/new/saml", {"name": "", "metadata_xml": idp_metadata()}))

    made = Connection.get()
    assert (made.kind, made.name, made.idp_entity_id, made.idp_metadata_url) == ("saml", "idp.acme.example",
                                                                                ENTITY_ID, "")
    urls = registered(made)
    assert (urls.entity_id, urls.acs_url) == (f"{BASE}/saml/{made.id}/metadata", f"{BASE}/saml/{made.id}/acs")
    for url in (urls.entity_id, urls.acs_url, urls.metadata_url):
        assert f'readonly value="{url}"' in page
    assert ENTITY_ID in page
    assert AuditEvent.get(AuditEvent.action == "connection.created").detail["idp_entity_id"] == ENTITY_ID


def test_add_saml_by_metadata_url_fetches_it(console, account):
    with MetadataServer(idp_metadata()) as server:
        follow(console, console.post(f"{SSO}/connections/new/saml", {"name": "By URL", "metadata_url": server.url}))
    made = Connection.get()
    assert (made.name, made.idp_entity_id, made.idp_metadata_url) == ("By URL", ENTITY_ID, server.url)
    assert made.idp_metadata_xml == idp_metadata()


@pytest.mark.parametrize(("kind", "data", "message", "kept"), [
    ("oidc", {"name": "Okta", "issuer": "ftp://idp.acme.example", "client_id": "c", "client_secret": SECRET},
     "The issuer must be an https:// URL.", 'value="ftp://idp.acme.example"'),
    ("oidc", {"name": "Okta", "issuer": "http://idp.acme.example", "client_id": "c", "client_secret": SECRET},
     "plain http only on this machine", 'value="Okta"'),
    ("oidc", {"name": "Okta", "issuer": "https://idp.acme.example", "client_id": "the-client", "client_secret": ""},
     "This field is required.", 'value="the-client"'),
    ("oidc", {"name": "<script>alert(1)</script>", "issuer": "", "client_id": "c", "client_secret": SECRET},
     "This field is required.", 'value="&lt;script&gt;alert(1)&lt;/script&gt;"'),
    ("saml", {"name": "IdP", "metadata_xml": "<not metadata"}, "This is not SAML metadata Roster can read",
     "&lt;not metadata"),
    ("saml", {"name": "IdP", "metadata_xml": idp_metadata(signing=False)}, "no signing certificate", 'value="IdP"'),
    ("saml", {"name": "IdP", "metadata_xml": ""}, "Paste the IdP's metadata XML, or give its URL.", 'value="IdP"'),
    ("saml", {"name": "IdP", "metadata_url": "ftp://idp.acme.example/md"}, "The metadata URL must be an https://",
     'value="ftp://idp.acme.example/md"'),
    ("saml", {"name": "IdP", "metadata_url": "http://127.0.0.1:9/metadata"}, "The metadata URL did not answer",
     'value="http://127.0.0.1:9/metadata"'),
])
def test_a_refused_add_keeps_the_input_says_why_and_adds_nothing(console, kind, data, message, kept):
    response = console.post(f"{SSO}/connections/new/{kind}", data)

    assert response.status_code == 400
    raw = response.get_data(as_text=True)
    assert message in html.unescape(raw) and kept in raw
    assert "<script>alert" not in raw and SECRET not in raw
    assert Connection.select().count() == 0
    assert not AuditEvent.select().where(AuditEvent.action == "connection.created").exists()


def test_an_unknown_kind_is_not_found(console):
    assert console.get(f"{SSO}/connections/new/ldap").status_code == 404
    assert console.post(f"{SSO}/connections/new/ldap", {"name": "x"}).status_code == 404


# ----------------------------------------------------------------- edit


def test_edit_saves_every_field_and_an_empty_secret_keeps_the_stored_one(console, account, cli_actor):
    made = make_oidc(account, cli_actor)
    engineering = groups.create_group(account, "Engineering", by=cli_actor)
    groups.create_group(account, "Sales", by=cli_actor)
    form = text(console.get(f"{SSO}/connections/{made.id}"))
    assert 'value="https://idp.acme.example"' in form and 'value="roster-client"' in form
    assert 'value="openid email profile"' in form and "Engineering" in form and 'placeholder="email"' in form
    assert SECRET not in form

    page = follow(console, console.post(f"{SSO}/connections/{made.id}", edit_data(
        made, name="Okta EU", issuer="https://eu.idp.acme.example", client_id="roster-2", client_secret="",
        scopes="openid email groups", enabled="y", jit="y", default_role="admin", default_groups=[engineering.id],
        trust_upstream_mfa="y", claim_email="mail", claim_groups="roles")))

    saved = Connection.get_by_id(made.id)
    assert "The connection Okta EU is saved." in page and SECRET not in page
    assert (saved.name, saved.issuer, saved.client_id, saved.scopes) == (
        "Okta EU", "https://eu.idp.acme.example", "roster-2", ["openid", "email", "groups"])
    assert (saved.enabled, saved.jit, saved.default_role, saved.default_groups, saved.trust_upstream_mfa,
            saved.sso_required) == (True, True, "admin", [engineering.id], True, False)
    assert saved.claim_mapping == {"email": "mail", "groups": "roles"}
    assert client_secret(saved, secrets()) == SECRET
    event = AuditEvent.get(AuditEvent.action == "connection.updated")
    assert event.actor_id == console.user.id and "client_secret" not in event.detail

    follow(console, console.post(f"{SSO}/connections/{made.id}", edit_data(saved, client_secret=NEW_SECRET)))
    assert client_secret(Connection.get_by_id(made.id), secrets()) == NEW_SECRET
    assert AuditEvent.select().where(AuditEvent.action == "connection.updated").order_by(
        AuditEvent.id.desc()).get().detail["client_secret"] == "(changed)"
    assert NEW_SECRET not in text(console.get(f"{SSO}/connections/{made.id}"))

    # every switch off again: an unticked checkbox is not sent
    follow(console, console.post(f"{SSO}/connections/{made.id}", edit_data(
        Connection.get_by_id(made.id), enabled=None, jit=None, trust_upstream_mfa=None, default_groups=[])))
    off = Connection.get_by_id(made.id)
    assert (off.enabled, off.jit, off.trust_upstream_mfa, off.default_groups) == (False, False, False, [])


def test_edit_saml_metadata_url_and_mfa_contexts(console, account, cli_actor):
    made = make_saml(account, cli_actor)
    form = text(console.get(f"{SSO}/connections/{made.id}"))
    assert 'name="metadata_xml"' in form and 'name="mfa_contexts"' in form and 'placeholder="NameID"' in form

    other_idp = idp_metadata("https://other-idp.acme.example/entity", "https://other-idp.acme.example/sso")
    follow(console, console.post(f"{SSO}/connections/{made.id}", edit_data(
        made, metadata_xml=other_idp, mfa_contexts="urn:acme:mfa\nhttp://schemas.microsoft.com/claims/multipleauthn",
        claim_subject="uid")))
    saved = Connection.get_by_id(made.id)
    assert (saved.idp_entity_id, saved.idp_metadata_xml) == ("https://other-idp.acme.example/entity", other_idp)
    assert saved.mfa_contexts == ["urn:acme:mfa", "http://schemas.microsoft.com/claims/multipleauthn"]
    assert saved.claim_mapping == {"subject": "uid"}

    with MetadataServer(idp_metadata()) as server:
        follow(console, console.post(f"{SSO}/connections/{made.id}", edit_data(saved, metadata_url=server.url)))
    saved = Connection.get_by_id(made.id)
    assert (saved.idp_entity_id, saved.idp_metadata_url) == (ENTITY_ID, server.url)
    # the same URL again, without asking for a refetch: nothing is fetched (the server is gone)
    follow(console, console.post(f"{SSO}/connections/{made.id}", edit_data(saved, name="Renamed")))
    assert Connection.get_by_id(made.id).name == "Renamed"
    refetch = console.post(f"{SSO}/connections/{made.id}", edit_data(saved, refetch="y"))
    assert refetch.status_code == 400 and "The metadata URL did not answer" in text(refetch)


@pytest.mark.parametrize(("changes", "message"), [
    ({"issuer": "not a url"}, "The issuer is not a URL Roster can use."),
    ({"issuer": "ftp://idp.acme.example"}, "The issuer must be an https:// URL."),
    ({"client_id": ""}, "This field is required."),
    ({"default_role": "owner"}, "Not a valid choice."),
    ({"claim_email": "e\u200bmail"}, "The name mapped to email is not usable."),
    ({"scopes": "openid " + " ".join(f"s{i}" for i in range(30))}, "Give at most 20 scopes"),
])
def test_a_refused_edit_keeps_the_input_and_changes_nothing(console, account, cli_actor, changes, message):
    made = make_oidc(account, cli_actor)
    response = console.post(f"{SSO}/connections/{made.id}", edit_data(made, name="Typed name", enabled="y",
                                                                       client_secret=NEW_SECRET, **changes))
    assert response.status_code == 400
    page = text(response)
    assert message in page and 'value="Typed name"' in page and NEW_SECRET not in page
    saved = Connection.get_by_id(made.id)
    assert (saved.name, saved.enabled, saved.updated_at) == (made.name, False, made.updated_at)
    assert client_secret(saved, secrets()) == SECRET and updates() == 0


def test_another_accounts_group_cannot_be_a_default_group(console, account, cli_actor, other):
    made = make_oidc(account, cli_actor)
    response = console.post(f"{SSO}/connections/{made.id}", edit_data(made, jit="y", default_groups=[other.group.id]))
    assert response.status_code == 400 and "Other team" not in text(response)
    assert Connection.get_by_id(made.id).default_groups == [] and updates() == 0


# ----------------------------------------------------------------- SSO required (F4)


def test_sso_required_warns_first_and_changes_nothing_until_confirmed(console, account, cli_actor, deployment,
                                                                      verified):
    members.add_user(account, "ann@acme.example", password=PASSWORD, by=cli_actor, deployment=deployment)
    made = make_oidc(account, cli_actor, enabled=True)
    before = updates()

    warning = console.post(f"{SSO}/connections/{made.id}", edit_data(made, sso_required="y", name="Renamed"))

    assert warning.status_code == 200
    page = text(warning)
    assert "Require single sign-on through Acme Okta?" in page
    assert ("2 members whose email is in this account's verified domains will no longer be able to use a password"
            in page)
    assert "No active admin is outside those domains" in page
    assert "You are one of them" in page  # admin@acme.example
    saved = Connection.get_by_id(made.id)
    assert (saved.sso_required, saved.name) == (False, "Acme Okta") and updates() == before

    carried = hidden_fields(page)
    assert ("sso_required", "y") in carried and ("name", "Renamed") in carried and ("confirmed", "1") in carried
    follow(console, console.post(f"{SSO}/connections/{made.id}", {k: [v for n, v in carried if n == k]
                                                                   for k, _ in carried}))
    saved = Connection.get_by_id(made.id)
    assert (saved.sso_required, saved.name) == (True, "Renamed") and updates() == before + 1


def test_the_warning_counts_break_glass_admins_and_never_echoes_a_typed_secret(console, account, cli_actor,
                                                                               deployment, verified):
    members.add_user(account, "rescue@elsewhere.example", role="admin", password=PASSWORD, by=cli_actor,
                     deployment=deployment)
    made = make_oidc(account, cli_actor)

    warning = console.post(f"{SSO}/connections/{made.id}", edit_data(made, sso_required="y",
                                                                     client_secret=NEW_SECRET))
    page = text(warning)
    assert warning.status_code == 200 and NEW_SECRET not in page
    assert "1 member whose email is in this account's verified domains" in page
    assert "1 active admin outside those domains keeps a password" in page
    assert "takes effect when it is enabled" in page and "You are one of them" in page
    assert 'name="client_secret"' in page and "type it again" in page

    carried = dict(hidden_fields(page))
    follow(console, console.post(f"{SSO}/connections/{made.id}", {**carried, "client_secret": NEW_SECRET}))
    saved = Connection.get_by_id(made.id)
    assert saved.sso_required and client_secret(saved, secrets()) == NEW_SECRET


def test_enabling_a_connection_that_requires_sso_warns_first(console, account, cli_actor, verified):
    made = make_oidc(account, cli_actor, sso_required=True)
    assert "Enable</button>" in text(console.get(SSO))

    warning = console.post(f"{SSO}/connections/{made.id}/enable")
    assert warning.status_code == 200 and "Require single sign-on through Acme Okta?" in text(warning)
    assert "takes effect when it is enabled" not in text(warning)
    assert not Connection.get_by_id(made.id).enabled

    enabled = console.post(f"{SSO}/connections/{made.id}/enable", {"confirmed": "1"})
    assert enabled.status_code == 302 and enabled.headers["Location"].endswith(SSO)
    assert Connection.get_by_id(made.id).enabled
    # the admin's own address is in the domain: from now on the console wants them back through the IdP (F4)
    bounced = console.get(SSO)
    assert bounced.status_code == 302 and f"/sso/{made.id}/start" in bounced.headers["Location"]


def test_enable_and_disable_without_sso_required_need_no_confirmation(console, account, cli_actor):
    made = make_oidc(account, cli_actor)
    page = follow(console, console.post(f"{SSO}/connections/{made.id}/enable", {"back": "connection"}))
    assert "Acme Okta is enabled" in page and "Register Roster at your IdP" in page
    assert Connection.get_by_id(made.id).enabled
    page = follow(console, console.post(f"{SSO}/connections/{made.id}/disable"))
    assert "Acme Okta is disabled" in page and not Connection.get_by_id(made.id).enabled
    assert [e.detail["enabled"] for e in AuditEvent.select().where(AuditEvent.action == "connection.updated")
            .order_by(AuditEvent.id)] == [True, False]


# ----------------------------------------------------------------- delete, test sign-in


def test_delete_asks_first_naming_the_linked_identities(console, account, cli_actor, admin):
    made = make_saml(account, cli_actor)
    for subject in ("alice", "bob"):
        ExternalIdentity.create(connection=made.id, subject=subject, user=admin[1].id)

    confirm = text(console.get(f"{SSO}/connections/{made.id}/delete"))
    assert "Delete the connection Acme SAML?" in confirm and "2 linked identities" in confirm
    assert Connection.select().count() == 1

    page = follow(console, console.post(f"{SSO}/connections/{made.id}/delete"))
    assert "The connection Acme SAML is deleted." in page and "No connections yet." in page
    assert Connection.select().count() == 0 and ExternalIdentity.select().count() == 0
    event = AuditEvent.get(AuditEvent.action == "connection.deleted")
    assert (event.actor_id, event.detail["identities"]) == (console.user.id, 2)
    assert console.get(f"{SSO}/connections/{made.id}").status_code == 404


def test_the_test_sign_in_button_sends_the_admin_to_the_idp(console, account, cli_actor):
    made = make_saml(account, cli_actor)
    page = text(console.get(f"{SSO}/connections/{made.id}"))
    found = re.search(r'href="(/sso/[^"]+/start\?test=1)"', page)
    assert found is not None
    link = found.group(1)

    response = console.client.get(link)

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == SSO_URL
    assert "SAMLRequest" in parse_qs(location.query)


# ----------------------------------------------------------------- who may


def test_another_accounts_admin_can_neither_see_nor_change_a_connection(console, account, cli_actor, other):
    theirs = make_oidc(other.account, cli_actor, enabled=True)
    before, updated = Connection.get_by_id(theirs.id), updates()
    mine = f"{SSO}/connections/{theirs.id}"

    assert console.get(mine).status_code == 404
    assert console.get(f"{mine}/delete").status_code == 404
    for path, data in ((mine, edit_data(theirs, name="Pwned", sso_required="y", confirmed="1")),
                       (f"{mine}/enable", {"confirmed": "1"}), (f"{mine}/disable", {}), (f"{mine}/delete", {})):
        assert console.post(path, data).status_code == 404, path
        # through their account's URL: not an admin there
        assert console.post(path, data, account_id=other.account.id).status_code == 403, path
    assert console.client.get(f"/console/{other.account.id}{mine}").status_code == 403
    assert "Acme Okta" not in text(console.get(SSO))

    after = Connection.get_by_id(theirs.id)
    assert (after.name, after.enabled, after.sso_required, after.updated_at) == (before.name, True, False,
                                                                                 before.updated_at)
    assert updates() == updated
    assert not AuditEvent.select().where(AuditEvent.action == "connection.deleted").exists()


def test_a_member_who_is_not_an_admin_gets_403(client, account, cli_actor, deployment, sign_in):
    made = make_oidc(account, cli_actor)
    added = members.add_user(account, "plain@acme.example", password=PASSWORD, by=cli_actor, deployment=deployment)
    sign_in(client, ready(added.user))
    base = f"/console/{account.id}{SSO}/connections"
    for path in ("/new/oidc", f"/{made.id}", f"/{made.id}/delete"):
        assert client.get(base + path).status_code == 403, path
    page = client.get("/profile").get_data(as_text=True)
    token = csrf(page)
    for path in ("/new/oidc", f"/{made.id}", f"/{made.id}/enable", f"/{made.id}/disable", f"/{made.id}/delete"):
        response = client.post(base + path, data={"csrf_token": token, "name": "Mine", "issuer": "https://x.example",
                                                  "client_id": "x", "client_secret": "x", "confirmed": "1"})
        assert response.status_code == 403, path
    assert [c.id for c in Connection.select()] == [made.id] and Connection.get_by_id(made.id).name == "Acme Okta"


def test_posts_without_the_csrf_token_are_refused(console, account, cli_actor):
    made = make_oidc(account, cli_actor)
    url = console.url(f"{SSO}/connections")
    for path, data in (("/new/oidc", {"issuer": "https://x.example", "client_id": "x", "client_secret": "x"}),
                       (f"/{made.id}", edit_data(made, name="No token")), (f"/{made.id}/enable", {}),
                       (f"/{made.id}/delete", {})):
        assert console.client.post(url + path, data=data).status_code == 400, path
    saved = Connection.get_by_id(made.id)
    assert (saved.name, saved.enabled) == ("Acme Okta", False) and Connection.select().count() == 1


def test_the_secret_column_never_holds_the_secret(console, account):
    follow(console, console.post(f"{SSO}/connections/new/oidc", {"issuer": "https://idp.acme.example",
                                                                 "client_id": "c", "client_secret": SECRET}))
    stored = [row[0] for row in db.execute_sql("SELECT client_secret FROM connection").fetchall()]
    assert len(stored) == 1 and stored[0] and SECRET not in stored[0]
