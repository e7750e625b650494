"""``roster connection …``: an account's single sign-on connections to its own IdPs, OIDC or SAML (DESIGN.md §7).

A new connection starts disabled: test it (the console's Test sign-in), then
``roster connection set ID --enabled``. The OIDC client secret is read from
standard input, never from the command line (where ``ps`` and shell history
would keep it), and is never printed again.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from models import accounts, connections, saml_metadata, sso
from models.connections import Connection

from .support import DomainGroup, actor, deployment, emit_json, json_option, table, timestamp


def connection_dict(connection: Connection) -> dict[str, Any]:
    """A connection as `roster connection list --json` prints it (its docstring has the keys); never the secret."""
    urls = connections.urls(connection, deployment().settings)
    data: dict[str, Any] = {
        "id": connection.id,
        "account_id": connection.account_id,
        "kind": connection.kind,
        "name": connection.name,
        "enabled": bool(connection.enabled),
        "sso_required": bool(connection.sso_required),
        "jit": bool(connection.jit),
        "default_role": connection.default_role,
        "default_groups": [g.display_name for g in connections.default_groups(connection)],
        "trust_upstream_mfa": bool(connection.trust_upstream_mfa),
        "claim_mapping": dict(connection.claim_mapping or {}),
        "start_url": urls.start,
    }
    if connection.kind == "oidc":
        data |= {"issuer": connection.issuer, "client_id": connection.client_id,
                 "scopes": list(connection.scopes or []), "redirect_uri": urls.redirect_uri}
    else:
        data |= {"idp_entity_id": connection.idp_entity_id, "idp_metadata_url": connection.idp_metadata_url,
                 "mfa_contexts": list(connection.mfa_contexts or []), "entity_id": urls.entity_id,
                 "acs_url": urls.acs_url, "metadata_url": urls.metadata_url}
    return data | {"linked_identities": connections.linked_identities(connection),
                   "created_at": timestamp(connection.created_at), "updated_at": timestamp(connection.updated_at)}


@click.group("connection", cls=DomainGroup)
def connection_cli() -> None:
    """An account's single sign-on connections to its own IdPs (OIDC or SAML): create, set, list, delete."""


def _read_secret(given: bool) -> str:
    if not given:
        raise click.UsageError("An OIDC connection needs --client-secret-stdin: the client secret is read from "
                               "standard input, never from the command line.")
    secret = sys.stdin.readline().rstrip("\r\n")
    if not secret.strip():
        raise click.UsageError("--client-secret-stdin read an empty line: no client secret given.")
    return secret


def _read_metadata_file(path: Path) -> str:
    try:
        with path.open("rb") as source:
            # parse() refuses anything larger; reading one byte more is enough to tell
            raw = source.read(saml_metadata.MAX_METADATA + 1)
    except OSError as exc:
        raise click.ClickException(f"Cannot read {path}: {exc.strerror or exc}.") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise click.ClickException(f"{path} is not UTF-8 text.") from None


@connection_cli.command("create")
@click.argument("account_ref", metavar="ACCOUNT")
@click.option("--oidc", is_flag=True, help="An OpenID Connect IdP (give --issuer, --client-id, --client-secret-stdin).")
@click.option("--saml", is_flag=True, help="A SAML 2.0 IdP (give --metadata-file or --metadata-url).")
@click.option("--issuer", default="", help="OIDC: the IdP's issuer URL (its discovery document is read from it).")
@click.option("--client-id", default="", help="OIDC: the client ID the IdP gave Roster.")
@click.option("--client-secret-stdin", is_flag=True, help="OIDC: read the client secret from one line of standard "
              "input.")
@click.option("--scope", "scopes", multiple=True, help="OIDC: a scope to ask for (repeat; default openid email "
              "profile; openid is always asked).")
@click.option("--metadata-file", type=click.Path(dir_okay=False, path_type=Path), help="SAML: the IdP's metadata "
              "XML, from a file.")
@click.option("--metadata-url", default="", help="SAML: the URL of the IdP's metadata, fetched now.")
@click.option("--name", default="", help="A name for the admins (default: the IdP's host name).")
@json_option
def connection_create(account_ref: str, oidc: bool, saml: bool, issuer: str, client_id: str,
                      client_secret_stdin: bool, scopes: tuple[str, ...], metadata_file: Path | None,
                      metadata_url: str, name: str, as_json: bool) -> None:
    """Connect ACCOUNT to its IdP, disabled until `roster connection set ID --enabled`, and print what to register
    at the IdP.

    JSON for --oidc: {"id", "kind", "redirect_uri"}; for --saml: {"id", "kind", "entity_id", "acs_url",
    "metadata_url"} (Roster's SP entity id is also the URL of its SP metadata).
    """
    if oidc == saml:
        raise click.UsageError("Give --oidc or --saml (one of them).")
    if oidc:
        if metadata_file is not None or metadata_url:
            raise click.UsageError("--metadata-file and --metadata-url are for --saml.")
        secret = _read_secret(client_secret_stdin)
        account = accounts.get_account(account_ref)
        connection = connections.create_oidc(account, issuer=issuer, client_id=client_id, client_secret=secret,
                                             secrets=deployment().secrets, scopes=list(scopes) or None, name=name,
                                             by=actor())
    else:
        if issuer or client_id or client_secret_stdin or scopes:
            raise click.UsageError("--issuer, --client-id, --client-secret-stdin and --scope are for --oidc.")
        if (metadata_file is None) == (not metadata_url):
            raise click.UsageError("Give --metadata-file or --metadata-url (one of them).")
        account = accounts.get_account(account_ref)
        if metadata_file is not None:
            xml = _read_metadata_file(metadata_file)
        else:
            metadata_url = connections.check_url(metadata_url, "metadata_url", label="metadata URL")
            xml = saml_metadata.fetch(metadata_url)
        connection = connections.create_saml(account, metadata_xml=xml, metadata_url=metadata_url, name=name,
                                             by=actor())
    urls = connections.urls(connection, deployment().settings)
    if as_json:
        emit_json({"id": connection.id, "kind": "oidc", "redirect_uri": urls.redirect_uri} if oidc else
                  {"id": connection.id, "kind": "saml", "entity_id": urls.entity_id, "acs_url": urls.acs_url,
                   "metadata_url": urls.metadata_url})
        return
    click.echo(f"Created the {connection.kind.upper()} connection {connection.name} ({connection.id}) for "
               f"{account.name}. It is disabled.")
    if oidc:
        click.echo("Register this redirect URI at the IdP:")
        click.echo(f"  redirect URI: {urls.redirect_uri}")
    else:
        click.echo("Register Roster at the IdP (or give the IdP the metadata URL):")
        click.echo(f"  SP entity ID: {urls.entity_id}")
        click.echo(f"  ACS URL:      {urls.acs_url}")
        click.echo(f"  metadata URL: {urls.metadata_url}")
    click.echo(f"Test it (Test sign-in in the console), then run `roster connection set {connection.id} --enabled`.")


def _warn_sso_required(connection: Connection) -> None:
    """F4: who loses their password, and whether an admin can still get in another way (R1)."""
    affected, keep = sso.members_affected(connection)
    click.echo(f"Warning: {connection.name} now requires single sign-on. {affected} member(s) with an email in the "
               "account's verified domains can no longer use a password for it (nor reset one); "
               f"{keep} active admin(s) outside those domains keep their password.", err=True)
    if not keep:
        click.echo("No admin can get in without the IdP: if it fails, only this command line can let one in.",
                   err=True)
    if not connection.enabled:
        click.echo("It takes effect when the connection is enabled.", err=True)


def _flag(value: bool, on: str, off: str) -> str:
    return on if value else off


@connection_cli.command("set")
@click.argument("connection_id", metavar="CONNECTION_ID")
@click.option("--enabled/--disabled", default=None, help="Send the account's people to this IdP, or stop.")
@click.option("--sso-required/--no-sso-required", default=None, help="Members in the account's verified domains "
              "must sign in through the IdP (no password for this account); a warning says how many.")
@click.option("--jit/--no-jit", default=None, help="Make a member of a person the IdP vouches for at their first "
              "sign-in.")
@click.option("--default-role", type=click.Choice(["user", "admin"]), default=None, help="The role JIT gives.")
@click.option("--default-group", "default_groups", multiple=True, help="A group (name or id) JIT puts people in "
              "(repeat; replaces the list).")
@click.option("--trust-upstream-mfa/--no-trust-upstream-mfa", default=None, help="Count the IdP's second factor "
              "for the account's MFA policy.")
def connection_set(connection_id: str, enabled: bool | None, sso_required: bool | None, jit: bool | None,
                   default_role: str | None, default_groups: tuple[str, ...], trust_upstream_mfa: bool | None) -> None:
    """Change CONNECTION_ID's policy; what is not given stays as it is."""
    changes: dict[str, Any] = {key: value for key, value in (
        ("enabled", enabled), ("sso_required", sso_required), ("jit", jit), ("default_role", default_role),
        ("trust_upstream_mfa", trust_upstream_mfa)) if value is not None}
    if default_groups:
        changes["default_groups"] = list(default_groups)
    if not changes:
        raise click.UsageError("Nothing to change: give at least one option.")
    before = connections.get_connection(connection_id)
    connection = connections.update(before, by=actor(), **changes)
    in_force = connection.enabled and connection.sso_required
    if (connection.sso_required and not before.sso_required) or (in_force and not before.enabled):
        _warn_sso_required(connection)
    groups = ", ".join(g.display_name for g in connections.default_groups(connection)) or "none"
    click.echo(f"{connection.name} ({connection.id}): {_flag(connection.enabled, 'enabled', 'disabled')}, "
               f"SSO {_flag(connection.sso_required, 'required', 'optional')}, JIT "
               f"{_flag(connection.jit, 'on', 'off')} (role {connection.default_role}, groups {groups}), upstream "
               f"MFA {_flag(connection.trust_upstream_mfa, 'trusted', 'not trusted')}.")


@connection_cli.command("list")
@click.argument("account_ref", metavar="ACCOUNT")
@json_option
def connection_list(account_ref: str, as_json: bool) -> None:
    """List ACCOUNT's connections.

    JSON: a list of {"id", "account_id", "kind", "name", "enabled", "sso_required", "jit", "default_role",
    "default_groups" (names), "trust_upstream_mfa", "claim_mapping", "start_url", "linked_identities",
    "created_at", "updated_at"}, with for OIDC "issuer", "client_id", "scopes", "redirect_uri" and for SAML
    "idp_entity_id", "idp_metadata_url", "mfa_contexts", "entity_id", "acs_url", "metadata_url". Never the
    client secret.
    """
    account = accounts.get_account(account_ref)
    found = connections.list_connections(account)
    if as_json:
        emit_json([connection_dict(c) for c in found])
        return
    if not found:
        click.echo(f"{account.name} has no connections.")
        return
    table([[c.id, c.kind, c.name, _flag(c.enabled, "enabled", "disabled"), _flag(c.sso_required, "yes", "no"),
            _flag(c.jit, "yes", "no"), c.issuer or c.idp_entity_id] for c in found],
          ["ID", "KIND", "NAME", "STATE", "SSO REQUIRED", "JIT", "IDP"])


@connection_cli.command("delete")
@click.argument("connection_id", metavar="CONNECTION_ID")
def connection_delete(connection_id: str) -> None:
    """Delete CONNECTION_ID and its links to upstream identities; the people keep their users and memberships."""
    connection = connections.get_connection(connection_id)
    linked = connections.linked_identities(connection)
    connections.delete(connection, by=actor())
    click.echo(f"Deleted the connection {connection.name} ({connection.id}) and its {linked} linked identities.")
