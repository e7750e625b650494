"""Console, one member (R1, R6, R7) and one pending invitation (R3, R4).

Every change is a POST with the CSRF token; remove asks first on its own page.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask_babel import gettext as _

from models import console_queries, groups, invitations, members, permissions
from models.deployment import Deployment
from models.errors import PolicyViolationError, RosterError
from models.tenancy import Account, Invitation, Membership

from .console_base import actor, admin_view, back, bp, refusal_goes_back, render
from .console_forms import InvitationForm, MemberForm, choices, sub_account_choices
from .forms import field_error


def _member_page(account: Account, membership_id: str, form: MemberForm | None = None, status: int = 200) -> Any:
    membership = console_queries.membership_in(account, membership_id)
    if form is None:
        # the privileges list starts at "the modules ticked below", ticked as now: a preset chosen there
        # replaces the ticks, so starting on the current preset would silently drop a tick added to it
        form = MemberForm(formdata=None, role=membership.role, groups=console_queries.group_ids_of(membership),
                          modules=list(membership.permissions or []), sub_accounts=membership.sub_account_scope or [])
    _offer_choices(form, account)
    return render("console/member.html", status, membership=membership, user=membership.user, form=form,
                  group_names=console_queries.groups_of([membership])[membership.id],
                  preset=permissions.preset_of(membership.role, membership.permissions or []),
                  scope=permissions.scope_accounts(account, membership.sub_account_scope))


def _offer_choices(form: MemberForm, account: Account) -> None:
    form.groups.choices = choices(console_queries.group_choices(account))
    form.sub_accounts.choices = sub_account_choices(account)


@bp.get("/<account_id>/members/<membership_id>")
@admin_view
def member(account: Account, membership_id: str) -> Any:
    return _member_page(account, membership_id)


@bp.post("/<account_id>/members/<membership_id>/role")
@admin_view
def member_role(account: Account, membership_id: str) -> Any:
    """Role, privileges and sub-account scope, saved together (R7, R1): one form, one audit event."""
    membership = console_queries.membership_in(account, membership_id)
    form = MemberForm()
    _offer_choices(form, account)
    if not all([getattr(form, name).validate(form) for name in form.ACCESS]):
        return _member_page(account, membership_id, form, 400)
    preset = form.preset.data or None
    # a preset sets the modules to its own; else the ticked ones count, and the user role needs one at least
    modules = None if preset or form.role.data == "admin" else list(form.modules.data or [])
    if modules == []:
        form.modules.errors = [_("Tick at least one module, or choose a preset.")]
        return _member_page(account, membership_id, form, 400)
    # without sub-accounts the form has no scope field: the stored scope stays as it is
    scope = (form.sub_accounts.data or None) if form.sub_accounts.choices else permissions.KEEP
    try:
        with refusal_goes_back("console.member", refused=PolicyViolationError, membership_id=membership_id):
            members.set_role(membership, form.role.data, preset=preset, modules=modules, sub_account_scope=scope,
                             by=actor())
    except RosterError as exc:
        field_error(form, exc, "role")
        return _member_page(account, membership_id, form, 400)
    saved = (_("Saved: %(email)s is an admin, with the modules and sub-accounts shown.", email=membership.user.email)
             if form.role.data == "admin" else
             _("Saved: %(email)s is a user, with the modules and sub-accounts shown.", email=membership.user.email))
    return back("console.member", saved, membership_id=membership_id)


@bp.post("/<account_id>/members/<membership_id>/groups")
@admin_view
def member_groups(account: Account, membership_id: str) -> Any:
    membership = console_queries.membership_in(account, membership_id)
    form = MemberForm()
    _offer_choices(form, account)
    if not form.groups.validate(form):
        return _member_page(account, membership_id, form, 400)
    chosen = groups.set_groups(membership, form.groups.data or [], by=actor())
    names = ", ".join(g.display_name for g in chosen)
    said = (_("%(email)s is now in %(group)s.", email=membership.user.email, group=names) if names
            else _("%(email)s is now in no group.", email=membership.user.email))
    return back("console.member", said, membership_id=membership_id)


@bp.post("/<account_id>/members/<membership_id>/deactivate")
@admin_view
def deactivate(account: Account, membership_id: str) -> Any:
    membership = console_queries.membership_in(account, membership_id)
    with refusal_goes_back("console.member", refused=PolicyViolationError, membership_id=membership_id):
        members.deactivate(membership, by=actor())
    return back("console.member", _("%(email)s is deactivated: they cannot enter %(account)s until reactivated.",
                                    email=membership.user.email, account=account.name), membership_id=membership_id)


@bp.post("/<account_id>/members/<membership_id>/reactivate")
@admin_view
def reactivate(account: Account, membership_id: str) -> Any:
    membership = console_queries.membership_in(account, membership_id)
    members.reactivate(membership, by=actor())
    return back("console.member", _("%(email)s is reactivated.", email=membership.user.email),
                membership_id=membership_id)


@bp.route("/<account_id>/members/<membership_id>/remove", methods=["GET", "POST"])
@admin_view
def remove(account: Account, membership_id: str) -> Any:
    membership = console_queries.membership_in(account, membership_id)
    if request.method == "GET":
        return render("console/confirm.html", title=_("Remove %(email)s?", email=membership.user.email),
                      message=_("%(email)s will lose access to %(account)s; their other accounts are not touched "
                                "and they can be invited again later.", email=membership.user.email,
                                account=account.name),
                      button=_("Remove from the account"), cancel=("console.member", {"membership_id": membership_id}))
    with refusal_goes_back("console.member", refused=PolicyViolationError, membership_id=membership_id):
        members.remove(membership, by=actor())
    return back("console.users", _("%(email)s was removed from %(account)s.", email=membership.user.email,
                                   account=account.name))


# ----------------------------------------------------------------- invitations


@bp.route("/<account_id>/invitations/<invitation_id>", methods=["GET", "POST"])
@admin_view
def invitation(account: Account, invitation_id: str) -> Any:
    found = console_queries.invitation_in(account, invitation_id)
    invited = Membership.get_or_none(Membership.id == found.membership_id)
    group_ids = console_queries.group_ids_of(invited) if invited is not None else []
    form = InvitationForm(obj=found, role=invited.role if invited is not None else "user", groups=group_ids,
                          sub_accounts=(invited.sub_account_scope if invited is not None else None) or [])
    form.groups.choices = choices(console_queries.group_choices(account))
    form.sub_accounts.choices = sub_account_choices(account)
    # a post without the role (a form of the email and name alone) leaves the role, privileges and groups
    access = invited is not None and (not form.is_submitted() or "role" in request.form)
    form.role.validate_choice = access
    # without sub-accounts the form has no scope field: the stored scope stays as it is
    scope = (form.sub_accounts.data or None) if access and form.sub_accounts.choices else permissions.KEEP
    if form.validate_on_submit():
        old_key = found.email_key
        try:
            edited = invitations.edit(
                found, email=form.email.data, given_name=form.given_name.data, family_name=form.family_name.data,
                role=form.role.data if access else None,
                preset=None if not access or form.role.data == "admin" else (form.preset.data or None),
                groups=(form.groups.data or []) if access else None, sub_account_scope=scope,
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
                  group_names=[names[g] for g in group_ids if g in names],
                  scope=permissions.scope_accounts(account, invited.sub_account_scope) if invited else None)


def _edited_message(edited: Invitation, *, moved: bool, sent: bool) -> str:
    if moved and sent:
        said: str = _("The invitation is updated and a new link was sent to %(email)s; the old link no longer "
                      "works.", email=edited.email)
    elif moved:
        said = _("The invitation is updated; its link is unchanged and nothing was sent to %(email)s. Resend it to "
                 "mail the new address.", email=edited.email)
    else:
        said = _("The invitation is updated; its link is unchanged.")
    return said


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
    return back("console.invitation", _("A new link was sent to %(email)s; the old link no longer works.",
                                        email=found.email), invitation_id=invitation_id)


@bp.post("/<account_id>/invitations/<invitation_id>/revoke")
@admin_view
def revoke(account: Account, invitation_id: str) -> Any:
    found = console_queries.invitation_in(account, invitation_id)
    with refusal_goes_back("console.invitation", refused=PolicyViolationError, invitation_id=invitation_id):
        invitations.revoke(found, by=actor())
    return back("console.users", _("The invitation of %(email)s is revoked; its link no longer works.",
                                   email=found.email),
                tab="pending")
