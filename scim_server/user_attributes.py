"""Where each SCIM User attribute a filter or sortBy may name is stored (RFC 7643 §4.1, §4.3).

An explicit map, by lower-cased URN: a column of ``directory_record``
(:data:`USER_COLUMNS`) or rows of ``directory_value`` (:data:`USER_VALUES`,
kept by models.directory_index). Any attribute not here is an invalidFilter
or an invalid sortBy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from models import urns
from models.tenancy import DirectoryRecord

CORE = urns.CORE_USER.lower() + ":"
ENTERPRISE = urns.ENTERPRISE_USER.lower() + ":"

Expression = Any  # a peewee expression; peewee ships no type hints


@dataclasses.dataclass(frozen=True)
class Column:
    """How one SCIM attribute is stored: an expression, and whether values are lower-cased first."""

    expression: Callable[[], Expression]
    kind: str = "string"  # string, datetime, boolean
    fold_case: bool = False
    nullable: bool = False


USER_COLUMNS: dict[str, Column] = {
    CORE + "id": Column(lambda: DirectoryRecord.id),
    CORE + "username": Column(lambda: DirectoryRecord.user_name_key, fold_case=True),
    CORE + "externalid": Column(lambda: DirectoryRecord.external_id, nullable=True),
    CORE + "meta.created": Column(lambda: DirectoryRecord.created_at, kind="datetime"),
    CORE + "meta.lastmodified": Column(lambda: DirectoryRecord.updated_at, kind="datetime"),
    # stored by models' writers as directory.is_active says (migration 0009)
    CORE + "active": Column(lambda: DirectoryRecord.active, kind="boolean"),
}



@dataclasses.dataclass(frozen=True)
class Value:
    """An attribute kept as ``directory_value`` rows: the rows' ``path`` and the column compared."""

    path: str
    column: str = "value"  # value, type or primary


def _multi_valued(name: str, path: str) -> dict[str, Value]:
    return {CORE + name: Value(path), CORE + name + ".value": Value(path),
            CORE + name + ".type": Value(path, "type"), CORE + name + ".primary": Value(path, "primary")}


USER_VALUES: dict[str, Value] = {
    **_multi_valued("emails", "emails.value"),
    **_multi_valued("phonenumbers", "phoneNumbers.value"),
    **{CORE + path.lower(): Value(path) for path in (
        "name.givenName", "name.familyName", "name.formatted", "displayName", "nickName", "title", "userType",
        "preferredLanguage", "locale", "timezone")},
    **{ENTERPRISE + name.lower(): Value("enterprise." + name) for name in (
        "employeeNumber", "costCenter", "organization", "division", "department")},
    ENTERPRISE + "manager": Value("enterprise.manager.value"),
    ENTERPRISE + "manager.value": Value("enterprise.manager.value"),
}
"""Attributes filtered and sorted through directory_value, by lower-cased URN."""
