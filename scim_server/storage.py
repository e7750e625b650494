"""The SCIM storage port: what every SCIM surface does to an account's Users and Groups.

In the spirit of scim2-server's storage: per resource type ``get``,
``search``, ``create``, ``replace``, ``patch`` and ``delete``. The views of
/Users and /Groups, /Me, ``.search`` and /Bulk all go through it, so a
resource changes one way whoever asks. Its rules:

- A store serves one account and acts for one actor (the SCIM token's, or the
  person's at /Me). Another account's resource is not found, like an unknown one.
- Payloads are JSON values as clients send them (read by :mod:`.payload`);
  they are validated here by scim2-models under the tolerant policy.
- Every change is one transaction of the domain (:mod:`models.directory`,
  :mod:`models.directory_groups`), which compares ``expected`` (the versions an If-Match
  named, :func:`.preconditions.expected_versions`) under the account lock.
- Refusals are exceptions: SCIMException for a payload, RosterError from the
  domain; :mod:`.errors` turns either into a SCIM Error.
- Results are domain rows, rendered by the caller (:mod:`.documents`); a
  search answers its ListResponse's JSON, paged in SQL by :mod:`.listing`.

The port knows no request: the one URL it needs, a patched User's location
(the ``meta.location`` scim2-models patches against), comes from the
``user_location`` function it is given, called only when a PATCH needs it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from scim2_models import Context

from models import directory, directory_groups, groups
from models.audit import Actor
from models.deployment import Deployment
from models.tenancy import Account, DirectoryRecord, Group, Membership
from models.versions import Expected

from . import patch as user_patch
from .group_mapping import from_scim_group, patch_group
from .mapping import from_scim_user, from_user_model, to_scim_user
from .payload import as_object
from .search import ListQuery

USER = "User"
GROUP = "Group"


@dataclasses.dataclass(frozen=True)
class StoredUser:
    """A directory record with the membership read beside it (its ``active`` is the membership's, R6)."""

    record: DirectoryRecord
    membership: Membership | None

    @property
    def id(self) -> str:
        return str(self.record.id)

    @property
    def version(self) -> int:
        return int(self.record.version)

    @classmethod
    def of(cls, record: DirectoryRecord) -> StoredUser:
        return cls(record, directory.membership_of(record))


class UserStore:
    """The account's Users: its directory records (RFC 7643 §4.1)."""

    def __init__(self, account: Account, actor: Actor, user_location: Callable[[str], str],
                 deployment: Deployment) -> None:
        self.account = account
        self.actor = actor
        self._user_location = user_location
        self._deployment = deployment

    def get(self, record_id: str) -> StoredUser:
        return StoredUser.of(directory.get_record(self.account, record_id))  # its membership in the same statement

    def search(self, query: ListQuery) -> str:
        """The ListResponse JSON of the account's Users that ``query`` asks for (RFC 7644 §3.4.2, RFC 9865)."""
        return _search(USER, self.account, query, self._deployment)

    def of_membership(self, membership: Membership) -> StoredUser | None:
        """The record that links ``membership`` (/Me, RFC 7644 §3.11), or None."""
        record = DirectoryRecord.get_or_none(DirectoryRecord.membership == membership.id)
        return StoredUser(record, membership) if record is not None else None

    def create(self, payload: Any) -> StoredUser:
        user_name, attributes, external_id, password = from_scim_user(as_object(payload),
                                                                      Context.RESOURCE_CREATION_REQUEST)
        return StoredUser.of(directory.create_record(self.account, user_name, attributes, external_id, by=self.actor,
                                                     password=password, deployment=self._deployment))

    def replace(self, record_id: str, payload: Any, expected: Expected = None) -> StoredUser:
        user_name, attributes, external_id, password = from_scim_user(as_object(payload),
                                                                      Context.RESOURCE_REPLACEMENT_REQUEST)
        return StoredUser.of(directory.replace_record(self.account.id, record_id, user_name, attributes, external_id,
                                                      by=self.actor, password=password, expected=expected,
                                                      deployment=self._deployment))

    def patch(self, record_id: str, payload: Any, expected: Expected = None) -> StoredUser:
        """RFC 7644 §3.5.2: the operations apply to the User as it is under the lock, then replace the record."""
        body = as_object(payload)
        active = user_patch.only_active(body)
        change = _set_active(active) if active is not None else self._patched(record_id, user_patch.parse(body))
        return StoredUser.of(directory.update_record(self.account.id, record_id, change, by=self.actor,
                                                     expected=expected, action="directory_record.patched",
                                                     deployment=self._deployment))

    def _patched(self, record_id: str, operations: Any) -> directory.Change:
        location = self._user_location(record_id)

        def change(current: DirectoryRecord, membership: Membership | None) -> directory.Replacement | None:
            user = to_scim_user(current, membership, location)
            return from_user_model(user) if user_patch.apply(operations, user) else None

        return change

    def delete(self, record_id: str, expected: Expected = None) -> None:
        directory.delete_record(self.account.id, record_id, by=self.actor, expected=expected)


def _set_active(active: bool) -> directory.Change:
    """The change of a PATCH that only sets ``active`` (:func:`.patch.only_active`), without a User model.

    What scim2-models would make of it: the stored attributes with the new
    ``active``, nothing else; no change at all when it is ``active`` already.
    """

    def change(current: DirectoryRecord, membership: Membership | None) -> directory.Replacement | None:
        if directory.is_active(current, membership) == active:
            return None
        return current.user_name, {**current.attributes, "active": active}, current.external_id, None

    return change


class GroupStore:
    """The account's Groups (RFC 7643 §4.2); members are SCIM User ids, changed as set operations in SQL."""

    def __init__(self, account: Account, actor: Actor, deployment: Deployment) -> None:
        self.account = account
        self.actor = actor
        self._deployment = deployment

    def get(self, group_id: str) -> Group:
        return directory_groups.find_group(self.account, group_id)

    def search(self, query: ListQuery) -> str:
        """The ListResponse JSON of the account's Groups that ``query`` asks for (RFC 7644 §3.4.2, RFC 9865)."""
        return _search(GROUP, self.account, query, self._deployment)

    def create(self, payload: Any) -> Group:
        name, external_id, member_ids = from_scim_group(as_object(payload), Context.RESOURCE_CREATION_REQUEST)
        return directory_groups.create_directory_group(self.account, name, external_id=external_id,
                                                       member_records=member_ids, by=self.actor)

    def replace(self, group_id: str, payload: Any, expected: Expected = None) -> Group:
        """RFC 7644 §3.5.1: displayName, externalId and members become what the body says."""
        group = self.get(group_id)
        name, external_id, member_ids = from_scim_group(as_object(payload), Context.RESOURCE_REPLACEMENT_REQUEST)
        members = directory_groups.MemberChanges(add=tuple(member_ids), replace=True)
        return directory_groups.update_group(group, display_name=name, external_id=external_id, members=members,
                                             by=self.actor, expected=expected)

    def patch(self, group_id: str, payload: Any, expected: Expected = None) -> Group:
        """RFC 7644 §3.5.2. The change is read from the group as fetched; ``expected`` is compared under the lock,
        so a change computed from a version another writer has replaced since is refused, not applied."""
        group = self.get(group_id)
        change = patch_group(as_object(payload), group)
        return directory_groups.update_group(group, display_name=change.display_name,
                                             external_id=change.external_id, members=change.members, by=self.actor,
                                             expected=expected)

    def delete(self, group_id: str, expected: Expected = None) -> None:
        groups.delete_group(self.get(group_id), by=self.actor, expected=expected)


def _search(resource_type: str, account: Account, query: ListQuery, deployment: Deployment) -> str:
    # imported here: listing renders through .documents, which imports this module
    from .listing import list_resources

    return list_resources([resource_type], account, query, cursor_key=deployment.settings.secret_key)


def store_for(resource_type: str, account: Account, actor: Actor, user_location: Callable[[str], str],
              deployment: Deployment) -> UserStore | GroupStore:
    """The store of a resource type by its name (``User``, ``Group``)."""
    if resource_type == USER:
        return UserStore(account, actor, user_location, deployment)
    if resource_type == GROUP:
        return GroupStore(account, actor, deployment)
    raise KeyError(resource_type)
