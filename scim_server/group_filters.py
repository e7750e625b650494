"""Group filters and sorting (RFC 7644 §3.4.2.2, §3.4.2.3) compiled to SQL over Group.

The compiler of :mod:`.filters` does the work with this module's column map;
``members`` conditions become ``Group.id IN (groups with such a member)``, so
they are true or false, never NULL, and never load a member list.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from scim2_models import Group as GroupModel
from scim2_models import InvalidFilterException, ScimFilter
from scim2_models.path import AttrPath, Comparison, Present, ValuePath

from models.groups import groups_with_member
from models.tenancy import DirectoryRecord, Group

from .filters import Column, Expression, SortKey, UserFilterCompiler

CORE = "urn:ietf:params:scim:schemas:core:2.0:group:"
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


def _with_member(condition: Expression | None) -> Expression:
    # a member is a directory record named by the group or linked to one of its memberships (models.groups)
    return Group.id.in_(groups_with_member(condition))


class GroupFilterCompiler(UserFilterCompiler):
    """Compile a filter bound to the SCIM Group model to a WHERE expression over Group."""

    def __init__(self, scim_filter: ScimFilter[Any]):
        super().__init__(scim_filter, GROUP_COLUMNS)
        self._inside: AttrPath | None = None  # the attribute of the value path being compiled

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
            return _with_member(condition)
        return condition

    def visit_present(self, node: Present) -> Expression:
        attr_path = self._qualified(node.attr_path)
        if self._is_member(attr_path, comparison=False):
            # every stored member has a value; "members pr" asks for any member
            condition = None
            if self._inside is not None:
                return DirectoryRecord.id.is_null(False)
            return _with_member(condition)
        return super().visit_present(dataclasses.replace(node, attr_path=attr_path))

    def visit_value_path(self, node: ValuePath) -> Expression:
        if self._inside is not None or node.sub_attr is not None:
            raise InvalidFilterException(detail=f"Filtering on {node.attr_path}[…] this way is not supported.")
        if not self._is_member(node.attr_path, comparison=False):
            raise InvalidFilterException(detail=f"Filtering on {node.attr_path}[…] is not supported.")
        self._inside = node.attr_path
        try:
            return _with_member(self.visit(node.val_filter))
        finally:
            self._inside = None


def compile_group_filter(text: str) -> Expression:
    """Parse ``text`` with scim2-models and compile it; raises InvalidFilterException (400 invalidFilter)."""
    try:
        scim_filter = ScimFilter[GroupModel](text)
    except InvalidFilterException:
        raise
    except (ValueError, TypeError) as exc:
        raise InvalidFilterException(detail=str(exc)) from exc
    return GroupFilterCompiler(scim_filter).visit(scim_filter.ast)


def group_sort_key(sort_by: str) -> SortKey:
    """The sort key of a sortBy attribute (RFC 7644 §3.4.2.3); an unsortable one is invalidFilter."""
    try:
        scim_filter = ScimFilter[GroupModel](f"{sort_by} pr")
    except (ValueError, TypeError) as exc:
        raise InvalidFilterException(detail=f"Cannot sort by {sort_by}.") from exc
    node = scim_filter.ast
    binding = scim_filter.resolve(node.attr_path, strict=True) if isinstance(node, Present) else None
    column = SORTABLE.get(binding.urn.lower()) if binding is not None else None
    if column is None:
        raise InvalidFilterException(detail=f"Sorting by {sort_by} is not supported.")
    return SortKey(column.expression(), nullable=column.nullable)
