"""Accounts and their policy."""

from __future__ import annotations

from typing import Any

import peewee

from . import audit, emails
from .audit import Actor
from .database import is_postgres, transaction
from .errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from .i18n import Text
from .tenancy import ACCOUNT_TYPES, Account, Membership


def get_account(ref: str) -> Account:
    """An account by its id or its unique name."""
    account = Account.get_or_none((Account.id == ref) | (Account.name == ref))
    if account is None:
        raise NotFoundError(Text("No account with id or name %(ref)r.", ref=ref))
    return account


def lock(account: Account | str) -> None:
    """Serialise changes that must see every other admin change of this account (R1).

    PostgreSQL locks the account row; SQLite's write transaction already
    holds the whole database.
    """
    if is_postgres():
        account_id = account if isinstance(account, str) else account.id
        list(Account.select(Account.id).where(Account.id == account_id).for_update())


def require_admin(account: Account | str, by: Actor) -> None:
    """R7: only the account's active admins (or the operator's CLI, or its SCIM token) manage people."""
    account_id = account if isinstance(account, str) else account.id
    if by.type in ("cli", "system"):
        return
    if by.type == "scim_token":
        if by.account_id == account_id:
            return
        raise ForbiddenError("This SCIM token belongs to another account.")
    if by.user_id and Membership.select().where(
        (Membership.account == account_id)
        & (Membership.user == by.user_id)
        & (Membership.status == "active")
        & (Membership.role == "admin")
    ).exists():
        return
    raise ForbiddenError("Only an admin of this account can do this.")


def _validate_policy(mfa_required: Any, invitation_ttl_days: Any, allowed_email_domains: Any) -> None:
    if mfa_required is not None and not isinstance(mfa_required, bool):
        raise InvalidInputError("mfa_required must be true or false.", field="mfa_required")
    if invitation_ttl_days is not None and (
        not isinstance(invitation_ttl_days, int) or not 1 <= invitation_ttl_days <= 90
    ):
        raise InvalidInputError(
            "The invitation validity must be a whole number of days from 1 to 90.", field="invitation_ttl_days"
        )
    for domain in allowed_email_domains or []:
        emails.normalize("check@" + str(domain).lstrip("@"))


def create_account(
    name: str,
    type: str,
    *,
    parent: str | None = None,
    mfa_required: bool = False,
    invitation_ttl_days: int = 7,
    allowed_email_domains: list[str] | None = None,
    by: Actor,
) -> Account:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidInputError("An account name of 1 to 200 characters is required.", field="name")
    if type not in ACCOUNT_TYPES:
        raise InvalidInputError(Text("The account type must be one of %(types)s.", types=", ".join(ACCOUNT_TYPES)),
                                field="type")
    _validate_policy(mfa_required, invitation_ttl_days, allowed_email_domains)
    with transaction():
        parent_account = get_account(parent) if parent else None
        try:
            with transaction():
                account = Account.create(
                    name=name,
                    type=type,
                    parent=parent_account,
                    mfa_required=mfa_required,
                    invitation_ttl_days=invitation_ttl_days,
                    allowed_email_domains=allowed_email_domains or None,
                )
        except peewee.IntegrityError as exc:
            raise ConflictError(Text("An account named %(name)r exists already.", name=name), field="name") from exc
        audit.record(by, "account.created", account_id=account.id, target_type="account", target_id=account.id,
                     name=name, type=type)
    return account


def set_policy(
    account: Account,
    *,
    mfa_required: bool | None = None,
    invitation_ttl_days: int | None = None,
    allowed_email_domains: list[str] | None = None,
    by: Actor,
) -> Account:
    """Change the account's policy; ``allowed_email_domains=[]`` lifts the domain restriction."""
    _validate_policy(mfa_required, invitation_ttl_days, allowed_email_domains)
    with transaction():
        require_admin(account, by)
        changes: dict[str, Any] = {}
        if mfa_required is not None:
            changes["mfa_required"] = mfa_required
        if invitation_ttl_days is not None:
            changes["invitation_ttl_days"] = invitation_ttl_days
        if allowed_email_domains is not None:
            changes["allowed_email_domains"] = [d.lower().lstrip("@") for d in allowed_email_domains] or None
        if changes:
            Account.update(**changes).where(Account.id == account.id).execute()
            audit.record(by, "account.policy_changed", account_id=account.id, target_type="account",
                         target_id=account.id, **changes)
    return Account.get_by_id(account.id)


def list_accounts() -> list[Account]:
    return list(Account.select().order_by(Account.name))
