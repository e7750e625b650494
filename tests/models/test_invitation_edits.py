"""R4 (issue 13 point 4): a pending invitation's groups and permissions, a new link to a corrected email,
and a link killed by a resend that says so."""

from __future__ import annotations

import pytest

from models import (
    Actor,
    AuditEvent,
    ForbiddenError,
    InvalidInputError,
    Invitation,
    Membership,
    OutboxMessage,
    PolicyViolationError,
    accounts,
    groups,
    invitations,
    members,
    permissions,
)
from models.invitations import links

# the shared fixtures are imported by name; tests naming them as arguments is how pytest works
# ruff: noqa: F811
from .test_invitations import PASSWORD, by, token_of  # noqa: F401


def actions() -> list[str]:
    return [e.action for e in AuditEvent.select().order_by(AuditEvent.id)]


def mails_to(email: str) -> list[OutboxMessage]:
    return list(OutboxMessage.select().where(OutboxMessage.recipient == email))


# ----------------------------------------------------------------- groups and permissions


def test_role_privileges_and_groups_of_the_invited_membership_can_be_changed(account, by, deployment):
    sales = groups.create_group(account, "Sales", by=by)
    support = groups.create_group(account, "Support", by=by)
    first = invitations.invite(account, "nia@acme.example", groups=[sales.id], by=by, deployment=deployment)
    before = len(actions())

    invitations.edit(Invitation.get_by_id(first.invitation_id), role="user", preset="purchasing",
                     groups=[support.id], by=by, deployment=deployment)

    membership = Membership.get_by_id(first.membership_id)
    assert (membership.status, membership.role) == ("invited", "user")
    assert membership.permissions == permissions.resolve("user", preset="purchasing")
    assert "orders" in membership.permissions and "support" not in membership.permissions
    assert groups.group_member_emails(support) == ["nia@acme.example"]
    assert groups.group_member_emails(sales) == []
    assert actions()[before:] == ["membership.role_changed", "membership.groups_changed"]
    # what was edited is what the person gets on accepting
    accepted = invitations.accept(token_of(first.link), given_name="Nia", family_name="N", password=PASSWORD,
                                  accept_terms=True, hasher=deployment.hasher)
    assert accepted.status == "active" and "orders" in accepted.permissions


def test_an_invitation_can_be_made_an_admins_and_back(account, by, deployment):
    first = invitations.invite(account, "boss@acme.example", by=by, deployment=deployment)
    invitations.edit(Invitation.get_by_id(first.invitation_id), role="admin", by=by, deployment=deployment)
    assert Membership.get_by_id(first.membership_id).role == "admin"
    assert "user_management" in Membership.get_by_id(first.membership_id).permissions
    invitations.edit(Invitation.get_by_id(first.invitation_id), role="user", by=by, deployment=deployment)
    membership = Membership.get_by_id(first.membership_id)
    assert membership.role == "user" and "user_management" not in membership.permissions


def test_nothing_changed_records_nothing(account, by, deployment):
    sales = groups.create_group(account, "Sales", by=by)
    first = invitations.invite(account, "same@acme.example", given_name="Sam", groups=[sales.id], by=by,
                               deployment=deployment)
    before = len(actions())
    invitations.edit(Invitation.get_by_id(first.invitation_id), email="SAME@acme.example", given_name="Sam",
                     role="user", groups=[sales.id], send_new_link=True, by=by, deployment=deployment)
    assert actions()[before:] == []
    assert Invitation.get_by_id(first.invitation_id).sent_count == 1


def test_r7_the_user_role_never_gets_an_admin_only_module(account, by, deployment):
    first = invitations.invite(account, "limited@acme.example", by=by, deployment=deployment)
    with pytest.raises(InvalidInputError, match="admins only"):
        invitations.edit(Invitation.get_by_id(first.invitation_id), given_name="Changed", modules=["pricing"],
                         by=by, deployment=deployment)
    # all or nothing: the name did not change either
    assert Invitation.get_by_id(first.invitation_id).given_name == ""
    assert "pricing" not in Membership.get_by_id(first.membership_id).permissions


def test_r7_only_an_admin_edits(account, by, cli_actor, deployment):
    first = invitations.invite(account, "x@acme.example", by=by, deployment=deployment)
    plain = members.add_user(account, "plain@acme.example", password=PASSWORD, by=cli_actor, deployment=deployment)
    with pytest.raises(ForbiddenError):
        invitations.edit(Invitation.get_by_id(first.invitation_id), role="admin",
                         by=Actor.for_user(plain.user), deployment=deployment)
    assert Membership.get_by_id(first.membership_id).role == "user"


def test_r1_the_only_invited_admin_of_a_new_account_cannot_be_demoted(database, cli_actor, deployment):
    fresh = accounts.create_account("Fresh Reseller", "reseller", by=cli_actor)
    first = invitations.invite(fresh, "founder@fresh.example", role="admin", by=cli_actor, deployment=deployment)
    with pytest.raises(PolicyViolationError, match="must keep at least one active or invited admin"):
        invitations.edit(Invitation.get_by_id(first.invitation_id), email="founder2@fresh.example", role="user",
                         send_new_link=True, by=cli_actor, deployment=deployment)
    assert Membership.get_by_id(first.membership_id).role == "admin"
    assert Invitation.get_by_id(first.invitation_id).email == "founder@fresh.example"
    assert mails_to("founder2@fresh.example") == []
    assert invitations.lookup(token_of(first.link)).status == "pending"


# ----------------------------------------------------------------- a corrected email, a new link


def test_a_corrected_email_gets_a_new_link_and_the_old_one_says_it_was_replaced(account, by, deployment):
    first = invitations.invite(account, "nia@acme.exmaple", by=by, deployment=deployment)

    edited = invitations.edit(Invitation.get_by_id(first.invitation_id), email="nia@acme.example",
                              send_new_link=True, by=by, deployment=deployment)

    assert edited.sent_count == 2 and edited.email == "nia@acme.example"
    [mail] = mails_to("nia@acme.example")
    new_link = invitations.invitation_url(edited, deployment)
    assert new_link in mail.body and new_link != first.link
    old = invitations.lookup(token_of(first.link), secrets=deployment.secrets)
    assert (old.status, old.invitation, old.account.name) == ("resent", None, "Acme Vendor")
    assert invitations.lookup(token_of(first.link)).status == "invalid"  # without the key it cannot tell
    assert invitations.lookup(token_of(new_link)).status == "pending"
    assert actions()[-2:] == ["invitation.edited", "invitation.resent"]
    with pytest.raises(PolicyViolationError, match="replaced by a newer one") as refused:
        invitations.accept(token_of(first.link), password=PASSWORD, accept_terms=True, hasher=deployment.hasher,
                           secrets=deployment.secrets)
    assert refused.value.reason == "invitation_resent"


def test_a_corrected_email_without_a_new_link_keeps_the_link(account, by, deployment):
    first = invitations.invite(account, "kim@acme.exmaple", by=by, deployment=deployment)
    edited = invitations.edit(Invitation.get_by_id(first.invitation_id), email="kim@acme.example", by=by,
                              deployment=deployment)
    assert edited.sent_count == 1 and mails_to("kim@acme.example") == []
    assert invitations.lookup(token_of(first.link), secrets=deployment.secrets).status == "pending"


# ----------------------------------------------------------------- the link of a resent invitation


def test_a_resent_link_is_told_apart_from_a_made_up_one(account, by, deployment):
    first = invitations.invite(account, "again@acme.example", by=by, deployment=deployment)
    invitations.resend(Invitation.get_by_id(first.invitation_id), by=by, deployment=deployment)
    old = token_of(first.link)
    mac, invitation_id, nonce = old.split(".")
    secrets = deployment.secrets

    assert invitations.lookup(old, secrets=secrets).status == "resent"
    # a token of the right shape but not made with the key, and a link with its nonce changed, are not links
    assert invitations.lookup(f"{'A' * len(mac)}.{invitation_id}.{nonce}", secrets=secrets).status == "invalid"
    assert invitations.lookup(f"{mac}.{invitation_id}.{nonce}x", secrets=secrets).status == "invalid"
    assert invitations.lookup("not-a-token", secrets=secrets).status == "invalid"


def test_a_resent_link_of_an_invitation_used_or_revoked_since_says_that(account, by, deployment):
    used = invitations.invite(account, "used@acme.example", by=by, deployment=deployment)
    new = invitations.resend(Invitation.get_by_id(used.invitation_id), by=by, deployment=deployment)
    invitations.accept(token_of(new), given_name="U", family_name="Sed", password=PASSWORD, accept_terms=True,
                       hasher=deployment.hasher)
    assert invitations.lookup(token_of(used.link), secrets=deployment.secrets).status == "accepted"

    gone = invitations.invite(account, "gone@acme.example", by=by, deployment=deployment)
    invitations.resend(Invitation.get_by_id(gone.invitation_id), by=by, deployment=deployment)
    invitations.revoke(Invitation.get_by_id(gone.invitation_id), by=by)
    assert invitations.lookup(token_of(gone.link), secrets=deployment.secrets).status == "revoked"


def test_links_mailed_as_the_mac_alone_still_work(account, by, deployment):
    first = invitations.invite(account, "early@acme.example", by=by, deployment=deployment)
    mac = token_of(first.link).split(".")[0]
    assert Invitation.get_by_id(first.invitation_id).token_hash == links.stored_hash(mac)
    assert invitations.lookup(mac).status == "pending"


@pytest.mark.parametrize("status", ["invalid", "expired", "revoked", "accepted", "resent"])
def test_every_refusal_offers_a_way_on_and_names_the_account_when_known(status):
    named = invitations.refusal(status, "Acme Vendor").lower()
    assert "sign in" in named
    if status != "accepted":
        assert "ask an admin of acme vendor" in named
        assert "ask the admin who invited you" in invitations.refusal(status).lower()
