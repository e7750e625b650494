"""Writers racing on one account: every outcome is a clean answer, never a 500 (a deadlock or a foreign-key error).

Every writer takes the account lock before any row it changes (models.accounts.lock),
so two changes of one account run one after the other in the same order on
PostgreSQL; SQLite's write transactions are serial already. Threads send real
requests through the app, started together by a barrier, many rounds each.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from models import Actor, groups, invitations, members
from models.errors import NotFoundError, RosterError
from models.tenancy import DirectoryRecord, Group, GroupMember, GroupRecord, Membership, User

from .scim_support import USER_SCHEMA, tenant

GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ROUNDS = 12


@pytest.fixture
def scim(app, account, admin):
    return tenant(app.test_client(), account)


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls at once, each in a thread of its own; their results (an exception is re-raised)."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = calls[index]()
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


def status(response: Any, allowed: set[int]) -> int:
    assert response.status_code in allowed, (response.status_code, response.get_data(as_text=True))
    if response.status_code >= 400:
        assert response.get_json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    return int(response.status_code)


def people(scim, count: int) -> list[str]:
    """Records linked to people (so a group change touches memberships too)."""
    return [scim.create(f"racer{i}@example.com")["id"] for i in range(count)]


def group(scim, name: str = "Racers", member_ids: list[str] = ()) -> str:
    response = scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": name,
                                     "members": [{"value": i} for i in member_ids]})
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def add(scim, group_id: str, *record_ids: str) -> Any:
    return scim.client.patch(f"/scim/v2/Groups/{group_id}", headers=scim.headers, json={
        "schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members",
                                               "value": [{"value": i} for i in record_ids]}]})


def no_dangling_links() -> None:
    """Every member row names a record and a membership that exist (the foreign keys held)."""
    assert not GroupRecord.select().where(GroupRecord.record.not_in(DirectoryRecord.select(DirectoryRecord.id))
                                          ).exists()
    assert not GroupMember.select().where(GroupMember.membership.not_in(Membership.select(Membership.id))).exists()


def test_deleting_a_user_while_a_group_patch_adds_them(scim):
    ids = people(scim, ROUNDS)
    team = group(scim)
    for record_id in ids[:-1]:
        # the patch also names a user that stays, so it has work to do whichever runs first
        deleted, patched = race(partial(scim.delete, f"/Users/{record_id}"),
                                partial(add, scim, team, record_id, ids[-1]))
        status(deleted, {204})
        # after the delete, the user is unknown: a 400 naming them, like any unknown member
        status(patched, {200, 400})
    assert [m["value"] for m in scim.get(f"/Groups/{team}").get_json()["members"]] == [ids[-1]]
    scim.delete(f"/Users/{ids[-1]}")
    assert scim.get(f"/Groups/{team}").get_json().get("members", []) == []
    no_dangling_links()


def test_deleting_a_user_while_a_group_put_names_them(scim):
    ids = people(scim, ROUNDS)
    team = group(scim)
    for record_id in ids:
        deleted, replaced = race(
            partial(scim.delete, f"/Users/{record_id}"),
            partial(scim.put, f"/Groups/{team}", {"schemas": [GROUP_SCHEMA], "displayName": "Racers",
                                                  "members": [{"value": record_id}]}))
        status(deleted, {204})
        status(replaced, {200, 400})
    no_dangling_links()


def test_deleting_a_user_while_a_group_is_created_with_them(scim):
    ids = people(scim, ROUNDS)
    for index, record_id in enumerate(ids):
        deleted, created = race(
            partial(scim.delete, f"/Users/{record_id}"),
            partial(scim.post, "/Groups", {"schemas": [GROUP_SCHEMA], "displayName": f"New {index}",
                                           "members": [{"value": record_id}]}))
        status(deleted, {204})
        status(created, {201, 400})
    no_dangling_links()


def test_deleting_a_group_while_it_is_patched(scim):
    ids = people(scim, 2)
    for index in range(ROUNDS):
        team = group(scim, f"Doomed {index}", [ids[0]])
        deleted, patched = race(partial(scim.delete, f"/Groups/{team}"), partial(add, scim, team, ids[1]))
        status(deleted, {204})
        status(patched, {200, 404})
    assert Group.select().count() == 0
    no_dangling_links()


def test_removing_a_member_in_the_console_while_scim_adds_them_to_a_group(scim, account):
    ids = people(scim, ROUNDS)
    team = group(scim)
    for record_id in ids:
        membership = Membership.get_by_id(DirectoryRecord.get_by_id(record_id).membership_id)
        _, patched = race(partial(members.remove, membership, by=Actor.cli("tests")),
                          partial(add, scim, team, record_id))
        status(patched, {200})  # the record stays (unlinked): it can be a member still
    assert GroupMember.select().where(GroupMember.group == team).count() == 0
    no_dangling_links()


def add_in_console(team: Group, membership_id: str) -> str:
    try:
        groups.add_members(team, [membership_id], by=Actor.cli("tests"))
    except NotFoundError:
        return "not found"
    return "added"


def test_deleting_a_group_while_the_console_adds_a_member(scim, account):
    ids = people(scim, 1)
    membership_id = DirectoryRecord.get_by_id(ids[0]).membership_id
    outcomes = set()
    for index in range(ROUNDS):
        team = groups.get_group(account, group(scim, f"Console {index}"))
        deleted, added = race(partial(scim.delete, f"/Groups/{team.id}"), partial(add_in_console, team, membership_id))
        status(deleted, {204})
        outcomes.add(added)
    assert outcomes <= {"added", "not found"}
    no_dangling_links()


def test_deactivating_a_user_while_a_bulk_job_adds_them_and_deletes_another(scim):
    ids = people(scim, 2 * ROUNDS)
    team = group(scim)
    for index in range(ROUNDS):
        kept, gone = ids[2 * index], ids[2 * index + 1]
        bulk = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [
            {"method": "PATCH", "path": f"/Groups/{team}", "data": {
                "schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members",
                                                       "value": [{"value": kept}, {"value": gone}]}]}},
            {"method": "DELETE", "path": f"/Users/{kept}"}]}
        bulked, deleted, deactivated = race(
            partial(scim.post, "/Bulk", bulk),
            partial(scim.delete, f"/Users/{gone}"),
            partial(scim.client.patch, f"/scim/v2/Users/{kept}", headers=scim.headers, json={
                "schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": False}]}))
        status(bulked, {200})
        for result in bulked.get_json()["Operations"]:
            assert int(result["status"]) in {200, 204, 400, 404}, result
        status(deleted, {204})
        status(deactivated, {200, 404})
    no_dangling_links()


def test_two_group_changes_with_the_same_if_match_one_wins_and_the_other_is_412(scim):
    """If-Match is checked under the account lock, so the second change sees the first one's new version."""
    team = group(scim)
    for index in range(ROUNDS):
        etag = scim.get(f"/Groups/{team}").headers["ETag"]
        results = race(*(partial(scim.client.patch, f"/scim/v2/Groups/{team}",
                                 headers={**scim.headers, "If-Match": etag},
                                 json={"schemas": [PATCH_OP], "Operations": [
                                     {"op": "replace", "path": "displayName", "value": f"Name {index}.{n}"}]})
                         for n in range(2)))
        assert sorted(status(r, {200, 412}) for r in results) == [200, 412]


def console(call: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    """A console or CLI change: its domain refusal's class name, or "done" (anything else fails the race)."""
    try:
        call(*args, by=Actor.cli("tests"), **kwargs)
    except RosterError as exc:
        return type(exc).__name__
    return "done"


def test_revoking_an_invitation_while_scim_deletes_the_invited_record(scim, account):
    for index in range(ROUNDS):
        record_id = scim.create(f"invited{index}@example.com")["id"]
        invitation = invitations.find_invitation(account, f"invited{index}@example.com")
        revoked, deleted = race(partial(console, invitations.revoke, invitation),
                                partial(scim.delete, f"/Users/{record_id}"))
        assert revoked in {"done", "PolicyViolationError"}, revoked  # revoked by the removal already
        status(deleted, {204})
    assert not Membership.select().where(Membership.status == "invited").exists()
    no_dangling_links()


def test_the_same_new_person_created_by_several_records_at_once(scim):
    for index in range(ROUNDS // 2):
        email = f"twin{index}@example.com"
        results = race(*(partial(scim.post, "/Users", {"schemas": [USER_SCHEMA], "userName": f"twin{index}.{n}",
                                                       "emails": [{"value": email, "primary": True}]})
                         for n in range(4)))
        for response in results:
            status(response, {201})
        records = DirectoryRecord.select().where(DirectoryRecord.user_name.startswith(f"twin{index}."))
        assert sorted(r.unlinked_reason or "linked" for r in records) == [
            "already_member_through_other_record"] * 3 + ["linked"]


def test_adding_a_member_with_groups_in_the_console_while_scim_deletes_a_group(scim, account, deployment):
    for index in range(ROUNDS):
        team = group(scim, f"Welcome {index}")
        added, deleted = race(partial(console, members.add_user, account, f"new{index}@example.com",
                                      groups=[team], password="correct horse battery staple", deployment=deployment),
                              partial(scim.delete, f"/Groups/{team}"))
        assert added in {"done", "NotFoundError"}, added
        status(deleted, {204})
    no_dangling_links()


def test_a_person_deleting_themself_while_a_group_patch_adds_their_record(scim, account):
    ids = people(scim, ROUNDS)
    team = group(scim)
    for record_id in ids:
        user = User.get_by_id(Membership.get_by_id(DirectoryRecord.get_by_id(record_id).membership_id).user_id)
        gone, patched = race(partial(console, members.delete_user, user), partial(add, scim, team, record_id))
        assert gone == "done"
        status(patched, {200})  # the record stays, unlinked (user_deleted)
    assert GroupMember.select().where(GroupMember.group == team).count() == 0
    no_dangling_links()


def test_inviting_with_groups_in_the_console_while_scim_deletes_a_group(scim, account, deployment):
    for index in range(ROUNDS):
        team = group(scim, f"Invited {index}")
        invited, deleted = race(partial(console, invitations.invite, account, f"guest{index}@example.com",
                                        groups=[team], deployment=deployment),
                                partial(scim.delete, f"/Groups/{team}"))
        assert invited in {"done", "NotFoundError"}, invited
        status(deleted, {204})
    no_dangling_links()
