"""The links the domain mails (``models.links.Links``), built from the page routes declared here.

The invitation and password-reset pages take their routes from these
constants, so a route and the links to it cannot drift apart. Building a
link needs only werkzeug: the CLI and the outbox sender mail links
without making a Flask app.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from werkzeug.routing import Map, Rule

INVITATION = "/invitations/<token>"
PASSWORD_RESET = "/password/reset/<token>"
# the profile's and the sign-in's own routes; tests/outbox/test_notification_mails.py checks they agree
FORGOT_PASSWORD = "/password/forgot"
PROFILE = "/profile"
PROFILE_PAGE = "/profile/<page>"


class PageLinks:
    """Absolute links under the deployment's BASE_URL (its path, if any, prefixes every route)."""

    def __init__(self, base_url: str) -> None:
        self._base_url = base_url
        parts = urlsplit(base_url.rstrip("/"))
        routes = Map([Rule(INVITATION, endpoint="invitation"), Rule(PASSWORD_RESET, endpoint="password_reset"),
                      Rule(FORGOT_PASSWORD, endpoint="forgot_password"), Rule(PROFILE, endpoint="profile"),
                      Rule(PROFILE_PAGE, endpoint="profile_page")])
        self._adapter = routes.bind(parts.netloc, script_name=parts.path or "/", url_scheme=parts.scheme or "http")

    def invitation(self, token: str) -> str:
        return self._adapter.build("invitation", {"token": token}, force_external=True)

    def password_reset(self, token: str) -> str:
        return self._adapter.build("password_reset", {"token": token}, force_external=True)

    def home(self) -> str:
        return self._base_url

    def forgot_password(self) -> str:
        return self._adapter.build("forgot_password", force_external=True)

    def profile(self, page: str = "") -> str:
        if not page:
            return self._adapter.build("profile", force_external=True)
        return self._adapter.build("profile_page", {"page": page}, force_external=True)
