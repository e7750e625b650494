"""``roster user …``, ``roster invite …`` and ``roster group …``: the people of an account."""

from __future__ import annotations

import sys
from typing import Any

import click

from models import accounts, groups, invitations, members, permissions
from models.permissions import MODULES, PRESETS
from models.tenancy import MEMBERSHIP_STATUSES, ROLES, Membership, User

from .support import (
    DomainGroup,
    actor,
    deployment,
    emit_json,
    group_dict,
    invitation_dict,
    json_option,
    member_dict,
    table,
    timestamp,
)

_role_option = click.option("--role", type=click.Choice(ROLES), default="user", show_default=True,
                            help="Admins manage the account's people; users get the modules of --preset.")
_preset_option = click.option("--preset", type=click.Choice(list(PRESETS)),
                              help="Privilege preset of the user role (basics when neither it nor --module is given).")
_module_option = click.option("--module", "modules", type=click.Choice(MODULES), multiple=True,
                              help="A module of the user role, added to the preset's; repeatable. Pricing, payment "
                                   "and user management are for admins only.")
_sub_account_option = click.option("--sub-account", "sub_accounts", multiple=True, metavar="ACCOUNT",
                                   help="Limit their permissions to this sub-account (id or name); repeatable. "
                                        "Left out: every sub-account.")


def _member_json(membership: Membership, user: User, names: dict[str, str]) -> dict[str, Any]:
    """member_dict with the access as the member page shows it: "preset" (null: custom, or an admin),
    "modules", and "sub_account_scope" (null: every sub-account, else a list of {"id", "name"})."""
    scope = membership.sub_account_scope
    return {**member_dict(membership, user),
            "preset": permissions.preset_of(membership.role, membership.permissions or []),
            "modules": list(membership.permissions or []),
            # a name only while it is still a sub-account of this account (models.permissions.scope_accounts)
            "sub_account_scope": None if scope is None else [{"id": i, "name": names.get(i)} for i in scope]}


def _scope_words(membership: Membership, names: dict[str, str]) -> str:
    scope = membership.sub_account_scope
    return "all" if scope is None else ",".join(names.get(i, i) for i in scope)


# ----------------------------------------------------------------- users


@click.group("user", cls=DomainGroup)
def user_cli() -> None:
    """Members of an account: create, list, deactivate, reactivate, remove."""


@user_cli.command("create")
@click.argument("account_ref", metavar="ACCOUNT")
@click.argument("email")
@_role_option
@_preset_option
@_module_option
@_sub_account_option
@click.option("--given-name", default="", help="First name.")
@click.option("--family-name", default="", help="Last name.")
@click.option("--password-stdin", is_flag=True,
              help="Read the person's own password from one line of standard input (only the terms are asked for "
                   "at the first sign-in).")
@click.option("--temporary-password", is_flag=True,
              help="Mail a temporary password to change at the first sign-in (also the default).")
@json_option
def user_create(account_ref: str, email: str, role: str, preset: str | None, modules: tuple[str, ...],
                sub_accounts: tuple[str, ...], given_name: str, family_name: str, password_stdin: bool,
                temporary_password: bool, as_json: bool) -> None:
    """Add EMAIL to ACCOUNT as an active member, without an invitation.

    A new person gets the password read from standard input as their own
    (the first sign-in asks them to accept the terms, nothing more), or else
    a temporary password by mail that they must change (and accept the
    terms) at the first sign-in. A person who has a Roster user already
    keeps their password and is notified.

    JSON: {"member": {"id", "account_id", "user_id", "email", "given_name", "family_name",
    "status", "role", "permissions", "created_via", "created_at", "preset", "modules",
    "sub_account_scope"}, "created_user": bool, "temporary_password_sent": bool}.
    """
    if password_stdin and temporary_password:
        raise click.UsageError("Give --password-stdin or --temporary-password, not both.")
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.UsageError("--password-stdin read an empty line: no password given.")
    account = accounts.get_account(account_ref)
    added = members.add_user(account, email, given_name=given_name, family_name=family_name, role=role,
                             preset=preset, modules=list(modules) or None, sub_account_scope=list(sub_accounts) or None,
                             password=password, temporary_password=temporary_password,
                             by=actor(), via="cli", deployment=deployment())
    if as_json:
        emit_json({"member": _member_json(added.membership, added.user, permissions.sub_account_names(account)),
                   "created_user": added.created_user,
                   "temporary_password_sent": added.temporary_password is not None})
        return
    click.echo(f"Added {added.user.email} to {account.name} as {added.membership.role}.")
    if added.temporary_password is not None:
        click.echo("A temporary password was mailed; it must be changed at the first sign-in.")
    elif not added.created_user:
        click.echo("They had a Roster user already: they keep their password and were notified.")


@user_cli.command("list")
@click.argument("account_ref", metavar="ACCOUNT")
@click.option("--status", type=click.Choice(MEMBERSHIP_STATUSES), help="Only members in this state.")
@json_option
def user_list(account_ref: str, status: str | None, as_json: bool) -> None:
    """List ACCOUNT's members, by email.

    JSON: a list of members, each {"id", "account_id", "user_id", "email", "given_name",
    "family_name", "status", "role", "permissions", "created_via", "created_at", "preset"
    (null: modules chosen one by one, or an admin's), "modules", "sub_account_scope" (null:
    every sub-account, else a list of {"id", "name"})}.
    """
    account = accounts.get_account(account_ref)
    found = members.list_members(account, status)
    names = permissions.sub_account_names(account)
    if as_json:
        emit_json([_member_json(m, u, names) for m, u in found])
        return
    if not found:
        click.echo(f"{account.name} has no {status + ' ' if status else ''}members.")
        return
    table([[u.email, u.name or "-", m.status, m.role, m.created_via,
            permissions.preset_of(m.role, m.permissions or []) or ("-" if m.role == "admin" else "custom"),
            _scope_words(m, names)] for m, u in found],
          ["EMAIL", "NAME", "STATUS", "ROLE", "VIA", "PRESET", "SUB-ACCOUNTS"])


@user_cli.command("update")
@click.argument("account_ref", metavar="ACCOUNT")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), help="The new role (left out: as now).")
@_preset_option
@_module_option
@_sub_account_option
@click.option("--all-sub-accounts", is_flag=True, help="Lift the sub-account limit: every sub-account.")
@json_option
def user_update(account_ref: str, email: str, role: str | None, preset: str | None, modules: tuple[str, ...],
                sub_accounts: tuple[str, ...], all_sub_accounts: bool, as_json: bool) -> None:
    """Change EMAIL's role, modules or sub-account scope in ACCOUNT; what is left out stays as it is.

    --preset or --module replace the modules of the user role; an admin has
    every module. JSON: the member, as `roster user list --json` shows them.
    """
    if sub_accounts and all_sub_accounts:
        raise click.UsageError("Give --sub-account or --all-sub-accounts, not both.")
    if not (role or preset or modules or sub_accounts or all_sub_accounts):
        raise click.UsageError("Nothing to change: give --role, --preset, --module, --sub-account or "
                               "--all-sub-accounts.")
    account = accounts.get_account(account_ref)
    membership = members.get_membership(account, email)
    scope: list[str] | None | permissions.Keep = permissions.KEEP
    if all_sub_accounts or sub_accounts:
        scope = list(sub_accounts) or None
    updated = members.set_role(membership, role or membership.role, preset=preset, modules=list(modules) or None,
                               sub_account_scope=scope, by=actor())
    names = permissions.sub_account_names(account)
    if as_json:
        emit_json(_member_json(updated, membership.user, names))
        return
    click.echo(f"{email} in {account.name}: {updated.role}, modules "
               f"{', '.join(updated.permissions or []) or 'none'}; sub-accounts: {_scope_words(updated, names)}.")


@user_cli.command("deactivate")
@click.argument("account_ref", metavar="ACCOUNT")
@click.argument("email")
def user_deactivate(account_ref: str, email: str) -> None:
    """Block EMAIL's access to ACCOUNT (sessions end) but keep the membership."""
    account = accounts.get_account(account_ref)
    members.deactivate(members.get_membership(account, email), by=actor())
    click.echo(f"Deactivated {email} in {account.name}.")


@user_cli.command("reactivate")
@click.argument("account_ref", metavar="ACCOUNT")
@click.argument("email")
def user_reactivate(account_ref: str, email: str) -> None:
    """Give a deactivated member their access to ACCOUNT back."""
    account = accounts.get_account(account_ref)
    members.reactivate(members.get_membership(account, email), by=actor())
    click.echo(f"Reactivated {email} in {account.name}.")


@user_cli.command("remove")
@click.argument("account_ref", metavar="ACCOUNT")
@click.argument("email")
def user_remove(account_ref: str, email: str) -> None:
    """Remove EMAIL from ACCOUNT; their other accounts are untouched and they can be invited again."""
    account = accounts.get_account(account_ref)
    members.remove(members.get_membership(account, email), by=actor())
    click.echo(f"Removed {email} from {account.name}.")


# ----------------------------------------------------------------- invitations


class _InviteGroup(DomainGroup):
    """Sends invitations when the first word is not one of its subcommands.

    ``roster invite ACCOUNT EMAIL...`` is the documented form; it is
    ``roster invite send ACCOUNT EMAIL...`` underneath, which also works
    for an account whose name is a subcommand's.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["send", *args]
        return super().parse_args(ctx, args)


@click.group("invite", cls=_InviteGroup)
def invite_cli() -> None:
    """Invite people: `roster invite ACCOUNT EMAIL... [--group G]... [--role R] [--preset P] [--module M]...
    [--sub-account A]... [--json]`.

    The subcommands below manage the invitations sent.
    """


def _outcome_line(result: invitations.InviteResult) -> str:
    if result.outcome == "invited":
        return f"{result.email}: invited, link {result.link}"
    if result.outcome == "added":
        return f"{result.email}: added (they had a Roster user already and were notified)"
    return f"{result.email}: {result.outcome.replace('_', ' ')}: {result.reason}"


@invite_cli.command("send")
@click.argument("account_ref", metavar="ACCOUNT")
@click.argument("emails", metavar="EMAIL...", nargs=-1, required=True)
@click.option("--group", "group_refs", multiple=True, metavar="GROUP", help="Add them to this group; repeatable.")
@_role_option
@_preset_option
@_module_option
@_sub_account_option
@json_option
def invite_send(account_ref: str, emails: tuple[str, ...], group_refs: tuple[str, ...], role: str,
                preset: str | None, modules: tuple[str, ...], sub_accounts: tuple[str, ...], as_json: bool) -> None:
    """Invite each EMAIL to ACCOUNT and report what happened to each one.

    Outcomes: invited (a link is mailed), added (an existing Roster user joins
    at once), already_member, already_invited, rejected (with the reason).
    Exits 1 only when no email was invited or added.

    JSON: a list, in the order given, of {"email", "outcome", "reason",
    "membership_id", "invitation_id", "link"}.
    """
    account = accounts.get_account(account_ref)
    results = invitations.bulk_invite(account, list(emails), role=role, preset=preset, modules=list(modules) or None,
                                      groups=list(group_refs), sub_account_scope=list(sub_accounts) or None,
                                      by=actor(), via="cli", deployment=deployment())
    if as_json:
        emit_json([r.as_dict() for r in results])
    else:
        for result in results:
            click.echo(_outcome_line(result))
    if not any(r.outcome in ("invited", "added") for r in results):
        raise click.ClickException("Nobody was invited.")


@invite_cli.command("list")
@click.argument("account_ref", metavar="ACCOUNT")
@click.option("--all", "show_all", is_flag=True, help="Also accepted, revoked and expired invitations.")
@json_option
def invite_list(account_ref: str, show_all: bool, as_json: bool) -> None:
    """List ACCOUNT's pending invitations (newest first).

    JSON: a list of {"id", "email", "given_name", "family_name", "status", "expires_at",
    "sent_count", "last_sent_at", "created_at"}; status is "expired" once past expires_at.
    """
    account = accounts.get_account(account_ref)
    found = invitations.list_invitations(account, None if show_all else "pending")
    if as_json:
        emit_json([invitation_dict(i) for i in found])
        return
    if not found:
        click.echo(f"{account.name} has no {'' if show_all else 'pending '}invitations.")
        return
    table([[i.email, invitations.effective_status(i), timestamp(i.expires_at) or "-", str(i.sent_count)]
           for i in found], ["EMAIL", "STATUS", "EXPIRES", "SENT"])


def _link_output(email: str, link: str, as_json: bool, note: str) -> None:
    if as_json:
        emit_json({"email": email, "link": link})
    else:
        if note:
            click.echo(note, err=True)
        click.echo(link)


@invite_cli.command("resend")
@click.argument("account_ref", metavar="ACCOUNT")
@click.argument("email")
@json_option
def invite_resend(account_ref: str, email: str, as_json: bool) -> None:
    """Mail EMAIL's invitation again with a new link (the old one stops working; expiry restarts).

    Prints the new link. JSON: {"email", "link"}.
    """
    account = accounts.get_account(account_ref)
    link = invitations.resend(invitations.find_invitation(account, email), by=actor(), deployment=deployment())
    _link_output(email, link, as_json, f"Resent the invitation of {email} to {account.name}; the new link:")


@invite_cli.command("revoke")
@click.argument("account_ref", metavar="ACCOUNT")
@click.argument("email")
def invite_revoke(account_ref: str, email: str) -> None:
    """Revoke EMAIL's pending invitation to ACCOUNT: the link stops working."""
    account = accounts.get_account(account_ref)
    invitations.revoke(invitations.find_invitation(account, email), by=actor())
    click.echo(f"Revoked the invitation of {email} to {account.name}.")


@invite_cli.command("link")
@click.argument("account_ref", metavar="ACCOUNT")
@click.argument("email")
@json_option
def invite_link(account_ref: str, email: str, as_json: bool) -> None:
    """Print the link of EMAIL's pending invitation, to pass on by hand.

    JSON: {"email", "link"}.
    """
    account = accounts.get_account(account_ref)
    link = invitations.link(invitations.find_invitation(account, email), by=actor(), deployment=deployment())
    _link_output(email, link, as_json, "")


# ----------------------------------------------------------------- groups


@click.group("group", cls=DomainGroup)
def group_cli() -> None:
    """Groups of an account and their members."""


@group_cli.command("create")
@click.argument("account_ref", metavar="ACCOUNT")
@click.argument("name")
@json_option
def group_create(account_ref: str, name: str, as_json: bool) -> None:
    """Create a group NAME in ACCOUNT (names are unique per account, ignoring case).

    JSON: {"id", "name", "external_id", "members"}.
    """
    account = accounts.get_account(account_ref)
    group = groups.create_group(account, name, by=actor())
    if as_json:
        emit_json(group_dict(group, []))
    else:
        click.echo(f"Created group {group.display_name} ({group.id}) in {account.name}.")


@group_cli.command("list")
@click.argument("account_ref", metavar="ACCOUNT")
@json_option
def group_list(account_ref: str, as_json: bool) -> None:
    """List ACCOUNT's groups, by name.

    JSON: a list of {"id", "name", "external_id", "members"} where members are emails.
    """
    account = accounts.get_account(account_ref)
    listed: list[dict[str, Any]] = [group_dict(g, groups.group_member_emails(g)) for g in groups.list_groups(account)]
    if as_json:
        emit_json(listed)
        return
    if not listed:
        click.echo(f"{account.name} has no groups.")
        return
    table([[g["id"], g["name"], str(len(g["members"]))] for g in listed], ["ID", "NAME", "MEMBERS"])


def _memberships(account_ref: str, group_ref: str, emails: tuple[str, ...]) -> tuple[Any, Any, list[str]]:
    account = accounts.get_account(account_ref)
    group = groups.get_group(account, group_ref)
    return account, group, [members.get_membership(account, email).id for email in emails]


@group_cli.command("add")
@click.argument("account_ref", metavar="ACCOUNT")
@click.argument("group_ref", metavar="GROUP")
@click.argument("emails", metavar="EMAIL...", nargs=-1, required=True)
def group_add(account_ref: str, group_ref: str, emails: tuple[str, ...]) -> None:
    """Add members of ACCOUNT (by email) to GROUP (by id or name); all or none."""
    _account, group, ids = _memberships(account_ref, group_ref, emails)
    added = groups.add_members(group, ids, by=actor())
    click.echo(f"Added {added} member(s) to {group.display_name} ({len(set(ids)) - added} were in it already).")


@group_cli.command("remove")
@click.argument("account_ref", metavar="ACCOUNT")
@click.argument("group_ref", metavar="GROUP")
@click.argument("emails", metavar="EMAIL...", nargs=-1, required=True)
def group_remove(account_ref: str, group_ref: str, emails: tuple[str, ...]) -> None:
    """Remove members of ACCOUNT (by email) from GROUP (by id or name); they stay in the account."""
    _account, group, ids = _memberships(account_ref, group_ref, emails)
    removed = groups.remove_members(group, ids, by=actor())
    click.echo(f"Removed {removed} member(s) from {group.display_name}.")
