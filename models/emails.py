"""Email addresses: syntax (email-validator, no DNS), disposable domains, account policy."""

from __future__ import annotations

from disposable_email_domains import blocklist
from email_validator import EmailNotValidError, validate_email

from .errors import InvalidInputError
from .i18n import Text


def normalize(email: str) -> str:
    """Validate ``email`` and return it as stored; raises InvalidInputError with the reason."""
    if not isinstance(email, str) or not email.strip():
        raise InvalidInputError("An email address is required.", field="email", reason="invalid_email")
    try:
        result = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInputError(Text("%(email)r is not a valid email address: %(why)s", email=email.strip(),
                                     why=str(exc)), field="email",
                                reason="invalid_email") from exc
    return result.normalized


def key(email: str) -> str:
    """The case-insensitive form that uniqueness is checked on."""
    return email.strip().lower()


def is_disposable(email: str) -> bool:
    domain = email.rsplit("@", 1)[-1].lower()
    parts = domain.split(".")
    return any(".".join(parts[i:]) in blocklist for i in range(len(parts) - 1))


def check_invitable(email: str, allowed_domains: list[str] | None) -> str:
    """Normalise ``email`` and refuse disposable domains and domains the account does not allow (R5)."""
    email = normalize(email)
    if is_disposable(email):
        raise InvalidInputError(Text("%(email)s uses a disposable email domain.", email=email), field="email",
                                reason="disposable_domain")
    if allowed_domains:
        domain = email.rsplit("@", 1)[1].lower()
        allowed = [d.lower().lstrip("@") for d in allowed_domains]
        if not any(domain == d or domain.endswith("." + d) for d in allowed):
            raise InvalidInputError(
                Text("%(email)s is not in a domain this account allows (%(domains)s).", email=email,
                     domains=", ".join(allowed)),
                field="email", reason="domain_not_allowed")
    return email
