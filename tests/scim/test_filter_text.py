"""A filter holding text no attribute can hold (NUL, a lone UTF-16 surrogate) is invalidFilter on both databases.

PostgreSQL cannot bind U+0000 and no encoder takes a lone surrogate, so such
a filter once reached the driver and answered 500; it matches nothing that
could be stored (SCIM bodies refuse the same characters), so it is refused
before any SQL, whether it came raw in the query, escaped inside the quoted
value, by GET or by POST .search, for Users or Groups.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .scim_support import tenant


@pytest.fixture
def scim(client, database, account, admin):
    return tenant(client, account)


def assert_invalid_filter(response) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert body["scimType"] == "invalidFilter"
    assert "character" in body["detail"]


@pytest.mark.parametrize("resource, attribute", [("Users", "userName"), ("Users", "displayName"),
                                                 ("Users", "emails.value"), ("Groups", "displayName")])
def test_a_raw_nul_in_a_filter_value_is_invalid_filter(scim, resource, attribute):
    response = scim.client.get(f"/scim/v2/{resource}", query_string={"filter": f'{attribute} eq "a\x00b"'},
                               headers=scim.headers)
    assert_invalid_filter(response)


@pytest.mark.parametrize("surrogate", ["\ud800", "\udfff"])
def test_the_bytes_of_a_raw_surrogate_are_read_as_replacement_characters(scim, surrogate):
    # on the wire a surrogate can only come as bytes that are not UTF-8; werkzeug reads them as U+FFFD
    value = quote(f'displayName eq "a{surrogate}b"'.encode("utf-8", "surrogatepass"))
    response = scim.client.get("/scim/v2/Users", query_string=f"filter={value}", headers=scim.headers)
    assert response.status_code == 200
    assert response.get_json()["totalResults"] == 0


@pytest.mark.parametrize("escape", ["\\u0000", "\\ud800", "\\udc00"])
def test_an_escaped_character_in_a_filter_value_is_invalid_filter(scim, escape):
    for resource in ("Users", "Groups"):
        response = scim.get(f"/{resource}", filter=f'displayName eq "a{escape}b" or displayName pr')
        assert_invalid_filter(response)


def test_search_by_post_refuses_them_too(scim):
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": 'userName co "\\u0000"'}
    response = scim.client.post("/scim/v2/Users/.search", data=json.dumps(body), headers=scim.headers,
                                content_type="application/scim+json")
    assert_invalid_filter(response)


def test_a_filter_of_ordinary_text_still_matches(scim):
    scim.create("zoë@example.com")
    found = scim.get("/Users", filter='userName eq "ZOË@example.com" and userName co "\\u00eb"').get_json()
    assert found["totalResults"] == 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=st.text(st.characters(exclude_characters='"\\', exclude_categories=["Cs", "Cc"]), max_size=8),
       code=st.sampled_from([0]) | st.integers(0xD800, 0xDFFF),
       after=st.text(st.characters(exclude_characters='"\\', exclude_categories=["Cs", "Cc"]), max_size=8),
       attribute=st.sampled_from(["title", "userName", "emails.value", "name.familyName", "externalId"]),
       operator=st.sampled_from(["eq", "ne", "co", "sw", "ew", "gt", "le"]))
def test_generated_values_with_such_a_character_never_reach_sql(scim, before, code, after, attribute, operator):
    text = f'{attribute} {operator} "{before}\\u{code:04x}{after}"'
    response = scim.client.get("/scim/v2/Users", query_string={"filter": text}, headers=scim.headers)
    assert_invalid_filter(response)
