"""Groups, SCIM tokens, accounts and their policy, emails and passwords."""

from __future__ import annotations

import pytest

from models import (
    Actor,
    AuditEvent,
    ConflictError,
    GroupMember,
    InvalidInputError,
    NotFoundError,
    ScimToken,
    accounts,
    emails,
    groups,
    members,
    passwords,
    scim_tokens,
)


@pytest.fixture
def by(admin) -> Actor:
    return Actor.for_user(admin[1])


def test_group_names_are_unique_per_account_case_insensitively(account, by, cli_actor):
    groups.create_group(account, "Sales", by=by)
    with pytest.raises(ConflictError, match="exists already") as duplicate:
        groups.create_group(account, "SALES", by=by)
    assert duplicate.value.reason == "uniqueness"
    other = accounts.create_account("Other", "vendor", by=cli_actor)
    assert groups.create_group(other, "Sales", by=cli_actor).display_name == "Sales"


def test_group_members_are_set_operations_on_the_account_memberships(account, admin, by, cli_actor, deployment):
    team = groups.create_group(account, "Team", by=by)
    people = [members.add_user(account, f"p{i}@acme.example", by=by,
                               deployment=deployment).membership for i in range(3)]

    assert groups.add_members(team, [p.id for p in people[:2]], by=by) == 2
    assert groups.add_members(team, [p.id for p in people], by=by) == 1
    assert groups.remove_members(team, [people[0].id], by=by) == 1
    assert groups.group_member_emails(team) == ["p1@acme.example", "p2@acme.example"]
    assert groups.get_group(account, "team").version == 4


def test_group_members_must_belong_to_the_group_account(account, by, cli_actor, deployment):
    team = groups.create_group(account, "Team", by=by)
    other = accounts.create_account("Foreign", "vendor", by=cli_actor)
    stranger = members.add_user(other, "x@foreign.example", by=cli_actor, deployment=deployment).membership
    with pytest.raises(NotFoundError):
        groups.add_members(team, [stranger.id], by=by)
    assert GroupMember.select().count() == 0


def test_set_groups_rename_and_delete(account, admin, by):
    a, b = groups.create_group(account, "A", by=by), groups.create_group(account, "B", by=by)
    groups.set_groups(admin[0], ["A", "B"], by=by)
    groups.set_groups(admin[0], ["B"], by=by)
    assert groups.group_member_emails(a) == [] and groups.group_member_emails(b) == ["admin@acme.example"]
    with pytest.raises(NotFoundError, match="No group"):
        groups.set_groups(admin[0], ["missing"], by=by)
    groups.rename_group(a, "Alpha", by=by)
    assert groups.get_group(account, "alpha").id == a.id
    with pytest.raises(ConflictError):
        groups.rename_group(a, "b", by=by)
    groups.delete_group(b, by=by)
    assert [g.display_name for g in groups.list_groups(account)] == ["Alpha"]


def test_scim_token_is_shown_once_and_stored_hashed(account, by):
    token, secret = scim_tokens.create_token(account, description="Okta", by=by)
    stored = ScimToken.get_by_id(token.id)
    assert secret not in (stored.token_hash, stored.hint) and secret.startswith(stored.hint)
    assert scim_tokens.authenticate(secret).account_id == account.id
    assert ScimToken.get_by_id(token.id).last_used_at is not None
    assert scim_tokens.authenticate(secret + "x") is None
    assert scim_tokens.authenticate("") is None


def test_revoked_scim_token_stops_working(account, by, cli_actor):
    token, secret = scim_tokens.create_token(account, by=by)
    scim_tokens.revoke_token(account, token.id, by=by)
    assert scim_tokens.authenticate(secret) is None
    other = accounts.create_account("Thief", "vendor", by=cli_actor)
    with pytest.raises(NotFoundError):
        scim_tokens.revoke_token(other, token.id, by=cli_actor)
    assert [e.action for e in AuditEvent.select().where(AuditEvent.target_type == "scim_token")] == [
        "scim_token.created", "scim_token.revoked"]


def test_account_creation_and_policy(database, cli_actor):
    parent = accounts.create_account("Parent", "provider", by=cli_actor)
    child = accounts.create_account("Child", "reseller", parent=parent.name, by=cli_actor)
    assert child.parent_id == parent.id
    assert accounts.get_account("Child").id == accounts.get_account(child.id).id
    with pytest.raises(ConflictError):
        accounts.create_account("Parent", "vendor", by=cli_actor)
    with pytest.raises(InvalidInputError, match="type"):
        accounts.create_account("Bad", "shop", by=cli_actor)
    with pytest.raises(InvalidInputError, match="1 to 90"):
        accounts.set_policy(parent, invitation_ttl_days=0, by=cli_actor)
    updated = accounts.set_policy(parent, mfa_required=True, invitation_ttl_days=3, by=cli_actor)
    assert (updated.mfa_required, updated.invitation_ttl_days) == (True, 3)
    with pytest.raises(NotFoundError):
        accounts.get_account("nope")


@pytest.mark.parametrize("address", ["plain", "two@@example.com", "", "a@b", "x@example..com"])
def test_invalid_emails_are_refused_with_a_reason(address):
    with pytest.raises(InvalidInputError) as refusal:
        emails.normalize(address)
    assert refusal.value.reason == "invalid_email"


def test_email_domain_is_normalised_and_disposable_domains_detected():
    assert emails.normalize(" Jane.Doe@EXAMPLE.com ") == "Jane.Doe@example.com"
    assert emails.is_disposable("x@mailinator.com") and emails.is_disposable("x@eu.mailinator.com")
    assert not emails.is_disposable("x@example.com")


@pytest.mark.parametrize(
    ("password", "message"),
    [("short", "at least 12"), ("jane@example.com", "email"), ("jane", "at least 12"),
     ("qwertyuiop123", "commonly used"), ("x" * 1025, "at most")],
)
def test_password_policy(password, message):
    with pytest.raises(InvalidInputError, match=message):
        passwords.check_policy(password, email="jane@example.com")


def test_passwords_are_argon2id_and_verified(deployment):
    stored = deployment.hasher.hash("a long and unusual passphrase")
    assert stored.startswith("$argon2id$")
    assert deployment.hasher.verify(stored, "a long and unusual passphrase")
    assert not deployment.hasher.verify(stored, "a long and unusual passphrasE")
    assert not deployment.hasher.verify(None, "anything")
