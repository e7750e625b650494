"""``roster domain …``: the domains an account proves it owns by DNS, for single sign-on (DESIGN.md §7)."""

from __future__ import annotations

from typing import Any

import click

from models import accounts, federation
from models.federation import Domain

from .support import DomainGroup, actor, deployment, emit_json, json_option, table, timestamp


def domain_dict(domain: Domain) -> dict[str, Any]:
    """{"domain", "status", "record", "value", "verified_at", "created_at"}"""
    return {
        "domain": domain.name,
        "status": domain.status,
        "record": domain.record_name,
        "value": domain.record_value,
        "verified_at": timestamp(domain.verified_at),
        "created_at": timestamp(domain.created_at),
    }


@click.group("domain", cls=DomainGroup)
def domain_cli() -> None:
    """Domains an account owns, proven by a DNS TXT record: add, verify, list, remove."""


@domain_cli.command("add")
@click.argument("account_ref", metavar="ACCOUNT")
@click.argument("name", metavar="DOMAIN")
@json_option
def domain_add(account_ref: str, name: str, as_json: bool) -> None:
    """Claim DOMAIN for ACCOUNT and print the TXT record to publish; adding it again prints the same record.

    Free-mail and disposable domains are refused. JSON: {"domain", "status",
    "record", "value", "verified_at", "created_at"}.
    """
    account = accounts.get_account(account_ref)
    domain = federation.add_domain(account, name, by=actor())
    if as_json:
        emit_json(domain_dict(domain))
        return
    if domain.status == "verified":
        click.echo(f"{domain.name} is verified for {account.name} already.")
        return
    click.echo(f"Publish this DNS TXT record, then run `roster domain verify {account_ref} {domain.name}`:")
    click.echo(f"  name:  {domain.record_name}")
    click.echo(f"  value: {domain.record_value}")


@domain_cli.command("verify")
@click.argument("account_ref", metavar="ACCOUNT")
@click.argument("name", metavar="DOMAIN")
@json_option
def domain_verify(account_ref: str, name: str, as_json: bool) -> None:
    """Look up DOMAIN's TXT record and, when it has the value, make DOMAIN ACCOUNT's.

    Exit status 1, with the reason, when it is not verified (the record is
    missing or says something else, the name does not exist, DNS did not
    answer, another account owns the domain). The resolvers are
    ROSTER_DNS_NAMESERVERS' (else the system's). JSON: the domain as `domain
    add` prints it, with "verified" (true or false), "reason" (null, or
    record_missing, value_mismatch, nxdomain, dns_timeout, dns_failure, taken)
    and "message"; printed before the exit status says it failed.
    """
    account = accounts.get_account(account_ref)
    outcome = federation.verify_domain(account, name, by=actor(), settings=deployment().settings)
    if as_json:
        emit_json({**domain_dict(outcome.domain), "verified": outcome.verified, "reason": outcome.reason or None,
                   "message": outcome.message or None})
    elif outcome.verified:
        click.echo(f"{outcome.domain.name} is verified for {account.name}.")
    if not outcome.verified:
        raise click.ClickException(f"{outcome.domain.name} is not verified: {outcome.message}")


@domain_cli.command("list")
@click.argument("account_ref", metavar="ACCOUNT")
@json_option
def domain_list(account_ref: str, as_json: bool) -> None:
    """List ACCOUNT's domains with their TXT records. JSON: a list of domains as `domain add` prints them."""
    account = accounts.get_account(account_ref)
    found = federation.list_domains(account)
    if as_json:
        emit_json([domain_dict(d) for d in found])
        return
    if not found:
        click.echo(f"{account.name} has no domains.")
        return
    table([[d.name, d.status, d.record_name, d.record_value] for d in found], ["DOMAIN", "STATUS", "RECORD", "VALUE"])


@domain_cli.command("remove")
@click.argument("account_ref", metavar="ACCOUNT")
@click.argument("name", metavar="DOMAIN")
def domain_remove(account_ref: str, name: str) -> None:
    """Remove DOMAIN from ACCOUNT, pending or verified (another account may then verify it)."""
    account = accounts.get_account(account_ref)
    domain = federation.remove_domain(account, name, by=actor())
    click.echo(f"Removed {domain.name} from {account.name}.")
