"""Settings passed in: each app, CLI run and outbox sender hands the domain its own Deployment.

Nothing in ``models`` keeps configuration in a module, so two apps in one
process (tests, a multi-tenant host) never see each other's secret key or
base URL, and the links the domain mails are built from the routes that
answer them.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

from models import invitations
from models.deployment import Deployment
from models.settings import Settings
from oidc import pages, signin
from oidc.links import PageLinks

from .oidc.test_console_base import Console, ready

MODELS = pathlib.Path(__file__).resolve().parent.parent / "models"


@pytest.mark.parametrize("base_url", ["http://roster.test", "https://id.example.com/roster/"])
def test_the_links_the_domain_mails_lead_to_the_pages_that_answer_them(app, base_url):
    links = PageLinks(base_url)
    prefix = base_url.rstrip("/")
    routes = app.url_map.bind("roster.test")
    for link, view in ((links.invitation("tok-_en"), pages.accept_invitation),
                       (links.password_reset("tok-_en"), signin.reset_password)):
        assert link.startswith(prefix + "/")
        endpoint, values = routes.match(link.removeprefix(prefix), method="GET")
        assert app.view_functions[endpoint] is view and values == {"token": "tok-_en"}
    assert links.home() == base_url


def test_two_apps_in_one_process_keep_their_own_settings(make_app, account, admin, sign_in, cli_actor):
    first = make_app(BASE_URL="http://first.test", SECRET_KEY="first-secret-key-" * 3)
    second = make_app(BASE_URL="http://second.test/roster", SECRET_KEY="second-secret-key-" * 3)
    # made before the second app: with one module-level settings object it would now mail the second's links
    invited = invitations.invite(account, "inv@acme.example", by=cli_actor, deployment=Deployment.of(first))
    assert invited.link is not None and invited.link.startswith("http://first.test/invitations/")
    token = invited.link.rsplit("/", 1)[1]
    shown = {}
    for app in (first, second):
        console = Console(app.test_client(), account, ready(admin[1]))
        sign_in(console.client, console.user)
        shown[app] = console.get(f"/invitations/{invited.invitation_id}/link").get_data(as_text=True)
        issuer = app.test_client().get("/.well-known/openid-configuration").get_json()["issuer"]
        assert issuer == Deployment.of(app).settings.issuer
    assert invited.link in shown[first]
    # the other deployment's key signs another token, under its own base URL
    assert "http://second.test/roster/invitations/" in shown[second] and token not in shown[second]
    assert Deployment.of(first).secrets.decrypt(Deployment.of(first).secrets.encrypt("seed")) == "seed"


def test_settings_cannot_change_once_made():
    made = Settings(secret_key="a secret key for this test only")
    with pytest.raises(AttributeError):
        made.base_url = "http://elsewhere.test"  # type: ignore[misc]
    assert "a secret key" not in repr(made) and "a secret key" not in repr(Deployment(made, PageLinks("http://x")))


def test_the_domain_reads_no_settings_from_a_module_and_names_no_route():
    for path in MODELS.rglob("*.py"):
        tree = ast.parse(path.read_text())
        texts = [node.value for node in ast.walk(tree)
                 if isinstance(node, ast.Constant) and isinstance(node.value, str)]
        routes = [t for t in texts if "/invitations/" in t or "/password/reset" in t]
        assert not routes, f"{path.name} builds a page's URL itself: {routes}; use deployment.links"
        # clock.set_source is the tests' seam for time (frozen_clock), not configuration
        rebinds = [node.names for node in ast.walk(tree) if isinstance(node, ast.Global) and path.name != "clock.py"]
        assert not rebinds, f"{path.name} rebinds module-level {rebinds}: hand it what it needs instead"
