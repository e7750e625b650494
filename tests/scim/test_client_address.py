"""The client's address behind trusted proxies: what sign-in throttling, sessions and audit rows key on.

Through the real app: a header from a peer that is not a trusted proxy is
ignored, so nobody picks their own throttle key; a trusted proxy's header
separates the clients behind it; several trusted hops are skipped from the
right. The walk itself is checked against generated headers.
"""

from __future__ import annotations

import ipaddress

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.database import db
from models.security import Session
from scim_server.app import create_app
from scim_server.cli import cli
from scim_server.client_address import TrustedProxies, client_address, parse_address
from tests.conftest import SECRET_KEY, dispose
from tests.oidc.flow import PASSWORD, csrf, ready_person

WRONG = "wrong password, surely"


@pytest.fixture
def forwarded_allow_ips() -> str | None:
    """The app's FORWARDED_ALLOW_IPS; None leaves the default (loopback). Tests parametrize it."""
    return None


@pytest.fixture
def app(database_url, forwarded_allow_ips):
    """The real app on a fresh database of each kind, trusting the proxies the test names."""
    overrides = {"DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY, "TESTING": True,
                 "BASE_URL": "http://roster.test"}
    if forwarded_allow_ips is not None:
        overrides["FORWARDED_ALLOW_IPS"] = forwarded_allow_ips
    yield create_app(overrides)
    dispose(db.obj)


class Browser:
    """A test client whose requests arrive from ``peer`` carrying ``forwarded_for`` (if any)."""

    def __init__(self, app, peer: str, forwarded_for: str | None = None) -> None:
        self.http = app.test_client()
        self.environ = {"REMOTE_ADDR": peer}
        self.headers = {"X-Forwarded-For": forwarded_for} if forwarded_for is not None else {}

    def sign_in(self, email: str, password: str):
        page = self.http.get("/login", environ_base=self.environ, headers=self.headers)
        return self.http.post("/login", data={"csrf_token": csrf(page.text), "email": email, "password": password},
                              environ_base=self.environ, headers=self.headers)


def fail_five_times(browser: Browser) -> None:
    for n in range(5):
        assert browser.sign_in(f"nobody{n}@acme.example", WRONG).status_code == 400


def locked(response) -> bool:
    return response.status_code == 400 and "Too many attempts" in response.text


def session_ips(user) -> set[str]:
    return {row.ip for row in Session.select(Session.ip).where(Session.user == user.id)}


# ----------------------------------------------------------------- through the app


def test_a_header_from_a_peer_that_is_not_a_trusted_proxy_is_ignored(app, account, deployment):
    # loopback trusted, as gunicorn's default
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    # five failures, each claiming another address: all counted against the real peer
    for n in range(5):
        spoofer = Browser(app, "203.0.113.7", forwarded_for=f"198.51.100.{n}")
        assert spoofer.sign_in(f"nobody{n}@acme.example", WRONG).status_code == 400
    assert locked(Browser(app, "203.0.113.7", forwarded_for="198.51.100.99").sign_in(person.email, PASSWORD))
    # the addresses it claimed were never charged, and a neighbour is untouched
    assert Browser(app, "198.51.100.0").sign_in(person.email, PASSWORD).status_code == 302
    assert session_ips(person) == {"198.51.100.0"}


def test_behind_a_trusted_proxy_one_client_locks_only_itself(app, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    fail_five_times(Browser(app, "127.0.0.1", forwarded_for="198.51.100.1"))
    assert locked(Browser(app, "127.0.0.1", forwarded_for="198.51.100.1").sign_in(person.email, PASSWORD))
    other = Browser(app, "127.0.0.1", forwarded_for="198.51.100.2").sign_in(person.email, PASSWORD)
    assert other.status_code == 302
    assert session_ips(person) == {"198.51.100.2"}


def test_a_client_behind_the_proxy_cannot_choose_its_key_with_its_own_header(app, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    # the client sends X-Forwarded-For itself; the proxy appends the address it saw
    for n in range(5):
        attacker = Browser(app, "127.0.0.1", forwarded_for=f"198.51.100.{n}, 203.0.113.66")
        assert attacker.sign_in(f"nobody{n}@acme.example", WRONG).status_code == 400
    assert locked(Browser(app, "127.0.0.1", forwarded_for="198.51.100.50, 203.0.113.66").sign_in(
        person.email, PASSWORD))
    assert Browser(app, "127.0.0.1", forwarded_for="198.51.100.0").sign_in(person.email, PASSWORD).status_code == 302


@pytest.mark.parametrize("forwarded_allow_ips", ["10.0.0.0/8"])
def test_trusted_hops_are_skipped_from_the_right(app, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    # client → CDN edge (10.2.0.9) → load balancer (10.1.0.5) → roster; the first entry is the client's own claim
    hops = "192.0.2.1, 198.51.100.77, 10.2.0.9"
    assert Browser(app, "10.1.0.5", forwarded_for=hops).sign_in(person.email, PASSWORD).status_code == 302
    assert session_ips(person) == {"198.51.100.77"}


@pytest.mark.parametrize("forwarded_allow_ips", ["10.0.0.5"])
def test_loopback_is_not_trusted_once_the_setting_names_the_proxies(app, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    assert Browser(app, "127.0.0.1", forwarded_for="198.51.100.3").sign_in(person.email, PASSWORD).status_code == 302
    assert session_ips(person) == {"127.0.0.1"}
    assert Browser(app, "10.0.0.5", forwarded_for="198.51.100.3").sign_in(person.email, PASSWORD).status_code == 302
    assert session_ips(person) == {"127.0.0.1", "198.51.100.3"}


def test_a_bad_setting_is_refused_with_what_to_write(database_url, monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="FORWARDED_ALLOW_IPS must list IP addresses or networks"):
        create_app({"DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY, "FORWARDED_ALLOW_IPS": "10.0.0.5,proxy"})
    dispose(db.obj)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ROSTER_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.1/8")  # host bits set: gunicorn refuses it too
    result = CliRunner().invoke(cli, ["serve", "--port", "9"])
    assert result.exit_code == 1
    assert "FORWARDED_ALLOW_IPS must list IP addresses or networks" in result.output


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=300),
       peer=st.sampled_from(["127.0.0.1", "::1", "203.0.113.7", ""]))
def test_any_header_from_any_peer_gets_the_page_never_a_500(app, header, peer):
    response = app.test_client().get("/login", headers={"X-Forwarded-For": header},
                                     environ_base={"REMOTE_ADDR": peer})
    assert response.status_code == 200


# ----------------------------------------------------------------- the walk, on generated headers

LOOPBACK = TrustedProxies(None)
PUBLIC = st.builds(lambda n: str(ipaddress.IPv4Address(n)), st.integers(0x01000000, 0x7EFFFFFF))
HEADER_TEXT = st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=80)
FORGED = st.lists(st.one_of(PUBLIC, HEADER_TEXT, st.just("127.0.0.1"), st.just("::1")), max_size=6).map(", ".join)


@settings(max_examples=300)
@given(peer=PUBLIC, header=HEADER_TEXT)
def test_an_untrusted_peer_is_always_its_own_address(peer, header):
    assert client_address(peer, header, LOOPBACK) == peer


@settings(max_examples=300)
@given(forged=FORGED, client=PUBLIC, proxies=st.lists(st.sampled_from(["127.0.0.1", "::1", "[::1]:443"]), max_size=3))
def test_whatever_a_client_writes_the_address_the_first_trusted_proxy_saw_wins(forged, client, proxies):
    header = ", ".join([part for part in (forged, client, *proxies) if part])
    assert client_address("127.0.0.1", header, LOOPBACK) == client


@pytest.mark.parametrize(("peer", "header", "trusted", "expected"), [
    ("127.0.0.1", "198.51.100.1", None, "198.51.100.1"),
    ("127.0.0.1", "198.51.100.1:5678", None, "198.51.100.1"),  # load balancers that append the port
    ("::1", "[2001:db8::1]:443", None, "2001:db8::1"),
    ("::1", "2001:DB8:0:0::1", None, "2001:db8::1"),  # one spelling per address: one throttle key
    ("::ffff:127.0.0.1", "::ffff:198.51.100.4", None, "198.51.100.4"),
    ("127.0.0.1", "unknown", None, "127.0.0.1"),  # a hop that is no address: the last one vouched for
    ("127.0.0.1", "198.51.100.1, garbage, 127.0.0.1", None, "127.0.0.1"),
    ("127.0.0.1", "127.0.0.1, ::1", None, "127.0.0.1"),  # only proxies: the leftmost is where it began
    ("203.0.113.9", "198.51.100.1", "*", "198.51.100.1"),  # any peer, but no hop in the header
    ("203.0.113.9", "198.51.100.1, 203.0.113.8", "*", "203.0.113.8"),
    ("", "198.51.100.1", None, "198.51.100.1"),  # a UNIX socket, which gunicorn trusts as well
    ("10.0.0.5", "198.51.100.1", "", "10.0.0.5"),  # an empty setting trusts nobody
])
def test_walk_examples(peer, header, trusted, expected):
    assert client_address(peer, header, TrustedProxies(trusted)) == expected


def test_addresses_as_proxies_write_them():
    assert parse_address(" 198.51.100.1 ") == ipaddress.ip_address("198.51.100.1")
    assert parse_address("[2001:db8::1]") == ipaddress.ip_address("2001:db8::1")
    assert parse_address("_hidden") is None
