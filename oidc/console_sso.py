"""Console, Settings → Single sign-on: the account's domains, proven by a DNS TXT record, and its connections
to its own IdPs (DESIGN.md §7; the connections' pages are :mod:`oidc.console_connections`).

Adding a domain shows the record to publish; Verify asks DNS at once and
says why it failed (the record is missing or says something else, the name
does not exist, DNS did not answer, another account owns it). The rules are
models.federation's; a refusal comes back as a message on this page.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from models import federation
from models.deployment import Deployment
from models.errors import RosterError
from models.tenancy import Account

from .console_base import actor, admin_view, back, bp, refusal_goes_back, render
from .console_connections import connection_rows
from .forms import field_error
from .i18n import translated


class DomainForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    domain = StringField(_l("Domain"), validators=[DataRequired(), Length(max=1000)])


def _page(account: Account, form: DomainForm | None = None, status: int = 200) -> Any:
    return render("console/sso.html", status, domains=federation.list_domains(account),
                  form=form or DomainForm(formdata=None), connections=connection_rows(account))


@bp.get("/<account_id>/settings/sso")
@admin_view
def sso(account: Account) -> Any:
    return _page(account)


@bp.post("/<account_id>/settings/sso/domains")
@admin_view
def add_domain(account: Account) -> Any:
    form = DomainForm()
    if form.validate_on_submit():
        try:
            domain = federation.add_domain(account, form.domain.data or "", by=actor())
        except RosterError as exc:
            field_error(form, exc, "domain")
        else:
            if domain.status == "verified":
                return back("console.sso", _("%(domain)s is verified for this account already.", domain=domain.name))
            return back("console.sso", _("%(domain)s is added. Publish its TXT record below, then verify it.",
                                         domain=domain.name))
    return _page(account, form, 400)


@bp.post("/<account_id>/settings/sso/domains/<name>/verify")
@admin_view
def verify_domain(account: Account, name: str) -> Any:
    with refusal_goes_back("console.sso"):
        outcome = federation.verify_domain(account, name, by=actor(),
                                           settings=Deployment.of(current_app).settings)
    if outcome.verified:
        return back("console.sso", _("%(domain)s is verified.", domain=outcome.domain.name))
    return back("console.sso", _("%(domain)s is not verified: %(why)s", domain=outcome.domain.name,
                                 why=translated(outcome.message)), "error")


@bp.route("/<account_id>/settings/sso/domains/<name>/remove", methods=["GET", "POST"])
@admin_view
def remove_domain(account: Account, name: str) -> Any:
    with refusal_goes_back("console.sso"):
        domain = federation.get_domain(account, name)
        if request.method == "POST":
            federation.remove_domain(account, domain.name, by=actor())
    if request.method == "GET":
        message = (_("People with addresses in it will no longer be recognised as this account's. Another account "
                     "may then verify it.") if domain.status == "verified" else
                   _("Its TXT record will no longer verify it; adding it again gives a new record."))
        return render("console/confirm.html", title=_("Remove the domain %(domain)s?", domain=domain.name),
                      message=message, button=_("Remove the domain"), cancel=("console.sso", {}))
    return back("console.sso", _("%(domain)s is removed.", domain=domain.name))
