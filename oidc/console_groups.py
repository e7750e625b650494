"""Console, Groups: list, create, rename, delete (after asking) and members."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_babel import gettext as _

from models import console_queries, directory_groups, groups
from models.errors import NotFoundError, RosterError
from models.tenancy import Account

from .console_base import actor, admin_view, back, bp, page_number, render
from .console_forms import GroupForm, GroupMemberForm
from .forms import field_error


@bp.route("/<account_id>/groups", methods=["GET", "POST"])
@admin_view
def groups_list(account: Account) -> Any:
    form = GroupForm()
    if form.validate_on_submit():
        try:
            group = groups.create_group(account, form.display_name.data or "", by=actor())
        except RosterError as exc:
            field_error(form, exc, "display_name")
        else:
            return back("console.group", _("Group %(group)s created.", group=group.display_name), group_id=group.id)
    return render("console/groups.html", 400 if form.is_submitted() else 200, form=form,
                  groups=console_queries.groups_with_counts(account))


def _group_page(account: Account, group_id: str, rename: GroupForm | None = None,
                add: GroupMemberForm | None = None, status: int = 200) -> Any:
    group = directory_groups.find_group(account, group_id)
    rename = rename or GroupForm(formdata=None, display_name=group.display_name)
    add = add or GroupMemberForm(formdata=None)
    return render("console/group.html", status, group=group, rename=rename, add=add,
                  page=console_queries.group_members_page(group, page_number()))


@bp.get("/<account_id>/groups/<group_id>")
@admin_view
def group(account: Account, group_id: str) -> Any:
    return _group_page(account, group_id)


@bp.post("/<account_id>/groups/<group_id>/rename")
@admin_view
def rename_group(account: Account, group_id: str) -> Any:
    found = directory_groups.find_group(account, group_id)
    form = GroupForm()
    if form.validate_on_submit():
        try:
            renamed = groups.rename_group(found, form.display_name.data or "", by=actor())
        except RosterError as exc:
            field_error(form, exc, "display_name")
        else:
            return back("console.group", _("The group is now called %(group)s.", group=renamed.display_name),
                        group_id=group_id)
    return _group_page(account, group_id, rename=form, status=400)


@bp.route("/<account_id>/groups/<group_id>/delete", methods=["GET", "POST"])
@admin_view
def delete_group(account: Account, group_id: str) -> Any:
    found = directory_groups.find_group(account, group_id)
    if request.method == "GET":
        return render("console/confirm.html", title=_("Delete the group %(group)s?", group=found.display_name),
                      message=_("Its members stay in the account; they only leave this group."),
                      button=_("Delete the group"), cancel=("console.group", {"group_id": group_id}))
    groups.delete_group(found, by=actor())
    return back("console.groups_list", _("Group %(group)s deleted.", group=found.display_name))


@bp.post("/<account_id>/groups/<group_id>/members")
@admin_view
def add_group_member(account: Account, group_id: str) -> Any:
    found = directory_groups.find_group(account, group_id)
    form = GroupMemberForm()
    if form.validate_on_submit():
        try:
            membership = console_queries.membership_by_email(account, form.email.data or "")
            groups.add_members(found, [membership.id], by=actor())
        except NotFoundError as exc:
            field_error(form, exc, "email")
        else:
            return back("console.group", _("%(email)s is now in %(group)s.", email=membership.user.email,
                                           group=found.display_name), group_id=group_id)
    return _group_page(account, group_id, add=form, status=400)


@bp.post("/<account_id>/groups/<group_id>/members/<membership_id>/remove")
@admin_view
def remove_group_member(account: Account, group_id: str, membership_id: str) -> Any:
    found = directory_groups.find_group(account, group_id)
    membership = console_queries.membership_in(account, membership_id)
    groups.remove_members(found, [membership.id], by=actor())
    return back("console.group", _("%(email)s left %(group)s.", email=membership.user.email, group=found.display_name),
                group_id=group_id)
