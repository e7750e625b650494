"""SCIM Group ⇄ Roster group: pure functions (RFC 7643 §4.2, RFC 7644 §3.5.2).

A member's ``value`` is a SCIM User id, the id of a directory record. Payloads
are validated by scim2-models under :data:`TOLERANT`; PATCH operations on
``members`` are turned into a :class:`~models.directory_groups.MemberChanges` applied as
set operations in SQL, never on a loaded member list. Everything else a PATCH
says is applied by scim2-models to a Group model that holds no members.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import pydantic
from scim2_models import (
    Context,
    InvalidPathException,
    InvalidValueException,
    Meta,
    PatchOp,
    PatchOperation,
    ResponseParameters,
    SCIMException,
    ScimFilter,
)
from scim2_models import Group as GroupModel
from scim2_models import GroupMember as MemberModel
from scim2_models.path import AttrPath, CompareOperator, Comparison, LogicalExpr, LogicalOperator, Path, ValuePath

from models.directory_groups import KEEP, MemberChanges
from models.tenancy import Group

from .errors import validation_error
from .policy import TOLERANT
from .preconditions import etag

# scim2-models' bound classes are weakly kept: held here for good, like USER_PATH in mapping.py (why is said there)
GROUP_PATH = Path[GroupModel]
GROUP_FILTER = ScimFilter[GroupModel]

Member = tuple[str, str, str]  # (record id, userName, display)


def _member_ids(value: Any) -> list[str]:
    """The User ids of a ``members`` value (one object or an array of them), validated by scim2-models."""
    items = value if isinstance(value, list) else [value]
    members = [MemberModel.model_validate(item) for item in items if item is not None]
    ids = [m.value for m in members]
    if any(not i for i in ids):
        raise InvalidValueException(detail='Each member needs a "value": the id of a User of this account.')
    return [str(i) for i in ids]


def from_scim_group(payload: Any, context: Context) -> tuple[str, str | None, list[str]]:
    """Validate a POST or PUT body; returns (displayName, externalId, member User ids)."""
    try:
        with TOLERANT:
            group = GroupModel.model_validate(payload, scim_ctx=context)
    except pydantic.ValidationError as exc:
        raise validation_error(exc) from None
    return str(group.display_name), group.external_id, [str(m.value) for m in group.members or [] if m.value]


def _timestamp(value: dt.datetime) -> str:
    return value.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")


def to_scim_group(group: Group, location: str) -> GroupModel:
    """The group without its members (those are rendered by :func:`member_documents`)."""
    return GroupModel(id=group.id, display_name=group.display_name, external_id=group.external_id,
                      meta=Meta(resource_type="Group", created=group.created_at.replace(tzinfo=dt.UTC),
                                last_modified=group.updated_at.replace(tzinfo=dt.UTC), location=location,
                                version=etag(group.version)))


@dataclasses.dataclass(frozen=True)
class MemberSelection:
    """Whether ``members`` is returned (RFC 7644 §3.4.2.5) and which of its sub-attributes."""

    included: bool = True
    only: frozenset[str] = frozenset()  # empty: every sub-attribute
    without: frozenset[str] = frozenset()


def member_selection(parameters: ResponseParameters[Any] | None) -> MemberSelection:
    """Read ``attributes``/``excludedAttributes``; ``excludedAttributes=members`` means members are never loaded."""
    if parameters is None:
        return MemberSelection()
    without: set[str] = set()
    for path in parameters.excluded_attributes or []:
        binding = GROUP_PATH(str(path)).resolve()
        if binding is not None and binding.field_name == "members":
            if binding.sub_field_name is None:
                return MemberSelection(included=False)
            without.add(binding.sub_field_name)
    if not parameters.attributes:
        return MemberSelection(without=frozenset(without))
    only: set[str] = set()
    wanted = False
    for path in parameters.attributes:
        binding = GROUP_PATH(str(path)).resolve()
        if binding is not None and binding.field_name == "members":
            wanted = True
            if binding.sub_field_name is None:
                only = set()
                break
            only.add(binding.sub_field_name)
    return MemberSelection(included=wanted, only=frozenset(only), without=frozenset(without))


_MEMBER_KEYS = {"value": "value", "ref": "$ref", "type": "type", "display": "display"}  # field name → JSON key


def member_documents(members: Sequence[Member], users_url: str, selection: MemberSelection) -> list[dict[str, Any]]:
    """``members`` as JSON, built directly: a group may have tens of thousands (RFC 7643 §4.2)."""
    documents = [{"value": record_id, "$ref": users_url + record_id, "type": "User", "display": display}
                 for record_id, _user_name, display in members]
    keys = set(_MEMBER_KEYS.values())
    if selection.only:
        keys = {_MEMBER_KEYS.get(k, k) for k in selection.only}
    keys -= {_MEMBER_KEYS.get(k, k) for k in selection.without}
    if keys != set(_MEMBER_KEYS.values()):
        documents = [{k: v for k, v in d.items() if k in keys} for d in documents]
    return documents


def member_models(members: Sequence[Member], users_url: str) -> list[MemberModel]:
    """``members`` for a listed Group, which scim2-models dumps with the list's attribute selection."""
    # built without validation: the values come from the database, and pages may hold many members
    return [MemberModel.model_construct(value=record_id, ref=users_url + record_id, type="User", display=display)
            for record_id, _user_name, display in members]


class _MemberPlan:
    """The member operations of one PATCH, composed in order into one set change."""

    def __init__(self) -> None:
        self.touched = False
        self.replace = False
        self.add: dict[str, None] = {}
        self.remove: dict[str, None] = {}

    def added(self, ids: list[str]) -> None:
        self.touched = True
        for i in ids:
            self.remove.pop(i, None)
            self.add[i] = None

    def removed(self, ids: list[str]) -> None:
        self.touched = True
        for i in ids:
            self.add.pop(i, None)
            if not self.replace:
                self.remove[i] = None

    def replaced(self, ids: list[str]) -> None:
        self.touched = True
        self.replace = True
        self.add = dict.fromkeys(ids)
        self.remove = {}

    def changes(self) -> MemberChanges | None:
        if not self.touched:
            return None
        return MemberChanges(add=tuple(self.add), remove=tuple(self.remove), replace=self.replace)


def _ids_in_filter(node: Any) -> list[str]:
    """``value eq "a" or value eq "b"``: the ids a member filter names; other filters are refused."""
    if isinstance(node, Comparison) and node.attr_path.attr.lower() == "value" and node.attr_path.sub_attr is None \
            and node.op == CompareOperator.eq and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, LogicalExpr) and node.op == LogicalOperator.or_:
        return [i for term in node.terms for i in _ids_in_filter(term)]
    raise InvalidPathException(detail='Members are selected by id: members[value eq "id"], or several joined by or.')


def _member_operation(plan: _MemberPlan, op: PatchOperation.Op, ast: Any, value: Any) -> None:
    whole = isinstance(ast, AttrPath) and ast.sub_attr is None
    if op == PatchOperation.Op.remove and isinstance(ast, ValuePath) and ast.sub_attr is None:
        plan.removed(_ids_in_filter(ast.val_filter))
    elif not whole:
        raise InvalidPathException(detail="Members are added, removed or replaced whole, by their value.")
    elif op == PatchOperation.Op.add:
        plan.added(_member_ids(value))
    elif op == PatchOperation.Op.replace_:
        plan.replaced(_member_ids(value) if value is not None else [])
    elif value is not None:
        plan.removed(_member_ids(value))  # Entra ID: Remove with a value array names the members
    else:
        plan.replaced([])  # RFC 7644 §3.5.2.2: no filter, no value: every member goes


def _members_path(path: Any) -> Any:
    """The parsed path when ``path`` names ``members`` or one of its sub-attributes, else None."""
    if path is None:
        return None
    try:
        parsed = path if isinstance(path, Path) else GROUP_PATH(path)
        binding = parsed.resolve()
    except (SCIMException, ValueError, TypeError):
        return None
    return parsed if binding is not None and binding.field_name == "members" else None


@dataclasses.dataclass(frozen=True)
class GroupPatch:
    """What a PATCH changes: arguments of :func:`models.directory_groups.update_group`."""

    display_name: str | None
    external_id: Any  # models.directory_groups.KEEP when unchanged
    members: MemberChanges | None


def patch_group(payload: Any, group: Group) -> GroupPatch:
    """Validate a PATCH body (RFC 7644 §3.5.2) and say what it changes; raises a SCIMException when invalid.

    All operations are checked before anything is stored, so a request is applied whole or not at all.
    """
    try:
        with TOLERANT:
            patch = PatchOp[GroupModel].model_validate(payload, scim_ctx=Context.RESOURCE_PATCH_REQUEST)
            plan = _MemberPlan()
            others: list[PatchOperation[GroupModel]] = []
            for operation in patch.operations or []:
                if operation.path is None and isinstance(operation.value, dict):
                    # path-less (Okta's rename echoes the id): members go to the plan, the rest to the model
                    rest = {}
                    for key, value in operation.value.items():
                        members_path = _members_path(key)
                        if members_path is None:
                            rest[key] = value
                        else:
                            _member_operation(plan, operation.op, members_path.ast, value)
                    if rest:
                        others.append(operation.model_copy(update={"value": rest}))
                elif (members_path := _members_path(operation.path)) is not None:
                    _member_operation(plan, operation.op, members_path.ast, operation.value)
                else:
                    others.append(operation)
            scratch = GroupModel(id=group.id, display_name=group.display_name, external_id=group.external_id)
            if others:
                PatchOp[GroupModel](Operations=others).patch(scratch)
    except pydantic.ValidationError as exc:
        raise validation_error(exc) from None
    display_name = scratch.display_name if scratch.display_name != group.display_name else None
    external_id = scratch.external_id if scratch.external_id != group.external_id else KEEP
    return GroupPatch(display_name, external_id, plan.changes())
