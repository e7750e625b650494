"""Module permissions, privilege presets and sub-account scope (R7)."""

from __future__ import annotations

from .errors import InvalidInputError

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
        raise InvalidInputError(f"Unknown role {role!r}: use admin or user.", field="role")
    if role == "admin":
        return list(MODULES)
    chosen: list[str] = []
    if preset is not None:
        if preset not in PRESETS:
            raise InvalidInputError(
                f"Unknown preset {preset!r}: use one of {', '.join(PRESETS)}.", field="preset"
            )
        chosen.extend(PRESETS[preset])
    for module in modules or []:
        if module not in MODULES:
            raise InvalidInputError(f"Unknown module {module!r}.", field="permissions")
        if module in ADMIN_ONLY_MODULES:
            raise InvalidInputError(
                f"The {module} module is for admins only; give the admin role instead.",
                field="permissions",
            )
        chosen.append(module)
    if preset is None and not modules:
        chosen.extend(PRESETS["basics"])
    return [m for m in MODULES if m in set(chosen)]
