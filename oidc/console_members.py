"""Console, one member (R1, R6, R7) and one pending invitation (R3, R4).

Every change is a POST with the CSRF token; remove asks first on its own page.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from models import console_queries, groups, invitations, members
from models.deployment import Deployment
from models.errors import PolicyViolationError, RosterError
from models.tenancy import Account, Invitation, Membership

from .console_base import actor, admin_view, back, bp, refusal_goes_back, render
from .console_forms import InvitationForm, MemberForm, choices
from .forms import field_error


def _member_page(account: Account, membership_id: str, form: MemberForm | None = None, status: int = 200) -> Any:
    membership = console_queries.membership_in(account, membership_id)
    if form is None:
        form = MemberForm(formdata=None, role=membership.role, groups=console_queries.group_ids_of(membership))
    form.groups.choices = choices(console_queries.group_choices(account))
    return render("console/member.html", status, membership=membership, user=membership.user, form=form,
                  group_names=console_queries.groups_of([membership])[membership.id])


@bp.get("/<account_id>/members/<membership_id>")
@admin_view
def member(account: Account, membership_id: str) -> Any:
    return _member_page(account, membership_id)


@bp.post("/<account_id>/members/<membership_id>/role")
@admin_view
def member_role(account: Account, membership_id: str) -> Any:
    membership = console_queries.membership_in(account, membership_id)
    form = MemberForm()
    form.groups.choices = choices(console_queries.group_choices(account))
    if not form.role.validate(form) or not form.preset.validate(form):
        return _member_page(account, membership_id, form, 400)
    try:
        with refusal_goes_back("console.member", refused=PolicyViolationError, membership_id=membership_id):
            members.set_role(membership, form.role.data, preset=form.preset.data or None, by=actor())
    except RosterError as exc:
        field_error(form, exc, "role")
        return _member_page(account, membership_id, form, 400)
    role = "an admin" if form.role.data == "admin" else "a user"
    return back("console.member", f"{membership.user.email} is now {role}.", membership_id=membership_id)


@bp.post("/<account_id>/members/<membership_id>/groups")
@admin_view
def member_groups(account: Account, membership_id: str) -> Any:
    membership = console_queries.membership_in(account, membership_id)
    form = MemberForm()
    form.groups.choices = choices(console_queries.group_choices(account))
    if not form.groups.validate(form):
        return _member_page(account, membership_id, form, 400)
    chosen = groups.set_groups(membership, form.groups.data or [], by=actor())
    names = ", ".join(g.display_name for g in chosen) or "no group"
    return back("console.member", f"{membership.user.email} is now in {names}.", membership_id=membership_id)


@bp.post("/<account_id>/members/<membership_id>/deactivate")
@admin_view
def deactivate(account: Account, membership_id: str) -> Any:
    membership = console_queries.membership_in(account, membership_id)
    with refusal_goes_back("console.member", refused=PolicyViolationError, membership_id=membership_id):
        members.deactivate(membership, by=actor())
    return back("console.member", f"{membership.user.email} is deactivated: they cannot enter {account.name} "
                "until reactivated.", membership_id=membership_id)


@bp.post("/<account_id>/members/<membership_id>/reactivate")
@admin_view
def reactivate(account: Account, membership_id: str) -> Any:
    membership = console_queries.membership_in(account, membership_id)
    members.reactivate(membership, by=actor())
    return back("console.member", f"{membership.user.email} is reactivated.", membership_id=membership_id)


@bp.route("/<account_id>/members/<membership_id>/remove", methods=["GET", "POST"])
@admin_view
def remove(account: Account, membership_id: str) -> Any:
    membership = console_queries.membership_in(account, membership_id)
    if request.method == "GET":
        return render("console/confirm.html", title=f"Remove {membership.user.email}?",
                      message=f"{membership.user.email} will lose access to {account.name}; their other accounts "
                              "are not touched and they can be invited again later.",
                      button="Remove from the account", cancel=("console.member", {"membership_id": membership_id}))
    with refusal_goes_back("console.member", refused=PolicyViolationError, membership_id=membership_id):
        members.remove(membership, by=actor())
    return back("console.users", f"{membership.user.email} was removed from {account.name}.")


# ----------------------------------------------------------------- invitations


@bp.route("/<account_id>/invitations/<invitation_id>", methods=["GET", "POST"])
@admin_view
def invitation(account: Account, invitation_id: str) -> Any:
    found = console_queries.invitation_in(account, invitation_id)
    invited = Membership.get_or_none(Membership.id == found.membership_id)
    group_ids = console_queries.group_ids_of(invited) if invited is not None else []
    form = InvitationForm(obj=found, role=invited.role if invited is not None else "user", groups=group_ids)
    form.groups.choices = choices(console_queries.group_choices(account))
    # a post without the role (a form of the email and name alone) leaves the role, privileges and groups
    access = invited is not None and (not form.is_submitted() or "role" in request.form)
    form.role.validate_choice = access
    if form.validate_on_submit():
        old_key = found.email_key
        try:
            edited = invitations.edit(
                found, email=form.email.data, given_name=form.given_name.data, family_name=form.family_name.data,
                role=form.role.data if access else None,
                preset=None if not access or form.role.data == "admin" else (form.preset.data or None),
                groups=(form.groups.data or []) if access else None,
                send_new_link=bool(form.send_new_link.data), by=actor(), deployment=Deployment.of(current_app))
        except RosterError as exc:
            field_error(form, exc)
        else:
            return back("console.invitation", _edited_message(edited, moved=edited.email_key != old_key,
                                                              sent=bool(form.send_new_link.data)),
                        invitation_id=invitation_id)
    names = dict(console_queries.group_choices(account))
    return render("console/invitation.html", 400 if form.is_submitted() else 200, invitation=found, form=form,
                  state=invitations.effective_status(found), membership=invited,
                  group_names=[names[g] for g in group_ids if g in names])


def _edited_message(edited: Invitation, *, moved: bool, sent: bool) -> str:
    if moved and sent:
        return f"The invitation is updated and a new link was sent to {edited.email}; the old link no longer works."
    if moved:
        return (f"The invitation is updated; its link is unchanged and nothing was sent to {edited.email}. "
                "Resend it to mail the new address.")
    return "The invitation is updated; its link is unchanged."


@bp.get("/<account_id>/invitations/<invitation_id>/link")
@admin_view
def invitation_link(account: Account, invitation_id: str) -> Any:
    found = console_queries.invitation_in(account, invitation_id)
    with refusal_goes_back("console.invitation", refused=PolicyViolationError, invitation_id=invitation_id):
        link = invitations.link(found, by=actor(), deployment=Deployment.of(current_app))
    return render("console/link.html", invitation=found, link=link)


@bp.post("/<account_id>/invitations/<invitation_id>/resend")
@admin_view
def resend(account: Account, invitation_id: str) -> Any:
    found = console_queries.invitation_in(account, invitation_id)
    with refusal_goes_back("console.invitation", refused=PolicyViolationError, invitation_id=invitation_id):
        invitations.resend(found, by=actor(), deployment=Deployment.of(current_app))
    return back("console.invitation", f"A new link was sent to {found.email}; the old link no longer works.",
                invitation_id=invitation_id)


@bp.post("/<account_id>/invitations/<invitation_id>/revoke")
@admin_view
def revoke(account: Account, invitation_id: str) -> Any:
    found = console_queries.invitation_in(account, invitation_id)
    with refusal_goes_back("console.invitation", refused=PolicyViolationError, invitation_id=invitation_id):
        invitations.revoke(found, by=actor())
    return back("console.users", f"The invitation of {found.email} is revoked; its link no longer works.",
                tab="pending")
