"""Console, Users: the tabs, the add-user wizard (R2), bulk invite (R5) and a temporary password (R8)."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, request, url_for
from flask_babel import gettext as _

from models import console_queries, invitations, members
from models.deployment import Deployment
from models.errors import NotFoundError, RosterError
from models.i18n import N_
from models.tenancy import Account

from .console_base import actor, admin_view, bp, page_number, render
from .console_forms import BulkInviteForm, CreateUserForm, WizardForm, choices, sub_account_choices
from .forms import field_error

TABS = {"active": N_("Active"), "pending": N_("Pending invitations"), "deactivated": N_("Deactivated"),
        "attention": N_("Needs attention")}
STEPS = ("general", "groups", "summary")
OUTCOMES = {"invited": N_("Invited"), "added": N_("Added (has a user already)"),
            "already_member": N_("Already a member"), "already_invited": N_("Already invited"),
            "rejected": N_("Rejected")}


@bp.get("/<account_id>/users")
@admin_view
def users(account: Account) -> Any:
    tab = request.args.get("tab", "active")
    if tab not in TABS:
        tab = "active"
    search = request.args.get("q", "")[:200]
    number = page_number()
    groups: dict[str, list[str]] = {}
    if tab == "pending":
        page: Any = console_queries.invitations_page(account, search, number)
    elif tab == "attention":
        page = console_queries.attention_page(account, search, number)
    else:
        page = console_queries.members_page(account, tab, search, number)
        groups = console_queries.groups_of(page.rows)
    tabs = {key: _(label) for key, label in TABS.items()}
    return render("console/users.html", tab=tab, tabs=tabs, search=search, page=page, groups=groups,
                  reasons=console_queries.REASONS, effective_status=invitations.effective_status)


# ----------------------------------------------------------------- the wizard


def _step_valid(form: WizardForm, step: str) -> bool:
    names = form.GENERAL if step == "general" else ("groups",)
    valid = all([getattr(form, name).validate(form) for name in names])
    if step == "groups" and form.groups.choices and not form.groups.data:
        form.groups.errors = [*form.groups.errors, _("Choose one or more groups.")]
        valid = False
    return valid


@bp.route("/<account_id>/users/new", methods=["GET", "POST"])
@admin_view
def add_user(account: Account) -> Any:
    form = WizardForm()
    form.groups.choices = choices(console_queries.group_choices(account))
    form.sub_accounts.choices = sub_account_choices(account)
    step = form.step.data if form.step.data in STEPS else "general"
    if not form.is_submitted():
        return _wizard(form, "general")
    if "back" in request.form:
        return _wizard(form, STEPS[max(0, STEPS.index(step) - 1)])
    for earlier in STEPS[: STEPS.index(step) + 1]:
        if earlier != "summary" and not _step_valid(form, earlier):
            return _wizard(form, earlier, 400)
    if step != "summary":
        return _wizard(form, STEPS[STEPS.index(step) + 1])
    try:
        result = invitations.invite(account, form.email.data or "", given_name=form.given_name.data or "",
                                    family_name=form.family_name.data or "", role=form.role.data,
                                    preset=None if form.role.data == "admin" else form.preset.data,
                                    groups=form.groups.data or [], sub_account_scope=form.sub_accounts.data or None,
                                    by=actor(), deployment=Deployment.of(current_app))
    except RosterError as exc:
        field_error(form, exc, "email")
        return _wizard(form, "groups" if exc.field == "groups" else "general", 400)
    if result.outcome == "added":
        flash(_("%(email)s already has a user: they are a member of %(account)s now and were notified.",
                email=result.email, account=account.name))
        return redirect(url_for("console.users", account_id=account.id))
    flash(_("Invitation sent to %(email)s.", email=result.email))
    return redirect(url_for("console.users", account_id=account.id, tab="pending"))


def _wizard(form: WizardForm, step: str, status: int = 200) -> Any:
    form.step.data = step
    chosen = {c.value: c.label for c in form.groups.choices or []}
    scope = {c.value: c.label for c in form.sub_accounts.choices or []}
    return render("console/wizard.html", status, form=form, step=step, steps=STEPS,
                  chosen_groups=[chosen[g] for g in form.groups.data or [] if g in chosen],
                  chosen_sub_accounts=[scope[a] for a in form.sub_accounts.data or [] if a in scope])


# ----------------------------------------------------------------- bulk invite (R5)


@bp.route("/<account_id>/users/bulk", methods=["GET", "POST"])
@admin_view
def bulk_invite(account: Account) -> Any:
    form = BulkInviteForm()
    form.groups.choices = choices(console_queries.group_choices(account))
    form.sub_accounts.choices = sub_account_choices(account)
    results = None
    if form.validate_on_submit():
        try:
            results = invitations.bulk_invite(
                account, form.email_list(), role=form.role.data,
                preset=None if form.role.data == "admin" else form.preset.data, groups=form.groups.data or [],
                sub_account_scope=form.sub_accounts.data or None, by=actor(),
                deployment=Deployment.of(current_app))
        except RosterError as exc:
            field_error(form, exc, "emails")
        else:
            invited = sum(r.outcome in ("invited", "added") for r in results)
            flash(_("%(invited)s of %(count)s invited; each email's result is below.", invited=invited,
                    count=len(results)))
            # a fresh form: the results list each address, and a second click must not invite them again
            offered = form.groups.choices, form.sub_accounts.choices
            form = BulkInviteForm(formdata=None)
            form.groups.choices, form.sub_accounts.choices = offered
    status = 400 if form.is_submitted() and results is None else 200
    return render("console/bulk.html", status, form=form, results=results, outcomes=OUTCOMES)


# ----------------------------------------------------------------- temporary password (R8)


@bp.route("/<account_id>/users/create", methods=["GET", "POST"])
@admin_view
def create_user(account: Account) -> Any:
    form = CreateUserForm()
    form.groups.choices = choices(console_queries.group_choices(account))
    form.sub_accounts.choices = sub_account_choices(account)
    if form.validate_on_submit():
        try:
            added = members.add_user(account, form.email.data or "", given_name=form.given_name.data or "",
                                     family_name=form.family_name.data or "", role=form.role.data,
                                     preset=None if form.role.data == "admin" else form.preset.data,
                                     groups=form.groups.data or [], sub_account_scope=form.sub_accounts.data or None,
                                     temporary_password=True, by=actor(), deployment=Deployment.of(current_app))
        except (RosterError, NotFoundError) as exc:
            field_error(form, exc, "email")
        else:
            if added.temporary_password is None:
                flash(_("%(email)s already has a user: they are a member now and were notified.",
                        email=added.user.email))
            else:
                flash(_("Created %(email)s; their temporary password was mailed to them.", email=added.user.email))
            return render("console/created.html", added=added)
    return render("console/create_user.html", 400 if form.is_submitted() else 200, form=form)
