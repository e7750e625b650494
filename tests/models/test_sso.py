"""Enterprise sign-in decisions (DESIGN.md §7, F1–F6) in models.sso, on both databases, from the attacker's side too.

The protocol checks (F7) are tests/sso's; here an upstream IdP's word is an
``Asserted``, and what matters is who it makes Roster sign in, and when it must not.
"""

from __future__ import annotations

import pytest

from models import accounts, connections, directory, groups, members, password_reset, sso
from models.connections import ExternalIdentity
from models.errors import PolicyViolationError
from models.ops import AuditEvent, OutboxMessage
from models.tenancy import Invitation, Membership, User
from tests.sso.support import verified_domain

ALICE = sso.Asserted(subject="okta|alice", email="alice@corp.example", given_name="Alice", family_name="Upstream")


@pytest.fixture
def corp(account):
    verified_domain(account, "corp.example")
    return account


def connection_of(account, deployment, **policy):
    made = connections.create_oidc(account, issuer="https://idp.corp.example", client_id="roster",
                                   client_secret="s3cret", secrets=deployment.secrets, by=sso_admin())
    return connections.update(made, by=sso_admin(), enabled=True, **policy)


def sso_admin():
    from models import Actor

    return Actor.cli("tests")


def failures(reason):
    return [e for e in AuditEvent.select().where(AuditEvent.action == "sso.failed") if e.detail["reason"] == reason]


def refused(connection, asserted, reason):
    with pytest.raises(sso.SsoRefused) as caught:
        sso.sign_in(connection, asserted, ip="203.0.113.9")
    assert caught.value.reason == reason
    assert failures(reason), "a failed upstream sign-in leaves the admin an audit event with the reason"
    return caught.value


# ------------------------------------------------------------------ F1, F4


def test_route_sends_a_verified_domain_to_its_accounts_enabled_connection(corp, deployment):
    connection = connection_of(corp, deployment)
    assert sso.route("Someone@Corp.Example").id == connection.id
    assert sso.route("someone@elsewhere.example") is None
    connections.update(connection, by=sso_admin(), enabled=False)
    assert sso.route("someone@corp.example") is None


def test_a_pending_domain_routes_nowhere(account, deployment):
    from models import federation

    federation.add_domain(account, "pending.example", by=sso_admin())
    connection_of(account, deployment)
    assert sso.route("x@pending.example") is None


def test_sso_required_binds_members_of_the_verified_domains_only(corp, deployment, admin):
    connection = connection_of(corp, deployment, jit=True, sso_required=True)
    inside = members.add_user(corp, "ina@corp.example", password="correct horse battery staple", by=sso_admin(),
                              via="cli", deployment=deployment).user
    _, break_glass = admin  # admin@acme.example: outside the domain, keeps the password (R1)
    assert sso.required(inside, corp).id == connection.id
    assert sso.required(break_glass, corp) is None
    assert sso.password_refused(inside).id == connection.id
    assert sso.password_refused(break_glass) is None
    assert sso.members_affected(connection) == (1, 1)


def test_password_reset_is_refused_under_sso_required(corp, deployment):
    connection_of(corp, deployment, sso_required=True)
    person = members.add_user(corp, "ina@corp.example", password="correct horse battery staple", by=sso_admin(),
                              via="cli", deployment=deployment).user
    before = OutboxMessage.select().count()
    password_reset.request_reset("ina@corp.example", deployment)
    assert OutboxMessage.select().count() == before, "no reset link for a person whose company signs them in"
    assert AuditEvent.get(AuditEvent.action == "password.reset_refused").target_id == person.id


def test_next_step_asks_the_connection_for_a_password_session_under_sso_required(corp, deployment):
    from models import clock, signin

    connection = connection_of(corp, deployment, sso_required=True)
    person = members.add_user(corp, "ina@corp.example", password="correct horse battery staple", by=sso_admin(),
                              via="cli", deployment=deployment).user
    step = signin.next_step(person, corp, amr=["pwd"], auth_time=clock.now())
    assert (step.name, step.connection_id) == ("sso", connection.id)
    assert signin.next_step(person, corp, amr=["fed"], auth_time=clock.now(), connection_id=connection.id).name \
        != "sso"


# ------------------------------------------------------------------ F2 linking without takeover


def test_a_returning_identity_signs_in_as_its_user_whatever_email_it_now_asserts(corp, deployment):
    connection = connection_of(corp, deployment, jit=True)
    first = sso.sign_in(connection, ALICE, ip="")
    again = sso.sign_in(connection, sso.Asserted(subject="okta|alice", email="renamed@corp.example"), ip="")
    assert again.user.id == first.user.id and first.linked and not again.linked
    assert again.user.email == "alice@corp.example", "upstream never changes a Roster user's email"


def test_a_new_identity_links_to_the_existing_user_of_a_verified_domain(corp, deployment):
    existing = members.add_user(corp, "alice@corp.example", password="correct horse battery staple",
                                by=sso_admin(), via="cli", deployment=deployment).user
    signed = sso.sign_in(connection_of(corp, deployment), ALICE, ip="")
    assert signed.user.id == existing.id and signed.linked
    assert User.select().where(User.email_key == "alice@corp.example").count() == 1


def test_an_email_of_another_accounts_verified_domain_is_refused(corp, deployment, cli_actor):
    attacker = accounts.create_account("Attacker Inc", "vendor", by=cli_actor)
    victim = members.add_user(corp, "ceo@corp.example", password="correct horse battery staple", by=sso_admin(),
                              via="cli", deployment=deployment).user
    connection = connection_of(attacker, deployment, jit=True)
    refused(connection, sso.Asserted(subject="evil", email="ceo@corp.example"), "foreign_domain")
    assert not ExternalIdentity.select().exists()
    assert Membership.select().where(Membership.user == victim.id).count() == 1


def test_an_unverified_email_matching_a_roster_user_never_links(account, deployment, cli_actor):
    victim_account = accounts.create_account("Victim Ltd", "vendor", by=cli_actor)
    victim = members.add_user(victim_account, "boss@victim.example", password="correct horse battery staple",
                              by=sso_admin(), via="cli", deployment=deployment).user
    connection = connection_of(account, deployment, jit=True)  # the attacker's own IdP asserts any email
    refused(connection, sso.Asserted(subject="x", email="boss@victim.example"), "unverified_domain")
    assert not ExternalIdentity.select().exists()
    assert not Membership.select().where((Membership.user == victim.id)
                                         & (Membership.account == account.id)).exists()


def test_an_unverified_domain_links_through_the_accounts_directory_record(account, deployment):
    record = directory.create_record(account, "dana@partner.example", {"emails": [
        {"value": "dana@partner.example", "primary": True}], "name": {"givenName": "Dana", "familyName": "D"}},
        "okta-00u1", by=sso_admin(), deployment=deployment)
    connection = connection_of(account, deployment)
    signed = sso.sign_in(connection, sso.Asserted(subject="okta-00u1", email="dana@partner.example"), ip="")
    linked = User.select().join(Membership).where(Membership.id == record.membership_id).get()
    assert signed.user.id == linked.id


def test_an_unverified_domain_without_a_record_gets_no_user(account, deployment):
    refused(connection_of(account, deployment, jit=True), sso.Asserted(subject="s", email="new@nowhere.example"),
            "unverified_domain")
    assert not User.select().where(User.email_key == "new@nowhere.example").exists()


def test_an_email_the_idp_says_is_unverified_is_refused(corp, deployment):
    refused(connection_of(corp, deployment, jit=True),
            sso.Asserted(subject="s", email="alice@corp.example", email_verified=False), "email_not_verified")


def test_no_email_no_sign_in(corp, deployment):
    refused(connection_of(corp, deployment, jit=True), sso.Asserted(subject="s"), "no_email")


# ------------------------------------------------------------------ F3 JIT, R6, F6


def test_without_jit_only_members_get_in(corp, deployment):
    refused(connection_of(corp, deployment, jit=False), ALICE, "not_member")
    assert not User.select().where(User.email_key == "alice@corp.example").exists()


def test_jit_makes_a_member_with_the_connections_role_and_groups(corp, deployment):
    from models import directory_groups

    directory_groups.create_directory_group(corp, "Engineering", by=sso_admin())
    connection = connection_of(corp, deployment, jit=True, default_role="user", default_groups=["Engineering"])
    signed = sso.sign_in(connection, ALICE, ip="")
    membership = Membership.get(Membership.user == signed.user.id)
    assert (membership.status, membership.role, membership.created_via) == ("active", "user", "sso")
    assert [g.display_name for g in groups.list_groups(corp) if g.id in
            {link.group_id for link in membership.group_links}] == ["Engineering"]
    assert signed.user.password_hash is None and signed.user.status == "active"


def test_a_deactivated_membership_stays_out_even_with_jit(corp, deployment):
    added = members.add_user(corp, "alice@corp.example", password="correct horse battery staple",
                             by=sso_admin(), via="cli", deployment=deployment)
    members.deactivate(added.membership, by=sso_admin())
    refused(connection_of(corp, deployment, jit=True), ALICE, "deactivated")
    assert Membership.get_by_id(added.membership.id).status == "deactivated"


def test_a_removed_member_comes_back_only_by_jit(corp, deployment):
    added = members.add_user(corp, "alice@corp.example", password="correct horse battery staple",
                             by=sso_admin(), via="cli", deployment=deployment)
    connection = connection_of(corp, deployment, jit=False)
    sso.sign_in(connection, ALICE, ip="")  # linked while a member
    members.remove(Membership.get_by_id(added.membership.id), by=sso_admin())
    refused(connection, ALICE, "not_member")
    assert not Membership.select().where(Membership.user == added.user.id).exists()
    connection = connections.update(connection, by=sso_admin(), jit=True)
    assert sso.sign_in(connection, ALICE, ip="").membership.created_via == "sso"


def test_an_invited_person_accepts_by_signing_in(corp, deployment):
    from models import invitations

    invitations.invite(corp, "alice@corp.example", by=sso_admin(), deployment=deployment)
    signed = sso.sign_in(connection_of(corp, deployment, jit=False), ALICE, ip="")
    assert signed.membership.status == "active" and signed.user.status == "active"
    assert Invitation.get(Invitation.email_key == "alice@corp.example").status == "accepted"
    assert (signed.user.given_name, signed.user.family_name) == ("Alice", "Upstream")


def test_a_disabled_user_or_connection_is_refused(corp, deployment):
    connection = connection_of(corp, deployment, jit=True)
    user = sso.sign_in(connection, ALICE, ip="").user
    User.update(status="disabled").where(User.id == user.id).execute()
    refused(connection, ALICE, "user_disabled")
    connections.update(connection, by=sso_admin(), enabled=False)
    refused(connections.get_connection(connection.id), ALICE, "connection_disabled")


def test_a_refused_sign_in_changes_nothing(corp, deployment):
    before = (User.select().count(), Membership.select().count(), ExternalIdentity.select().count())
    with pytest.raises(sso.SsoRefused):
        sso.sign_in(connection_of(corp, deployment, jit=False), ALICE, ip="")
    assert (User.select().count(), Membership.select().count(), ExternalIdentity.select().count()) == before


# ------------------------------------------------------------------ F5


def test_upstream_mfa_counts_only_when_the_connection_trusts_it(corp, deployment):
    with_otp = sso.Asserted(subject="s", email="a@corp.example", methods=("pwd", "otp"), second_factor=True)
    trusting = connection_of(corp, deployment, trust_upstream_mfa=True)
    assert sso.upstream_amr(trusting, with_otp) == ["fed", "pwd", "otp", "mfa"]
    doubting = connections.update(trusting, by=sso_admin(), trust_upstream_mfa=False)
    assert sso.upstream_amr(doubting, with_otp) == ["fed", "pwd"]
    hostile = sso.Asserted(subject="s", methods=("pwd", "<script>", "x" * 40))
    assert sso.upstream_amr(doubting, hostile) == ["fed", "pwd"]


def test_a_trusted_upstream_mfa_satisfies_the_accounts_policy(corp, deployment):
    from models import clock, signin

    accounts.set_policy(corp, mfa_required=True, by=sso_admin())
    corp = accounts.get_account(corp.id)
    trusting = connection_of(corp, deployment, jit=True, trust_upstream_mfa=True)
    signed = sso.sign_in(trusting, sso.Asserted(subject="m", email="m@corp.example", methods=("mfa",),
                                                second_factor=True), ip="")
    members.complete_first_login(signed.user, accept_terms=True, hasher=deployment.hasher)
    user = User.get_by_id(signed.user.id)
    assert signin.next_step(user, corp, amr=signed.amr, auth_time=clock.now(), connection_id=trusting.id).name \
        is None
    assert signin.next_step(user, corp, amr=["fed", "pwd"], auth_time=clock.now(),
                            connection_id=trusting.id).name == "mfa_enrol"
    assert signin.amr_with(["fed", "pwd"], "otp") == ["fed", "pwd", "otp", "mfa"]


def test_connection_is_another_accounts_not_found(corp, deployment, cli_actor):
    from models.errors import NotFoundError

    other = accounts.create_account("Other", "vendor", by=cli_actor)
    connection = connection_of(corp, deployment)
    with pytest.raises(NotFoundError):
        connections.get_connection(connection.id, other)


def test_reset_link_refused_after_sso_became_required(corp, deployment):
    import datetime as dt

    from models import clock
    from models.secrets import new_token, token_hash
    from models.security import PasswordResetToken

    person = members.add_user(corp, "ina@corp.example", password="correct horse battery staple", by=sso_admin(),
                              via="cli", deployment=deployment).user
    raw = new_token()
    PasswordResetToken.create(token_hash=token_hash(raw), user=person.id,
                              expires_at=clock.now() + dt.timedelta(hours=1))
    connection_of(corp, deployment, sso_required=True)
    with pytest.raises(PolicyViolationError):
        password_reset.reset(raw, "another correct horse battery", deployment.hasher)


def test_the_idps_groups_add_the_person_to_the_accounts_groups_of_those_names(corp, deployment):
    from models import directory_groups

    eng = directory_groups.create_directory_group(corp, "Engineering", by=sso_admin())
    directory_groups.create_directory_group(corp, "Sales", by=sso_admin())
    connection = connection_of(corp, deployment, jit=True)
    signed = sso.sign_in(connection, sso.Asserted(subject="g", email="g@corp.example",
                                                  groups=("engineering", "Unknown Team")), ip="")
    joined = {link.group_id for link in Membership.get_by_id(signed.membership.id).group_links}
    assert joined == {eng.id}, "only existing groups, matched by name; none made"
    sso.sign_in(connection, sso.Asserted(subject="g", email="g@corp.example", groups=("ENGINEERING",)), ip="")
    assert len(list(Membership.get_by_id(signed.membership.id).group_links)) == 1


def test_jit_keeps_to_the_accounts_allowed_email_domains(corp, deployment):
    accounts.set_policy(corp, allowed_email_domains=["elsewhere.example"], by=sso_admin())
    connection = connection_of(accounts.get_account(corp.id), deployment, jit=True)
    refused(connection, ALICE, "email_refused")
    assert not User.select().where(User.email_key == "alice@corp.example").exists(), "the new user went back too"
