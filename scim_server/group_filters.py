"""Group filters and sorting (RFC 7644 §3.4.2.2, §3.4.2.3) compiled to SQL over Group.

The compiler of :mod:`.filters` does the work with this module's column map;
``members`` conditions become ``Group.id IN (groups with such a member)``, so
they are true or false, never NULL, and never load a member list; the
members read are the account's only.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from scim2_models import Group as GroupModel
from scim2_models import InvalidFilterException, ScimFilter
from scim2_models.path import AttrPath, Comparison, Present, ValuePath

from models import urns
from models.directory_groups import groups_with_member
from models.tenancy import DirectoryRecord, Group

from .filter_limits import check_length, check_shape
from .filters import UserFilterCompiler
from .sorting import SortKey, refuse, resolve
from .user_attributes import Column, Expression

CORE = urns.CORE_GROUP.lower() + ":"
MEMBER_VALUE = CORE + "members.value"

GROUP_COLUMNS: dict[str, Column] = {
    CORE + "id": Column(lambda: Group.id),
    CORE + "displayname": Column(lambda: Group.display_name_key, fold_case=True),
    CORE + "externalid": Column(lambda: Group.external_id, nullable=True),
    CORE + "meta.created": Column(lambda: Group.created_at, kind="datetime"),
    CORE + "meta.lastmodified": Column(lambda: Group.updated_at, kind="datetime"),
    # a member's value is its SCIM User id, the directory record's id
    MEMBER_VALUE: Column(lambda: DirectoryRecord.id),
}

SORTABLE = {k: v for k, v in GROUP_COLUMNS.items() if k != MEMBER_VALUE}


class GroupFilterCompiler(UserFilterCompiler):
    """Compile a filter bound to the SCIM Group model to a WHERE expression over Group."""

    def __init__(self, scim_filter: ScimFilter[Any], account_id: str | None = None):
        super().__init__(scim_filter, GROUP_COLUMNS, account_id=account_id)
        self._inside: AttrPath | None = None  # the attribute of the value path being compiled

    def _with_member(self, condition: Expression | None) -> Expression:
        # a member is a directory record named by the group or linked to one of its memberships
        # (models.groups); of the account only, so "members pr" does not read every account's members
        if self.account_id is not None:
            own = DirectoryRecord.account == self.account_id
            condition = own if condition is None else own & condition
        return Group.id.in_(groups_with_member(condition))

    def _is_member(self, attr_path: AttrPath, *, comparison: bool) -> bool:
        resolve = self.filter.resolve_comparison if comparison else self.filter.resolve
        binding = resolve(attr_path, strict=True)
        return binding is not None and binding.field_name == "members"

    def _qualified(self, attr_path: AttrPath) -> AttrPath:
        if self._inside is None:
            return attr_path
        return AttrPath(attr=self._inside.attr, sub_attr=attr_path.attr, uri=self._inside.uri)

    def visit_comparison(self, node: Comparison) -> Expression:
        node = dataclasses.replace(node, attr_path=self._qualified(node.attr_path))
        condition = super().visit_comparison(node)
        if self._inside is None and self._is_member(node.attr_path, comparison=True):
            return self._with_member(condition)
        return condition

    def visit_present(self, node: Present) -> Expression:
        attr_path = self._qualified(node.attr_path)
        if self._is_member(attr_path, comparison=False):
            # every stored member has a value; "members pr" asks for any member
            condition = None
            if self._inside is not None:
                return DirectoryRecord.id.is_null(False)
            return self._with_member(condition)
        return super().visit_present(dataclasses.replace(node, attr_path=attr_path))

    def visit_value_path(self, node: ValuePath) -> Expression:
        if self._inside is not None or node.sub_attr is not None:
            raise InvalidFilterException(detail=f"Filtering on {node.attr_path}[…] this way is not supported.")
        if not self._is_member(node.attr_path, comparison=False):
            raise InvalidFilterException(detail=f"Filtering on {node.attr_path}[…] is not supported.")
        self._inside = node.attr_path
        try:
            return self._with_member(self.visit(node.val_filter))
        finally:
            self._inside = None


def compile_group_filter(text: str, account_id: str | None = None) -> Expression:
    """Parse ``text`` with scim2-models and compile it; raises InvalidFilterException (400 invalidFilter).

    The size limits of :mod:`.filters` apply; with ``account_id``, member tests read that account's records only.
    """
    check_length(text)
    try:
        scim_filter = ScimFilter[GroupModel](text)
    except InvalidFilterException:
        raise
    except (ValueError, TypeError) as exc:
        raise InvalidFilterException(detail=str(exc)) from exc
    check_shape(scim_filter)
    return GroupFilterCompiler(scim_filter, account_id).visit(scim_filter.ast)


def group_sort_key(sort_by: str) -> SortKey:
    """The sort key of a sortBy attribute (RFC 7644 §3.4.2.3); ``members`` and the unknown are invalidValue."""
    column = SORTABLE.get(resolve(GroupModel, sort_by).urn.lower())
    if column is None:
        raise refuse(sort_by)
    return SortKey(column.expression(), nullable=column.nullable)
