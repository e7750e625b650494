"""Bodies and path ids no directory should send: deep nesting, NUL, lone surrogates, bad encodings (payload.py).

Each is refused with a SCIM Error a person can act on, the same way on SQLite
and PostgreSQL, and nothing is written.
"""

from __future__ import annotations

import json

import pytest

from models.tenancy import DirectoryRecord, Group
from scim_server.payload import MAX_DEPTH

from .scim_support import USER_SCHEMA, tenant

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


@pytest.fixture
def scim(client, account):
    directory = tenant(client, account)
    user_id = directory.create("existing@example.com")["id"]
    group = directory.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Existing"})
    assert group.status_code == 201
    directory.user_id, directory.group_id = user_id, group.get_json()["id"]
    return directory


def send(scim, method: str, path: str, body: bytes | str, content_type: str = "application/scim+json"):
    return scim.client.open("/scim/v2" + path, method=method, data=body, headers=scim.headers,
                            content_type=content_type)


def refused(response, status: int = 400, scim_type: str | None = None) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/scim+json"
    body = response.get_json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status)
    if scim_type is not None:
        assert body.get("scimType") == scim_type
    return str(body["detail"])


def nested(depth: int, kind: str = "[") -> str:
    """A JSON value ``depth`` levels deep: arrays, or objects of one key."""
    if kind == "[":
        return "[" * depth + "]" * depth
    return '{"k":' * depth + "1" + "}" * depth


def bodies(scim, value: str) -> list[tuple[str, str, str]]:
    """One body per endpoint that takes one, ``value`` where each reads an attribute of any shape."""
    return [
        ("POST", "/Users", f'{{"schemas":["{USER_SCHEMA}"],"userName":"deep@example.com","name":{value}}}'),
        ("PUT", f"/Users/{scim.user_id}", f'{{"schemas":["{USER_SCHEMA}"],"userName":"e@example.com","x":{value}}}'),
        ("PATCH", f"/Users/{scim.user_id}",
         f'{{"schemas":["{PATCH_OP}"],"Operations":[{{"op":"add","value":{value}}}]}}'),
        ("POST", "/Groups", f'{{"schemas":["{GROUP_SCHEMA}"],"displayName":"Deep","members":{value}}}'),
        ("PUT", f"/Groups/{scim.group_id}", f'{{"schemas":["{GROUP_SCHEMA}"],"displayName":"D","members":{value}}}'),
        ("PATCH", f"/Groups/{scim.group_id}",
         f'{{"schemas":["{PATCH_OP}"],"Operations":[{{"op":"add","path":"members","value":{value}}}]}}'),
        ("POST", "/Bulk", f'{{"schemas":["{BULK}"],"Operations":[{{"method":"POST","path":"/Users","bulkId":"b",'
                          f'"data":{{"schemas":["{USER_SCHEMA}"],"userName":"b@example.com","x":{value}}}}}]}}'),
        ("POST", "/.search", f'{{"schemas":["{SEARCH}"],"attributes":{value}}}'),
        ("POST", "/Users/.search", f'{{"schemas":["{SEARCH}"],"excludedAttributes":{value}}}'),
        ("POST", "/Groups/.search", f'{{"schemas":["{SEARCH}"],"filter":{value}}}'),
    ]


def unchanged(scim) -> None:
    assert [r.user_name for r in DirectoryRecord.select()] == ["existing@example.com"]
    assert [(g.display_name, g.version) for g in Group.select()] == [("Existing", 1)]


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1_000, 100_000])
@pytest.mark.parametrize("kind", ["[", "{"])
def test_a_body_nested_deeper_than_the_limit_is_invalid_syntax_at_every_endpoint(scim, depth, kind):
    # each body adds a few levels of its own around the value: deeper than MAX_DEPTH whatever the value's place
    for method, path, body in bodies(scim, nested(depth - 1, kind)):
        detail = refused(send(scim, method, path, body), 400, "invalidSyntax")
        assert f"deeper than {MAX_DEPTH} levels" in detail, (method, path)
    unchanged(scim)


def test_the_limit_itself_is_accepted_as_json(scim):
    """A body exactly MAX_DEPTH levels deep gets past the reader: what refuses it is the schema, not the depth."""
    value = nested(MAX_DEPTH - 3)  # inside {"schemas": …, "Operations": [{"value": …}]}
    body = f'{{"schemas":["{PATCH_OP}"],"Operations":[{{"op":"add","path":"members","value":{value}}}]}}'
    detail = refused(send(scim, "PATCH", f"/Groups/{scim.group_id}", body), 400)
    assert "deeper" not in detail


@pytest.mark.parametrize("escape", ["\\u0000", "a\\u0000", "\\u0000b"])
def test_nul_in_any_string_is_invalid_value_naming_the_attribute(scim, escape):
    cases = [
        ("POST", "/Users", f'{{"schemas":["{USER_SCHEMA}"],"userName":"{escape}"}}', "userName"),
        ("POST", "/Users", f'{{"schemas":["{USER_SCHEMA}"],"userName":"n@example.com",'
                           f'"emails":[{{"value":"x{escape}@example.com"}}]}}', "emails[0].value"),
        ("POST", "/Users", f'{{"schemas":["{USER_SCHEMA}"],"userName":"k@example.com","{escape}":1}}',
         "attribute name"),
        ("PUT", f"/Users/{scim.user_id}", f'{{"schemas":["{USER_SCHEMA}"],"userName":"existing@example.com",'
                                          f'"name":{{"givenName":"{escape}"}}}}', "name.givenName"),
        ("PATCH", f"/Users/{scim.user_id}", f'{{"schemas":["{PATCH_OP}"],"Operations":[{{"op":"replace",'
                                            f'"path":"displayName","value":"{escape}"}}]}}', "Operations[0].value"),
        ("POST", "/Groups", f'{{"schemas":["{GROUP_SCHEMA}"],"displayName":"{escape}"}}', "displayName"),
        ("PATCH", f"/Groups/{scim.group_id}", f'{{"schemas":["{PATCH_OP}"],"Operations":[{{"op":"add",'
                                              f'"path":"members","value":[{{"value":"{escape}"}}]}}]}}',
         "Operations[0].value[0].value"),
        ("POST", "/Bulk", f'{{"schemas":["{BULK}"],"Operations":[{{"method":"POST","path":"/Groups",'
                          f'"data":{{"schemas":["{GROUP_SCHEMA}"],"displayName":"{escape}"}}}}]}}',
         "Operations[0].data.displayName"),
        ("POST", "/.search", f'{{"schemas":["{SEARCH}"],"filter":"userName eq \\"{escape}\\""}}', "filter"),
    ]
    for method, path, body, where in cases:
        detail = refused(send(scim, method, path, body), 400, "invalidValue")
        assert where in detail and "NUL" in detail, (method, path, detail)
    unchanged(scim)


@pytest.mark.parametrize("string", ["a\\ud800b", "\\ud800", "\\udfff", "\\ud800\\ud800", "\\udc00\\ud800"])
def test_a_lone_surrogate_is_invalid_value_with_its_position(scim, string):
    for method, path, body in [
        ("POST", "/Users", f'{{"schemas":["{USER_SCHEMA}"],"userName":"{string}"}}'),
        ("PATCH", f"/Users/{scim.user_id}", f'{{"schemas":["{PATCH_OP}"],"Operations":[{{"op":"replace",'
                                            f'"path":"displayName","value":"{string}"}}]}}'),
        ("POST", "/Groups", f'{{"schemas":["{GROUP_SCHEMA}"],"displayName":"{string}"}}'),
        ("POST", "/.search", f'{{"schemas":["{SEARCH}"],"filter":"userName eq \\"{string}\\""}}'),
    ]:
        detail = refused(send(scim, method, path, body), 400, "invalidValue")
        assert "surrogate" in detail and "line 1 column" in detail
    unchanged(scim)


def test_a_surrogate_pair_is_a_character(scim):
    response = send(scim, "POST", "/Users", f'{{"schemas":["{USER_SCHEMA}"],"userName":"\\ud83d\\ude00@example.com"}}')
    assert response.status_code == 201
    assert response.get_json()["userName"] == "\U0001f600@example.com"


@pytest.mark.parametrize("body, words", [
    (b'{"userName": "caf\xe9"}', "not UTF-8"),  # Latin-1
    (b'{"userName": "\xed\xa0\x80"}', "not UTF-8"),  # a surrogate encoded as if it were a character
    ('{"userName": "x"}'.encode("utf-16"), "not valid JSON"),
    (b"<User><userName>x</userName></User>", "not valid JSON"),
    (b"userName=x", "not valid JSON"),
    (b'{"userName": "x"', "not valid JSON"),
    (b'{"userName": "a\nb"}', "not valid JSON"),  # a raw control character in a string
    (b'{"count": NaN}', "not valid JSON"),
    (b'{"n": ' + b"1" * 5000 + b"}", "not valid JSON"),
    (b"", "empty"),
    (b"  \r\n ", "empty"),
])
def test_a_body_that_is_not_json_in_utf8_is_invalid_syntax(scim, body, words):
    for method, path in [("POST", "/Users"), ("PUT", f"/Users/{scim.user_id}"), ("PATCH", f"/Groups/{scim.group_id}"),
                         ("POST", "/Bulk"), ("POST", "/.search")]:
        assert words in refused(send(scim, method, path, body), 400, "invalidSyntax")
    unchanged(scim)


@pytest.mark.parametrize("body", ["[]", "null", "1", '"userName"', "true", f'[{{"schemas":["{USER_SCHEMA}"]}}]'])
def test_json_that_is_not_an_object_is_invalid_syntax(scim, body):
    for method, path in [("POST", "/Users"), ("PUT", f"/Users/{scim.user_id}"), ("PATCH", f"/Users/{scim.user_id}"),
                         ("POST", "/Groups"), ("PATCH", f"/Groups/{scim.group_id}"), ("POST", "/Bulk"),
                         ("POST", "/.search")]:
        refused(send(scim, method, path, body), 400, "invalidSyntax")
    unchanged(scim)


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/json; charset=utf-16", ""])
def test_any_content_type_is_read_as_json(scim, content_type):
    """Clients label JSON oddly; the body decides: JSON in UTF-8 is read, anything else is a 400."""
    body = json.dumps({"schemas": [USER_SCHEMA], "userName": "typed@example.com"})
    assert send(scim, "POST", "/Users", body, content_type).status_code == 201
    refused(send(scim, "POST", "/Groups", "displayName=Typed", content_type), 400, "invalidSyntax")


def test_a_byte_order_mark_is_ignored(scim):
    body = b"\xef\xbb\xbf" + json.dumps({"schemas": [USER_SCHEMA], "userName": "bom@example.com"}).encode()
    assert send(scim, "POST", "/Users", body).status_code == 201


@pytest.mark.parametrize("resource", ["Users", "Groups"])
@pytest.mark.parametrize("suffix", ["%00", "ab%00c", "%00%00"])
def test_a_path_id_with_nul_is_not_found(scim, resource, suffix):
    own = scim.user_id if resource == "Users" else scim.group_id
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        for path in (f"/{resource}/{suffix}", f"/{resource}/{own}{suffix}"):
            body = json.dumps({"schemas": [USER_SCHEMA], "userName": "x@example.com"}) if method == "PUT" else None
            refused(scim.client.open("/scim/v2" + path, method=method, data=body, headers=scim.headers), 404)
    unchanged(scim)


def test_a_bulk_operation_on_a_path_id_with_nul_is_not_found(scim):
    response = scim.post("/Bulk", {"schemas": [BULK], "Operations": [
        {"method": "DELETE", "path": f"/Users/{scim.user_id}%00"},
        {"method": "PATCH", "path": f"/Groups/{scim.group_id}%00", "data": {
            "schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": "X"}]}}]})
    assert response.status_code == 200
    assert [r["status"] for r in response.get_json()["Operations"]] == ["404", "404"]
    unchanged(scim)


@pytest.mark.parametrize("method, path, body, attribute", [
    ("POST", "/Users", {"schemas": [USER_SCHEMA], "userName": "u@example.com", "externalId": "x" * 513}, "externalId"),
    ("POST", "/Users", {"schemas": [USER_SCHEMA], "userName": "x" * 513}, "userName"),
    # 512 characters whose lower case is 1,024: the folded key is stored too
    ("POST", "/Users", {"schemas": [USER_SCHEMA], "userName": "\u0130" * 512}, "userName"),
    ("POST", "/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "G", "externalId": "x" * 257}, "externalId"),
    ("POST", "/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "\u0130" * 256}, "group name"),
])
def test_a_value_longer_than_its_column_is_invalid_value_on_both_databases(scim, method, path, body, attribute):
    assert attribute in refused(send(scim, method, path, json.dumps(body)), 400, "invalidValue")
    for replaced in (f"/Users/{scim.user_id}", f"/Groups/{scim.group_id}"):
        if replaced.startswith(path):
            refused(send(scim, "PUT", replaced, json.dumps(body)), 400, "invalidValue")
    unchanged(scim)


@pytest.mark.parametrize("path, value, detail", [
    ("displayName", [1], "Input should be a valid string: displayName"),
    ("title", {"a": 1}, "Input should be a valid string: title"),
    ("name", 5, "Input should be a valid dictionary or instance of Name: name"),
])
def test_a_patch_value_of_the_wrong_type_names_the_attribute(scim, path, value, detail):
    body = json.dumps({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": path, "value": value}]})
    assert refused(send(scim, "PATCH", f"/Users/{scim.user_id}", body), 400, "invalidValue") == detail
    unchanged(scim)
