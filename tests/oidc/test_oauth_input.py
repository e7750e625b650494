"""Bad input at the OAuth endpoints and pages: each refused in its surface's format, never a 500.

The generated traffic is in test_hostile_oauth.py; these are the cases found by hand, one by one.
"""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from models.database import db

from .flow import PASSWORD, REDIRECT, RelyingParty, authorization, code_from, hidden, ready_person, submit


@pytest.fixture
def rp(account) -> RelyingParty:
    return RelyingParty.register(account)


@pytest.fixture
def person(account, deployment):
    return ready_person(account, "pat@acme.example", deployment=deployment)


def authorize(client, rp, **changes):
    params = authorization(rp).params
    params.update(changes)
    return client.get("/oauth/authorize?" + urlencode(params)), params


def assert_page(response, status):
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/html" and "Location" not in response.headers
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def redirected_error(response):
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    location = response.headers["Location"]
    assert location.split("?")[0] == REDIRECT
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def assert_oauth_error(response, status, error="invalid_request"):
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == error and body["error_description"]
    return body


@pytest.mark.parametrize("uri", [REDIRECT.replace("/callback", "\\callback"), REDIRECT + "\t", REDIRECT + " x",
                                 REDIRECT + '"', REDIRECT + "/é", "javascript:alert(1)"])
def test_a_redirect_uri_that_is_not_registered_is_a_page_whatever_it_contains(client, rp, uri):
    response, _ = authorize(client, rp, redirect_uri=uri)
    assert_page(response, 400)
    assert "redirect_uri is not registered" in response.get_data(as_text=True)


def test_an_empty_redirect_uri_is_invalid_request_on_a_page_not_the_default(client, rp, person, sign_in):
    sign_in(client, person)
    response, _ = authorize(client, rp, redirect_uri="")
    assert_page(response, 400)
    assert "(invalid_request)" in response.get_data(as_text=True)


@pytest.mark.parametrize("value", ["\x00", 'to"ken', "tok\\en", "tökèn"])
def test_an_unsupported_response_type_goes_back_to_the_client(client, rp, value):
    response, params = authorize(client, rp, response_type=value)
    error = redirected_error(response)
    expected = "invalid_request" if value == "\x00" else "unsupported_response_type"
    assert error["error"] == expected and error["state"] == params["state"]


@pytest.mark.parametrize("name", ["scope", "nonce", "code_challenge", "prompt", "max_age", "login_hint"])
def test_nul_in_another_parameter_is_invalid_request_at_the_client(client, rp, person, sign_in, name):
    sign_in(client, person)
    response, params = authorize(client, rp, **{name: "a\x00b"})
    error = redirected_error(response)
    assert error["error"] == "invalid_request" and f"'{name}'" in error["error_description"]
    assert error["state"] == params["state"]


def test_invalid_utf8_is_refused_like_nul(client, rp):
    params = authorization(rp).params
    query = urlencode(params) + "&scope=openid%ED%A0%80"  # an encoded lone surrogate
    error = redirected_error(client.get("/oauth/authorize?" + query))
    assert error["error"] == "invalid_request"
    raw = (urlencode(params) + "&ui_locales=").encode() + b"\xff\xfe"  # bytes werkzeug cannot decode
    error = redirected_error(client.get("/oauth/authorize", environ_overrides={"QUERY_STRING": raw.decode("latin-1")}))
    assert error["error"] == "invalid_request"


@pytest.mark.parametrize("name", ["client_id", "redirect_uri"])
def test_nul_in_the_client_or_its_redirect_uri_is_a_page(client, rp, name):
    response, _ = authorize(client, rp, **{name: "a\x00b"})
    assert_page(response, 400)


def test_nul_in_state_is_refused_without_echoing_it(client, rp):
    error = redirected_error(authorize(client, rp, state="s\x00")[0])
    assert error["error"] == "invalid_request" and "state" not in error


def test_a_huge_max_age_asks_nothing_more_and_a_malformed_one_is_refused(client, rp, person, sign_in):
    sign_in(client, person)
    assert code_from(authorize(client, rp, max_age="9" * 5000)[0])
    for value in ("-1", "1.5", "²", "soon"):
        error = redirected_error(authorize(client, rp, max_age=value)[0])
        assert error["error"] == "invalid_request" and "max_age" in error["error_description"]


def test_cr_lf_in_next_is_never_a_location(client, person):
    page = client.get("/login?" + urlencode({"next": "/profile\r\nSet-Cookie: x=y"}))
    assert page.status_code == 200 and hidden(page.get_data(as_text=True), "next") == "/"
    response = submit(client, page, "/login", email=person.email, password=PASSWORD,
                      next="/profile\r\nSet-Cookie: x=y")
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_two_client_authentication_methods_at_once_are_refused(client, rp):
    response = client.post("/oauth/token", data={"grant_type": "authorization_code", "code": "x",
                                                 "redirect_uri": REDIRECT, "client_secret": rp.secret},
                           auth=rp.auth)
    assert "twice" in assert_oauth_error(response, 400)["error_description"]
    for path in ("/oauth/revoke", "/oauth/introspect"):
        response = client.post(path, data={"token": "x", "client_id": rp.client_id, "client_secret": rp.secret},
                               auth=rp.auth)
        assert_oauth_error(response, 400)


@pytest.mark.parametrize("credentials", [b"a\x00b:secret", b"\xff\xfe:secret", b"client:%00", b"client:%ff"])
@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke", "/oauth/introspect"])
def test_basic_credentials_that_are_not_text_are_invalid_request(client, path, credentials):
    header = "Basic " + base64.b64encode(credentials).decode()
    assert_oauth_error(client.post(path, data={"grant_type": "refresh_token", "refresh_token": "x", "token": "x"},
                                   headers={"Authorization": header}), 400)


def test_non_ascii_basic_credentials_are_invalid_request(client):
    environ = {"HTTP_AUTHORIZATION": "Basic ÿÿÿÿ"}
    assert_oauth_error(client.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": "x"},
                                   environ_base=environ), 400)


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke", "/oauth/introspect", "/oauth/userinfo",
                                  "/oauth/authorize", "/oauth/logout"])
def test_an_oversized_oauth_request_is_an_oauth_error(app, client, path):
    response = client.post(path, data={"x": "a" * (app.config["MAX_CONTENT_LENGTH"] + 1)})
    assert "larger than" in assert_oauth_error(response, 413)["error_description"]


def test_nul_in_a_token_request_is_invalid_request_on_both_databases(client, rp):
    for data in ({"grant_type": "authorization_code", "code": "a\x00", "redirect_uri": REDIRECT},
                 {"grant_type": "refresh_token", "refresh_token": "x", "client_id": "a\x00b"}):
        assert_oauth_error(client.post("/oauth/token", data=data), 400)
    assert_oauth_error(client.post("/oauth/introspect", data={"token": "t\x00"}, auth=rp.auth), 400)


def test_every_page_and_error_page_refuses_framing(app, client):
    assert_page(client.get("/no/such/page"), 404)
    assert_page(client.get("/invitations/a%00b"), 400)
    assert_page(client.post("/login", data={"email": "a\x00@b.example", "password": "x"}), 400)
    assert_page(client.post("/login", data={"x": "a" * (app.config["MAX_CONTENT_LENGTH"] + 1)}), 413)
    wrong_method = client.put("/login")
    assert_page(wrong_method, 405)
    assert "GET" in wrong_method.headers["Allow"]


def test_unknown_oauth_paths_and_wrong_methods_answer_oauth_json(client):
    assert_oauth_error(client.get("/oauth/nothing-here"), 404)
    response = client.get("/oauth/token")
    assert_oauth_error(response, 405)
    assert set(response.headers["Allow"].split(", ")) == {"OPTIONS", "POST"}


def test_scim_keeps_its_own_error_format(client):
    response = client.get("/scim/v2/NoSuchEndpoint")
    assert response.status_code in (401, 404) and response.mimetype == "application/scim+json"


def test_an_unexpected_failure_is_a_page_or_an_oauth_error_never_a_traceback(database_url):
    from scim_server.app import create_app

    from ..conftest import SECRET_KEY, dispose

    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY, "BASE_URL": "http://roster.test"})

    def broken() -> str:
        raise RuntimeError("a bug")

    app.add_url_rule("/broken", view_func=broken)
    app.add_url_rule("/oauth/broken", endpoint="oauth_broken", view_func=broken)
    client = app.test_client()
    page = client.get("/broken")
    assert_page(page, 500)
    assert "a bug" not in page.get_data(as_text=True)
    body = assert_oauth_error(client.get("/oauth/broken"), 500, "server_error")
    assert "a bug" not in body["error_description"]
    dispose(db.obj)


def test_a_nonce_longer_than_the_code_keeps_is_invalid_request(client, rp, person, sign_in):
    sign_in(client, person)
    error = redirected_error(authorize(client, rp, nonce="n" * 513)[0])
    assert error["error"] == "invalid_request" and "nonce" in error["error_description"]
    assert code_from(authorize(client, rp, nonce="n" * 512)[0])


def test_json_bodies_are_read_only_where_json_is_expected(client):
    for body in ('"\\u0000"', "[1, 2]", "[" * 3000, '{"email": {"a": 1}}'):
        assert_page(client.post("/login", data=body, content_type="application/json"), 400)
        assert_page(client.post("/oauth/logout", data=body, content_type="application/json"), 400)
        assert_oauth_error(client.post("/oauth/token", data=body, content_type="application/json"), 400)
    options = "/login/mfa/webauthn/options"
    for body in ("[1]", "[" * 3000 + "]" * 3000, '{"a": "\\ud800"}', '{"a": ["\\u0000"]}', "{"):
        assert_page(client.post(options, data=body, content_type="application/json"), 400)
