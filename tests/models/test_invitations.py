"""R2–R5: invitations."""

from __future__ import annotations

import pytest

from models import (
    Actor,
    AuditEvent,
    ConflictError,
    InvalidInputError,
    Invitation,
    Membership,
    OutboxMessage,
    PolicyViolationError,
    User,
    accounts,
    groups,
    invitations,
    members,
    notifications,
)

PASSWORD = "a long and unusual passphrase"


def token_of(link: str) -> str:
    return link.rsplit("/", 1)[1]


@pytest.fixture
def by(admin) -> Actor:
    return Actor.for_user(admin[1])


# ----------------------------------------------------------------- R2


def test_r2_new_email_gets_pending_user_invited_membership_and_invitation(account, by, deployment):
    result = invitations.invite(account, "New.Person@Acme.example", given_name="New", family_name="Person", by=by,
                                deployment=deployment)

    assert result.outcome == "invited"
    user = User.get(User.email_key == "new.person@acme.example")
    assert user.status == "pending" and user.password_hash is None
    membership = Membership.get_by_id(result.membership_id)
    assert (membership.user_id, membership.account_id, membership.status) == (user.id, account.id, "invited")
    invitation = Invitation.get_by_id(result.invitation_id)
    assert invitation.status == "pending"
    mail = OutboxMessage.get(OutboxMessage.recipient == "New.Person@acme.example")
    assert result.link in mail.body and "Register" in mail.body
    assert AuditEvent.get(AuditEvent.action == "invitation.created").actor_id == by.id


def test_r2_existing_user_gets_membership_at_once_and_a_notice(account, by, cli_actor, deployment):
    other = accounts.create_account("Other Reseller", "reseller", by=cli_actor)
    existing = members.add_user(other, "known@acme.example", password=PASSWORD, by=cli_actor,
                                deployment=deployment).user

    result = invitations.invite(account, "KNOWN@acme.example", by=by, deployment=deployment)

    assert result.outcome == "added" and result.link is None
    membership = Membership.get_by_id(result.membership_id)
    assert membership.user_id == existing.id and membership.status == "active"
    assert not Invitation.select().where(Invitation.email_key == "known@acme.example").exists()
    notice = OutboxMessage.select().where(OutboxMessage.recipient == "known@acme.example").order_by(
        OutboxMessage.id.desc()).first()
    _, body = notifications.render(notice, deployment)  # an account-change notice (models.notifications)
    assert "added to Acme Vendor" in body and "/invitations/" not in body


def test_r2_accept_registers_the_person_and_activates_the_membership(account, by, deployment):
    result = invitations.invite(account, "newbie@acme.example", given_name="Nia", family_name="Newbie", by=by,
                                deployment=deployment)

    membership = invitations.accept(token_of(result.link), password=PASSWORD, accept_terms=True,
                                    hasher=deployment.hasher)

    user = User.get_by_id(membership.user_id)
    assert membership.status == "active"
    assert user.status == "active" and user.terms_accepted_at is not None
    assert (user.given_name, user.family_name) == ("Nia", "Newbie")
    assert Invitation.get_by_id(result.invitation_id).status == "accepted"


def test_r6_a_member_deactivated_while_invited_registers_but_stays_deactivated(account, by, deployment):
    """Accepting the link does not undo the admin's deactivation; reactivating then makes them active."""
    result = invitations.invite(account, "paused@acme.example", given_name="Pia", family_name="Paused", by=by,
                                deployment=deployment)
    members.deactivate(Membership.get_by_id(result.membership_id), by=by)

    membership = invitations.accept(token_of(result.link), password=PASSWORD, accept_terms=True,
                                    hasher=deployment.hasher)

    assert membership.status == "deactivated"
    assert User.get_by_id(membership.user_id).status == "active"  # registered: the password is theirs
    assert Invitation.get_by_id(result.invitation_id).status == "accepted"
    assert members.reactivate(membership, by=by).status == "active"


def test_r2_registration_requires_terms_names_and_a_good_password(account, by, deployment):
    token = token_of(invitations.invite(account, "strict@acme.example", by=by, deployment=deployment).link)

    with pytest.raises(InvalidInputError, match="terms"):
        invitations.accept(token, given_name="S", family_name="T", password=PASSWORD, hasher=deployment.hasher)
    with pytest.raises(InvalidInputError, match="name"):
        invitations.accept(token, password=PASSWORD, accept_terms=True, hasher=deployment.hasher)
    with pytest.raises(InvalidInputError, match="at least 12"):
        invitations.accept(token, given_name="S", family_name="T", password="short", accept_terms=True,
                           hasher=deployment.hasher)
    with pytest.raises(InvalidInputError, match="commonly used"):
        invitations.accept(token, given_name="S", family_name="T", password="password1234", accept_terms=True,
                           hasher=deployment.hasher)

    assert invitations.lookup(token).status == "pending"
    assert User.get(User.email_key == "strict@acme.example").status == "pending"


def test_invited_groups_and_permissions_land_on_the_membership(account, by, deployment):
    sales = groups.create_group(account, "Sales", by=by)

    result = invitations.invite(account, "grouped@acme.example", groups=["sales"], preset="support", by=by,
                                deployment=deployment)

    membership = Membership.get_by_id(result.membership_id)
    assert [g.display_name for g in groups.resolve_groups(account, [sales.id])] == ["Sales"]
    assert groups.group_member_emails(sales) == ["grouped@acme.example"]
    assert membership.permissions == ["dashboard", "products", "subscriptions", "support"]


# ----------------------------------------------------------------- R3


def test_r3_invitation_expires_after_the_account_ttl(account, by, frozen_clock, deployment):
    token = token_of(invitations.invite(account, "late@acme.example", by=by, deployment=deployment).link)

    frozen_clock.advance(days=7, seconds=1)

    with pytest.raises(PolicyViolationError, match="expired") as refusal:
        invitations.accept(token, given_name="L", family_name="Ate", password=PASSWORD, accept_terms=True,
                           hasher=deployment.hasher)
    assert refusal.value.reason == "invitation_expired"
    assert User.get(User.email_key == "late@acme.example").status == "pending"


def test_r3_ttl_follows_the_account_policy(account, by, frozen_clock, cli_actor, deployment):
    accounts.set_policy(account, invitation_ttl_days=2, by=cli_actor)
    account = accounts.get_account(account.id)
    token = token_of(invitations.invite(account, "short@acme.example", by=by, deployment=deployment).link)
    frozen_clock.advance(days=1, hours=23)
    assert invitations.lookup(token).status == "pending"
    frozen_clock.advance(hours=2)
    assert invitations.lookup(token).status == "expired"


def test_r3_resend_rotates_the_token_and_restarts_expiry(account, by, frozen_clock, deployment):
    first = invitations.invite(account, "again@acme.example", by=by, deployment=deployment)
    frozen_clock.advance(days=6)
    invitation = Invitation.get_by_id(first.invitation_id)

    new_link = invitations.resend(invitation, by=by, deployment=deployment)

    assert new_link != first.link
    assert invitations.lookup(token_of(first.link)).status == "invalid"
    resent = Invitation.get_by_id(first.invitation_id)
    assert resent.sent_count == 2
    assert resent.expires_at == frozen_clock.current + __import__("datetime").timedelta(days=7)
    frozen_clock.advance(days=6)
    invitations.accept(token_of(new_link), given_name="A", family_name="Gain", password=PASSWORD, accept_terms=True,
                       hasher=deployment.hasher)
    assert OutboxMessage.select().where(OutboxMessage.recipient == "again@acme.example").count() == 2


def test_r3_resend_revives_an_expired_invitation(account, by, frozen_clock, deployment):
    first = invitations.invite(account, "expired@acme.example", by=by, deployment=deployment)
    frozen_clock.advance(days=8)
    link = invitations.resend(Invitation.get_by_id(first.invitation_id), by=by, deployment=deployment)
    assert invitations.lookup(token_of(link)).status == "pending"


def test_r3_copy_link_gives_the_mailed_link_while_pending(account, by, deployment):
    first = invitations.invite(account, "copy@acme.example", by=by, deployment=deployment)
    assert invitations.link(Invitation.get_by_id(first.invitation_id), by=by, deployment=deployment) == first.link


def test_r3_revoke_stops_the_link_and_drops_the_invited_membership(account, by, deployment):
    first = invitations.invite(account, "revoked@acme.example", by=by, deployment=deployment)

    invitations.revoke(Invitation.get_by_id(first.invitation_id), by=by)

    with pytest.raises(PolicyViolationError, match="revoked"):
        invitations.accept(token_of(first.link), given_name="R", family_name="V", password=PASSWORD,
                           accept_terms=True, hasher=deployment.hasher)
    assert not Membership.select().where(Membership.id == first.membership_id).exists()
    with pytest.raises(PolicyViolationError):
        invitations.resend(Invitation.get_by_id(first.invitation_id), by=by, deployment=deployment)
    with pytest.raises(PolicyViolationError):
        invitations.link(Invitation.get_by_id(first.invitation_id), by=by, deployment=deployment)


def test_r3_a_used_link_cannot_be_used_again(account, by, deployment):
    link = invitations.invite(account, "once@acme.example", by=by, deployment=deployment).link
    invitations.accept(token_of(link), given_name="O", family_name="Nce", password=PASSWORD, accept_terms=True,
                       hasher=deployment.hasher)

    with pytest.raises(PolicyViolationError, match="used already") as refusal:
        invitations.accept(token_of(link), given_name="X", family_name="Y", password="another passphrase here",
                           accept_terms=True, hasher=deployment.hasher)
    assert refusal.value.reason == "invitation_accepted"
    assert User.get(User.email_key == "once@acme.example").given_name == "O"


def test_r3_unknown_token_is_invalid(database, deployment):
    assert invitations.lookup("not-a-token").status == "invalid"
    with pytest.raises(PolicyViolationError, match="not valid"):
        invitations.accept("not-a-token", password=PASSWORD, accept_terms=True, hasher=deployment.hasher)


def test_r3_link_tokens_are_stored_hashed(account, by, deployment):
    link = invitations.invite(account, "hashed@acme.example", by=by, deployment=deployment).link
    row = Invitation.get(Invitation.email_key == "hashed@acme.example")
    assert token_of(link) not in (row.token_hash, row.token_nonce)


# ----------------------------------------------------------------- R4


def test_r4_pending_invitation_email_and_name_can_be_edited(account, by, deployment):
    first = invitations.invite(account, "typo@acme.exmaple", by=by, deployment=deployment)
    invitation = Invitation.get_by_id(first.invitation_id)

    edited = invitations.edit(invitation, email="fixed@acme.example", given_name="Fix", family_name="Ed", by=by,
                              deployment=deployment)

    assert (edited.email, edited.given_name) == ("fixed@acme.example", "Fix")
    membership = Membership.get_by_id(first.membership_id)
    assert User.get_by_id(membership.user_id).email_key == "fixed@acme.example"
    assert not User.select().where(User.email_key == "typo@acme.exmaple").exists()
    accepted = invitations.accept(token_of(first.link), password=PASSWORD, accept_terms=True, hasher=deployment.hasher)
    assert User.get_by_id(accepted.user_id).given_name == "Fix"


def test_r4_accepted_invitation_cannot_be_edited(account, by, deployment):
    first = invitations.invite(account, "mine@acme.example", by=by, deployment=deployment)
    invitations.accept(token_of(first.link), given_name="M", family_name="E", password=PASSWORD, accept_terms=True,
                       hasher=deployment.hasher)

    with pytest.raises(PolicyViolationError, match="only a pending invitation"):
        invitations.edit(Invitation.get_by_id(first.invitation_id), email="stolen@acme.example", by=by,
                         deployment=deployment)
    assert User.get_by_id(Membership.get_by_id(first.membership_id).user_id).email == "mine@acme.example"


def test_r4_edit_to_an_email_already_invited_is_refused(account, by, deployment):
    first = invitations.invite(account, "one@acme.example", by=by, deployment=deployment)
    invitations.invite(account, "two@acme.example", by=by, deployment=deployment)
    with pytest.raises(ConflictError, match="pending invitation"):
        invitations.edit(Invitation.get_by_id(first.invitation_id), email="two@acme.example", by=by,
                         deployment=deployment)
    assert Invitation.get_by_id(first.invitation_id).email == "one@acme.example"


# ----------------------------------------------------------------- R5


def test_r5_bulk_invite_reports_each_email(account, by, admin, cli_actor, deployment):
    invitations.invite(account, "pending@acme.example", by=by, deployment=deployment)
    other = accounts.create_account("Elsewhere", "provider", by=cli_actor)
    members.add_user(other, "registered@acme.example", password=PASSWORD, by=cli_actor, deployment=deployment)

    results = invitations.bulk_invite(
        account,
        ["fresh@acme.example", "admin@acme.example", "PENDING@acme.example", "someone@mailinator.com",
         "not an email", "registered@acme.example", "fresh@acme.example"],
        by=by, deployment=deployment,
    )

    outcomes = [(r.email, r.outcome) for r in results]
    assert outcomes == [
        ("fresh@acme.example", "invited"),
        ("admin@acme.example", "already_member"),
        ("PENDING@acme.example", "already_invited"),
        ("someone@mailinator.com", "rejected"),
        ("not an email", "rejected"),
        ("registered@acme.example", "added"),
        ("fresh@acme.example", "rejected"),
    ]
    assert "disposable" in results[3].reason
    assert "not a valid email" in results[4].reason
    assert "more than once" in results[6].reason
    assert Invitation.select().where(Invitation.account == account.id).count() == 2


def test_r5_single_invites_raise_with_the_reason(account, by, deployment):
    with pytest.raises(ConflictError) as member:
        invitations.invite(account, "admin@acme.example", by=by, deployment=deployment)
    assert member.value.reason == "already_member"
    invitations.invite(account, "twice@acme.example", by=by, deployment=deployment)
    with pytest.raises(ConflictError) as twice:
        invitations.invite(account, "Twice@Acme.example", by=by, deployment=deployment)
    assert twice.value.reason == "already_invited"
    with pytest.raises(InvalidInputError, match="disposable"):
        invitations.invite(account, "x@guerrillamail.com", by=by, deployment=deployment)


def test_r5_allowed_email_domains(account, by, cli_actor, deployment):
    accounts.set_policy(account, allowed_email_domains=["acme.example"], by=cli_actor)
    account = accounts.get_account(account.id)
    assert invitations.invite(account, "ok@sales.acme.example", by=by, deployment=deployment).outcome == "invited"
    with pytest.raises(InvalidInputError, match="not in a domain"):
        invitations.invite(account, "no@other.example", by=by, deployment=deployment)


def test_r5_an_expired_invitation_does_not_block_a_new_one(account, by, frozen_clock, deployment):
    first = invitations.invite(account, "retry@acme.example", by=by, deployment=deployment)
    frozen_clock.advance(days=8)
    second = invitations.invite(account, "retry@acme.example", by=by, deployment=deployment)
    assert second.outcome == "invited" and second.membership_id == first.membership_id
    assert Invitation.get_by_id(first.invitation_id).status == "expired"


def test_removed_member_can_be_invited_again(account, by, cli_actor, deployment):
    added = members.add_user(account, "back@acme.example", password=PASSWORD, by=cli_actor, deployment=deployment)
    members.remove(added.membership, by=by)
    assert invitations.invite(account, "back@acme.example", by=by, deployment=deployment).outcome == "added"
