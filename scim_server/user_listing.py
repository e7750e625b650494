"""How Users are listed (RFC 7644 §3.4.2): the account's directory records, registered with :mod:`.listing`.

A page is picked through the covering index of ``directory_record`` and its
rows loaded by id; a full User's JSON comes from :mod:`.rendered` when kept
(by id, version and the membership's status), so a page of kept Users reads
no attributes. A filter naming one userName is a lookup by its unique key.
"""

from __future__ import annotations

from typing import Any

from peewee import JOIN

from models import directory
from models.tenancy import Account, DirectoryRecord, Membership

from . import rendered
from .documents import user_location, user_text, users_url
from .filters import compile_user_filter, user_name_lookup
from .listing import ResourceListing
from .mapping import UserModel, to_scim_user
from .search import ListQuery
from .sorting import SortKey, user_sort_key


def _records(account: Account) -> Any:
    return DirectoryRecord.select(DirectoryRecord.id).where(DirectoryRecord.account == account.id)


def _joined_users() -> Any:
    return (DirectoryRecord.select(DirectoryRecord, Membership)
            .join(Membership, JOIN.LEFT_OUTER, on=(DirectoryRecord.membership == Membership.id)))


def _users(account: Account) -> Any:
    return _joined_users().where(DirectoryRecord.account == account.id)


def _users_by_id(account: Account, ids: list[Any]) -> list[Any]:
    # by primary key alone, which the planner then uses (with the account in the
    # WHERE, SQLite would rather walk the account's index); the account is checked here
    if len(ids) == 1:  # a filter lookup: the statement GET /Users/{id} runs, built once
        record = directory.load_record(ids[0])
        return [record] if record is not None and record.account_id == account.id else []
    return [row for row in _joined_users().where(DirectoryRecord.id.in_(ids)) if row.account_id == account.id]


def _user_by_user_name(account: Account, filter_text: str) -> list[Any] | None:
    key = user_name_lookup(filter_text)
    if key is None:
        return None
    record = directory.find_record_by_user_name(account.id, key)
    return [record] if record is not None else []


def _user_resources(rows: list[Any], query: ListQuery) -> list[Any]:
    return [to_scim_user(r, _membership(r), user_location(r.id)) for r in rows]


def _user_documents(rows: list[Any]) -> list[str]:
    url = users_url()
    return [user_text(r, _membership(r), url + r.id) for r in rows]


def _membership(row: Any) -> Membership | None:
    """The membership read with a row: joined by _joined_users, or by models.directory.load_record."""
    if "_membership" in row.__dict__:
        return directory.membership_of(row)
    return row.membership if row.membership_id else None


def _user_documents_by_ids(account: Account, ids: list[Any]) -> list[str]:
    """The documents of these records, in this order: kept ones found by (id, version, status), the rest loaded."""
    url = users_url()
    # a lookup's one or two: loading them outright costs less than a statement looking for kept documents
    found = _kept_documents(account, ids, url) if len(ids) > 2 else {}
    missing = [i for i in ids if i not in found]
    if missing:
        loaded = _users_by_id(account, missing)
        found.update(zip([row.id for row in loaded], _user_documents(loaded), strict=True))
    return [found[i] for i in ids if i in found]


def _kept_documents(account: Account, ids: list[Any], users_url: str) -> dict[str, str]:
    """The kept documents of these records (of ``account``), read without their attributes.

    A linked record's document is named by its version and its membership's
    status; an unlinked record's ``active`` is in its attributes, so it is
    left to be loaded like one not kept.
    """
    light: Any = (DirectoryRecord.select(DirectoryRecord.id, DirectoryRecord.version, DirectoryRecord.account,
                                         DirectoryRecord.membership, Membership.status)
                  .join(Membership, JOIN.LEFT_OUTER, on=(DirectoryRecord.membership == Membership.id))
                  .where(DirectoryRecord.id.in_(ids)))
    found: dict[str, str] = {}
    for record_id, version, account_id, membership_id, status in light.tuples():
        if account_id == account.id and membership_id is not None and status is not None:
            text = rendered.users.get((record_id, version, status != "deactivated", users_url + record_id))
            if text is not None:
                found[record_id] = text
    return found


USERS = ResourceListing(
    name="User", endpoint="Users", model=UserModel, query=_users, compile_filter=compile_user_filter,
    sort_key=user_sort_key,
    default_sort=lambda: SortKey(DirectoryRecord.created_at), id_column=lambda: DirectoryRecord.id,
    serialise=_user_resources, narrow_query=_records, joined=(Membership,),
    by_ids=_users_by_id, documents=_user_documents, documents_by_ids=_user_documents_by_ids,
    lookup=_user_by_user_name)
