"""ETags on Users (RFC 7644 §3.14, RFC 9110 §13.1): meta.version = ETag; If-Match → 412; If-None-Match → 304."""

from __future__ import annotations

from typing import Any

import pytest

from models import members

from .scim_support import tenant, user

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def scim(client, database, account, admin):
    return tenant(client, account)


def _headers(scim: Any, **extra: str) -> dict[str, str]:
    return {**scim.headers, **{k.replace("_", "-"): v for k, v in extra.items()}}


def get(scim: Any, record_id: str, **headers: str) -> Any:
    return scim.client.get(f"/scim/v2/Users/{record_id}", headers=_headers(scim, **headers))


def put(scim: Any, record_id: str, body: dict[str, Any], **headers: str) -> Any:
    return scim.client.put(f"/scim/v2/Users/{record_id}", json=body, headers=_headers(scim, **headers))


def patch(scim: Any, record_id: str, *operations: dict[str, Any], **headers: str) -> Any:
    return scim.client.patch(f"/scim/v2/Users/{record_id}", json={"schemas": [PATCH_OP], "Operations": operations},
                             headers=_headers(scim, **headers))


def delete(scim: Any, record_id: str, **headers: str) -> Any:
    return scim.client.delete(f"/scim/v2/Users/{record_id}", headers=_headers(scim, **headers))


def assert_precondition_failed(response: Any) -> None:
    assert response.status_code == 412
    assert response.mimetype == "application/scim+json"
    body = response.get_json()
    assert body["status"] == "412" and "ETag" in body["detail"]


def test_meta_version_is_the_etag_everywhere(scim):
    created = scim.create("e@example.com")
    response = get(scim, created["id"])
    assert response.headers["ETag"] == response.get_json()["meta"]["version"] == created["meta"]["version"] == 'W/"1"'
    listed = scim.get("/Users", filter='userName eq "e@example.com"').get_json()["Resources"][0]
    assert listed["meta"]["version"] == 'W/"1"'


def test_if_none_match_answers_304_without_a_body(scim):
    created = scim.create("e@example.com")
    for tag in ('W/"1"', '"1"', '"7", W/"1"', "*"):
        response = get(scim, created["id"], If_None_Match=tag)
        assert response.status_code == 304, tag
        assert response.data == b"" and response.headers["ETag"] == 'W/"1"'
    stale = get(scim, created["id"], If_None_Match='W/"0"')
    assert stale.status_code == 200 and stale.get_json() == created


def test_if_none_match_on_an_unknown_user_is_still_404(scim):
    assert get(scim, "nobody", If_None_Match="*").status_code == 404


def test_every_change_raises_the_version(scim):
    created = scim.create("v@example.com")
    record_id = created["id"]
    versions = [created["meta"]["version"]]
    versions.append(put(scim, record_id, user("v@example.com", title="A")).get_json()["meta"]["version"])
    versions.append(patch(scim, record_id, {"op": "replace", "path": "title", "value": "B"})
                    .get_json()["meta"]["version"])
    # a membership status change is a change of the resource: "active" is in its representation
    versions.append(patch(scim, record_id, {"op": "replace", "path": "active", "value": False})
                    .get_json()["meta"]["version"])
    assert members.get_membership(scim.account, "v@example.com").status == "deactivated"
    versions.append(put(scim, record_id, user("v@example.com", title="B", active=True)).get_json()["meta"]["version"])
    numbers = [int(v.removeprefix('W/"').removesuffix('"')) for v in versions]
    assert numbers[0] == 1 and all(a < b for a, b in zip(numbers, numbers[1:], strict=False)), versions
    assert get(scim, record_id, If_None_Match=versions[3]).status_code == 200


def test_if_match_on_put(scim):
    created = scim.create("p@example.com")
    assert_precondition_failed(put(scim, created["id"], user("p@example.com", title="X"), If_Match='W/"9"'))
    assert get(scim, created["id"]).get_json() == created
    response = put(scim, created["id"], user("p@example.com", title="X"), If_Match='W/"1"')
    assert response.status_code == 200 and response.headers["ETag"] == 'W/"2"'
    # the old version no longer matches: a lost update is refused
    assert_precondition_failed(put(scim, created["id"], user("p@example.com", title="Y"), If_Match='W/"1"'))
    assert get(scim, created["id"]).get_json()["title"] == "X"


def test_if_match_on_patch(scim):
    created = scim.create("q@example.com")
    assert_precondition_failed(patch(scim, created["id"], {"op": "replace", "path": "active", "value": False},
                                     If_Match='W/"2"'))
    assert members.get_membership(scim.account, "q@example.com").status == "invited"
    assert get(scim, created["id"]).get_json() == created
    for tag in ('"1"', "*"):
        response = patch(scim, created["id"], {"op": "replace", "path": "title", "value": tag}, If_Match=tag)
        assert response.status_code == 200, tag
    assert response.headers["ETag"] == 'W/"3"'


def test_if_match_on_delete(scim):
    created = scim.create("r@example.com")
    assert_precondition_failed(delete(scim, created["id"], If_Match='W/"5"'))
    assert get(scim, created["id"]).status_code == 200
    assert members.get_membership(scim.account, "r@example.com").status == "invited"
    assert delete(scim, created["id"], If_Match='W/"1"').status_code == 204
    assert get(scim, created["id"]).status_code == 404


def test_if_match_with_an_invalid_body_or_a_list_of_tags(scim):
    created = scim.create("s@example.com")
    response = patch(scim, created["id"], {"op": "replace", "path": "id", "value": "x"}, If_Match='W/"1"')
    assert response.status_code == 400 and response.get_json()["scimType"] == "mutability"
    stale = patch(scim, created["id"], {"op": "replace", "path": "title", "value": "x"}, If_Match='"list", W/"8"')
    assert_precondition_failed(stale)
