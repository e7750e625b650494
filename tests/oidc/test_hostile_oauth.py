"""Generated hostile requests to every OAuth / OpenID Connect endpoint and every page: never a 5xx, always the
surface's own format (issue 11, point 3).

Parameters, headers and bodies are drawn from text with NUL, CR/LF, backslashes, lone surrogates, bytes that
are not UTF-8 (percent-encoded or raw), huge values, duplicates and unknown names, around a registered client's
valid request so the generated traffic reaches deep into each endpoint. The app runs with TESTING, so any
unhandled exception fails the example instead of becoming a 500.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import parse_qs, quote_from_bytes, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import Actor, groups, invitations, members

from .flow import REDIRECT, RelyingParty, authorization, csrf, ready_person, sign_in_for_tokens

LIMIT = 16 * 1024  # MAX_CONTENT_LENGTH here: oversized bodies stay cheap to send
SETTINGS = settings(deadline=None, database=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
MARKER = "<script>alert(1)</script>"
JSON_ENDPOINTS = ("/oauth/token", "/oauth/revoke", "/oauth/introspect", "/oauth/userinfo")

HOSTILE = ["", "\x00", "a\x00b", "\r\n", "\r\nSet-Cookie: x=y", "\\", "\t", " ", '"', "'", MARKER, "%00", "%",
           "é", "\u2028", "\ufeff", "\U0001f600", "../../etc/passwd", "//evil.example", "https://evil.example/",
           "javascript:alert(1)", "9" * 400, "-1", "1.5", "²", "null", "[]", "a" * 5000, "openid\x00", "code\x00"]
NAMES = ["response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge",
         "code_challenge_method", "prompt", "max_age", "acr_values", "login_hint", "id_token_hint", "ui_locales",
         "post_logout_redirect_uri", "grant_type", "code", "code_verifier", "refresh_token", "client_secret",
         "token", "token_type_hint", "next", "csrf_token", "decision", "email", "password", "confirm",
         "new_password", "current_password", "given_name", "family_name", "accept_terms", "account", "name",
         "role", "groups", "redirect_uris", "post_logout_redirect_uris", "backchannel_logout_uri", "nickname",
         "emails", "description", "display_name", "kind", "locale", "timezone", "date_format", "preset",
         "mfa_required", "allowed_email_domains", "invitation_ttl_days", "page", "q", "tab", "since", "until"]

lone_surrogates = st.characters(categories=["Cs"]).map(lambda c: f"a{c}b")
readable = st.one_of(st.sampled_from([h for h in HOSTILE if "\x00" not in h]), st.integers().map(str),
                     st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=30))
texts = st.one_of(readable, readable, readable, st.sampled_from([h for h in HOSTILE if "\x00" in h]), lone_surrogates)
not_utf8 = st.one_of(st.sampled_from([b"\xff", b"\xed\xa0\x80", b"\xc3", b"\x80abc", b"\xf4\x90\x80\x80"]),
                     st.binary(min_size=1, max_size=12))
values = st.one_of(readable, texts, not_utf8)
names = st.one_of(st.sampled_from(NAMES), st.sampled_from(NAMES), values)


def wire(value: str | bytes, raw: bool) -> bytes:
    """A value as it travels in a query or form: percent-encoded, or its bytes as they are."""
    data = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
    return data if raw else quote_from_bytes(data, safe="").encode()


@st.composite
def pairs(draw: Any, base: dict[str, str] | None = None, dirty: bool = True) -> bytes:
    """An urlencoded string: ``base`` with some values replaced or dropped, plus extra and repeated names.

    Only a ``dirty`` one may hold what the input check refuses (NUL, bytes that are not UTF-8); the others
    reach the views.
    """
    value, name = (values, names) if dirty else (readable, st.sampled_from(NAMES) | readable)
    items: list[tuple[str | bytes, str | bytes]] = list((base or {}).items())
    for index in draw(st.sets(st.integers(0, max(len(items) - 1, 0)), max_size=3)) if items else ():
        if index < len(items):
            items[index] = (items[index][0], draw(value))
    if items and draw(st.booleans()):
        del items[draw(st.integers(0, len(items) - 1))]
    items += draw(st.lists(st.tuples(name, value), max_size=4))
    if items and draw(st.integers(0, 9)) == 0:
        items.append(items[0])  # a repeated parameter
    raw = dirty and draw(st.integers(0, 5)) == 0
    return b"&".join(wire(k, raw) + b"=" + wire(v, raw) for k, v in items)


def authorization_shapes(rp: RelyingParty, access_token: str) -> Any:
    creds = f"{rp.client_id}:{rp.secret}".encode()
    return st.one_of(
        st.none(),
        st.just("Basic " + base64.b64encode(creds).decode()),
        st.binary(max_size=40).map(lambda b: "Basic " + base64.b64encode(b).decode()),
        st.tuples(values, values).map(lambda p: "Basic " + base64.b64encode(
            wire(p[0], True) + b":" + wire(p[1], True)).decode()),
        st.just(f"Bearer {access_token}"),
        texts.map(lambda t: "Bearer " + t.encode("utf-8", "surrogatepass").decode("latin-1")),
        st.sampled_from(["Basic", "Bearer", "Basic ÿÿ", "Basic ===", "Digest x", "basic  a", "Bearer \x00",
                         "Bearer a\r\nb", "Basic " + "A" * 5000]),
    )


@st.composite
def bodies(draw: Any, base: dict[str, str] | None = None, dirty: bool = True) -> dict[str, Any]:
    """Keyword arguments for the test client's ``open``: a body and its content type, of many kinds."""
    kinds = ["form", "form", "form", "json", "multipart", "none"] + (["bytes", "oversized"] if dirty else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "form":
        return {"data": draw(pairs(base, dirty)), "content_type": "application/x-www-form-urlencoded"}
    if kind == "json":
        document = draw(st.recursive(st.none() | st.booleans() | st.integers() | texts,
                                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner,
                                                                                                 max_size=3),
                                     max_leaves=8))
        text = json.dumps(document) if draw(st.booleans()) else draw(st.sampled_from(
            ['{"a": "\\ud800"}', '"\\u0000"', "[" * 3000, "{", "nul\x00", '{"credential": {"id": "\\udfff"}}']))
        return {"data": text.encode("utf-8", "surrogatepass"), "content_type": "application/json"}
    if kind == "multipart":
        fields = draw(st.dictionaries(st.sampled_from(NAMES), st.sampled_from(HOSTILE) | st.text(max_size=20),
                                      max_size=4))
        return {"data": fields, "content_type": "multipart/form-data"}
    if kind == "bytes":
        content_type = draw(st.sampled_from(["application/x-www-form-urlencoded", "application/json", "text/plain",
                                             "multipart/form-data; boundary=x", "application/octet-stream"]))
        return {"data": draw(st.binary(max_size=200)), "content_type": content_type}
    if kind == "oversized":
        return {"data": b"a=" + b"b" * draw(st.integers(LIMIT, 3 * LIMIT)),
                "content_type": "application/x-www-form-urlencoded"}
    return {}


@st.composite
def requests(draw: Any, base: dict[str, str] | None, headers: Any, methods: tuple[str, ...] = ("GET", "POST")
             ) -> dict[str, Any]:
    """A request of one of ``methods``: ``base`` in the query of a GET, in the body (or both, or neither) else."""
    method = draw(st.sampled_from(methods))
    dirty = draw(st.integers(0, 2)) == 0
    in_query = method == "GET" or draw(st.integers(0, 3)) == 0
    environ: dict[str, str] = {"QUERY_STRING": draw(pairs(base if in_query else None, dirty)).decode("latin-1")}
    authorization_header = draw(headers)
    if authorization_header is not None:
        environ["HTTP_AUTHORIZATION"] = authorization_header
    if draw(st.integers(0, 4)) == 0:
        environ["HTTP_COOKIE"] = "roster_session=" + draw(st.sampled_from(HOSTILE[:20])).encode(
            "utf-8").decode("latin-1").replace(";", "")
    if draw(st.integers(0, 4)) == 0:
        environ["HTTP_X_FORWARDED_FOR"] = draw(st.sampled_from(["1.2.3.4", "::1, 10.0.0.1", "x\x00", "", "9" * 300]))
    kwargs: dict[str, Any] = {"method": method, "environ_overrides": environ}
    if method != "GET":
        kwargs.update(draw(bodies(base, dirty)))
    return kwargs


# ----------------------------------------------------------------- what each surface must answer


def assert_security_headers(response: Any) -> None:
    assert response.headers.get("X-Frame-Options") == "DENY", response.headers
    assert "frame-ancestors 'none'" in response.headers.get("Content-Security-Policy", "")


def assert_no_server_error(response: Any, request: dict[str, Any], path: str) -> None:
    assert response.status_code < 500, (path, request, response.get_data(as_text=True)[:1000])
    if response.mimetype == "text/html":
        assert_security_headers(response)
        assert MARKER not in response.get_data(as_text=True), (path, request)
    location = response.headers.get("Location")
    if location is not None:
        assert not re.search(r"[\x00-\x1f]", location)


def assert_oauth_json(response: Any, request: dict[str, Any], path: str) -> None:
    assert_no_server_error(response, request, path)
    assert response.mimetype == "application/json", (path, request, response.get_data(as_text=True)[:500])
    if response.status_code >= 400:
        body = response.get_json()
        assert isinstance(body, dict) and isinstance(body.get("error"), str), (path, request, body)
    if response.status_code == 401 and path == "/oauth/userinfo":
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def assert_roster_location(location: str) -> None:
    """A redirect that is not the client's stays on Roster: a path, never another host."""
    parts = urlsplit(location)
    assert parts.netloc in ("", "localhost") and location.startswith(("/", "http://localhost/")), location
    assert not location.startswith(("//", "/\\")), location


def assert_authorization_answer(response: Any, request: dict[str, Any]) -> None:
    path = "/oauth/authorize"
    assert_no_server_error(response, request, path)
    if response.status_code == 413:
        assert response.get_json()["error"] == "invalid_request"
        return
    if response.status_code in (302, 303):
        location = response.headers["Location"]
        if location.startswith("https://app.example"):
            assert location.split("?")[0] == REDIRECT, location
            query = parse_qs(urlsplit(location).query)
            assert "error" in query or "code" in query, location
        else:
            assert_roster_location(location)
        return
    assert response.mimetype == "text/html", (request, response.status_code)


# ----------------------------------------------------------------- fixtures


@pytest.fixture
def hostile_app(app):
    app.config["MAX_CONTENT_LENGTH"] = LIMIT
    return app


@pytest.fixture
def oauth_world(hostile_app, account, sign_in, deployment) -> dict[str, Any]:
    """A confidential and a public client, tokens from a real sign-in, a signed-in browser and a stranger."""
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    rp = RelyingParty.register(account)
    public = RelyingParty.register(account, public=True)
    signed_in = hostile_app.test_client()
    tokens = sign_in_for_tokens(signed_in, rp, person.email)
    return {"rp": rp, "public": public, "tokens": tokens, "signed_in": signed_in,
            "stranger": hostile_app.test_client()}


def test_token_revocation_introspection_and_userinfo_answer_oauth_json(oauth_world):
    rp, tokens, client = oauth_world["rp"], oauth_world["tokens"], oauth_world["stranger"]

    @given(st.data())
    def hostile(data: Any) -> None:
        presenting = data.draw(st.sampled_from([rp, oauth_world["public"]]))
        base = {"grant_type": data.draw(st.sampled_from(["refresh_token", "authorization_code"])),
                "refresh_token": tokens["refresh_token"], "token": tokens["access_token"],
                "client_id": presenting.client_id, "code": "x", "redirect_uri": REDIRECT, "code_verifier": "v" * 43}
        shapes = authorization_shapes(rp, tokens["access_token"])
        request = data.draw(requests(base, shapes, ("POST", "POST", "GET", "PUT")))
        for path in JSON_ENDPOINTS:
            assert_oauth_json(client.open(path, **request), request, path)

    settings(SETTINGS, max_examples=250)(hostile)()


def test_authorization_endpoint_redirects_errors_only_to_registered_uris_or_shows_a_page(oauth_world):
    rp, public = oauth_world["rp"], oauth_world["public"]
    clients = (oauth_world["signed_in"], oauth_world["stranger"])

    @given(st.data())
    def hostile(data: Any) -> None:
        base = authorization(data.draw(st.sampled_from([rp, public]))).params
        request = data.draw(requests(base, st.none() | st.sampled_from(["Basic eDp5", "Bearer x\x00"])))
        for client in clients:
            assert_authorization_answer(client.open("/oauth/authorize", **request), request)

    settings(SETTINGS, max_examples=250)(hostile)()


def test_logout_jwks_and_discovery_answer_in_their_format(oauth_world):
    client = oauth_world["signed_in"]
    base = {"id_token_hint": oauth_world["tokens"]["id_token"], "post_logout_redirect_uri": "https://app.example/bye",
            "client_id": oauth_world["rp"].client_id, "state": "s"}

    @given(st.data())
    def hostile(data: Any) -> None:
        request = data.draw(requests(base, st.none() | texts.map(lambda t: t.encode("utf-8", "surrogatepass")
                                                                 .decode("latin-1")), ("GET", "POST", "DELETE")))
        for path in ("/oauth/jwks", "/.well-known/openid-configuration"):
            response = client.open(path, **request)
            assert_oauth_json(response, request, path)
            assert response.status_code in (200, 400, 405, 413)
        response = client.open("/oauth/logout", **request)
        assert_no_server_error(response, request, "/oauth/logout")
        if response.status_code == 413:
            assert response.get_json()["error"] == "invalid_request"
        elif "Location" in response.headers and not response.headers["Location"].startswith("https://app.example/bye"):
            assert_roster_location(response.headers["Location"])

    settings(SETTINGS, max_examples=100)(hostile)()


# ----------------------------------------------------------------- pages


@pytest.fixture
def page_world(hostile_app, account, cli_actor, sign_in, deployment) -> dict[str, Any]:
    """Every page route with real ids to put in it, and a signed-in admin's browser that holds a CSRF token."""
    admin = ready_person(account, "admin@acme.example", role="admin", deployment=deployment)
    group = groups.create_group(account, "Support", by=Actor.cli("tests"))
    invited = invitations.invite(account, "invitee@acme.example", by=cli_actor, deployment=deployment)
    rp = RelyingParty.register(account)
    browser = hostile_app.test_client()
    live = sign_in(browser, admin)
    token = csrf(browser.get("/profile").get_data(as_text=True))
    ids = {"account_id": account.id, "membership_id": members.get_membership(account, admin.email).id,
           "group_id": group.id, "invitation_id": invited.invitation_id, "session_id": live.id,
           "client_id": rp.client_id, "token": (invited.link or "/x").rsplit("/", 1)[1]}
    rules = [rule for rule in hostile_app.url_map.iter_rules()
             if not rule.rule.startswith(("/scim", "/static", "/oauth", "/.well-known", "/health"))]
    return {"rules": rules, "ids": ids, "browser": browser, "csrf": token, "admin": admin,
            "stranger": hostile_app.test_client()}


@st.composite
def page_requests(draw: Any, world: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    rule = draw(st.sampled_from(world["rules"]))
    path = rule.rule
    for name in rule.arguments:
        value = draw(st.one_of(st.just(world["ids"].get(name, "x")), values))
        segment = wire(value, False).decode() if draw(st.integers(0, 2)) == 0 else world["ids"].get(name, "x")
        path = re.sub(rf"<(?:\w+:)?{name}>", segment.replace("\\", "\\\\"), path)
    if draw(st.integers(0, 9)) == 0:
        # most likely no page: a 404 (never "//…", which the test client would read as a host)
        path = path.rstrip("/") + "/" + wire(draw(values), False).decode()
    methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}) + ["PUT"]
    request = draw(requests({"next": "/profile"}, st.none(), tuple(methods)))
    if request["method"] == "POST" and draw(st.integers(0, 3)):
        # with the browser's CSRF token the generated form reaches the view
        if request.get("content_type") == "multipart/form-data":
            request["data"] = {**request["data"], "csrf_token": world["csrf"]}
        elif request.get("content_type") == "application/x-www-form-urlencoded":
            request["data"] = b"csrf_token=" + world["csrf"].encode() + b"&" + request["data"]
        else:
            request.setdefault("headers", {})["X-CSRFToken"] = world["csrf"]
    return path, request


def test_pages_answer_html_with_the_security_headers_never_a_server_error(page_world, sign_in):
    @given(st.data())
    def hostile(data: Any) -> None:
        path, request = data.draw(page_requests(page_world))
        for client in (page_world["browser"], page_world["stranger"]):
            response = client.open(path, **request)
            assert_no_server_error(response, request, path)
            if "Location" in response.headers:
                assert_roster_location(response.headers["Location"])
            elif response.status_code != 204 and not path.startswith(("/login/mfa/", "/profile/security/webauthn")):
                assert response.mimetype == "text/html", (path, request, response.status_code)
        # a generated form may have ended the admin's session: the next example starts signed in again
        sign_in(page_world["browser"], page_world["admin"])

    settings(SETTINGS, max_examples=500)(hostile)()
