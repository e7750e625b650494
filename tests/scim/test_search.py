"""POST /Users/.search and POST /.search (RFC 7644 §3.4.3): a SearchRequest answers like GET."""

from __future__ import annotations

import pytest

from .scim_support import other_tenant, tenant
from .test_filters import reindexed  # noqa: F401 - autouse: index every record write

SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


def search_request(**fields):
    return {"schemas": [SEARCH], **fields}


@pytest.fixture
def scim(client, database, account, admin):
    scim = tenant(client, account)
    scim.create("alice", emails=[{"value": "alice@work.example", "type": "work"}], title="Engineer")
    scim.create("bob", emails=[{"value": "bob@home.example", "type": "home"}], title="Manager")
    scim.create("carol", title="Engineer")
    return scim


def names(body) -> list[str]:
    return [r["userName"] for r in body["Resources"]]


@pytest.mark.parametrize("path", ["/Users/.search", "/.search", "/users/.search", "/Users/.search/"])
def test_search_answers_like_get(scim, path):
    body = search_request(filter='title eq "engineer"', sortBy="userName", sortOrder="descending",
                          attributes=["userName"], count=10)
    response = scim.post(path, body)
    assert response.status_code == 200, response.get_json()
    assert response.headers["Content-Type"].startswith("application/scim+json")
    got = response.get_json()
    listed = scim.get("/Users", filter='title eq "engineer"', sortBy="userName", sortOrder="descending",
                      attributes="userName", count=10).get_json()
    assert got == listed
    assert names(got) == ["carol", "alice"]
    assert set(got["Resources"][0]) == {"schemas", "id", "userName"}


def test_value_paths_excluded_attributes_and_paging(scim):
    body = search_request(filter='emails[type eq "work" and value co "@work"] or emails co "@home"',
                          sortBy="emails", excludedAttributes=["emails"], startIndex=2, count=1)
    got = scim.post("/Users/.search", body).get_json()
    assert got["totalResults"] == 2 and got["startIndex"] == 2 and names(got) == ["bob"]
    assert "emails" not in got["Resources"][0]


def test_cursor_paging_by_search(scim):
    first = scim.post("/Users/.search", search_request(cursor="", count=2, sortBy="userName")).get_json()
    assert len(first["Resources"]) == 2 and "startIndex" not in first
    second = scim.post("/Users/.search", search_request(cursor=first["nextCursor"], count=2,
                                                        sortBy="userName")).get_json()
    seen = names(first) + names(second)
    assert seen == ["alice", "bob", "carol"]
    assert "nextCursor" not in second and second["previousCursor"]


def test_a_search_miss_is_an_empty_list(scim):
    got = scim.post("/.search", search_request(filter='userName eq "nobody"')).get_json()
    assert got["totalResults"] == 0 and got["Resources"] == []


def test_negative_count_and_start_index_are_clamped(scim):
    got = scim.post("/Users/.search", search_request(startIndex=-5, count=-1)).get_json()
    assert got["startIndex"] == 1 and got["itemsPerPage"] == 0 and got["totalResults"] == 3


@pytest.mark.parametrize(("body", "scim_type"), [
    (search_request(filter="userName eq"), "invalidFilter"),
    (search_request(filter='nothing eq "x"'), "invalidFilter"),
    (search_request(cursor="not a cursor"), "invalidCursor"),
    (search_request(cursor="forged.cursor"), "invalidCursor"),
    (search_request(sortOrder="sideways"), "invalidValue"),
    (search_request(count="many"), "invalidValue"),
    ({"schemas": ["urn:example:not-a-search"]}, "invalidValue"),
    ([1, 2], "invalidSyntax"),
])
def test_invalid_search_requests_are_400(scim, body, scim_type):
    response = scim.post("/Users/.search", body)
    assert response.status_code == 400
    assert response.get_json()["scimType"] == scim_type


def test_unknown_resource_type_is_404(scim):
    assert scim.post("/Widgets/.search", search_request()).status_code == 404


def test_search_stays_inside_the_tenant(scim, client):
    other = other_tenant(client)
    assert other.post("/.search", search_request(filter='userName eq "alice"')).get_json()["totalResults"] == 0


def test_search_needs_a_token(scim, client):
    assert client.post("/scim/v2/.search", json=search_request()).status_code == 401


# GET reads its query string as this same SearchRequest (scim_server.search.search_request): one reading, one answer
GET_AND_SEARCH = [
    ({"sortBy": "a b"}, search_request(sortBy="a b"), "invalidValue", "sortBy 'a b' does not name one attribute"),
    ({"attributes": "userName,x y"}, search_request(attributes=["userName", "x y"]), "invalidPath", "attributes"),
    ({"filter": "userName eq"}, search_request(filter="userName eq"), "invalidFilter", "filter"),
    ({"filter": 'userName eq "x" or ' * 600 + "title pr"}, search_request(filter='userName eq "x" or ' * 600
                                                                         + "title pr"), "invalidFilter", "10,000"),
]


@pytest.mark.parametrize(("args", "body", "scim_type", "named"), GET_AND_SEARCH)
def test_get_and_search_refuse_the_same_request_the_same_way(scim, args, body, scim_type, named):
    by_get = scim.get("/Users", **args)
    by_search = scim.post("/Users/.search", body)
    assert by_get.status_code == by_search.status_code == 400
    assert by_get.get_json()["scimType"] == by_search.get_json()["scimType"] == scim_type
    assert by_get.get_json()["detail"] == by_search.get_json()["detail"]
    assert named in by_get.get_json()["detail"]


def test_get_keeps_its_tolerance_of_empty_parameters_and_a_capitalised_sort_order(scim):
    got = scim.get("/Users", filter="", sortBy="userName", sortOrder="DESCENDING", count="", startIndex="").get_json()
    assert names(got) == ["carol", "bob", "alice"] and got["startIndex"] == 1
    assert scim.get("/Users", count="many").get_json()["detail"] == "count must be an integer."


@pytest.mark.parametrize("fields", [
    {"filter": 'userName eq "a"'}, {"filter": "userName eq"}, {"count": -5, "startIndex": 0}, {"count": "12"},
    {"attributes": ["x y"]}, {"attributes": ["userName"], "excludedAttributes": ["emails"]},
    {"excludedAttributes": ["emails"]}, {"sortOrder": "sideways"}, {"cursor": ""}, {"startIndex": "x"},
    {"filter": 'emails[type eq "work"] and not (title pr)'}, {"unknown": 1}, {"schemas": ["urn:example:x"]},
])
def test_a_search_request_reads_the_same_without_the_scim_context(fields):
    """search.parse skips scim_ctx (13 µs a request): scim2-models' context rules must change nothing here."""
    import pydantic
    from scim2_models import Context, SearchRequest

    payload = {"schemas": [SEARCH], **fields}

    def read(**context):
        try:
            return SearchRequest.model_validate(payload, **context).model_dump()
        except pydantic.ValidationError as exc:
            return [error["type"] for error in exc.errors()]

    assert read() == read(scim_ctx=Context.SEARCH_REQUEST)
