"""Module permissions, privilege presets and sub-account scope (R7)."""

from __future__ import annotations

import enum
from collections.abc import Iterable

from .errors import InvalidInputError
from .i18n import Text
from .tenancy import Account

MODULES = (
    "dashboard",
    "products",
    "orders",
    "subscriptions",
    "billing",
    "reports",
    "support",
    "pricing",
    "payment",
    "user_management",
)
ADMIN_ONLY_MODULES = frozenset({"pricing", "payment", "user_management"})

PRESETS: dict[str, tuple[str, ...]] = {
    "basics": ("dashboard", "products"),
    "support": ("dashboard", "products", "subscriptions", "support"),
    "purchasing": ("dashboard", "products", "orders", "subscriptions", "billing"),
    "all": tuple(m for m in MODULES if m not in ADMIN_ONLY_MODULES),
}


def resolve(role: str, *, preset: str | None = None, modules: list[str] | None = None) -> list[str]:
    """The modules a membership gets: admins get every module; the user role never an admin-only one."""
    if role not in ("admin", "user"):
        raise InvalidInputError(Text("Unknown role %(role)r: use admin or user.", role=role), field="role")
    if role == "admin":
        return list(MODULES)
    chosen: list[str] = []
    if preset is not None:
        if preset not in PRESETS:
            raise InvalidInputError(Text("Unknown preset %(preset)r: use one of %(presets)s.", preset=preset,
                                         presets=", ".join(PRESETS)), field="preset")
        chosen.extend(PRESETS[preset])
    for module in modules or []:
        if module not in MODULES:
            raise InvalidInputError(Text("Unknown module %(module)r.", module=module), field="permissions")
        if module in ADMIN_ONLY_MODULES:
            raise InvalidInputError(
                Text("The %(module)s module is for admins only; give the admin role instead.", module=module),
                field="permissions",
            )
        chosen.append(module)
    if preset is None and not modules:
        chosen.extend(PRESETS["basics"])
    return [m for m in MODULES if m in set(chosen)]


def preset_of(role: str, modules: Iterable[str]) -> str | None:
    """The preset whose modules are exactly ``modules``, for showing; None for admins and custom choices.

    Memberships store their modules, not the preset they came from: a preset
    is a shorthand, and modules chosen one by one may match one too.
    """
    if role == "admin":
        return None
    have = set(modules)
    return next((name for name, chosen in PRESETS.items() if set(chosen) == have), None)


class Keep(enum.Enum):
    """A default meaning "leave the stored scope as it is": None already means every sub-account."""

    SCOPE = "keep"


KEEP = Keep.SCOPE
_SHOWN_REFS = 5


def check_scope(account: Account, scope: Iterable[str] | None) -> list[str] | None:
    """R7: the sub-accounts a membership's permissions are limited to, as ids; None means every one.

    Each entry names a direct sub-account of ``account`` by id or by name;
    anything else (another account's sub-account, an unknown id) is refused
    as a whole. Choosing none means every sub-account, as the forms say.
    """
    if scope is None:
        return None
    wanted = [s.strip() for s in scope if s.strip()]
    if not wanted:
        return None
    children = sub_account_names(account)
    ids = {i: i for i in children} | {name: i for i, name in children.items()}
    unknown = [s for s in wanted if s not in ids]
    if unknown:
        shown = ", ".join(repr(s[:64]) for s in unknown[:_SHOWN_REFS]) + (" …" if len(unknown) > _SHOWN_REFS else "")
        if not children:
            raise InvalidInputError(Text("%(account)s has no sub-accounts to limit access to (got %(refs)s).",
                                         account=account.name, refs=shown),
                                    field="sub_accounts")
        raise InvalidInputError(Text("Not sub-accounts of %(account)s: %(refs)s.", account=account.name, refs=shown),
                                field="sub_accounts")
    return list(dict.fromkeys(ids[s] for s in wanted))


def scope_accounts(account: Account, scope: list[str] | None,
                   names: dict[str, str] | None = None) -> list[tuple[str, str | None]] | None:
    """A stored scope as (id, name) pairs, for showing; None: every sub-account.

    A name is given only for an account that is still a sub-account of
    ``account``: one deleted or moved since is shown by its id alone, so the
    page never names another tenant's account. ``names``: :func:`sub_account_names`, read once for many.
    """
    if scope is None:
        return None
    if names is None:
        names = sub_account_names(account) if scope else {}
    return [(account_id, names.get(account_id)) for account_id in scope]


def sub_account_names(account: Account) -> dict[str, str]:
    """Id → name of the account's sub-accounts: one query, for showing the scopes of many members."""
    return {a.id: a.name for a in Account.select(Account.id, Account.name).where(Account.parent == account.id)}
