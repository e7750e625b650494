"""Settings → Single sign-on, the connections (DESIGN.md §7), in headless Chromium against a live `roster serve`.

An admin signs in (email, then password) and adds an OpenID Connect
connection to a real IdP (panva's oidc-provider, tests/idp/oidc_idp.py),
registering at the IdP the redirect URI read off the page; the client secret
is never shown again. They turn on JIT with a default group, enable the
connection and test it: a round trip through the IdP's own form ending on a
page of what the IdP sent, signing nobody in. Requiring SSO (F4) shows who
loses their password first, and nothing changes until confirmed. A SAML
connection is added by pasting the metadata of a real pysaml2 IdP
(tests/idp/saml_idp.py), which fetches Roster's SP metadata from the SP
entity id shown on the page, and tested the same way. A connection is
deleted through its confirm page. Runs on SQLite and, with
TEST_DATABASE_URL, PostgreSQL. Screenshots: test-artifacts/screenshots/sso-console-*.png.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pytest

from conformance.live_server import free_port
from tests.conftest import _postgres_url
from tests.dns_server import LoopbackDns
from tests.idp.oidc_idp import OidcIdp, oidc_idp
from tests.idp.saml_idp_fixture import SamlIdp, default_name_id, saml_idp
from tests.oidc.live import PASSWORD, Deployment, Instance, fresh_postgres

from .conftest import screenshot
from .test_console_browser import notice

if TYPE_CHECKING:  # playwright is imported when a browser test runs (see conftest)
    from playwright.sync_api import Browser, Locator, Page

__all__ = ["oidc_idp", "saml_idp"]  # the fixtures, imported to be found

pytestmark = pytest.mark.browser

DOMAIN = "acme-console.example"
ADMIN = "ada@acme-admins.example"  # outside the verified domain: the break-glass admin of R1
MEMBER = f"jo@{DOMAIN}"  # inside it: loses the password once SSO is required
MD = "urn:oasis:names:tc:SAML:2.0:metadata"


@pytest.fixture(scope="module")
def loopback_dns() -> Iterator[LoopbackDns]:
    with LoopbackDns() as server:
        yield server


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def deployment(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
               loopback_dns: LoopbackDns) -> Iterator[Deployment]:
    """An account on a database of each kind, with a verified domain, a member in it and an admin outside it."""
    workdir = tmp_path_factory.mktemp(f"sso-console-{request.param}")
    with contextlib.ExitStack() as stack:
        url = (stack.enter_context(fresh_postgres(_postgres_url(), "browser_sso_console"))
               if request.param == "postgres" else f"sqlite:///{workdir}/roster.sqlite3")
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        patch.setenv("ROSTER_DNS_NAMESERVERS", loopback_dns.nameserver)
        patch.setenv("ROSTER_DNS_TIMEOUT", "2")
        # localhost, not 127.0.0.1 (the IdPs' host): the sites keep their cookies apart, as in production
        found = Deployment(url, secrets.token_urlsafe(48), f"http://localhost:{free_port()}", workdir)
        found.init("Acme Console", "owner@acme-admins.example")
        added = json.loads(found.roster("domain", "add", found.account_id, DOMAIN, "--json"))
        loopback_dns.publish(added["record"], added["value"])
        assert json.loads(found.roster("domain", "verify", found.account_id, DOMAIN, "--json"))["verified"]
        found.ready_person(MEMBER, given_name="Jo")
        _ready_admin(found)
        yield found


def _ready_admin(deployment: Deployment) -> None:
    from models import Actor, clock, groups, members
    from models.tenancy import Account, User

    with deployment.domain() as handed:
        account = Account.get_by_id(deployment.account_id)
        added = members.add_user(account, ADMIN, given_name="Ada", family_name="Admin", role="admin",
                                 password=PASSWORD, by=Actor.cli("browser test"), via="cli", deployment=handed)
        User.update(must_change_password=False, terms_accepted_at=clock.now()).where(
            User.id == added.user.id).execute()
        groups.create_group(account, "Engineering", by=Actor.cli("browser test"))


@pytest.fixture(scope="module")
def roster(deployment: Deployment) -> Iterator[Instance]:
    with deployment.serve(port=urlsplit(deployment.base_url).port, workers=1) as instance:
        yield instance


@pytest.fixture
def admin(browser: Browser, deployment: Deployment, roster: Instance) -> Iterator[Page]:
    """The admin, signed in through the two-step sign-in page, on Settings → Single sign-on."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{deployment.base_url}/login")
        page.get_by_label("Email").fill(ADMIN)
        page.get_by_role("button", name="Continue").click()
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        page.goto(f"{deployment.base_url}/console/{deployment.account_id}")
        page.get_by_role("link", name="Settings", exact=True).click()
        page.get_by_role("link", name="Single sign-on (domains)").click()
        heading(page, "Single sign-on")
        yield page
    finally:
        context.close()


# ----------------------------------------------------------------- helpers


def stored(connection_id: str, deployment: Deployment) -> Any:
    from models.connections import Connection

    with deployment.domain():
        return Connection.get_by_id(connection_id)


def heading(page: Page, name: str) -> None:
    """Wait for the page's heading ``name``: a timeout fails the test."""
    page.get_by_role("heading", name=name, exact=True).wait_for()


def connection_id_of(page: Page) -> str:
    """The id in the connection page's URL (…/settings/sso/connections/<id>)."""
    return urlsplit(page.url).path.rstrip("/").rsplit("/", 1)[1]


def shown(page: Page, label: str) -> str:
    """A read-only value the page shows to register at the IdP."""
    field = page.get_by_label(label, exact=True)
    assert field.get_attribute("readonly") is not None
    return str(field.input_value())


def details(page: Page) -> dict[str, str]:
    """The test page's "How Roster reads it": term → description."""
    terms = page.locator("dl.details dt").all_inner_texts()
    return dict(zip(terms, page.locator("dl.details dd").all_inner_texts(), strict=True))


def sent(page: Page) -> dict[str, str]:
    """The test page's "What the IdP sent" table: name → value (the phone-width labels left out)."""
    rows = page.locator("table.stack tbody tr")
    return {rows.nth(i).locator("td code").inner_text(): rows.nth(i).locator("td").nth(1).inner_text()
            .removeprefix("Value:").strip() for i in range(rows.count())}


def signed_in_nobody(deployment: Deployment, email: str) -> None:
    """The test sign-in linked nobody and made no user."""
    from models.connections import ExternalIdentity
    from models.tenancy import User

    with deployment.domain():
        assert ExternalIdentity.select().count() == 0
        assert not User.select().where(User.email_key == email.lower()).exists()


def audited_tests(deployment: Deployment, connection_id: str) -> list[dict[str, Any]]:
    from models import AuditEvent

    with deployment.domain():
        return [dict(e.detail) for e in AuditEvent.select().where(
            (AuditEvent.action == "connection.tested") & (AuditEvent.target_id == connection_id))]


def sso_required_box(page: Page) -> Locator:
    return page.get_by_label("SSO required: members in the account's verified domains", exact=False)


def fits_a_phone(page: Page, name: str) -> None:
    """At phone width the page needs no sideways scrolling; screenshot taken, the desktop width restored."""
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        screenshot(page, name)
        assert overflow <= 0, f"{overflow}px wider than the phone"
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})


# ----------------------------------------------------------------- OpenID Connect


def add_oidc(admin: Page, deployment: Deployment, idp: OidcIdp) -> str:
    """Add an OIDC connection as an admin would: the redirect URI from the page registered at the IdP first."""
    admin.get_by_role("link", name="Add an OpenID Connect connection").click()
    heading(admin, "Add an OpenID Connect connection")
    redirect_uri = shown(admin, "Redirect URI")
    assert redirect_uri == f"{deployment.base_url}/sso/oidc/callback"
    screenshot(admin, "sso-console-oidc-new")
    client_id, client_secret = idp.register_client([redirect_uri])

    admin.get_by_label("Name (shown to your admins").fill("Acme OIDC")
    admin.get_by_label("Issuer URL").fill(idp.issuer)
    admin.get_by_label("Client ID").fill(client_id)
    admin.get_by_label("Client secret").fill(client_secret)
    admin.get_by_role("button", name="Add connection").click()
    assert "The connection Acme OIDC is added and disabled." in notice(admin)
    return client_secret


def test_an_admin_adds_edits_tests_and_requires_an_oidc_connection(admin: Page, deployment: Deployment,
                                                                   oidc_idp: OidcIdp) -> None:
    client_secret = add_oidc(admin, deployment, oidc_idp)
    made = connection_id_of(admin)
    heading(admin, "Acme OIDC")
    assert shown(admin, "Redirect URI") == f"{deployment.base_url}/sso/oidc/callback"
    # write-only: neither the page nor its form gives the secret back
    assert client_secret not in admin.content()
    assert admin.get_by_label("Client secret (leave it empty").input_value() == ""
    assert admin.get_by_label("Issuer URL").input_value() == oidc_idp.issuer
    screenshot(admin, "sso-console-oidc-added")
    fits_a_phone(admin, "sso-console-oidc-phone")

    # JIT with a default group, and enabled, in one save
    admin.get_by_label("Just-in-time membership").check()
    admin.get_by_label("Role given at the first sign-in").select_option(label="User")
    admin.get_by_label("Engineering").check()
    admin.get_by_label("Enabled: send the account's people").check()
    admin.get_by_role("button", name="Save").click()
    assert "The connection Acme OIDC is saved." in notice(admin)
    assert admin.get_by_label("Just-in-time membership").is_checked()
    assert admin.get_by_label("Engineering").is_checked()
    assert client_secret not in admin.content()
    saved = stored(made, deployment)
    assert (saved.enabled, saved.jit, saved.default_role, saved.sso_required) == (True, True, "user", False)
    assert len(saved.default_groups) == 1

    admin.get_by_role("link", name="← Single sign-on").click()
    row = admin.locator(f"#connection-{made}")
    assert "Enabled" in row.inner_text() and oidc_idp.issuer in row.inner_text()
    assert client_secret not in admin.content()
    screenshot(admin, "sso-console-list")

    # the test sign-in: the IdP's own form, then what it sent; nobody signed in
    oidc_idp.set_account("kim@partner-idp.example", {"sub": "00u-kim", "given_name": "Kim", "family_name": "Tester"})
    row.get_by_role("link", name="Test sign-in").click()
    admin.wait_for_url(f"{oidc_idp.issuer}/interaction/**")
    admin.locator("input[name=login]").fill("kim@partner-idp.example")
    screenshot(admin, "sso-console-oidc-idp")
    admin.get_by_role("button", name="Sign in").click()
    admin.wait_for_url(f"{deployment.base_url}/sso/{made}/test")
    heading(admin, "Test sign-in: Acme OIDC")
    assert "The round trip worked. Nobody was signed in" in admin.inner_text("main")
    read = details(admin)
    assert (read["Subject"], read["Email"], read["First name"], read["Last name"]) == (
        "00u-kim", "kim@partner-idp.example", "Kim", "Tester")
    claims = sent(admin)
    assert (claims["sub"], claims["email"], claims["given_name"], claims["family_name"]) == (
        "00u-kim", "kim@partner-idp.example", "Kim", "Tester")
    assert claims["iss"] == oidc_idp.issuer
    screenshot(admin, "sso-console-oidc-tested")
    signed_in_nobody(deployment, "kim@partner-idp.example")
    assert [e["email"] for e in audited_tests(deployment, made)] == ["kim@partner-idp.example"]
    admin.get_by_role("link", name="Back to single sign-on").click()
    assert urlsplit(admin.url).path == f"/console/{deployment.account_id}/settings/sso"

    # F4: the warning first, with who is affected; cancelling changes nothing
    admin.locator(f"#connection-{made}").get_by_role("link", name="Edit…").click()
    sso_required_box(admin).check()
    admin.get_by_role("button", name="Save").click()
    heading(admin, "Require single sign-on through Acme OIDC?")
    warning = admin.inner_text("main")
    assert ("1 member whose email is in this account's verified domains will no longer be able to use a password "
            "for this account, nor reset it.") in warning
    assert "1 active admin outside those domains keeps a password and can still get in if the IdP fails." in warning
    assert "You are one of them" not in warning  # the admin's own address is outside the domain
    screenshot(admin, "sso-console-required-warning")
    assert not stored(made, deployment).sso_required

    admin.get_by_role("link", name="Cancel").click()
    assert urlsplit(admin.url).path.endswith(f"/connections/{made}")
    assert not sso_required_box(admin).is_checked()
    assert "SSO required\nno" in admin.locator("dl.summary").inner_text()
    assert not stored(made, deployment).sso_required

    # the browser's Back from the warning: still not required (Chrome may restore the ticked box, so Save
    # from there must warn again), and only the warning's own button switches it on
    sso_required_box(admin).check()
    admin.get_by_role("button", name="Save").click()
    heading(admin, "Require single sign-on through Acme OIDC?")
    admin.go_back()
    assert urlsplit(admin.url).path.endswith(f"/connections/{made}")
    assert "SSO required\nno" in admin.locator("dl.summary").inner_text()
    assert not stored(made, deployment).sso_required
    sso_required_box(admin).check()
    admin.get_by_role("button", name="Save").click()
    heading(admin, "Require single sign-on through Acme OIDC?")
    assert not stored(made, deployment).sso_required
    admin.get_by_role("button", name="Require single sign-on").click()
    assert "The connection Acme OIDC is saved." in notice(admin)
    assert sso_required_box(admin).is_checked()
    assert "SSO required\nyes" in admin.locator("dl.summary").inner_text()
    saved = stored(made, deployment)
    assert (saved.sso_required, saved.enabled, saved.jit) == (True, True, True)
    screenshot(admin, "sso-console-required")


# ----------------------------------------------------------------- SAML


def test_an_admin_adds_and_tests_a_saml_connection(admin: Page, deployment: Deployment, saml_idp: SamlIdp) -> None:
    admin.get_by_role("link", name="Add a SAML connection").click()
    admin.get_by_label("Name (shown to your admins").fill("Acme SAML")
    admin.get_by_label("IdP metadata XML").fill(saml_idp.metadata_xml())
    screenshot(admin, "sso-console-saml-new")
    admin.get_by_role("button", name="Add connection").click()
    assert "The connection Acme SAML is added and disabled." in notice(admin)
    made = connection_id_of(admin)
    assert saml_idp.entity_id in admin.locator("dl.summary").inner_text()

    entity_id, acs_url = shown(admin, "SP entity ID"), shown(admin, "ACS URL (HTTP-POST)")
    metadata_url = shown(admin, "SP metadata URL")
    base = f"{deployment.base_url}/sso/saml/{made}"
    assert (entity_id, acs_url, metadata_url) == (f"{base}/metadata", f"{base}/acs", f"{base}/metadata")
    screenshot(admin, "sso-console-saml-added")

    # the metadata URL serves the SP's metadata, naming that entity id and ACS URL
    answer = admin.request.get(metadata_url)
    assert answer.ok and answer.headers["content-type"].startswith("application/samlmetadata+xml")
    root = ElementTree.fromstring(answer.body())
    assert root.get("entityID") == entity_id
    acs = root.find(f"{{{MD}}}SPSSODescriptor/{{{MD}}}AssertionConsumerService")
    assert acs is not None and acs.get("Location") == acs_url

    # the test sign-in: the IdP fetches the SP metadata itself from the entity id, then shows its form
    admin.get_by_role("link", name="Test sign-in").click()
    admin.wait_for_url(f"{saml_idp.sso_url}?**")
    heading(admin, "Sign in to the test IdP")
    assert entity_id in admin.inner_text("body")
    asked = saml_idp.last_authn_request()
    assert asked is not None and (asked["sp_entity_id"], asked["acs_url"]) == (entity_id, acs_url)
    admin.locator("input[name=email]").fill("sam@partner-idp.example")
    admin.locator("input[name=given_name]").fill("Sam")
    admin.locator("input[name=family_name]").fill("Saml")
    screenshot(admin, "sso-console-saml-idp")
    admin.get_by_role("button", name="Sign in").click()
    admin.wait_for_url(f"{deployment.base_url}/sso/{made}/test")
    heading(admin, "Test sign-in: Acme SAML")
    name_id = default_name_id("sam@partner-idp.example")
    read = details(admin)
    assert (read["Subject"], read["Email"], read["First name"], read["Last name"]) == (
        name_id, "sam@partner-idp.example", "Sam", "Saml")
    received = sent(admin)
    assert received["NameID"] == name_id
    # one row per attribute, its values as a person reads them
    assert (received["email"], received["givenName"], received["surname"]) == ("sam@partner-idp.example", "Sam", "Saml")
    screenshot(admin, "sso-console-saml-tested")
    signed_in_nobody(deployment, "sam@partner-idp.example")
    assert [e["subject"] for e in audited_tests(deployment, made)] == [name_id]
    admin.get_by_role("link", name="Back to single sign-on").click()
    assert "Acme SAML" in admin.inner_text("#connections")


# ----------------------------------------------------------------- delete


def test_an_admin_deletes_a_connection_after_confirming(admin: Page, deployment: Deployment,
                                                        saml_idp: SamlIdp) -> None:
    from models import Actor, connections
    from models.connections import ExternalIdentity
    from models.tenancy import Account, User

    with deployment.domain():
        made = connections.create_saml(Account.get_by_id(deployment.account_id), metadata_xml=saml_idp.metadata_xml(),
                                       name="Old SAML", by=Actor.cli("browser test"))
        member = User.get(User.email_key == MEMBER)
        ExternalIdentity.create(connection=made.id, subject="old-subject", user=member.id)
    admin.reload()

    admin.locator(f"#connection-{made.id}").get_by_role("link", name="Delete…").click()
    heading(admin, "Delete the connection Old SAML?")
    assert "1 linked identity" in admin.inner_text("main")
    screenshot(admin, "sso-console-delete-confirm")
    admin.get_by_role("link", name="Cancel").click()  # back to the connection, nothing deleted
    heading(admin, "Old SAML")
    assert "Linked identities\n1" in admin.locator("dl.summary").inner_text()

    admin.get_by_role("link", name="Delete…").click()
    admin.get_by_role("button", name="Delete the connection").click()
    assert "The connection Old SAML is deleted." in notice(admin)
    assert "Old SAML" not in admin.inner_text("#connections")
    screenshot(admin, "sso-console-deleted")
    with deployment.domain():
        assert connections.Connection.get_or_none(connections.Connection.id == made.id) is None
        assert not ExternalIdentity.select().where(ExternalIdentity.connection == made.id).exists()
        assert User.select().where(User.email_key == MEMBER).exists()  # the person keeps their user
