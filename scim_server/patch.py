"""PATCH on a User (RFC 7644 §3.5.2) with scim2-models' PatchOp, as Okta and Entra ID send it.

scim2-models reads most of the clients' dialects under :data:`TOLERANT`
(DESIGN.md §3): ``Replace``/``Add``/``Remove``, ``"False"``, path-less values
with dotted and URN keys, ``emails[type eq "work"].value`` creating the work
email. :func:`normalize` rewrites the few shapes it refuses or would drop,
before validation. The policy is active while the payload is validated and
while it is applied.
"""

from __future__ import annotations

from typing import Any

import pydantic
from scim2_models import Context, InvalidValueException, Mutability, PatchOp, SCIMException

from models import urns

from .errors import validation_error
from .mapping import USER_PATH, UserModel
from .policy import TOLERANT

ENTERPRISE = urns.ENTERPRISE_USER
MANAGER = ENTERPRISE + ":manager"
_MANAGER_PATHS = {"manager", MANAGER.lower()}

UserPatch = PatchOp[UserModel]


def _manager(value: Any) -> Any:
    """Entra ID sends the manager as a bare id, or as an array of one ``{"value": id}``: RFC 7643 §4.3 has an object."""
    if isinstance(value, list):
        if not value:
            return None  # an empty array unassigns the manager
        if len(value) == 1:
            value = value[0]
    if isinstance(value, str):
        return {"value": value} if value else None
    return value


def _read_only(key: str) -> bool:
    """Whether a key of a path-less value names a read-only attribute other than ``id``.

    Okta and Entra ID echo ``groups: []`` and ``meta`` in what they write;
    those are ignored. ``id`` is kept, so a different id is still a
    mutability error and the same one changes nothing.
    """
    try:
        binding = USER_PATH(key).resolve()
    except (SCIMException, ValueError):
        return False
    if binding is None or binding.field_name == "id" or binding.model is not UserModel:
        return False
    return bool(binding.model.get_field_annotation(binding.field_name, Mutability) == Mutability.read_only)


def _split(operation: dict[str, Any]) -> list[dict[str, Any]]:
    """A path-less add/replace as operations scim2-models applies without dropping a key.

    A key with a value filter (``emails[type eq "work"].value``, Entra ID) is
    not an attribute name, so it becomes an operation of its own.
    """
    value = operation.get("value")
    if operation.get("path") or not isinstance(value, dict):
        return [operation]
    kept: dict[str, Any] = {}
    extra: list[dict[str, Any]] = []
    for key, item in value.items():
        if not isinstance(key, str):
            kept[key] = item
        elif key.lower() in _MANAGER_PATHS:
            kept[MANAGER] = _manager(item)
        elif key.lower() == ENTERPRISE.lower() and isinstance(item, dict):
            kept[key] = {k: (_manager(v) if k.lower() == "manager" else v)
                         for k, v in item.items()}
        elif "[" in key:
            extra.append({"op": operation.get("op"), "path": key, "value": item})
        elif not _read_only(key):
            kept[key] = item
    return [{**operation, "value": kept}, *extra]


def normalize(payload: Any) -> Any:
    """Rewrite the clients' shapes scim2-models refuses into RFC 7644 ones; anything else is left for validation."""
    if not isinstance(payload, dict):
        return payload
    key = next((k for k in payload if isinstance(k, str) and k.lower() == "operations"), None)
    if key is None or not isinstance(payload[key], list):
        return payload
    operations: list[Any] = []
    for operation in payload[key]:
        if not isinstance(operation, dict):
            operations.append(operation)
            continue
        path = operation.get("path")
        if isinstance(path, str) and path.strip().lower() in _MANAGER_PATHS:
            operation = {**operation, "path": MANAGER}
            if str(operation.get("op")).lower() == "remove":
                operation.pop("value", None)
            elif "value" in operation:
                operation["value"] = _manager(operation["value"])
        operations.extend(_split(operation))
    return {**{k: v for k, v in payload.items() if k != key}, "Operations": operations}


PATCH_OP = urns.PATCH_OP
_BOOLEANS: dict[Any, bool] = {True: True, False: False, "True": True, "False": False, "true": True, "false": False}


def only_active(payload: Any) -> bool | None:
    """The new ``active`` when a request does nothing but set it, else None.

    That is how Okta and Entra ID deactivate and reactivate: ``replace`` (any
    case) of path ``active``, or path-less with ``{"active": …}``, the value a
    boolean or ``"True"``/``"False"``. Such a request needs no PatchOp model:
    scim2-models would set ``active`` and change nothing else. Any other shape
    returns None and goes the whole way through :func:`parse` and :func:`apply`.
    """
    if not isinstance(payload, dict) or payload.keys() != {"schemas", "Operations"} \
            or payload["schemas"] != [PATCH_OP]:
        return None
    operations = payload["Operations"]
    if not isinstance(operations, list) or not operations:
        return None
    active = None
    for operation in operations:
        if not isinstance(operation, dict) or str(operation.get("op")).lower() != "replace":
            return None
        path, value = operation.get("path"), operation.get("value")
        if operation.keys() == {"op", "path", "value"} and isinstance(path, str) and path.lower() == "active":
            pass
        elif operation.keys() == {"op", "value"} and isinstance(value, dict) and len(value) == 1 \
                and "active" in value:
            value = value["active"]
        else:
            return None
        if isinstance(value, bool | str) and value in _BOOLEANS:
            active = _BOOLEANS[value]
        else:
            return None
    return active


def parse(payload: Any) -> Any:
    """Validate a PATCH request body (RFC 7644 §3.5.2) under :data:`TOLERANT`; a SCIMException when invalid."""
    try:
        with TOLERANT:
            return UserPatch.model_validate(normalize(payload), scim_ctx=Context.RESOURCE_PATCH_REQUEST)
    except pydantic.ValidationError as exc:
        raise validation_error(exc) from None


def apply(patch: Any, user: Any) -> bool:
    """Apply every operation to ``user`` in order, all or nothing; whether anything changed."""
    with TOLERANT:
        try:
            return bool(patch.patch(user))
        except SCIMException as exc:
            # scim2-models puts pydantic's whole report in the detail: its first error, named, is what a person reads
            if isinstance(exc.__cause__, pydantic.ValidationError):
                raise _named(exc.__cause__) from None
            raise


def _named(exc: pydantic.ValidationError) -> SCIMException:
    """The first error of a patched User's validation, with the attribute named as in SCIM (``displayName``)."""
    error = exc.errors()[0]
    names = [str(part) for part in error["loc"]]
    field = UserModel.model_fields.get(names[0]) if names else None
    if field is not None and field.serialization_alias:
        names[0] = field.serialization_alias
    return InvalidValueException(detail=f"{error['msg']}: {'.'.join(names) or 'the User'}")
