"""Console, Settings → Single sign-on: the account's connections to its own IdPs, OIDC or SAML (DESIGN.md §7).

A connection is added disabled; its page shows what to register at the IdP
(the redirect URI, or the SP entity id, ACS URL and metadata URL), a Test
sign-in, and the policy. Before single sign-on becomes required (F4) the
admin reads who loses their password and whether an admin can still get in
without the IdP (R1), and confirms; nothing changes until then. The client
secret is write-only: no page ever shows it. The rules are
models.connections'; a refusal comes back next to its field, with status 400.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, g, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from models import connections, console_queries, federation, saml_metadata, sso
from models.connections import Connection, Urls
from models.deployment import Deployment
from models.errors import RosterError
from models.tenancy import Account

from .console_base import actor, admin_view, back, bp, refusal_goes_back, render
from .console_connection_forms import (
    MAPPING_LABELS,
    ConnectionForm,
    OidcNewForm,
    SamlForm,
    SamlNewForm,
    edit_form,
    mapping_default,
    show_refusal,
)

BASE = "/<account_id>/settings/sso/connections"


def _urls(connection: Connection | str) -> Urls:
    return connections.urls(connection, Deployment.of(current_app).settings)


def connection_rows(account: Account) -> list[tuple[Connection, Urls]]:
    """The account's connections with their URLs, for the Single sign-on page."""
    return [(c, _urls(c)) for c in connections.list_connections(account)]


def _comes_into_force(connection: Connection, enabled: bool, sso_required: bool) -> bool:
    """F4 is being switched on: required where it was not, or a connection that requires it enabled."""
    return sso_required and not (connection.sso_required and (connection.enabled or not enabled))


# ------------------------------------------------------------------ add


def _create(account: Account, kind: str, form: Any) -> Connection:
    if kind == "oidc":
        return connections.create_oidc(account, issuer=form.issuer.data or "", client_id=form.client_id.data or "",
                                       client_secret=form.client_secret.data or "",
                                       secrets=Deployment.of(current_app).secrets, name=form.name.data or "",
                                       by=actor())
    xml, url = form.metadata_xml.data or "", (form.metadata_url.data or "").strip()
    if url and not xml.strip():
        xml = saml_metadata.fetch(connections.check_url(url, "metadata_url", label="metadata URL"))
    return connections.create_saml(account, metadata_xml=xml, metadata_url=url, name=form.name.data or "",
                                   by=actor())


@bp.route(f"{BASE}/new/<kind>", methods=["GET", "POST"])
@admin_view
def new_connection(account: Account, kind: str) -> Any:
    if kind not in connections.KINDS:
        abort(404)
    form = OidcNewForm() if kind == "oidc" else SamlNewForm()
    if form.validate_on_submit():
        try:
            connection = _create(account, kind, form)
        except RosterError as exc:
            show_refusal(form, exc)
        else:
            return back("console.connection", _("The connection %(name)s is added and disabled. Register Roster at "
                                                "your IdP with the values below, test it, then enable it.",
                                                name=connection.name), connection_id=connection.id)
    # the OIDC redirect URI is the same for every connection: the admin registers it before the IdP gives a client
    return render("console/connection_new.html", 400 if form.is_submitted() else 200, form=form, kind=kind,
                  redirect_uri=_urls("").redirect_uri)


# ------------------------------------------------------------------ edit


def _edit_page(connection: Connection, form: ConnectionForm, status: int = 200) -> Any:
    placeholders = {f"claim_{key}": mapping_default(connection, key) for key in MAPPING_LABELS}
    return render("console/connection.html", status, connection=connection, urls=_urls(connection), form=form,
                  linked=connections.linked_identities(connection), placeholders=placeholders)


def _new_metadata(connection: Connection, form: SamlForm) -> dict[str, Any]:
    """SAML: pasted metadata replaces the stored one; a new URL (or a refetch asked for) is fetched."""
    xml, url = form.metadata_xml.data or "", (form.metadata_url.data or "").strip()
    if xml.strip():
        return {"metadata_xml": xml}
    if url and (url != connection.idp_metadata_url or form.refetch.data):
        return {"metadata_xml": saml_metadata.fetch(connections.check_url(url, "metadata_url",
                                                                          label="metadata URL"))}
    return {}


def _carried(form: ConnectionForm) -> list[tuple[str, str]]:
    """The posted form as hidden fields of the warning page, so confirming saves what was typed.

    Never the client secret: it would be in the page; the warning asks for it again instead.
    """
    pairs: list[tuple[str, str]] = []
    for field in form:
        if field.name in ("csrf_token", "client_secret", "confirmed"):
            continue
        if field.type == "BooleanField":
            pairs += [(field.name, "y")] if field.data else []
        elif field.type == "SelectMultipleField":
            pairs += [(field.name, str(value)) for value in field.data or []]
        else:
            pairs.append((field.name, str(field.data or "")))
    return [*pairs, ("confirmed", "1")]


def _warning(connection: Connection, action: str, carried: list[tuple[str, str]], *, enabled: bool,
             secret: Any = None) -> Any:
    affected, keep = sso.members_affected(connection)
    # the admin reading this may be among those affected: then their next visit here goes through the IdP
    mine = federation.verified_domain(g.console_user.email.rpartition("@")[2])
    you = mine is not None and mine.account_id == connection.account_id
    return render("console/sso_required.html", connection=connection, affected=affected, keep=keep, action=action,
                  carried=carried, secret=secret, enabled=enabled, you=you)


@bp.route(f"{BASE}/<connection_id>", methods=["GET", "POST"])
@admin_view
def connection(account: Account, connection_id: str) -> Any:
    found = connections.get_connection(connection_id, account)
    groups = console_queries.group_choices(account)
    if request.method == "GET":
        return _edit_page(found, edit_form(found, groups))
    form = edit_form(found, groups, request.form)
    if not form.validate_on_submit():
        return _edit_page(found, form, 400)
    changes = form.changes()
    if form.confirmed.data != "1" and _comes_into_force(found, bool(changes["enabled"]), bool(changes["sso_required"])):
        secret = form.client_secret if (getattr(form, "client_secret", None) and form.client_secret.data) else None
        return _warning(found, url_for("console.connection", account_id=account.id, connection_id=found.id),
                        _carried(form), enabled=bool(changes["enabled"]), secret=secret)
    try:
        if isinstance(form, SamlForm):
            changes |= _new_metadata(found, form)
        saved = connections.update(found, by=actor(), secrets=Deployment.of(current_app).secrets, **changes)
    except RosterError as exc:
        show_refusal(form, exc)
        return _edit_page(found, form, 400)
    return back("console.connection", _("The connection %(name)s is saved.", name=saved.name),
                connection_id=found.id)


# ------------------------------------------------------------------ enable, disable, delete


def _back_to(connection: Connection) -> tuple[str, dict[str, Any]]:
    """Where a button on the list or on the connection's page goes back to."""
    if request.form.get("back") == "connection":
        return "console.connection", {"connection_id": connection.id}
    return "console.sso", {}


@bp.post(f"{BASE}/<connection_id>/enable")
@admin_view
def enable_connection(account: Account, connection_id: str) -> Any:
    found = connections.get_connection(connection_id, account)
    endpoint, values = _back_to(found)
    if found.sso_required and not found.enabled and request.form.get("confirmed") != "1":
        action = url_for("console.enable_connection", account_id=account.id, connection_id=found.id)
        return _warning(found, action, [("back", request.form.get("back", "")), ("confirmed", "1")], enabled=True)
    with refusal_goes_back(endpoint, **values):
        connections.update(found, enabled=True, by=actor())
    return back(endpoint, _("%(name)s is enabled: people in the account's verified domains sign in through it.",
                            name=found.name), **values)


@bp.post(f"{BASE}/<connection_id>/disable")
@admin_view
def disable_connection(account: Account, connection_id: str) -> Any:
    found = connections.get_connection(connection_id, account)
    endpoint, values = _back_to(found)
    with refusal_goes_back(endpoint, **values):
        connections.update(found, enabled=False, by=actor())
    return back(endpoint, _("%(name)s is disabled: nobody is sent to it any more.",
                            name=found.name), **values)


@bp.route(f"{BASE}/<connection_id>/delete", methods=["GET", "POST"])
@admin_view
def delete_connection(account: Account, connection_id: str) -> Any:
    found = connections.get_connection(connection_id, account)
    if request.method == "GET":
        linked = connections.linked_identities(found)
        message = ngettext("%(num)d linked identity (the link between a person at the IdP and their Roster user) is "
                           "deleted with it. People keep their Roster users and memberships.",
                           "%(num)d linked identities (the links between people at the IdP and their Roster users) "
                           "are deleted with it. People keep their Roster users and memberships.", linked)
        return render("console/confirm.html", title=_("Delete the connection %(name)s?", name=found.name),
                      message=message, button=_("Delete the connection"),
                      cancel=("console.connection", {"connection_id": found.id}))
    with refusal_goes_back("console.sso"):
        connections.delete(found, by=actor())
    return back("console.sso", _("The connection %(name)s is deleted.", name=found.name))
