"""Error pages through the real app: each surface answers in its own format (pages styled, SCIM and OAuth JSON)."""

from __future__ import annotations

import pytest
from flask import abort

from models.database import db

SCIM_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def assert_styled_page(response, status: int, title: str) -> str:
    """A page of Roster's own: base.html's stylesheet, skip link and heading, the framing headers."""
    html = response.get_data(as_text=True)
    assert response.status_code == status, html[:500]
    assert response.mimetype == "text/html"
    assert "/static/pages/roster.css" in html and 'href="#main"' in html
    assert f"<h1>{title}</h1>" in html
    assert response.headers["X-Frame-Options"] == "DENY"
    return html


def test_an_unknown_url_is_a_styled_404_page(client):
    html = assert_styled_page(client.get("/no/such/page"), 404, "Page not found")
    assert "Roster&#39;s home page" in html or "Roster's home page" in html


@pytest.fixture
def failing_app(database_url):
    """The app as deployed (not TESTING, so a bug is answered, not raised), with views that fail."""
    from scim_server.app import create_app

    from ..conftest import SECRET_KEY, dispose

    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY, "BASE_URL": "http://roster.test"})

    def forbidden() -> str:
        abort(403)

    def broken() -> str:
        raise RuntimeError("a bug")

    app.add_url_rule("/forbidden", view_func=forbidden)
    app.add_url_rule("/broken", view_func=broken)
    yield app
    dispose(db.obj)


def test_a_refusal_and_a_failure_are_styled_pages(failing_app):
    client = failing_app.test_client()
    assert_styled_page(client.get("/forbidden"), 403, "Not allowed")
    html = assert_styled_page(client.get("/broken"), 500, "Something went wrong")
    assert "a bug" not in html


def test_scim_and_oauth_keep_their_own_json_errors(client):
    scim = client.get("/scim/v2/NoSuchEndpoint")
    assert scim.status_code in (401, 404) and scim.mimetype == "application/scim+json"
    assert scim.get_json()["schemas"] == [SCIM_ERROR]
    oauth = client.get("/oauth/nothing-here")
    assert oauth.status_code == 404 and oauth.mimetype == "application/json"
    assert oauth.get_json()["error"] == "invalid_request"


def test_csrf_is_checked_on_every_page_by_default_and_never_on_the_apis(client):
    for path in ("/login", "/password/forgot", "/logout", "/invitations/abc"):
        refused = client.post(path, data={"email": "pat@acme.example", "password": "x"})
        assert refused.status_code == 400 and "CSRF" in refused.get_data(as_text=True), path
    # the token endpoint authenticates the client, not a cookie: its answer is OAuth's, not a CSRF refusal
    token = client.post("/oauth/token", data={"grant_type": "authorization_code", "code": "x"})
    assert token.mimetype == "application/json" and "CSRF" not in token.get_data(as_text=True)
    scim = client.post("/scim/v2/Users", json={}, headers={"Authorization": "Bearer nothing"})
    assert scim.mimetype == "application/scim+json" and scim.status_code == 401
