"""R1, R6–R9 (and the R11 hook): memberships and users."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import (
    Actor,
    AuditEvent,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    Invitation,
    Membership,
    NotFoundError,
    OAuthClient,
    OAuthToken,
    OutboxMessage,
    PolicyViolationError,
    Session,
    User,
    accounts,
    clock,
    groups,
    invitations,
    members,
)
from models.secrets import token_hash  # noqa: E402

PASSWORD = "a long and unusual passphrase"


@pytest.fixture
def by(admin) -> Actor:
    return Actor.for_user(admin[1])


@pytest.fixture
def member(account, cli_actor, deployment):
    return members.add_user(account, "member@acme.example", password=PASSWORD, by=cli_actor, deployment=deployment)


def fresh(membership: Membership) -> Membership | None:
    return Membership.get_or_none(Membership.id == membership.id)


# ----------------------------------------------------------------- R1


@pytest.mark.parametrize("change", ["deactivate", "remove", "demote", "leave", "delete_user"])
def test_r1_last_admin_cannot_be_taken_away(account, admin, change, cli_actor):
    membership, user = admin
    events_before = AuditEvent.select().count()
    act = {
        "deactivate": lambda: members.deactivate(membership, by=cli_actor),
        "remove": lambda: members.remove(membership, by=cli_actor),
        "demote": lambda: members.set_role(membership, "user", by=cli_actor),
        "leave": lambda: members.leave(user, account),
        "delete_user": lambda: members.delete_user(user, by=Actor.for_user(user)),
    }[change]

    with pytest.raises(PolicyViolationError, match="at least one active admin") as refusal:
        act()

    assert refusal.value.reason == "last_admin"
    kept = fresh(membership)
    assert kept is not None and (kept.status, kept.role) == ("active", "admin")
    assert User.get_or_none(User.id == user.id) is not None
    assert AuditEvent.select().count() == events_before


def test_r1_an_admin_can_go_once_another_admin_exists(account, admin, member, by):
    members.set_role(member.membership, "admin", by=by)
    members.deactivate(admin[0], by=by)
    assert fresh(admin[0]).status == "deactivated"
    # the remaining admin is now the last one
    with pytest.raises(PolicyViolationError):
        members.remove(member.membership, by=Actor.cli())


def test_r1_a_deactivated_admin_does_not_count(account, admin, member, by, cli_actor):
    members.set_role(member.membership, "admin", by=by)
    members.deactivate(member.membership, by=by)
    with pytest.raises(PolicyViolationError):
        members.set_role(admin[0], "user", by=cli_actor)


def test_r1_removing_a_non_admin_or_an_inactive_admin_is_fine(account, admin, member, by, cli_actor):
    members.remove(member.membership, by=by)
    assert fresh(member.membership) is None


# ----------------------------------------------------------------- R6


@pytest.fixture
def invited_admin(account, cli_actor, deployment):
    """``account`` as ``roster init`` leaves it: its only admin is invited (membership, user)."""
    result = invitations.invite(account, "boss@acme.example", role="admin", by=cli_actor, via="cli",
                                deployment=deployment)
    membership = Membership.get_by_id(result.membership_id)
    return membership, User.get_by_id(membership.user_id)


INVITED_ADMIN_CHANGES = ["deactivate", "remove", "demote", "revoke_invitation", "leave", "delete_user"]


def _take_away(change: str, membership: Membership, user: User, account, by: Actor) -> None:
    {
        "deactivate": lambda: members.deactivate(membership, by=by),
        "remove": lambda: members.remove(membership, by=by),
        "demote": lambda: members.set_role(membership, "user", by=by),
        "revoke_invitation": lambda: invitations.revoke(
            Invitation.get(Invitation.membership == membership.id), by=by),
        "leave": lambda: members.leave(user, account),
        "delete_user": lambda: members.delete_user(user, by=by),
    }[change]()


@pytest.mark.parametrize("change", INVITED_ADMIN_CHANGES)
def test_r1_the_only_admin_still_invited_cannot_be_taken_away(account, invited_admin, change, cli_actor):
    membership, user = invited_admin
    events_before = AuditEvent.select().count()

    with pytest.raises(PolicyViolationError, match="at least one active or invited admin") as refusal:
        _take_away(change, membership, user, account, cli_actor)

    assert refusal.value.reason == "last_admin"
    kept = fresh(membership)
    assert kept is not None and (kept.status, kept.role) == ("invited", "admin")
    assert Invitation.get(Invitation.membership == membership.id).status == "pending"
    assert User.get_or_none(User.id == user.id) is not None
    assert AuditEvent.select().count() == events_before


@pytest.mark.parametrize("change", INVITED_ADMIN_CHANGES)
def test_r1_an_invited_admin_can_go_once_another_admin_is_invited(account, invited_admin, change, cli_actor,
                                                                  deployment):
    membership, user = invited_admin
    second = invitations.invite(account, "deputy@acme.example", role="admin", by=cli_actor, deployment=deployment)

    _take_away(change, membership, user, account, cli_actor)

    assert fresh(membership) is None or (fresh(membership).status, fresh(membership).role) != ("invited", "admin")
    with pytest.raises(PolicyViolationError, match="active or invited admin"):
        members.remove(Membership.get_by_id(second.membership_id), by=cli_actor)


def test_r1_an_active_admin_stays_needed_while_the_other_admin_is_only_invited(account, admin, cli_actor, deployment):
    invited = invitations.invite(account, "deputy@acme.example", role="admin", by=cli_actor, deployment=deployment)
    with pytest.raises(PolicyViolationError, match="at least one active admin"):
        members.deactivate(admin[0], by=cli_actor)
    members.remove(Membership.get_by_id(invited.membership_id), by=cli_actor)  # the active admin remains
    assert fresh(admin[0]).status == "active"


def test_r1_the_invited_admin_accepting_makes_them_the_active_admin(account, invited_admin, cli_actor, deployment):
    membership, user = invited_admin
    link = invitations.link(Invitation.get(Invitation.membership == membership.id), by=cli_actor, deployment=deployment)
    invitations.accept(link.rsplit("/", 1)[1], given_name="Bo", family_name="Ss", password=PASSWORD,
                       accept_terms=True, hasher=deployment.hasher)
    with pytest.raises(PolicyViolationError, match="at least one active admin"):
        members.deactivate(membership, by=cli_actor)


ROLES_AND_STATES = st.lists(st.tuples(st.sampled_from(["admin", "user"]), st.sampled_from(["active", "invited"])),
                            min_size=1, max_size=4)
OPERATIONS = st.lists(st.tuples(st.sampled_from(["deactivate", "reactivate", "remove", "demote", "promote",
                                                 "revoke_invitation", "leave", "delete_user"]),
                                st.integers(min_value=0, max_value=3)), max_size=8)


def _managers(account) -> tuple[int, int]:
    rows = Membership.select(Membership.status).where((Membership.account == account.id)
                                                      & (Membership.role == "admin"))
    statuses = [m.status for m in rows]
    return statuses.count("active"), statuses.count("invited")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(people=ROLES_AND_STATES, operations=OPERATIONS)
def test_r1_holds_for_any_sequence_of_changes(database, cli_actor, people, operations, deployment):
    """Whatever is done, in any order: an account with an active admin keeps one, and one with an active or
    invited admin keeps one; a change is refused (changing nothing) exactly when it would break that."""
    account = accounts.create_account(f"Generated {clock.now().timestamp()} {id(people)}", "vendor", by=cli_actor)
    team: list[tuple[str, str]] = []
    for index, (role, state) in enumerate(people):
        email = f"p{index}.{account.id}@acme.example"
        if state == "active":
            added = members.add_user(account, email, role=role, password=PASSWORD, by=cli_actor, deployment=deployment)
            team.append((added.membership.id, added.user.id))
        else:
            result = invitations.invite(account, email, role=role, by=cli_actor, deployment=deployment)
            team.append((result.membership_id, Membership.get_by_id(result.membership_id).user_id))
    for operation, index in operations:
        membership_id, user_id = team[index % len(team)]
        membership = Membership.get_or_none(Membership.id == membership_id)
        if membership is None:
            continue
        user = User.get_by_id(user_id)
        active, invited = _managers(account)
        takes_away = operation in INVITED_ADMIN_CHANGES and membership.role == "admin" and (
            membership.status in ("active", "invited"))
        expect_refusal = takes_away and (
            (membership.status == "active" and active == 1)
            or (membership.status == "invited" and active == 0 and invited == 1))
        before = (membership.status, membership.role)
        try:
            if operation == "reactivate":
                members.reactivate(membership, by=cli_actor)
            elif operation == "promote":
                members.set_role(membership, "admin", by=cli_actor)
            elif operation == "revoke_invitation":
                pending = Invitation.get_or_none((Invitation.membership == membership.id)
                                                 & (Invitation.status == "pending"))
                if pending is None:
                    continue
                invitations.revoke(pending, by=cli_actor)
            else:
                _take_away(operation, membership, user, account, cli_actor)
        except PolicyViolationError as refusal:
            assert refusal.reason == "last_admin" and expect_refusal, (operation, before, active, invited)
            kept = fresh(membership)
            assert kept is not None and (kept.status, kept.role) == before
            assert _managers(account) == (active, invited)
            continue
        assert not expect_refusal, (operation, before, active, invited)
        now_active, now_invited = _managers(account)
        assert now_active > 0 or active == 0
        assert now_active + now_invited > 0 or active + invited == 0


def test_r6_deactivate_keeps_the_membership_and_reactivate_restores_it(account, member, by):
    members.deactivate(member.membership, by=by)
    assert fresh(member.membership).status == "deactivated"
    members.reactivate(member.membership, by=by)
    assert fresh(member.membership).status == "active"
    actions = [e.action for e in AuditEvent.select().where(AuditEvent.target_id == member.membership.id)]
    assert actions[-2:] == ["membership.deactivated", "membership.reactivated"]


def test_r6_reactivating_a_never_registered_person_restores_the_invitation_state(account, by, deployment):
    invited = invitations.invite(account, "later@acme.example", by=by, deployment=deployment)
    membership = Membership.get_by_id(invited.membership_id)
    members.deactivate(membership, by=by)
    assert members.reactivate(membership, by=by).status == "invited"


def test_r6_remove_deletes_the_membership_only(account, member, by, cli_actor, deployment):
    other = accounts.create_account("Partner Distributor", "distributor", by=cli_actor)
    elsewhere = members.add_user(other, "member@acme.example", by=cli_actor, deployment=deployment).membership
    team = groups.create_group(account, "Team", by=by)
    groups.add_members(team, [member.membership.id], by=by)

    members.remove(member.membership, by=by)

    assert fresh(member.membership) is None
    assert fresh(elsewhere).status == "active"
    assert User.get_by_id(member.user.id).status == "active"
    assert groups.group_member_emails(team) == []


def test_r6_removing_an_invited_person_revokes_the_invitation(account, by, deployment):
    invited = invitations.invite(account, "gone@acme.example", by=by, deployment=deployment)
    members.remove(Membership.get_by_id(invited.membership_id), by=by)
    assert invitations.lookup(invited.link.rsplit("/", 1)[1]).status == "revoked"


def test_r6_deactivate_does_not_touch_other_accounts(account, member, by, cli_actor, deployment):
    other = accounts.create_account("Second Vendor", "vendor", by=cli_actor)
    elsewhere = members.add_user(other, "member@acme.example", by=cli_actor, deployment=deployment).membership
    members.deactivate(member.membership, by=by)
    assert fresh(elsewhere).status == "active"


# ----------------------------------------------------------------- R7


def test_r7_only_admins_manage_people(account, member, deployment):
    as_user = Actor.for_user(member.user)
    with pytest.raises(ForbiddenError, match="Only an admin"):
        invitations.invite(account, "x@acme.example", by=as_user, deployment=deployment)
    with pytest.raises(ForbiddenError):
        members.deactivate(member.membership, by=as_user)
    with pytest.raises(ForbiddenError):
        groups.create_group(account, "Mine", by=as_user)
    with pytest.raises(ForbiddenError):
        accounts.set_policy(account, mfa_required=True, by=as_user)


def test_r7_admin_of_another_account_has_no_power_here(account, member, cli_actor, deployment):
    other = accounts.create_account("Rival", "vendor", by=cli_actor)
    rival_admin = members.add_user(other, "boss@rival.example", role="admin", password=PASSWORD, by=cli_actor,
                                   deployment=deployment)
    with pytest.raises(ForbiddenError):
        members.remove(member.membership, by=Actor.for_user(rival_admin.user))
    assert fresh(member.membership) is not None


def test_r7_a_deactivated_admin_loses_admin_powers(account, admin, member, by, cli_actor, deployment):
    members.set_role(member.membership, "admin", by=by)
    members.deactivate(admin[0], by=cli_actor)
    with pytest.raises(ForbiddenError):
        invitations.invite(account, "x@acme.example", by=by, deployment=deployment)


def test_r7_user_role_never_gets_admin_only_modules(account, by, deployment):
    result = invitations.invite(account, "p@acme.example", preset="all", by=by, deployment=deployment)
    granted = Membership.get_by_id(result.membership_id).permissions
    assert not {"pricing", "payment", "user_management"} & set(granted)
    with pytest.raises(InvalidInputError, match="for admins only"):
        invitations.invite(account, "q@acme.example", modules=["pricing"], by=by, deployment=deployment)


def test_r7_admin_role_gets_every_module_and_presets_differ(account, by, member):
    admin_membership = members.set_role(member.membership, "admin", by=by)
    assert {"pricing", "payment", "user_management"} <= set(admin_membership.permissions)
    demoted = members.set_role(member.membership, "user", preset="purchasing", by=by)
    assert demoted.permissions == ["products", "orders", "subscriptions", "billing", "dashboard"] or set(
        demoted.permissions) == {"dashboard", "products", "orders", "subscriptions", "billing"}
    assert "user_management" not in demoted.permissions


def test_r7_permissions_limited_to_chosen_sub_accounts(account, by, cli_actor, deployment):
    child = accounts.create_account("Acme EU", "vendor", parent=account.id, by=cli_actor)
    stranger = accounts.create_account("Not a child", "vendor", by=cli_actor)
    result = invitations.invite(account, "scoped@acme.example", sub_account_scope=[child.id], by=by,
                                deployment=deployment)
    assert Membership.get_by_id(result.membership_id).sub_account_scope == [child.id]
    with pytest.raises(InvalidInputError, match="Not sub-accounts"):
        invitations.invite(account, "wide@acme.example", sub_account_scope=[stranger.id], by=by, deployment=deployment)


# ----------------------------------------------------------------- R8


def test_r8_temporary_password_is_mailed_and_must_be_changed(account, by, deployment):
    added = members.add_user(account, "temp@acme.example", temporary_password=True, by=by, deployment=deployment)

    assert added.created_user and added.temporary_password
    user = User.get_by_id(added.user.id)
    assert user.must_change_password and user.terms_accepted_at is None
    assert deployment.hasher.verify(user.password_hash, added.temporary_password)
    mail = OutboxMessage.get(OutboxMessage.recipient == "temp@acme.example")
    assert added.temporary_password in mail.body

    with pytest.raises(InvalidInputError, match="terms"):
        members.complete_first_login(user, new_password=PASSWORD, accept_terms=False, hasher=deployment.hasher)
    with pytest.raises(InvalidInputError, match="other than the temporary"):
        members.complete_first_login(user, new_password=added.temporary_password + "x" * 0, accept_terms=True,
                                     hasher=deployment.hasher)
    done = members.complete_first_login(user, new_password=PASSWORD, accept_terms=True, hasher=deployment.hasher)
    assert not done.must_change_password and done.terms_accepted_at is not None
    assert deployment.hasher.verify(done.password_hash, PASSWORD)


def test_r8_a_password_set_by_the_operator_needs_only_the_terms(account, by, deployment):
    added = members.add_user(account, "set@acme.example", password=PASSWORD, by=by, deployment=deployment)
    user = User.get_by_id(added.user.id)
    assert not user.must_change_password and user.terms_accepted_at is None and added.temporary_password is None
    kept = user.password_hash

    with pytest.raises(InvalidInputError, match="terms"):
        members.complete_first_login(user, accept_terms=False, hasher=deployment.hasher)
    done = members.complete_first_login(user, accept_terms=True, hasher=deployment.hasher)

    assert done.terms_accepted_at is not None and done.password_hash == kept
    assert AuditEvent.get(AuditEvent.action == "user.first_login_completed").detail["password_changed"] is False


def test_r8_a_temporary_password_must_be_replaced_with_the_terms(account, by, deployment):
    added = members.add_user(account, "temp2@acme.example", temporary_password=True, by=by, deployment=deployment)
    user = User.get_by_id(added.user.id)
    with pytest.raises(InvalidInputError, match="Choose your own password"):
        members.complete_first_login(user, accept_terms=True, hasher=deployment.hasher)
    assert User.get_by_id(user.id).terms_accepted_at is None


def test_r8_existing_person_keeps_their_password(account, by, cli_actor, deployment):
    other = accounts.create_account("Third", "reseller", by=cli_actor)
    original = members.add_user(other, "keeps@acme.example", password=PASSWORD, by=cli_actor,
                                deployment=deployment).user
    added = members.add_user(account, "keeps@acme.example", temporary_password=True, by=by, deployment=deployment)
    assert not added.created_user and added.temporary_password is None
    assert User.get_by_id(original.id).password_hash == original.password_hash


def test_r8_duplicate_member_and_bad_password(account, by, member, deployment):
    with pytest.raises(ConflictError, match="already a member"):
        members.add_user(account, "member@acme.example", temporary_password=True, by=by, deployment=deployment)
    with pytest.raises(InvalidInputError, match="must not be your email"):
        members.add_user(account, "selfish.person@acme.example", password="selfish.person@acme.example", by=by,
                         deployment=deployment)


# ----------------------------------------------------------------- R9


def test_r9_a_person_leaves_an_account(account, member):
    members.leave(member.user, account)
    assert fresh(member.membership) is None
    assert AuditEvent.get(AuditEvent.action == "membership.left").actor_id == member.user.id
    with pytest.raises(NotFoundError):
        members.leave(member.user, account)


def test_r9_change_password_needs_the_current_one(member, deployment):
    with pytest.raises(InvalidInputError, match="current password"):
        members.change_password(member.user, current="wrong", new="a different long passphrase",
                                hasher=deployment.hasher)
    members.change_password(member.user, current=PASSWORD, new="a different long passphrase", hasher=deployment.hasher)
    assert deployment.hasher.verify(User.get_by_id(member.user.id).password_hash, "a different long passphrase")


def test_r9_delete_user_removes_every_membership_and_is_logged(account, member, cli_actor, deployment):
    other = accounts.create_account("Fourth", "vendor", by=cli_actor)
    members.add_user(other, "member@acme.example", by=cli_actor, deployment=deployment)

    members.delete_user(member.user, by=Actor.for_user(member.user))

    assert User.get_or_none(User.id == member.user.id) is None
    assert not Membership.select().where(Membership.user == member.user.id).exists()
    assert AuditEvent.get(AuditEvent.action == "user.deleted").detail["email"] == "member@acme.example"
    assert AuditEvent.select().where(AuditEvent.action == "membership.removed").count() == 2


def test_r9_nobody_else_deletes_a_person(member, admin):
    with pytest.raises(ForbiddenError):
        members.delete_user(member.user, by=Actor.for_user(admin[1]))


# ----------------------------------------------------------------- R11 (domain hook)


def _signed_in(user, account, client_id="app"):
    client = OAuthClient.get_or_none(OAuthClient.client_id == client_id) or OAuthClient.create(
        client_id=client_id, account=account.id, redirect_uris=["https://app.example/cb"],
        backchannel_logout_uri="https://app.example/logout")
    session = Session.create(user=user.id, account=account.id, token_hash=token_hash(f"s-{user.id}-{account.id}"))
    OAuthToken.create(client=client, user=user.id, account=account.id, session=session, family_id="f",
                      access_token_hash=token_hash(f"a-{user.id}-{account.id}"),
                      refresh_token_hash=token_hash(f"r-{user.id}-{account.id}"),
                      access_expires_at=clock.now() + dt.timedelta(hours=1))
    return session


@pytest.mark.parametrize("change", ["deactivate", "remove"])
def test_r11_deprovisioning_ends_sessions_and_tokens_in_that_account_only(account, member, by, cli_actor, change,
                                                                          deployment):
    other = accounts.create_account("Kept", "vendor", by=cli_actor)
    members.add_user(other, "member@acme.example", by=cli_actor, deployment=deployment)
    here = _signed_in(member.user, account)
    there = _signed_in(member.user, other, client_id="other-app")

    getattr(members, change)(member.membership, by=by)

    assert Session.get_by_id(here.id).ended_at is not None
    assert Session.get_by_id(there.id).ended_at is None
    revoked = {t.account_id: t.revoked_at for t in OAuthToken.select()}
    assert revoked[account.id] is not None and revoked[other.id] is None
    logout = OutboxMessage.get(OutboxMessage.kind == "backchannel_logout")
    assert logout.payload == {"client_id": "app", "sub": member.user.id, "sid": here.id}


def test_r11_disable_and_delete_end_every_session(account, member, cli_actor):
    session = _signed_in(member.user, account)
    members.disable_user(member.user, by=cli_actor)
    ended = Session.get_by_id(session.id)
    assert ended.ended_at is not None and ended.end_reason == "user_disabled"
    assert User.get_by_id(member.user.id).status == "disabled"
