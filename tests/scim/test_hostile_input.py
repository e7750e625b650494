"""Generated hostile traffic against every SCIM endpoint: never a 5xx, every refusal a SCIM Error.

Thousands of requests per run, new ones each run (hypothesis, not derandomised):
any method on /Users, /Users/{id}, /Groups, /Groups/{id}, /Bulk, /.search,
/{type}/.search, /Me and the discovery endpoints, with random JSON shapes,
SCIM-shaped documents holding wrong values, deep nesting, huge strings, bytes
that are not UTF-8, lone surrogates, NUL, random query parameters (filter,
sortBy, attributes, startIndex, count, cursor …), headers (If-Match,
Content-Type, Authorization) and path ids. Every answer must be below 500, and
every 4xx a SCIM Error document (RFC 7644 §3.12): its schema, a status equal
to the HTTP status, a detail, served as application/scim+json.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import FlakyStrategyDefinition

from ..oidc.flow import RelyingParty, ready_person, sign_in_for_tokens
from .scim_support import USER_SCHEMA, tenant

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
MEDIA_TYPE = "application/scim+json"

# new examples every run, a bounded number of them: the whole module stays well under two minutes per database
HOSTILE = settings(deadline=None, derandomize=False, database=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                          HealthCheck.data_too_large, HealthCheck.filter_too_much])


@dataclasses.dataclass
class Target:
    """An account with people and groups in it, its SCIM token, and a person's access token for /Me."""

    client: Any
    scim_token: str
    person_token: str
    user_ids: list[str]
    group_ids: list[str]
    strategies: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)

    def strategy(self, name: str) -> Any:
        """Built once per target, before the first example: costly to build, cheap to draw from again."""
        return self.strategies[name]


@pytest.fixture
def target(app, account, deployment) -> Target:
    client = app.test_client()
    directory = tenant(client, account)
    person = ready_person(account, "me@example.com", deployment=deployment)
    user_ids = [directory.create(person.email, emails=[{"value": person.email, "primary": True}])["id"]]
    user_ids += [directory.create(f"user{i}@example.com", name={"givenName": f"G{i}"}, active=i % 2 == 0)["id"]
                 for i in range(3)]
    group_ids = [directory.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": f"Group {i}",
                                            "members": [{"value": u} for u in user_ids[: i + 1]]}).get_json()["id"]
                 for i in range(2)]
    tokens = sign_in_for_tokens(app.test_client(), RelyingParty.register(account), person.email)
    target = Target(client, directory.token, tokens["access_token"], user_ids, group_ids)
    # every strategy made once: one made anew per example made hypothesis report inconsistent generation
    target.strategies.update(bodies=raw_bodies(target), paths=paths(target),
                             me_headers=headers(target, "/Me"), headers=headers(target, "/Users"))
    return target


# ----------------------------------------------------------------- values

NASTY_STRINGS = ["", " ", "\x00", "a\x00b", "\ud800", "a\udfffb", "\ud83d", "😀", "\u202e", "\ufeff", "%00", "../..",
                 "\\", '"', "'", "\n", "\r\n", "null", "true", "[]", "{}", "x" * 5000, "é" * 2000, "0" * 400,
                 "bulkId:", "bulkId:b1", 'members[value eq "x"]', "urn:ietf:params:scim:schemas:core:2.0:User:",
                 "2026-13-45T99:99:99Z", "-1", "1e308", "9" * 30, "NaN", "*", "W/\"1\"", "\t"]
nasty_text = st.one_of(st.text(max_size=30), st.sampled_from(NASTY_STRINGS),
                       st.text(st.characters(categories=["Cc", "Cs", "Co", "Zs", "So"]), max_size=8))
numbers = st.one_of(st.integers(), st.integers(-(10**40), 10**40), st.sampled_from([0, -1, 2**31, 2**63, 10**100]),
                    st.floats(allow_nan=False, allow_infinity=False))
scalars = st.one_of(st.none(), st.booleans(), numbers, nasty_text)

ATTRIBUTES = ["userName", "displayName", "name", "name.givenName", "name.familyName", "emails", "emails.value",
              "emails.type", "emails.primary", "phoneNumbers.value", "phoneNumbers.primary", "active", "title",
              "externalId", "id", "meta.created", "meta.lastModified", "meta.version", "members", "members.value",
              "members.display", "groups", "groups.value", "addresses.postalCode", "x509Certificates.value",
              f"{ENTERPRISE}:employeeNumber", f"{ENTERPRISE}:manager.value", f"{ENTERPRISE}:manager",
              "urn:roster:params:scim:schemas:extension:roster:2.0:User:unlinkedReason", "password", "nosuch",
              "emails[type eq \"work\"].value", "members[value eq \"x\"]", "schemas", "roles.value"]
attribute = st.one_of(st.sampled_from(ATTRIBUTES), nasty_text)
keys = st.one_of(st.sampled_from([a.split(".")[0] for a in ATTRIBUTES] + ["value", "op", "path", "type", "primary",
                                                                           "$ref", "display", "Operations", "data"]),
                 st.text(max_size=12), st.sampled_from(["\x00", "a\x00", "\ud800", ""]))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(keys, inner, max_size=5)),
                           max_leaves=25)

COMPARISONS = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "EQ", "Eq", "xx"]
OPERANDS = ['"a"', '""', "true", "false", "null", "1", "-1.5", '"2026-01-01T00:00:00Z"', '"\\u0000"', '"a\\u0000b"',
            '"\\ud800"', '"\\udfff\\ud800"', '"x@example.com"', "1e999", '"' + "z" * 300 + '"', '"\\"', "[]"]


@st.composite
def filters(draw: Any, depth: int = 0) -> str:
    """Filter expressions (RFC 7644 §3.4.2.2), valid and broken, nested a little."""
    choice = draw(st.integers(0, 11 if depth < 3 else 3))
    if choice <= 2 or choice >= 10:
        return f"{draw(attribute)} {draw(st.sampled_from(COMPARISONS))} {draw(st.sampled_from(OPERANDS))}"
    if choice == 3:
        return f"{draw(attribute)} pr"
    if choice == 4:
        return f"{draw(filters(depth + 1))} {draw(st.sampled_from(['and', 'or', 'AND', 'Or']))} " \
               f"{draw(filters(depth + 1))}"
    if choice == 5:
        return f"not ({draw(filters(depth + 1))})"
    if choice == 6:
        return f"({draw(filters(depth + 1))})"
    if choice == 7:
        return f"{draw(st.sampled_from(['emails', 'members', 'phoneNumbers', 'x']))}[{draw(filters(depth + 1))}]"
    if choice == 8:
        return " or ".join(f'userName eq "u{i}"' for i in range(draw(st.integers(1, 60))))
    return draw(nasty_text)


# a known attribute against a hostile operand, on its own and in a chain: what reaches SQL
comparisons = st.builds("{} {} {}".format, st.sampled_from(ATTRIBUTES[:27]), st.sampled_from(COMPARISONS[:9]),
                        st.one_of(st.sampled_from(OPERANDS), nasty_text.map(json.dumps)))
comparisons = st.one_of(comparisons, st.builds("{} and {}".format, comparisons, comparisons),
                        st.builds("not ({}) or {}".format, comparisons, comparisons))

QUERY_NAMES = ["filter", "sortBy", "sortOrder", "attributes", "excludedAttributes", "startIndex", "count", "cursor"]
query_values = {
    "filter": st.one_of(comparisons, filters(), nasty_text),
    "sortBy": attribute,
    "sortOrder": st.one_of(st.sampled_from(["ascending", "descending", "ASCENDING", ""]), nasty_text),
    "attributes": st.one_of(st.lists(attribute, max_size=4).map(",".join), nasty_text),
    "excludedAttributes": st.one_of(st.lists(attribute, max_size=4).map(",".join), nasty_text),
    "startIndex": st.one_of(numbers.map(str), nasty_text),
    "count": st.one_of(numbers.map(str), nasty_text),
    "cursor": st.one_of(st.just(""), nasty_text, st.binary(max_size=40).map(lambda b: b.hex())),
}
# what a well-behaved client sends beside the one hostile parameter, so that one reaches the database
companions = {
    "sortBy": st.sampled_from(["userName", "meta.lastModified", "displayName", "externalId", "id"]),
    "sortOrder": st.sampled_from(["ascending", "descending"]),
    "attributes": st.sampled_from(["userName", "displayName,members", "id"]),
    "startIndex": st.integers(1, 5).map(str),
    "count": st.integers(0, 5).map(str),
}
queries = st.dictionaries(st.one_of(st.sampled_from(QUERY_NAMES), nasty_text),
                          st.one_of(nasty_text, filters()), max_size=4).flatmap(
    lambda base: st.fixed_dictionaries({}, optional={name: query_values[name] for name in QUERY_NAMES}).map(
        lambda known: {**base, **known}))


def encoded(value: str) -> str:
    """Percent-encoded as a client would send it; a lone surrogate becomes the bytes a broken encoder writes."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def query_string(query: dict[str, str]) -> str:
    return "&".join(f"{encoded(k)}={encoded(v)}" for k, v in query.items())


# ----------------------------------------------------------------- documents


def documents(target: Target) -> Any:
    """SCIM-shaped bodies, each attribute perhaps of the wrong type or value."""
    ids = st.one_of(st.sampled_from(target.user_ids + target.group_ids), nasty_text)
    value = st.one_of(json_values, ids, st.lists(st.fixed_dictionaries({"value": ids}), max_size=3))
    user = st.fixed_dictionaries(
        {"schemas": st.one_of(st.just([USER_SCHEMA]), st.just([USER_SCHEMA, ENTERPRISE]), json_values)},
        optional={"userName": st.one_of(st.emails(), nasty_text, scalars), "name": value, "emails": value,
                  "active": st.one_of(st.booleans(), st.sampled_from(["False", "true", "yes"]), scalars),
                  "displayName": scalars, "externalId": scalars, "password": scalars, "id": ids, "meta": value,
                  "phoneNumbers": value, "groups": value, ENTERPRISE: value, "x": value})
    group = st.fixed_dictionaries(
        {"schemas": st.one_of(st.just([GROUP_SCHEMA]), json_values)},
        optional={"displayName": st.one_of(nasty_text, scalars), "members": value, "externalId": scalars,
                  "id": ids})
    operation = st.fixed_dictionaries(
        {"op": st.one_of(st.sampled_from(["add", "replace", "remove", "Add", "Replace", "Remove"]), nasty_text)},
        optional={"path": st.one_of(attribute, filters().map(lambda f: f"members[{f}]"),
                                    filters().map(lambda f: f"emails[{f}].value")),
                  "value": value})
    patch = st.fixed_dictionaries({"schemas": st.one_of(st.just([PATCH_OP]), json_values),
                                   "Operations": st.one_of(st.lists(operation, max_size=4), json_values)})
    paths = st.one_of(st.sampled_from(["/Users", "/Groups", "/Bulk", "/Users/bulkId:b1", "/Groups/bulkId:b2"]),
                      ids.map(lambda i: f"/Users/{i}"), ids.map(lambda i: f"/Groups/{i}"), nasty_text)
    bulk_operation = st.fixed_dictionaries(
        {"method": st.one_of(st.sampled_from(["POST", "PUT", "PATCH", "DELETE", "GET", "post"]), nasty_text)},
        optional={"path": paths, "bulkId": st.one_of(st.sampled_from(["b1", "b2"]), nasty_text),
                  "version": st.one_of(st.sampled_from(['W/"1"', "*"]), nasty_text),
                  "data": st.one_of(user, group, patch, json_values)})
    bulk = st.fixed_dictionaries({"schemas": st.one_of(st.just([BULK]), json_values),
                                  "Operations": st.one_of(st.lists(bulk_operation, max_size=5), json_values)},
                                 optional={"failOnErrors": scalars})
    search = st.fixed_dictionaries(
        {"schemas": st.one_of(st.just([SEARCH]), json_values)},
        optional={"filter": st.one_of(comparisons, filters(), scalars), "sortBy": st.one_of(attribute, scalars),
                  "sortOrder": scalars, "startIndex": scalars, "count": scalars, "cursor": scalars,
                  "attributes": st.one_of(st.lists(attribute, max_size=3), scalars),
                  "excludedAttributes": st.one_of(st.lists(attribute, max_size=3), scalars)})
    # well formed, with hostile text where a string goes: these are stored, so the databases see them
    text = st.one_of(st.text(min_size=1, max_size=40), st.sampled_from([t for t in NASTY_STRINGS if t.strip()]))
    plausible_user = st.fixed_dictionaries(
        {"schemas": st.just([USER_SCHEMA]), "userName": st.one_of(st.emails(), text)},
        optional={"displayName": text, "name": st.fixed_dictionaries({}, optional={"givenName": text,
                                                                                   "familyName": text}),
                  "emails": st.lists(st.fixed_dictionaries({"value": st.one_of(st.emails(), text)}, optional={
                      "type": st.sampled_from(["work", "home", "other"]), "primary": st.booleans()}), max_size=3),
                  "active": st.booleans(), "title": text, "externalId": text})
    plausible_group = st.fixed_dictionaries(
        {"schemas": st.just([GROUP_SCHEMA]), "displayName": text},
        optional={"members": st.lists(st.fixed_dictionaries({"value": st.sampled_from(target.user_ids)}),
                                      max_size=3), "externalId": text})
    plausible_patch = st.fixed_dictionaries({"schemas": st.just([PATCH_OP]), "Operations": st.lists(
        st.fixed_dictionaries({"op": st.sampled_from(["add", "replace", "Replace"]),
                               "path": st.sampled_from(["displayName", "title", "name.givenName", "externalId",
                                                        'emails[type eq "work"].value']),
                               "value": text}), min_size=1, max_size=3)})
    return st.one_of(user, group, patch, bulk, search, json_values, plausible_user, plausible_group, plausible_patch)


def nested(depth: int, opener: str) -> str:
    return ("[" * depth + "]" * depth) if opener == "[" else ('{"a":' * depth + "1" + "}" * depth)


def raw_bodies(target: Target) -> Any:
    """Bodies as bytes: JSON of every shape, and what is not JSON in UTF-8 at all."""
    as_json = documents(target).map(lambda d: json.dumps(d).encode())  # a lone surrogate is written \\udXXX
    deep = st.builds(lambda d, o: nested(d, o).encode(), st.integers(1, 5000), st.sampled_from("[{"))
    deep_inside = st.builds(
        lambda d, o: (f'{{"schemas":["{PATCH_OP}"],"Operations":[{{"op":"add","value":{nested(d, o)}}}]}}').encode(),
        st.integers(30, 3000), st.sampled_from("[{"))
    huge = st.builds(lambda n, c: json.dumps({"schemas": [USER_SCHEMA], "userName": c * n}).encode(),
                     st.sampled_from([10_000, 100_000, 300_000]), st.sampled_from(["x", "é", "\x00", "😀"]))
    escapes = st.builds(lambda e: f'{{"schemas":["{USER_SCHEMA}"],"userName":"a{e}b"}}'.encode(),
                        st.sampled_from(["\\u0000", "\\ud800", "\\udc00", "\\ud800\\u0041", "\\u12", "\\x", "\\"]))
    return st.one_of(as_json, as_json, as_json, deep, deep_inside, escapes, huge, st.binary(max_size=200),
                     as_json.map(lambda b: b.decode().encode("utf-16")),
                     as_json.map(lambda b: b.decode().encode("latin-1", "replace") + b"\xff\xfe"))


# ----------------------------------------------------------------- requests

CONTENT_TYPES = [None, MEDIA_TYPE, "application/json", "application/scim+json; charset=utf-8", "text/plain",
                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml",
                 "application/json; charset=utf-16", ""]
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)


def headers(target: Target, path: str) -> Any:
    token = target.person_token if path.startswith("/Me") else target.scim_token
    authorization = st.one_of(st.just(f"Bearer {token}"), st.just(f"Bearer {token}"), st.just(f"Bearer {token}"),
                              st.just(f"bearer {token}"), header_text, st.just(f"Bearer {target.scim_token}x"),
                              st.just(f"Bearer {target.person_token}"))
    return st.fixed_dictionaries(
        {"Authorization": authorization},
        optional={"Content-Type": st.one_of(st.sampled_from(CONTENT_TYPES), header_text),
                  "If-Match": st.one_of(st.sampled_from(['W/"1"', '"1"', "*", 'W/"2", W/"1"', ""]), header_text),
                  "If-None-Match": st.one_of(st.sampled_from(['W/"1"', "*"]), header_text),
                  "Accept": st.sampled_from([MEDIA_TYPE, "text/html", "*/*"])}).map(
        lambda h: {k: v for k, v in h.items() if v is not None})


def paths(target: Target) -> Any:
    ids = st.one_of(st.sampled_from(target.user_ids + target.group_ids), nasty_text, st.sampled_from(
        ["%00", "ab%00c", "%ED%A0%80", "..", "x" * 300, ".search", "%2F", "%20"]))
    raw_id = ids.map(lambda i: i if "%" in i else encoded(i))
    return st.one_of(
        st.sampled_from(["/Users", "/Groups", "/Bulk", "/.search", "/Users/.search", "/Groups/.search", "/Me",
                         "/ServiceProviderConfig", "/ResourceTypes", "/ResourceTypes/User", "/ResourceTypes/Group",
                         "/Schemas", f"/Schemas/{USER_SCHEMA}", f"/Schemas/{ENTERPRISE}", "/users/", "/Nothing",
                         "/Me/x", "/Bulk/x"]),
        raw_id.map(lambda i: f"/Users/{i}"), raw_id.map(lambda i: f"/Groups/{i}"),
        raw_id.map(lambda i: f"/ResourceTypes/{i}"), raw_id.map(lambda i: f"/Schemas/{i}"),
        raw_id.map(lambda i: f"/{i}/.search"))


METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def check(response: Any, method: str, what: str) -> None:
    """No 5xx; a refusal is a SCIM Error document; a body is application/scim+json."""
    status = response.status_code
    assert status < 500, f"{status} for {what}: {response.get_data(as_text=True)[:500]}"
    body = response.get_data()
    if status >= 400:
        assert response.mimetype == MEDIA_TYPE, (status, response.mimetype, what)
        if method == "HEAD":
            return
        document = json.loads(body)
        assert ERROR in document["schemas"], (document, what)
        assert document["status"] == str(status), (document, what)
        assert isinstance(document.get("detail"), str) and document["detail"].strip(), (document, what)
    elif 300 <= status < 400:
        assert response.headers.get("Location") or status == 304, (status, what)  # //Users: to /Users
    elif body and method != "OPTIONS":
        assert response.mimetype == MEDIA_TYPE, (status, response.mimetype, what)


def send(target: Target, method: str, path: str, query: dict[str, str], request_headers: dict[str, str],
         body: bytes | None) -> None:
    url = "/scim/v2" + path + ("?" + query_string(query) if query else "")
    response = target.client.open(url, method=method, data=body, headers=request_headers)
    check(response, method, f"{method} {url} {request_headers} {body[:300] if body else body!r}")


# ----------------------------------------------------------------- the tests


@settings(HOSTILE, max_examples=600)
@given(data=st.data())
def any_requests(target: Target, data: Any) -> None:
    path = data.draw(target.strategy("paths"), label="path")
    method = data.draw(st.sampled_from(METHODS), label="method")
    query = data.draw(queries, label="query")
    request_headers = data.draw(target.strategy("me_headers" if path.startswith("/Me") else "headers"),
                                label="headers")
    body = data.draw(st.one_of(st.none(), target.strategy("bodies")), label="body")
    send(target, method, path, query, request_headers, body)


def test_any_request_to_any_endpoint(target):
    # About one run in six, hypothesis (6.170) stops this one with FlakyStrategyDefinition while it replays a
    # prefix of an earlier example; the strategies alone never do in 3,000 examples, and the cause is not found.
    # That is hypothesis doubting its own generator, never an answer of Roster's: a run it abandons is run
    # again with new examples (at most twice). A 5xx or a malformed error is an AssertionError and fails at once.
    for attempt in range(3):
        try:
            any_requests(target)
            return
        except FlakyStrategyDefinition:
            if attempt == 2:
                raise


@settings(HOSTILE, max_examples=500)
@given(data=st.data())
def test_scim_shaped_writes(target, data):
    method, path = data.draw(st.sampled_from(
        [("POST", "/Users"), ("POST", "/Groups"), ("POST", "/Bulk"), ("POST", "/.search"), ("POST", "/Users/.search"),
         ("POST", "/Groups/.search")]
        + [(m, f"/Users/{i}") for m in ("PUT", "PATCH") for i in target.user_ids[1:]]
        + [(m, f"/Groups/{i}") for m in ("PUT", "PATCH") for i in target.group_ids]), label="request")
    body = data.draw(target.strategy("bodies"), label="body")
    send(target, method, path, {}, {"Authorization": f"Bearer {target.scim_token}",
                                    "Content-Type": MEDIA_TYPE}, body)


@settings(HOSTILE, max_examples=450)
@given(data=st.data())
def test_list_and_search_parameters(target, data):
    endpoint = data.draw(st.sampled_from(["/Users", "/Groups", "/Users/.search", "/Groups/.search", "/.search"]))
    # the filter most often: it is the parameter that reaches SQL
    hostile = data.draw(st.sampled_from(QUERY_NAMES + ["filter"] * 6), label="hostile parameter")
    others = {k: v for k, v in companions.items() if k != hostile and not (hostile == "cursor" and k == "startIndex")}
    parameters = data.draw(st.fixed_dictionaries({hostile: query_values[hostile]}, optional=others),
                           label="parameters")
    scim = {"Authorization": f"Bearer {target.scim_token}", "Content-Type": MEDIA_TYPE}
    if endpoint.endswith(".search"):
        body: dict[str, Any] = {"schemas": [SEARCH]}
        for name, value in parameters.items():
            body[name] = int(value) if name in ("startIndex", "count") and value.lstrip("-").isdigit() else value
        send(target, "POST", endpoint, {}, scim, json.dumps(body).encode())
    else:
        send(target, "GET", endpoint, parameters, scim, None)
    single = data.draw(st.sampled_from(target.user_ids[1:] + target.group_ids))
    kind = "Users" if single in target.user_ids else "Groups"
    picked = {k: v for k, v in parameters.items() if k in ("attributes", "excludedAttributes")}
    send(target, "GET", f"/{kind}/{single}", picked, scim, None)
