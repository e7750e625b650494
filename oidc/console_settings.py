"""Console, Settings: the account's policy (R10, invitation validity, domains), SCIM tokens, OIDC clients.

Secrets (a SCIM token, a client secret) are shown on the page that made them,
once; they are stored hashed and cannot be shown again.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask_babel import gettext as _

from models import accounts, clients, console_queries, scim_tokens
from models.deployment import Deployment
from models.errors import RosterError
from models.tenancy import Account

from .console_base import actor, admin_view, back, bp, refusal_goes_back, render
from .console_forms import ClientEditForm, ClientForm, PolicyForm, TokenForm
from .forms import field_error


def scim_base_url() -> str:
    return Deployment.of(current_app).settings.scim_base_url


def _settings(account: Account, policy: PolicyForm | None = None, token: TokenForm | None = None,
              client: ClientForm | None = None, status: int = 200, **shown: Any) -> Any:
    if policy is None:
        policy = PolicyForm(formdata=None, mfa_required=account.mfa_required,
                            invitation_ttl_days=account.invitation_ttl_days,
                            allowed_email_domains=" ".join(account.allowed_email_domains or []))
    return render("console/settings.html", status, policy=policy, token_form=token or TokenForm(formdata=None),
                  client_form=client or ClientForm(formdata=None), tokens=scim_tokens.list_tokens(account),
                  clients=clients.list_clients(account), scim_base_url=scim_base_url(), **shown)


@bp.get("/<account_id>/settings")
@admin_view
def settings(account: Account) -> Any:
    return _settings(account)


@bp.post("/<account_id>/settings/policy")
@admin_view
def policy(account: Account) -> Any:
    form = PolicyForm()
    if form.validate_on_submit():
        try:
            accounts.set_policy(account, mfa_required=bool(form.mfa_required.data),
                                invitation_ttl_days=form.invitation_ttl_days.data,
                                allowed_email_domains=form.domains(), by=actor())
        except RosterError as exc:
            field_error(form, exc, "allowed_email_domains")
        else:
            return back("console.settings", _("The account's policy is saved."))
    return _settings(account, policy=form, status=400)


@bp.post("/<account_id>/settings/tokens")
@admin_view
def create_token(account: Account) -> Any:
    form = TokenForm()
    if not form.validate_on_submit():
        return _settings(account, token=form, status=400)
    token, secret = scim_tokens.create_token(account, description=form.description.data or "", by=actor())
    return render("console/secret.html", title=_("SCIM token created"),
                  lead=_("Copy this token now into your directory (Okta, Entra ID) with the SCIM base URL: "
                         "it is shown this once."),
                  secret=secret, secret_label=_("SCIM token"), extra=[(_("SCIM base URL"), scim_base_url())])


@bp.post("/<account_id>/settings/tokens/<token_id>/revoke")
@admin_view
def revoke_token(account: Account, token_id: str) -> Any:
    token = scim_tokens.revoke_token(account, token_id, by=actor())
    return back("console.settings", _("SCIM token %(hint)s… is revoked; the directory using it is cut off.",
                                      hint=token.hint))


@bp.post("/<account_id>/settings/clients")
@admin_view
def create_client(account: Account) -> Any:
    form = ClientForm()
    if form.validate_on_submit():
        try:
            client, secret = clients.create_client(
                account, name=form.name.data or "", redirect_uris=form.uris(), public=form.kind.data == "public",
                backchannel_logout_uri=form.backchannel_logout_uri.data or None, by=actor())
        except RosterError as exc:
            field_error(form, exc, "redirect_uris")
        else:
            extra = [(_("Client ID"), client.client_id)]
            return render("console/secret.html", title=_("Application %(name)s registered", name=client.name),
                          lead=_("Copy the client secret now: it is shown this once.") if secret else
                               _("A public client has no secret: it must use PKCE."),
                          secret=secret, secret_label=_("Client secret"), extra=extra)
    return _settings(account, client=form, status=400)


@bp.post("/<account_id>/settings/clients/<client_id>/rotate")
@admin_view
def rotate_secret(account: Account, client_id: str) -> Any:
    client = console_queries.client_in(account, client_id)
    with refusal_goes_back("console.settings"):
        secret = clients.rotate_secret(client, actor())
    return render("console/secret.html", title=_("New secret for %(name)s", name=client.name),
                  lead=_("The old secret stopped working. Copy the new one now: it is shown this once."),
                  secret=secret, secret_label=_("Client secret"), extra=[(_("Client ID"), client.client_id)])


@bp.route("/<account_id>/settings/clients/<client_id>", methods=["GET", "POST"])
@admin_view
def edit_client(account: Account, client_id: str) -> Any:
    client = console_queries.client_in(account, client_id)
    if request.method == "GET":
        form = ClientEditForm(formdata=None, name=client.name, redirect_uris="\n".join(client.redirect_uris),
                              post_logout_redirect_uris="\n".join(client.post_logout_redirect_uris or []),
                              backchannel_logout_uri=client.backchannel_logout_uri or "")
        return render("console/client.html", client=client, form=form)
    form = ClientEditForm()
    if form.validate_on_submit():
        try:
            clients.update_client(client, name=form.name.data or "", redirect_uris=form.lines(form.redirect_uris.data),
                                  post_logout_redirect_uris=form.lines(form.post_logout_redirect_uris.data),
                                  backchannel_logout_uri=form.backchannel_logout_uri.data or None, by=actor())
        except RosterError as exc:
            field_error(form, exc, "redirect_uris")
        else:
            return back("console.settings", _("Application %(name)s is saved.", name=form.name.data))
    return render("console/client.html", 400, client=client, form=form)


@bp.route("/<account_id>/settings/clients/<client_id>/delete", methods=["GET", "POST"])
@admin_view
def delete_client(account: Account, client_id: str) -> Any:
    client = console_queries.client_in(account, client_id)
    if request.method == "GET":
        return render("console/confirm.html", title=_("Delete the application %(name)s?", name=client.name),
                      message=_("Its tokens stop working at once and nobody can sign in to it any more."),
                      button=_("Delete the application"), cancel=("console.settings", {}))
    clients.delete_client(client, actor())
    return back("console.settings", _("Application %(name)s deleted.", name=client.name))
