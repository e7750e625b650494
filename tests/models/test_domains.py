"""Domains an account proves it owns (issue 14 point 1, DESIGN.md §7), verified by a real DNS server on loopback."""

from __future__ import annotations

import threading
import time

import peewee
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from playhouse.schema_diff import diff_models

from models import AuditEvent, accounts, audit_log, domain_dns, federation, members
from models.audit import Actor
from models.database import db
from models.errors import ForbiddenError, InvalidInputError, NotFoundError, PolicyViolationError
from models.federation import Domain
from models.settings import Settings
from tests.dns_server import LoopbackDns, silent_nameserver

from ..conftest import SECRET_KEY


@pytest.fixture
def loopback_dns():
    with LoopbackDns() as server:
        yield server


@pytest.fixture
def dns_settings(loopback_dns) -> Settings:
    return Settings(secret_key=SECRET_KEY, dns_nameservers=loopback_dns.nameserver, dns_timeout=2)


@pytest.fixture
def other(database, cli_actor):
    return accounts.create_account("Other Reseller", "reseller", by=cli_actor)


def actions(account_id: str) -> list[str]:
    return [e.action for e in AuditEvent.select().where(AuditEvent.account_id == account_id).order_by(AuditEvent.id)
            if e.action.startswith("domain.")]


def publish(dns: LoopbackDns, domain: Domain) -> None:
    dns.publish(domain.record_name, domain.record_value)


# ----------------------------------------------------------------- names


@pytest.mark.parametrize(("given_name", "stored"), [
    ("example.com", "example.com"),
    ("  Example.COM.  ", "example.com"),
    ("Sub.Example.co.uk", "sub.example.co.uk"),
    ("Bücher.de", "xn--bcher-kva.de"),
    ("xn--bcher-kva.de", "xn--bcher-kva.de"),
    ("ＥＸＡＭＰＬＥ．ｃｏｍ", "example.com"),  # full-width letters and dot (UTS #46 mapping)
    ("a-b.example", "a-b.example"),
])
def test_names_are_normalised(given_name, stored):
    assert federation.normalize(given_name) == stored


@pytest.mark.parametrize("bad", [
    "", "   ", None, 42, "localhost", "com", "*.example.com", "*", "192.168.0.1", "192.168.0.1.", "::1", "[::1]",
    "2001:db8::1", "1.2.3.4.5", "exa_mple.com", "a..b", ".example.com", "-a.com", "a-.com", "a" * 64 + ".com",
    ".".join(["abcdefgh"] * 40), ".".join(["a" * 59] * 4), "x" * 2000, "user@example.com", "ex ample.com",
    "example.com/path", "http://example.com", "example.com:443", "\x00.com", "exa\nmple.com", "..", ".",
])
def test_malformed_names_are_refused_with_the_reason(bad):
    with pytest.raises(InvalidInputError) as refused:
        federation.normalize(bad)
    assert refused.value.field == "domain" and refused.value.reason == "invalid_domain"
    assert refused.value.message


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet="abcxyz.-_*@:[]0129 ÄéßＡ．\u0000\ud800", max_size=80),
                 st.from_regex(r"[a-z0-9.-]{0,70}", fullmatch=True)))
def test_any_text_is_a_normalised_name_or_an_invalid_input(text):
    try:
        name = federation.normalize(text)
    except InvalidInputError:
        return
    assert name == name.lower() and name.isascii() and not name.endswith(".") and "." in name
    assert federation.normalize(name) == name


@pytest.mark.parametrize(("name", "reason"), [
    ("gmail.com", "free_mail_domain"), ("GMAIL.com.", "free_mail_domain"), ("outlook.com", "free_mail_domain"),
    ("mail.yahoo.com", "free_mail_domain"), ("10minutemail.com", "disposable_domain"),
    ("guerrillamail.com", "disposable_domain"),
])
def test_free_mail_and_disposable_domains_are_refused(account, cli_actor, name, reason):
    with pytest.raises(InvalidInputError) as refused:
        federation.add_domain(account, name, by=cli_actor)
    assert refused.value.reason == reason
    assert ("free email" if reason == "free_mail_domain" else "disposable") in refused.value.message
    assert Domain.select().count() == 0 and actions(account.id) == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=120))
def test_adding_any_text_changes_nothing_or_adds_a_pending_domain(account, cli_actor, text):
    before = Domain.select().count()
    try:
        domain = federation.add_domain(account, text, by=cli_actor)
    except InvalidInputError:
        assert Domain.select().count() == before
        return
    assert domain.status == "pending" and domain.name == federation.normalize(text)


# ----------------------------------------------------------------- adding, listing, removing


def test_adding_gives_the_txt_record_and_adding_again_gives_the_same(account, cli_actor):
    domain = federation.add_domain(account, "Acme.Example", by=cli_actor)

    assert (domain.name, domain.status, domain.verified_at) == ("acme.example", "pending", None)
    assert domain.record_name == "_roster-challenge.acme.example"
    assert domain.record_value.startswith("roster-verification=") and len(domain.token) >= 32
    again = federation.add_domain(account, "acme.example.", by=cli_actor)
    assert (again.id, again.record_value) == (domain.id, domain.record_value)
    assert [d.name for d in federation.list_domains(account)] == ["acme.example"]
    assert actions(account.id) == ["domain.added"]


def test_each_account_gets_its_own_token_for_one_domain(account, other, cli_actor):
    mine = federation.add_domain(account, "shared.example", by=cli_actor)
    theirs = federation.add_domain(other, "shared.example", by=cli_actor)
    assert mine.id != theirs.id and mine.record_value != theirs.record_value


def test_only_admins_manage_domains(account, admin, deployment, cli_actor):
    added = members.add_user(account, "plain@acme.example", role="user", password="another long passphrase here",
                             by=cli_actor, via="cli", deployment=deployment)
    with pytest.raises(ForbiddenError):
        federation.add_domain(account, "acme.example", by=Actor.for_user(added.user))
    with pytest.raises(ForbiddenError):
        federation.add_domain(account, "acme.example", by=Actor("scim_token", "t1", account_id=account.id))
    assert federation.add_domain(account, "acme.example", by=Actor.for_user(admin[1])).status == "pending"
    with pytest.raises(ForbiddenError):
        federation.remove_domain(account, "acme.example", by=Actor.for_user(added.user))
    with pytest.raises(ForbiddenError):
        federation.verify_domain(account, "acme.example", by=Actor.for_user(added.user),
                                 settings=Settings(secret_key=SECRET_KEY))


def test_an_account_has_a_bounded_number_of_domains(account, cli_actor, monkeypatch):
    monkeypatch.setattr(federation, "MAX_DOMAINS", 2)
    federation.add_domain(account, "one.example", by=cli_actor)
    federation.add_domain(account, "two.example", by=cli_actor)
    with pytest.raises(PolicyViolationError, match="remove one first"):
        federation.add_domain(account, "three.example", by=cli_actor)
    assert federation.add_domain(account, "one.example", by=cli_actor).name == "one.example"


def test_removing_a_domain_of_another_account_or_none_is_not_found(account, other, cli_actor):
    federation.add_domain(other, "theirs.example", by=cli_actor)
    with pytest.raises(NotFoundError):
        federation.remove_domain(account, "theirs.example", by=cli_actor)
    with pytest.raises(NotFoundError):
        federation.verify_domain(account, "theirs.example", by=cli_actor, settings=Settings(secret_key=SECRET_KEY))
    assert [d.name for d in federation.list_domains(other)] == ["theirs.example"]


# ----------------------------------------------------------------- verifying against DNS


def test_the_published_record_verifies_the_domain(account, cli_actor, loopback_dns, dns_settings):
    domain = federation.add_domain(account, "acme.example", by=cli_actor)
    loopback_dns.publish(domain.record_name, "v=spf1 -all", domain.record_value)

    outcome = federation.verify_domain(account, "ACME.example", by=cli_actor, settings=dns_settings)

    assert outcome.verified and outcome.reason == "" and outcome.message == ""
    stored = Domain.get_by_id(domain.id)
    assert (stored.status, stored.verified_name, stored.failure) == ("verified", "acme.example", "")
    assert stored.verified_at is not None
    assert ("_roster-challenge.acme.example", "TXT") in loopback_dns.asked
    assert federation.verified_domain("Acme.Example.").id == domain.id
    assert actions(account.id) == ["domain.added", "domain.verified"]
    # verified stays verified: no second lookup, no second event
    asked = len(loopback_dns.asked)
    assert federation.verify_domain(account, "acme.example", by=cli_actor, settings=dns_settings).verified
    assert len(loopback_dns.asked) == asked and actions(account.id) == ["domain.added", "domain.verified"]
    assert federation.add_domain(account, "acme.example", by=cli_actor).status == "verified"


def test_a_long_record_split_into_strings_and_sent_over_tcp_still_verifies(account, cli_actor, loopback_dns,
                                                                            dns_settings):
    domain = federation.add_domain(account, "acme.example", by=cli_actor)
    loopback_dns.publish(domain.record_name, "x" * 300, "y" * 200, domain.record_value)
    assert federation.verify_domain(account, "acme.example", by=cli_actor, settings=dns_settings).verified


@pytest.mark.parametrize(("published", "reason", "words"), [
    (None, "nxdomain", "does not exist in DNS (NXDOMAIN)"),
    ((), "record_missing", "No TXT record at _roster-challenge.acme.example"),
    (("roster-verification=something-else",), "value_mismatch", "'roster-verification=something-else'"),
])
def test_a_failed_verification_says_why_and_leaves_the_domain_pending(account, cli_actor, loopback_dns,
                                                                      dns_settings, published, reason, words):
    domain = federation.add_domain(account, "acme.example", by=cli_actor)
    if published is not None:
        loopback_dns.publish(domain.record_name, *published)

    outcome = federation.verify_domain(account, "acme.example", by=cli_actor, settings=dns_settings)

    assert not outcome.verified and outcome.reason == reason
    assert words in outcome.message and domain.record_value in outcome.message
    stored = Domain.get_by_id(domain.id)
    assert (stored.status, stored.verified_name, stored.failure) == ("pending", None, outcome.message)
    assert stored.checked_at is not None
    failed = AuditEvent.get(AuditEvent.action == "domain.verification_failed")
    assert failed.detail == {"name": "acme.example", "reason": reason} and failed.target_id == domain.id
    # published now: the next click verifies, and the failure is gone
    publish(loopback_dns, domain)
    assert federation.verify_domain(account, "acme.example", by=cli_actor, settings=dns_settings).verified
    assert Domain.get_by_id(domain.id).failure == ""


def test_another_accounts_record_does_not_verify_a_domain(account, other, cli_actor, loopback_dns, dns_settings):
    theirs = federation.add_domain(other, "shared.example", by=cli_actor)
    federation.add_domain(account, "shared.example", by=cli_actor)
    publish(loopback_dns, theirs)

    outcome = federation.verify_domain(account, "shared.example", by=cli_actor, settings=dns_settings)

    assert not outcome.verified and outcome.reason == "value_mismatch"


def test_a_domain_verified_by_one_account_cannot_be_verified_by_another(account, other, cli_actor, loopback_dns,
                                                                        dns_settings):
    theirs = federation.add_domain(other, "shared.example", by=cli_actor)
    publish(loopback_dns, theirs)
    assert federation.verify_domain(other, "shared.example", by=cli_actor, settings=dns_settings).verified
    # adding is allowed (pending): ownership is decided at verification only
    mine = federation.add_domain(account, "shared.example", by=cli_actor)
    assert mine.status == "pending"
    loopback_dns.publish(mine.record_name, theirs.record_value, mine.record_value)

    outcome = federation.verify_domain(account, "shared.example", by=cli_actor, settings=dns_settings)

    assert not outcome.verified and outcome.reason == "taken"
    assert "verified by another account" in outcome.message and "Other Reseller" not in outcome.message
    assert federation.verified_domain("shared.example").account_id == other.id
    assert actions(account.id) == ["domain.added", "domain.verification_failed"]
    # once the owner lets it go, the other account's own record verifies it
    federation.remove_domain(other, "shared.example", by=cli_actor)
    assert federation.verify_domain(account, "shared.example", by=cli_actor, settings=dns_settings).verified
    assert federation.verified_domain("shared.example").account_id == account.id


def test_the_database_gives_a_verified_name_one_owner(account, other):
    Domain.create(account=account.id, name="x.example", token="a", status="verified", verified_name="x.example")
    with pytest.raises(peewee.IntegrityError), db.atomic():
        Domain.create(account=other.id, name="x.example", token="b", status="verified", verified_name="x.example")
    # pending rows (NULL) never collide
    Domain.create(account=other.id, name="x.example", token="c")
    Domain.create(account=accounts.create_account("Third", "vendor", by=Actor.cli()).id, name="x.example", token="d")
    assert Domain.select().where(Domain.name == "x.example").count() == 3


def test_two_accounts_verifying_one_domain_at_once_end_with_one_owner(database_url, account, other, cli_actor,
                                                                      loopback_dns, dns_settings, monkeypatch):
    domains = [federation.add_domain(a, "race.example", by=cli_actor) for a in (account, other)]
    loopback_dns.publish("_roster-challenge.race.example", *[d.record_value for d in domains])
    # both have passed the "verified by another?" check and asked DNS before either writes
    together = threading.Barrier(2, timeout=20)
    real_lookup = domain_dns.txt_records

    def lookup_then_wait(name, settings_):
        answer = real_lookup(name, settings_)
        together.wait()
        return answer

    monkeypatch.setattr(domain_dns, "txt_records", lookup_then_wait)
    outcomes: dict[str, federation.Verification] = {}
    errors: list[BaseException] = []

    def verify(acc):
        try:
            outcomes[acc.id] = federation.verify_domain(acc, "race.example", by=cli_actor, settings=dns_settings)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=verify, args=(a,)) for a in (account, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert sorted(o.reason for o in outcomes.values()) == ["", "taken"]
    winner = next(acc_id for acc_id, o in outcomes.items() if o.verified)
    assert Domain.select().where(Domain.status == "verified").count() == 1
    assert federation.verified_domain("race.example").account_id == winner
    loser = next(acc_id for acc_id, o in outcomes.items() if not o.verified)
    assert Domain.get((Domain.account == loser) & (Domain.name == "race.example")).status == "pending"


def test_dns_server_failure_is_a_reason_not_an_error(account, cli_actor, loopback_dns, dns_settings):
    domain = federation.add_domain(account, "acme.example", by=cli_actor)
    publish(loopback_dns, domain)
    loopback_dns.failing = True

    outcome = federation.verify_domain(account, "acme.example", by=cli_actor, settings=dns_settings)

    assert not outcome.verified and outcome.reason == "dns_failure" and "Try again later" in outcome.message


@pytest.mark.parametrize("server", ["silent", "closed"])
def test_dns_that_does_not_answer_times_out_quickly_with_the_reason(account, cli_actor, server):
    sink, nameserver = silent_nameserver()
    if server == "closed":
        sink.close()
    try:
        quick = Settings(secret_key=SECRET_KEY, dns_nameservers=nameserver, dns_timeout=1)
        federation.add_domain(account, "acme.example", by=cli_actor)
        started = time.monotonic()
        outcome = federation.verify_domain(account, "acme.example", by=cli_actor, settings=quick)
        took = time.monotonic() - started
    finally:
        sink.close()
    assert not outcome.verified and outcome.reason == "dns_timeout"
    assert "within 1 seconds" in outcome.message
    assert took < 3


def test_removing_a_verified_domain_is_audited_and_frees_it(account, cli_actor, loopback_dns, dns_settings):
    domain = federation.add_domain(account, "acme.example", by=cli_actor)
    publish(loopback_dns, domain)
    federation.verify_domain(account, "acme.example", by=cli_actor, settings=dns_settings)

    removed = federation.remove_domain(account, "Acme.Example", by=cli_actor)

    assert removed.name == "acme.example" and federation.list_domains(account) == []
    assert federation.verified_domain("acme.example") is None
    event = AuditEvent.get(AuditEvent.action == "domain.removed")
    assert event.detail == {"name": "acme.example", "was_verified": True}
    # added again, it needs a new record: the old one proves nothing now
    assert federation.add_domain(account, "acme.example", by=cli_actor).record_value != domain.record_value


def test_the_audit_log_names_domain_events(account, cli_actor, loopback_dns, dns_settings):
    domain = federation.add_domain(account, "acme.example", by=cli_actor)
    federation.verify_domain(account, "acme.example", by=cli_actor, settings=dns_settings)
    publish(loopback_dns, domain)
    federation.verify_domain(account, "acme.example", by=cli_actor, settings=dns_settings)
    entries = audit_log.describe(account, AuditEvent.select().where(AuditEvent.action.startswith("domain."))
                                 .order_by(AuditEvent.id))
    assert [e.summary for e in entries] == ["Domain added", "Domain verification failed", "Domain verified"]
    assert all(e.target is not None and e.target.text == "acme.example" for e in entries)
    assert "Reason: the record's name does not exist (NXDOMAIN)" in entries[1].details_text


# ----------------------------------------------------------------- schema and settings


def test_migration_0012_builds_the_table_the_model_describes(database):
    assert not diff_models(database, federation.TABLES)


@pytest.mark.parametrize(("value", "parsed"), [
    ("", []), ("127.0.0.1", [("127.0.0.1", 53)]), (" 127.0.0.1:5353 , 10.0.0.1 ", [("127.0.0.1", 5353),
                                                                                   ("10.0.0.1", 53)]),
    ("::1", [("::1", 53)]), ("[::1]:5353", [("::1", 5353)]), ("[2001:db8::1]", [("2001:db8::1", 53)]),
])
def test_nameservers_setting_is_parsed(value, parsed):
    assert Settings(secret_key="k", dns_nameservers=value).nameservers == parsed


@pytest.mark.parametrize("value", ["dns.example", "127.0.0.1:0", "127.0.0.1:99999", "127.0.0.1:x", "[::1]x",
                                   "1.2.3.4:53:53"])
def test_a_nameserver_that_is_not_an_address_is_refused_at_start(value):
    with pytest.raises(ValueError, match="dns_nameservers"):
        Settings(secret_key="k", dns_nameservers=value)


@pytest.mark.parametrize("value", [0, -1, 61, "soon"])
def test_the_dns_timeout_is_bounded(value):
    with pytest.raises(ValueError, match="dns_timeout"):
        Settings(secret_key="k", dns_timeout=value)



def test_a_failure_is_kept_with_its_values_for_each_readers_language(account, cli_actor, loopback_dns, dns_settings):
    from models import i18n

    domain = federation.add_domain(account, "acme.example", by=cli_actor)
    loopback_dns.publish(domain.record_name, "something-else-" + "x" * 300)  # long: past the old 500 characters
    outcome = federation.verify_domain(account, "acme.example", by=cli_actor, settings=dns_settings)
    stored = Domain.get_by_id(domain.id).failure
    assert isinstance(stored, i18n.Text) and stored == outcome.message, "the English, and its template and values"
    german = i18n.localized(stored, i18n.translations("de").gettext)
    assert german != str(stored) and domain.record_value in german and "something-else-" in german
