"""Two `roster serve` processes on one PostgreSQL database behave as one (issue 4, "Several instances"; R11).

Both have the same ROSTER_SECRET_KEY and ROSTER_BASE_URL, as instances
behind a load balancer would. A person signs in on the first; the second
refreshes and introspects their tokens and knows their session; the
directory deactivates them through SCIM on the first, and the very next
request to the second is refused — no sleep, no cache to expire.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from conformance.live_server import free_port
from tests.conftest import _postgres_url

from .live import Browser, Deployment, fresh_postgres

pytestmark = pytest.mark.e2e

REDIRECT_URI = "https://rp.example/callback"
EMAIL = "sam@e2e.example"
SCIM_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def deployment(tmp_path) -> Iterator[Deployment]:
    """A database of its own on the test server, made for this test and dropped after it."""
    with fresh_postgres(_postgres_url(), "test_twoinst") as url:
        found = Deployment(url, secrets.token_urlsafe(48), f"http://127.0.0.1:{free_port()}", tmp_path)
        found.init(f"Two instances {secrets.token_hex(4)}", "admin@e2e.example")
        yield found


def authorization_url(base: str, client_id: str, **extra: str) -> str:
    return f"{base}/oauth/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
        "scope": "openid profile email offline_access", "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8), **extra})


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


class Client:
    """A confidential client's back-channel calls to one instance."""

    def __init__(self, base: str, client_id: str, secret: str) -> None:
        self.base, self.auth = base, (client_id, secret)

    def token(self, **form: str) -> requests.Response:
        return requests.post(f"{self.base}/oauth/token", data=form, auth=self.auth, timeout=30)

    def introspect(self, token: str) -> dict[str, Any]:
        response = requests.post(f"{self.base}/oauth/introspect", data={"token": token}, auth=self.auth, timeout=30)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def userinfo(self, access_token: str) -> requests.Response:
        return requests.get(f"{self.base}/oauth/userinfo", headers={"Authorization": f"Bearer {access_token}"},
                            timeout=30)


def test_sign_in_on_one_refresh_on_the_other_and_deprovisioning_refused_at_once(deployment):
    client_id, secret = deployment.create_client(REDIRECT_URI, name="E2E app")
    first_port = urlsplit(deployment.base_url).port
    with deployment.serve(port=first_port, name="first") as first, deployment.serve(name="second") as second:
        assert first.port != second.port
        one, two = Client(first.url, client_id, secret), Client(second.url, client_id, secret)
        scim = requests.Session()
        scim.headers.update({"Authorization": f"Bearer {deployment.scim_token}",
                             "Content-Type": "application/scim+json"})
        with scim, Browser() as browser:
            # the directory provisions the person on the first instance; they accept their invitation
            created = scim.post(f"{first.url}/scim/v2/Users", json={
                "schemas": [SCIM_USER], "userName": EMAIL, "name": {"givenName": "Sam", "familyName": "Scim"},
                "emails": [{"value": EMAIL, "primary": True}], "active": True}, timeout=30)
            assert created.status_code == 201, created.text
            scim_id = created.json()["id"]
            deployment.accept_invitation(EMAIL)

            # sign in on the first: authorize, the login form, the code exchanged there
            callback = browser.sign_in(authorization_url(first.url, client_id), REDIRECT_URI, email=EMAIL)
            assert browser.pages == ["/login"]
            issued = one.token(grant_type="authorization_code", code=query_of(callback)["code"],
                               redirect_uri=REDIRECT_URI)
            assert issued.status_code == 200, issued.text
            tokens = issued.json()

            # the second knows the session (a row, not process memory): a silent sign-in there gives a code
            silent = browser.go(authorization_url(second.url, client_id, prompt="none"), stop_at=REDIRECT_URI)
            assert silent.status_code == 302 and "code" in query_of(silent.headers["Location"]), silent.text
            assert two.token(grant_type="authorization_code", code=query_of(silent.headers["Location"])["code"],
                             redirect_uri=REDIRECT_URI).status_code == 200

            # refresh and introspect on the second
            rotated = two.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
            assert rotated.status_code == 200, rotated.text
            fresh = rotated.json()
            assert fresh["refresh_token"] != tokens["refresh_token"]
            seen = two.introspect(fresh["access_token"])
            assert seen["active"] is True and seen["client_id"] == client_id
            assert two.introspect(fresh["refresh_token"])["active"] is True
            assert two.userinfo(fresh["access_token"]).json()["email"] == EMAIL
            # the first sees the rotation the second made: the old refresh token is spent
            assert one.introspect(tokens["refresh_token"])["active"] is False

            # the directory deactivates them on the first …
            patched = scim.patch(f"{first.url}/scim/v2/Users/{scim_id}", json={
                "schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": False}]},
                timeout=30)
            assert patched.status_code in (200, 204), patched.text

            # … and the second refuses at once: the very next requests, no sleep in between
            assert two.introspect(fresh["access_token"]) == {"active": False}
            assert two.introspect(fresh["refresh_token"]) == {"active": False}
            denied = two.userinfo(fresh["access_token"])
            assert denied.status_code == 401, denied.text
            assert 'error="invalid_token"' in denied.headers["WWW-Authenticate"]
            refused = two.token(grant_type="refresh_token", refresh_token=fresh["refresh_token"])
            assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant", refused.text
            # their session is over too: no silent sign-in on either instance
            for instance in (second, first):
                again = browser.go(authorization_url(instance.url, client_id, prompt="none"), stop_at=REDIRECT_URI)
                assert again.status_code == 302, again.text
                assert query_of(again.headers["Location"]).get("error") in ("login_required", "access_denied")
            assert scim.get(f"{second.url}/scim/v2/Users/{scim_id}", timeout=30).json()["active"] is False
