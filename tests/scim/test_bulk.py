"""/Bulk through the real app on SQLite and PostgreSQL (RFC 7644 §3.7, DESIGN.md §3, R1)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from models import AuditEvent, GroupMember, members
from models.tenancy import DirectoryRecord, Group
from scim_server import app as app_module
from scim_server import bulk
from scim_server.app import DEFAULTS

from .scim_support import USER_SCHEMA, other_tenant, tenant, user

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def scim(client, database, account, admin):
    return tenant(client, account)


def send(scim: Any, *operations: dict[str, Any], headers: dict[str, str] | None = None, **envelope: Any) -> Any:
    body = {"schemas": [BULK_REQUEST], **envelope, "Operations": list(operations)}
    return scim.client.post("/scim/v2/Bulk", json=body, headers={**scim.headers, **(headers or {})})


def results(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "application/scim+json"
    body = response.get_json()
    assert body["schemas"] == [BULK_RESPONSE]
    return body["Operations"]


def post_user(bulk_id: str, user_name: str, **attributes: Any) -> dict[str, Any]:
    return {"method": "POST", "path": "/Users", "bulkId": bulk_id, "data": user(user_name, **attributes)}


def post_group(bulk_id: str, name: str, *member_values: str) -> dict[str, Any]:
    return {"method": "POST", "path": "/Groups", "bulkId": bulk_id,
            "data": {"schemas": [GROUP_SCHEMA], "displayName": name, "members": [{"value": v} for v in member_values]}}


def test_creates_users_and_a_group_referencing_them_by_bulk_id(scim):
    response = send(scim, post_user("u1", "alice@example.com"), post_user("u2", "bob"),
                    post_group("g1", "Sales", "bulkId:u1", "bulkId:u2"))
    ops = results(response)
    assert [(o["method"], o["bulkId"], o["status"]) for o in ops] == [
        ("POST", "u1", "201"), ("POST", "u2", "201"), ("POST", "g1", "201")]
    ids = [o["location"].rsplit("/", 1)[1] for o in ops]
    assert ops[0]["location"] == f"http://localhost/scim/v2/Users/{ids[0]}"
    assert ops[2]["location"] == f"http://localhost/scim/v2/Groups/{ids[2]}"
    assert all(o["version"] == 'W/"1"' and "response" not in o for o in ops)
    group = scim.get(f"/Groups/{ids[2]}").get_json()
    assert {m["value"] for m in group["members"]} == {ids[0], ids[1]}
    assert scim.get(f"/Users/{ids[0]}").get_json()["userName"] == "alice@example.com"


def test_a_forward_reference_waits_for_the_post_it_names(scim):
    ops = results(send(scim, post_group("g1", "Early", "bulkId:u1"), post_user("u1", "late")))
    assert [(o["bulkId"], o["status"]) for o in ops] == [("u1", "201"), ("g1", "201")]
    group_id = ops[1]["location"].rsplit("/", 1)[1]
    user_id = ops[0]["location"].rsplit("/", 1)[1]
    assert [m["value"] for m in scim.get(f"/Groups/{group_id}").get_json()["members"]] == [user_id]


def test_references_in_paths_and_patch_filters_are_resolved(scim):
    ops = results(send(
        scim, post_user("u1", "carol"), post_group("g1", "Team", "bulkId:u1"),
        {"method": "PATCH", "path": "/Users/bulkId:u1",
         "data": {"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "title", "value": "Boss"}]}},
        {"method": "PATCH", "path": "/Groups/bulkId:g1",
         "data": {"schemas": [PATCH_SCHEMA],
                  "Operations": [{"op": "remove", "path": 'members[value eq "bulkId:u1"]'}]}},
    ))
    assert [o["status"] for o in ops] == ["201", "201", "200", "200"]
    user_id, group_id = (o["location"].rsplit("/", 1)[1] for o in ops[:2])
    assert ops[2]["location"].endswith(f"/Users/{user_id}") and ops[2]["version"] == 'W/"2"'
    assert scim.get(f"/Users/{user_id}").get_json()["title"] == "Boss"
    assert "members" not in scim.get(f"/Groups/{group_id}").get_json()


def test_mixed_results_each_operation_on_its_own(scim):
    existing = scim.create("taken")
    ops = results(send(
        scim, post_user("a", "fine"), post_user("b", "TAKEN"),
        {"method": "POST", "path": "/Users", "bulkId": "c", "data": {"schemas": [USER_SCHEMA]}},
        {"method": "DELETE", "path": f"/Users/{existing['id']}"},
        {"method": "DELETE", "path": "/Users/no-such-id"},
        {"method": "PUT", "path": "/Users", "data": user("x")},
        {"method": "POST", "path": "/Schemas", "bulkId": "s", "data": {}},
        {"method": "GET", "path": f"/Users/{existing['id']}"},
    ))
    assert [o["status"] for o in ops] == ["201", "409", "400", "204", "404", "405", "400", "400"]
    failed = ops[1]
    assert "location" not in failed and failed["bulkId"] == "b"
    assert failed["response"]["schemas"] == [ERROR] and failed["response"]["scimType"] == "uniqueness"
    assert failed["response"]["status"] == "409"
    assert ops[3]["location"].endswith(f"/Users/{existing['id']}") and "response" not in ops[3]
    assert ops[4]["location"].endswith("/Users/no-such-id") and ops[4]["response"]["status"] == "404"
    assert ops[6]["response"]["scimType"] == "invalidPath"
    assert DirectoryRecord.select().where(DirectoryRecord.user_name == "fine").count() == 1
    assert scim.get(f"/Users/{existing['id']}").status_code == 404


def test_fail_on_errors_stops_and_reports_what_was_done(scim):
    ops = results(send(scim, post_user("a", "one"), post_user("b", "ONE"), post_user("c", "three"), failOnErrors=1))
    assert [(o["bulkId"], o["status"]) for o in ops] == [("a", "201"), ("b", "409")]
    assert DirectoryRecord.select().where(DirectoryRecord.user_name == "three").count() == 0

    ops = results(send(scim, post_user("d", "ONE"), post_user("e", "one"), post_user("f", "six"), failOnErrors=2))
    assert [o["status"] for o in ops] == ["409", "409"]


def test_a_reference_to_a_failed_or_unknown_bulk_id_is_409(scim):
    ops = results(send(scim, post_user("dup", "admin@ACME.example"), post_user("u1", "admin@acme.example"),
                       post_group("g1", "G", "bulkId:u1"), post_group("g2", "H", "bulkId:nobody")))
    # the admin's address is a new record here, the duplicate userName is refused
    assert [o["status"] for o in ops] == ["201", "409", "409", "409"]
    assert ops[2]["response"]["status"] == "409" and "u1" in ops[2]["response"]["detail"]
    assert "nobody" in ops[3]["response"]["detail"]
    assert Group.select().count() == 0


def test_circular_references_fail_with_409(scim):
    ops = results(send(scim, post_group("g1", "A", "bulkId:g2"), post_group("g2", "B", "bulkId:g1"),
                       post_user("self", "me", manager={"value": "bulkId:self"}), post_user("ok", "fine")))
    statuses = {o["bulkId"]: o["status"] for o in ops}
    assert statuses == {"g1": "409", "g2": "409", "self": "409", "ok": "201"}
    assert ops[0]["bulkId"] == "ok"
    assert Group.select().count() == 0


def test_a_repeated_bulk_id_is_refused(scim):
    ops = results(send(scim, post_user("same", "first"), post_user("same", "second")))
    assert [o["status"] for o in ops] == ["201", "400"]
    assert ops[1]["response"]["scimType"] == "invalidValue"


def test_last_admin_delete_is_refused_409_while_the_others_succeed_r1(scim):
    admin_record = scim.create("admin@acme.example")
    ops = results(send(scim, post_user("a", "new@example.com"),
                       {"method": "DELETE", "path": f"/Users/{admin_record['id']}"},
                       post_user("b", "other@example.com")))
    assert [o["status"] for o in ops] == ["201", "409", "201"]
    assert "admin" in ops[1]["response"]["detail"]
    assert members.get_membership(scim.account, "admin@acme.example").status == "active"
    assert scim.get(f"/Users/{admin_record['id']}").status_code == 200


def test_version_is_if_match_412_on_a_mismatch(scim):
    record = scim.create("versioned")
    data = user("versioned", title="New")
    ops = results(send(scim, {"method": "PUT", "path": f"/Users/{record['id']}", "version": 'W/"7"', "data": data},
                       {"method": "PUT", "path": f"/Users/{record['id']}", "version": 'W/"1"', "data": data},
                       {"method": "DELETE", "path": f"/Users/{record['id']}", "version": 'W/"1"'}))
    assert [o["status"] for o in ops] == ["412", "200", "412"]
    assert ops[0]["response"]["status"] == "412"
    assert ops[1]["version"] == 'W/"2"'
    assert scim.get(f"/Users/{record['id']}").get_json()["title"] == "New"


def test_audit_events_carry_the_outer_request_id_and_the_token(scim, caplog, monkeypatch):
    ends: list[int] = []
    end_request = app_module.end_request
    monkeypatch.setattr(app_module, "end_request", lambda exc=None: ends.append(1) or end_request(exc))
    with caplog.at_level(logging.INFO, logger="roster.http"):
        response = send(scim, post_user("u1", "audit1"), post_group("g1", "Audited", "bulkId:u1"),
                        post_user("u2", "audit2"), headers={"X-Request-ID": "bulk-req-42"})
    assert response.headers["X-Request-ID"] == "bulk-req-42"
    assert [o["status"] for o in results(response)] == ["201", "201", "201"]
    events = list(AuditEvent.select().where(AuditEvent.action.in_(["directory_record.created", "group.created"])))
    assert len(events) == 3
    assert {(e.request_id, e.actor_type) for e in events} == {("bulk-req-42", "scim_token")}
    # the app's hooks ran once, for the outer request: one access log line, one end of the connection's request
    assert [r.getMessage() for r in caplog.records if r.name == "roster.http"] == ["POST /scim/v2/Bulk 200"]
    assert len(ends) == 1
    follow = scim.client.get("/scim/v2/Users", headers={**scim.headers, "X-Request-ID": "next"})
    assert follow.headers["X-Request-ID"] == "next"
    scim.create("after")
    assert AuditEvent.get(AuditEvent.action == "directory_record.created", AuditEvent.target_id != events[0].target_id,
                          AuditEvent.request_id != "bulk-req-42") is not None


def test_another_tenants_ids_are_404_and_untouched(scim, client):
    intruder = other_tenant(client)
    victim = scim.create("victim")
    ops = results(send(intruder, {"method": "DELETE", "path": f"/Users/{victim['id']}"},
                       {"method": "PATCH", "path": f"/users/{victim['id']}/",
                        "data": {"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "title",
                                                                             "value": "pwned"}]}},
                       post_group("g", "Mine", victim["id"])))
    assert [o["status"] for o in ops][:2] == ["404", "404"]
    assert ops[2]["status"].startswith("4")
    assert scim.get(f"/Users/{victim['id']}").get_json().get("title") is None
    assert GroupMember.select().count() == 0


def test_too_many_operations_is_413(scim):
    operations = [post_user(f"u{i}", f"user{i}") for i in range(bulk.MAX_OPERATIONS + 1)]
    response = send(scim, *operations)
    assert response.status_code == 413
    body = response.get_json()
    assert body["schemas"] == [ERROR] and body["status"] == "413"
    assert str(bulk.MAX_OPERATIONS) in body["detail"]
    assert DirectoryRecord.select().count() == 0


def test_a_payload_over_max_payload_size_is_413(scim):
    padding = "x" * bulk.MAX_PAYLOAD_SIZE
    response = send(scim, post_user("u1", "big", title=padding))
    assert response.status_code == 413
    body = response.get_json()
    assert body["status"] == "413" and str(bulk.MAX_PAYLOAD_SIZE) in body["detail"]
    assert response.mimetype == "application/scim+json"
    assert DirectoryRecord.select().count() == 0


def test_max_payload_size_fits_the_apps_request_limit():
    assert bulk.MAX_PAYLOAD_SIZE <= DEFAULTS["MAX_CONTENT_LENGTH"]


@pytest.mark.parametrize("body", [
    b"{not json",
    b"[]",
    json.dumps({"schemas": [BULK_REQUEST]}).encode(),
    json.dumps({"schemas": ["urn:example:not:bulk"], "Operations": [post_user("a", "a")]}).encode(),
    json.dumps({"schemas": [BULK_REQUEST], "Operations": "POST"}).encode(),
    json.dumps({"schemas": [BULK_REQUEST], "failOnErrors": "many", "Operations": [post_user("a", "a")]}).encode(),
    json.dumps({"schemas": [BULK_REQUEST], "failOnErrors": 0, "Operations": [post_user("a", "a")]}).encode(),
])
def test_a_malformed_envelope_is_a_400_scim_error(scim, body):
    response = scim.client.post("/scim/v2/Bulk", data=body, headers=scim.headers, content_type="application/scim+json")
    assert response.status_code == 400
    assert response.mimetype == "application/scim+json"
    error = response.get_json()
    assert error["schemas"] == [ERROR] and error["status"] == "400" and error["detail"]
    assert DirectoryRecord.select().count() == 0


def test_an_invalid_operation_fails_alone(scim):
    ops = results(send(scim, "not an operation", {"method": "POST", "path": "/Users", "data": user("nobulkid")},
                       post_user("ok", "ok")))
    assert [o["status"] for o in ops] == ["400", "400", "201"]
    assert all(o["response"]["schemas"] == [ERROR] for o in ops[:2])


def test_bulk_needs_a_token(client, database):
    response = client.post("/scim/v2/Bulk", json={"schemas": [BULK_REQUEST], "Operations": []})
    assert response.status_code == 401
    assert response.get_json()["status"] == "401"


def test_lower_case_path_and_trailing_slash(scim):
    response = scim.client.post("/scim/v2/bulk/", json={"schemas": [BULK_REQUEST],
                                                         "Operations": [post_user("u", "lower")]},
                                headers=scim.headers)
    ops = results(response)
    assert ops[0]["status"] == "201"
    ops = results(send(scim, {"method": "POST", "path": "/users/", "bulkId": "v", "data": user("lower2")}))
    assert ops[0]["status"] == "201" and "/scim/v2/Users/" in ops[0]["location"]
