"""Details seen in the walk (issue 13, point 8), through the real app on both databases.

No page renders an attribute whose value is the text "None"; the terms of use
are one click (a new tab) from every box that asks to accept them; the phone-
width cards of the console lists say what each value is, as the Sessions cards do.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from models import Actor, accounts, clients, groups, invitations, members, scim_tokens
from models.mfa import begin_totp, confirm_totp
from models.ops import OutboxMessage
from models.settings import Settings
from models.tenancy import DirectoryRecord, User

from .flow import PASSWORD, RelyingParty, authorization, csrf, sign_in_page
from .test_console_base import ready

NONE_ATTRIBUTE = re.compile(r'[\w:.-]+="None"')
HREF = re.compile(r'href="([^"]*)"')
# not pages: downloads, the API, assets; links out of Roster
NOT_PAGES = ("/oauth/", "/scim/", "/static/", "/audit/export.", "/.well-known/")


def text(response) -> str:
    return response.get_data(as_text=True)


def none_attributes(page: str) -> list[str]:
    return NONE_ATTRIBUTE.findall(page)


def crawl(client, starts: list[str], limit: int = 150) -> dict[str, str]:
    """Every page reachable by links from ``starts`` (GET never changes anything): address → HTML."""
    seen: dict[str, str] = {}
    queue = list(starts)
    while queue and len(seen) < limit:
        address = queue.pop(0)
        if address in seen:
            continue
        response = client.get(address, follow_redirects=True)
        assert response.status_code < 500, (address, response.status_code)
        if not response.mimetype == "text/html":
            continue
        seen[address] = text(response)
        for link in HREF.findall(seen[address]):
            link = html.unescape(link).split("#")[0]
            if link.startswith("/") and not link.startswith("//") and not any(p in link for p in NOT_PAGES):
                queue.append(link)
    return seen


@pytest.fixture
def walk(app, account, admin, cli_actor, deployment, sign_in):
    """An account with something on every list, an admin and a person (two accounts, an authenticator).

    Name it before ``account`` in a test: the app must bind its database before the ``database`` fixture does.
    """
    by = Actor.for_user(ready(admin[1]))
    sales = groups.create_group(account, "Sales", by=by)
    added = members.add_user(account, "pat@acme.example", given_name="Pat", family_name="Person", groups=[sales.id],
                             password=PASSWORD, by=by, deployment=deployment)
    person = ready(added.user)
    gone = members.add_user(account, "gus@acme.example", given_name="Gus", family_name="Gone", password=PASSWORD,
                            by=by, deployment=deployment)
    members.deactivate(gone.membership, by=by)
    invitations.invite(account, "nia@acme.example", given_name="Nia", by=by, deployment=deployment)
    DirectoryRecord.create(account=account.id, user_name="nomail", user_name_key="nomail",
                           unlinked_reason="no_valid_email")
    scim_tokens.create_token(account, description="Okta", by=by)
    clients.create_client(account, redirect_uris=["https://app.example/callback"], public=False,
                          backchannel_logout_uri=None, name="Partner portal", by=by)
    beta = accounts.create_account("Beta Reseller", "reseller", by=cli_actor)
    members.add_user(beta, person.email, password=PASSWORD, by=cli_actor, via="cli", deployment=deployment)
    credential, uri = begin_totp(person, deployment=deployment)
    secret = parse_qs(urlsplit(uri).query)["secret"][0]
    confirm_totp(person, credential.id, pyotp.TOTP(secret).now(), secrets=deployment.secrets)
    admin_browser, person_browser = app.test_client(), app.test_client()
    sign_in(admin_browser, admin[1])
    sign_in(person_browser, person)
    return admin_browser, person_browser, person


# ----------------------------------------------------------------- no attribute reads "None"


def test_no_page_a_signed_in_admin_or_person_reaches_renders_none(walk, account):
    admin_browser, person_browser, _ = walk
    console = crawl(admin_browser, ["/console", "/profile"])
    profile = crawl(person_browser, ["/profile", "/login/account", "/login/mfa/enrol"])
    # the walk reached the lists and the forms it is meant to cover
    for page in (f"/console/{account.id}/users?tab=pending", f"/console/{account.id}/settings",
                 f"/console/{account.id}/audit", f"/console/{account.id}/users/new"):
        assert any(address.startswith(page) for address in console), (page, sorted(console))
    assert {"/profile", "/profile/accounts", "/profile/security", "/profile/sessions"} <= set(profile)
    assert len(console) > 20
    for address, page in {**console, **profile}.items():
        assert none_attributes(page) == [], address


def test_no_sign_in_page_renders_none(app, client, account, admin, deployment, sign_in, walk):
    _, _, person = walk
    invited = invitations.invite(account, "new@acme.example", by=Actor.for_user(admin[1]), deployment=deployment)
    registration = "/invitations/" + invited.link.rsplit("/", 1)[1]
    pages = crawl(client, ["/login", "/password/forgot", "/logout", "/terms", registration])
    # the same pages with their errors shown (aria-invalid, aria-describedby)
    login = client.get("/login")
    pages["login, wrong password"] = text(client.post("/login", data={
        "csrf_token": csrf(text(login)), "email": person.email, "password": "not the password"}))
    pages["registration, empty"] = text(client.post(registration, data={"csrf_token": csrf(text(
        client.get(registration)))}))
    # the second factor asked at sign-in
    signed = client.post("/login", data={"csrf_token": csrf(text(client.get("/login"))), "email": person.email,
                                         "password": PASSWORD})
    assert "/login/mfa" in signed.headers["Location"]
    pages["second factor"] = text(client.get(signed.headers["Location"]))
    # a link to reset a password
    other = app.test_client()
    other.post("/password/forgot", data={"csrf_token": csrf(text(other.get("/password/forgot"))),
                                         "email": person.email})
    mail = OutboxMessage.get(OutboxMessage.kind == "mail", OutboxMessage.recipient == person.email,
                             OutboxMessage.body.contains("/password/reset/"))
    reset = re.search(r"https?://[^/\s]+(/password/reset/\S+)", mail.body)
    assert reset is not None
    pages["reset"] = text(other.get(reset.group(1)))
    # R8: the first sign-in with a temporary password, then the enrolment and its recovery codes
    fresh = members.add_user(account, "temp@acme.example", temporary_password=True, by=Actor.for_user(admin[1]),
                             deployment=deployment)
    newcomer = app.test_client()
    sign_in(newcomer, fresh.user)
    pages["first login"] = text(newcomer.get("/login/first"))
    assert 'name="new_password"' in pages["first login"]
    enrol = text(newcomer.get("/login/mfa/enrol"))
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', enrol)
    assert secret is not None
    pages["enrolment"] = enrol
    pages["recovery codes"] = text(newcomer.post("/login/mfa/enrol", data={
        "csrf_token": csrf(enrol), "code": pyotp.TOTP(secret.group(1)).now()}))
    assert 'id="recovery-codes"' in pages["recovery codes"]
    # an application that asks for consent
    rp = RelyingParty.register(account, first_party=False)
    third = app.test_client()
    consent = sign_in_page(third, third.get(authorization(rp).url), admin[1].email)
    assert consent.status_code == 200 and 'name="decision" value="deny"' in text(consent)
    pages["consent"] = text(consent)
    for address, page in pages.items():
        assert none_attributes(page) == [], address


def test_a_field_without_autocomplete_has_no_autocomplete_attribute(walk):
    _, person_browser, _ = walk
    page = text(person_browser.get("/profile"))
    for name in ("timezone", "date_format", "locale"):
        select = re.search(rf'<select[^>]*name="{name}"[^>]*>', page)
        assert select is not None, name
        assert "autocomplete" not in select.group(0)
    assert 'autocomplete="given-name"' in page  # the ones given still are


# ----------------------------------------------------------------- the terms of use


def terms_links(page: str) -> list[str]:
    """The links next to the terms checkbox: (address, target, rel) as the page renders them."""
    field = page.split('name="accept_terms"', 1)[1].split("</div>", 1)[0]
    return re.findall(r'<a href="([^"]*)" target="_blank" rel="noopener">', field)


@pytest.fixture
def registration(account, admin, deployment):
    invited = invitations.invite(account, "new@acme.example", by=Actor.for_user(admin[1]), deployment=deployment)
    return "/invitations/" + invited.link.rsplit("/", 1)[1]


def test_registration_links_roster_terms_page_by_default(client, registration):
    page = text(client.get(registration))
    assert terms_links(page) == ["/terms"]
    terms = client.get("/terms")
    assert terms.status_code == 200
    assert "Terms of use" in text(terms) and "placeholder" in text(terms) and "ROSTER_TERMS_URL" in text(terms)
    assert terms.headers["X-Frame-Options"] == "DENY"


def test_the_terms_link_keeps_the_typed_form_and_the_checkbox_still_refuses(client, registration):
    """The link opens a new tab (target=_blank); a form sent without the box ticked is refused as before."""
    page = client.get(registration)
    refused = client.post(registration, data={"csrf_token": csrf(text(page)), "given_name": "Nia",
                                              "family_name": "Typed", "password": PASSWORD, "confirm": PASSWORD})
    assert refused.status_code == 400
    assert "Accept the terms of use" in text(refused) and 'value="Typed"' in text(refused)
    assert terms_links(text(refused)) == ["/terms"]


def test_registration_and_first_login_link_the_operators_terms(make_app, account, admin, deployment, sign_in,
                                                                 registration):
    app = make_app(TERMS_URL="https://example.com/legal/terms?v=2")
    browser = app.test_client()
    assert terms_links(text(browser.get(registration))) == ["https://example.com/legal/terms?v=2"]
    # a bookmark of the placeholder leads to the operator's terms
    moved = browser.get("/terms")
    assert moved.status_code == 302 and moved.headers["Location"] == "https://example.com/legal/terms?v=2"
    fresh = members.add_user(account, "temp@acme.example", temporary_password=True, by=Actor.for_user(admin[1]),
                             deployment=deployment)
    sign_in(browser, fresh.user)
    first = browser.get("/login/first")
    assert first.status_code == 200
    assert terms_links(text(first)) == ["https://example.com/legal/terms?v=2"]


def test_first_login_links_the_default_terms(client, account, admin, sign_in):
    User.update(terms_accepted_at=None).where(User.id == admin[1].id).execute()
    sign_in(client, admin[1])
    assert terms_links(text(client.get("/login/first"))) == ["/terms"]


@pytest.mark.parametrize("address", ["javascript:alert(1)", "/terms-of-use", "ftp://example.com/terms",
                                     "https://"])
def test_a_terms_address_that_is_not_a_web_address_is_refused_at_start(address):
    with pytest.raises(ValueError, match="terms_url"):
        Settings(secret_key="k", terms_url=address)


def test_roster_terms_url_is_read_from_the_environment(monkeypatch):
    from scim_server.app import deployment_of, load_config

    monkeypatch.setenv("ROSTER_TERMS_URL", "https://example.com/terms")
    config = load_config({"SECRET_KEY": "k"})
    assert deployment_of(config).settings.terms_url == "https://example.com/terms"
    assert deployment_of(load_config({"SECRET_KEY": "k", "TERMS_URL": None})).settings.terms_url == ""


# ----------------------------------------------------------------- labelled cells of the console lists


class Tables(HTMLParser):
    """The tables of a page: their column headers and, per cell, its text and its phone-width label."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self._cell: dict | None = None
        self._hidden = 0  # depth inside a visually-hidden span (a header only screen readers read)
        self._label = 0  # depth inside a span.label-sm
        self._stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "table":
            self.tables.append({"headers": [], "rows": []})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append([])
        elif tag in ("th", "td") and self.tables:
            self._cell = {"tag": tag, "text": "", "label": "", "visible": "", "colspan": dict(attrs).get("colspan")}
        if tag == "span":
            self._stack.append("hidden" if "visually-hidden" in classes else "label" if "label-sm" in classes
                               else "")
            self._hidden += self._stack[-1] == "hidden"
            self._label += self._stack[-1] == "label"

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and self._stack:
            kind = self._stack.pop()
            self._hidden -= kind == "hidden"
            self._label -= kind == "label"
        elif tag in ("th", "td") and self._cell is not None and self.tables:
            cell, self._cell = self._cell, None
            if cell["tag"] == "th":
                self.tables[-1]["headers"].append(cell)
            elif self.tables[-1]["rows"]:
                self.tables[-1]["rows"][-1].append(cell)

    def handle_data(self, data: str) -> None:
        if self._cell is None:
            return
        self._cell["text"] += data
        if self._label:
            self._cell["label"] += data
        elif not self._hidden:
            self._cell["visible"] += data


def unlabelled_cells(page: str) -> list[tuple[str, str, str]]:
    """(header, label, cell text) of each cell whose label is not its column's header.

    Exempt: a cell spanning the whole row (the list is empty), a cell with nothing
    to show, and the cells of a column whose header is for screen readers only
    (the row's buttons).
    """
    parser = Tables()
    parser.feed(page)
    wrong = []
    for table in parser.tables:
        headers = table["headers"]
        for row in table["rows"]:
            if not row or row[0]["colspan"]:
                continue
            assert len(row) == len(headers), (headers, row)
            for header, cell in zip(headers, row, strict=True):
                if not header["visible"].strip() or not cell["visible"].strip():
                    continue
                if cell["label"].strip().rstrip(":").strip() != header["visible"].strip():
                    wrong.append((header["visible"].strip(), cell["label"], cell["text"].strip()))
    return wrong


def test_every_cell_of_the_console_lists_is_labelled_with_its_column(walk, account):
    admin_browser, _, _ = walk
    sales = groups.list_groups(account)[0]
    lists = ["/users", "/users?tab=pending", "/users?tab=deactivated", "/users?tab=attention", "/groups",
             f"/groups/{sales.id}", "/settings", "/audit"]
    for path in lists:
        page = text(admin_browser.get(f"/console/{account.id}{path}"))
        parser = Tables()
        parser.feed(page)
        rows = [row for table in parser.tables for row in table["rows"] if row and not row[0]["colspan"]]
        assert rows, f"{path} lists nothing to check"
        assert unlabelled_cells(page) == [], path


def test_the_label_check_fails_on_a_cell_without_its_label():
    page = ("<table><thead><tr><th>Email</th><th>Sent</th><th><span class='visually-hidden'>Actions</span></th>"
            "</tr></thead><tbody><tr><td><span class='label-sm'>Email: </span>a@b.example</td><td>today</td>"
            "<td><button>Remove</button></td></tr><tr><td colspan='3'>Nothing.</td></tr></tbody></table>")
    assert unlabelled_cells(page) == [("Sent", "", "today")]
