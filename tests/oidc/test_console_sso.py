"""Console, Settings → Single sign-on: an account's domains (issue 14 points 1 and 6), DNS on loopback."""

from __future__ import annotations

import html
import re

import pytest

from models import AuditEvent, accounts, federation, members
from models.audit import Actor
from models.federation import Domain
from models.settings import Settings
from tests.dns_server import LoopbackDns

from ..conftest import SECRET_KEY
from .test_console_base import PASSWORD, Console, ready


@pytest.fixture
def loopback_dns():
    with LoopbackDns() as server:
        yield server


@pytest.fixture
def console(make_app, account, admin, sign_in, loopback_dns) -> Console:
    """The admin's browser on an app whose resolver is the loopback DNS server (ROSTER_DNS_NAMESERVERS)."""
    app = make_app(DNS_NAMESERVERS=loopback_dns.nameserver, DNS_TIMEOUT=2)
    client = app.test_client()
    user = ready(admin[1])
    sign_in(client, user)
    return Console(client, account, user)


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def follow(console: Console, response) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return text(console.client.get(response.headers["Location"]))


def test_settings_links_to_the_single_sign_on_page(console):
    settings = text(console.get("/settings"))
    assert f"/console/{console.account.id}/settings/sso" in settings
    page = text(console.get("/settings/sso"))
    assert "Single sign-on" in page and "No domains yet." in page and 'name="domain"' in page


def test_add_shows_the_record_to_publish(console, account):
    page = follow(console, console.post("/settings/sso/domains", {"domain": "Acme.Example."}))

    domain = Domain.get(Domain.account == account.id)
    assert domain.name == "acme.example"
    assert "acme.example is added. Publish its TXT record below, then verify it." in page
    assert f'readonly value="{domain.record_name}"' in page and f'readonly value="{domain.record_value}"' in page
    assert "Pending" in page and "Verify</button>" in page
    # adding it again changes nothing
    follow(console, console.post("/settings/sso/domains", {"domain": "acme.example"}))
    assert Domain.select().count() == 1 and Domain.get().token == domain.token


@pytest.mark.parametrize(("name", "message"), [
    ("", "This field is required."), ("gmail.com", "free email provider"), ("10minutemail.com", "disposable"),
    ("*.acme.example", "wildcard"), ("192.0.2.1", "IP address"), ("intranet", "single label"),
    ("<script>alert(1)</script>.example", "not a valid domain name"), ("x" * 5000, "Field cannot be longer"),
])
def test_a_refused_name_is_shown_at_the_field_and_nothing_is_added(console, name, message):
    response = console.post("/settings/sso/domains", {"domain": name})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in html.unescape(page) and "<script>alert" not in page
    assert Domain.select().count() == 0


def test_verify_with_the_record_published_shows_verified(console, account, loopback_dns):
    domain = federation.add_domain(account, "acme.example", by=console_actor(console))
    loopback_dns.publish(domain.record_name, domain.record_value)

    page = follow(console, console.post("/settings/sso/domains/acme.example/verify"))

    assert "acme.example is verified." in page and "Verified" in page
    assert Domain.get_by_id(domain.id).status == "verified"
    assert not re.search(r"/domains/acme\.example/verify", page)  # no Verify button once verified
    event = AuditEvent.get(AuditEvent.action == "domain.verified")
    assert event.actor_id == console.user.id


def test_verify_without_the_record_says_why(console, account, loopback_dns):
    domain = federation.add_domain(account, "acme.example", by=console_actor(console))

    page = follow(console, console.post("/settings/sso/domains/acme.example/verify"))
    assert "acme.example is not verified:" in page and "NXDOMAIN" in page

    loopback_dns.publish(domain.record_name, "roster-verification=wrong")
    page = follow(console, console.post("/settings/sso/domains/acme.example/verify"))
    assert "'roster-verification=wrong'" in page and "Pending" in page
    # the reason stays beside the domain after the message is gone
    assert "Last check" in text(console.get("/settings/sso"))
    assert Domain.get_by_id(domain.id).status == "pending"


def test_dns_failure_is_a_message_not_a_500(console, account, loopback_dns):
    domain = federation.add_domain(account, "acme.example", by=console_actor(console))
    loopback_dns.publish(domain.record_name, domain.record_value)
    loopback_dns.failing = True
    page = follow(console, console.post("/settings/sso/domains/acme.example/verify"))
    assert "DNS could not answer" in page


def test_remove_asks_first_then_removes(console, account, loopback_dns):
    domain = federation.add_domain(account, "acme.example", by=console_actor(console))
    loopback_dns.publish(domain.record_name, domain.record_value)
    federation.verify_domain(account, "acme.example", by=console_actor(console),
                             settings=federation_settings(loopback_dns))

    confirm = text(console.get("/settings/sso/domains/acme.example/remove"))
    assert "Remove the domain acme.example?" in confirm and "Another account may then verify it." in confirm
    assert Domain.select().count() == 1

    page = follow(console, console.post("/settings/sso/domains/acme.example/remove"))
    assert "acme.example is removed." in page and "No domains yet." in page
    assert Domain.select().count() == 0
    assert AuditEvent.get(AuditEvent.action == "domain.removed").detail["was_verified"] is True


def test_another_accounts_domain_and_hostile_names_are_refused_without_a_500(console, cli_actor):
    other = accounts.create_account("Other Reseller", "reseller", by=cli_actor)
    federation.add_domain(other, "theirs.example", by=cli_actor)
    for name in ("theirs.example", "%00", "a..b", "..", "x" * 300, "%E2%80%AE.example"):
        for path in (f"/settings/sso/domains/{name}/verify", f"/settings/sso/domains/{name}/remove"):
            response = console.post(path)
            assert response.status_code in (302, 400, 404), (path, response.status_code)
        assert console.get(f"/settings/sso/domains/{name}/remove").status_code in (302, 400, 404)
    assert [d.name for d in federation.list_domains(other)] == ["theirs.example"]


def test_posts_without_the_csrf_token_are_refused(console, account):
    federation.add_domain(account, "acme.example", by=console_actor(console))
    url = console.url
    assert console.client.post(url("/settings/sso/domains"), data={"domain": "new.example"}).status_code == 400
    assert console.client.post(url("/settings/sso/domains/acme.example/verify")).status_code == 400
    assert console.client.post(url("/settings/sso/domains/acme.example/remove")).status_code == 400
    assert [d.name for d in federation.list_domains(account)] == ["acme.example"]
    assert not AuditEvent.select().where(AuditEvent.action.in_(["domain.verification_failed", "domain.removed"]))


def test_a_member_who_is_not_an_admin_gets_403(make_app, account, admin, cli_actor, deployment, sign_in,
                                                loopback_dns):
    federation.add_domain(account, "acme.example", by=cli_actor)
    client = make_app(DNS_NAMESERVERS=loopback_dns.nameserver).test_client()
    added = members.add_user(account, "plain@acme.example", password=PASSWORD, by=cli_actor, deployment=deployment)
    sign_in(client, ready(added.user))
    base = f"/console/{account.id}/settings/sso"
    assert client.get(base).status_code == 403
    assert client.get(f"{base}/domains/acme.example/remove").status_code == 403
    page = client.get("/profile").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    data = {"csrf_token": token.group(1)} if token else {}
    for path in ("/domains", "/domains/acme.example/verify", "/domains/acme.example/remove"):
        assert client.post(base + path, data={**data, "domain": "evil.example"}).status_code == 403, path
    assert [d.name for d in federation.list_domains(account)] == ["acme.example"]


def console_actor(console: Console) -> Actor:
    return Actor.for_user(console.user)


def federation_settings(dns: LoopbackDns) -> Settings:
    return Settings(secret_key=SECRET_KEY, dns_nameservers=dns.nameserver, dns_timeout=2)


def test_the_kept_failure_beside_a_domain_is_in_the_admins_language(console, account, loopback_dns):
    from models.tenancy import User

    domain = federation.add_domain(account, "acme.example", by=console_actor(console))
    loopback_dns.publish(domain.record_name, "unrelated=1")  # the name exists, with no record of ours
    federation.verify_domain(account, "acme.example", by=console_actor(console),
                             settings=Settings(secret_key=SECRET_KEY, dns_nameservers=loopback_dns.nameserver))
    User.update(locale="de").where(User.id == console.user.id).execute()
    page = text(console.get("/settings/sso"))
    assert "'unrelated=1'" in page and "roster-verification=" in page
    assert "The TXT record at" not in page, "the kept failure is shown in German, not as stored in English"
