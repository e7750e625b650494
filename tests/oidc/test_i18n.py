"""Languages (issue 13 point 2): every page text is in the catalogue, translated into German and French, and
a page speaks the person's language, else the browser's, else English; times in the person's zone and format.

The catalogue checks read the sources as `make translations` does (babel.cfg, the Makefile's keywords), so
a text added without gettext, or without its German and French, fails here naming it.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from models import Actor, User, clock, i18n, invitations, members, profile, sessions

from .flow import csrf

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "oidc" / "templates"
WORDS = re.compile(r"[^\W\d_]{2,}")
# not words a translator could change: the product's name, and the examples of the date formats
NOT_WORDS = {"Roster", "ISO"}
# attributes a person reads or hears (a button's value is its label)
SHOWN_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt"}
GETTEXT_NAMES = {"_", "gettext", "ngettext", "pgettext", "npgettext"}
COMPARISONS = {"==", "!=", "in"}
# blocks whose content is a key the layout reads (the current section, a CSS class), not text
KEY_BLOCKS = {"section", "main_class"}


def makefile_keywords() -> dict[str, object]:
    """The keywords `make translations` extracts with: Babel's own and the Makefile's ``-k`` list."""
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    found = re.search(r"^BABEL_KEYWORDS := (.*)$", text, re.MULTILINE)
    assert found, "the Makefile names the extraction keywords (BABEL_KEYWORDS)"
    return {**DEFAULT_KEYWORDS, **{name: None for name in re.findall(r"-k (\w+)", found.group(1))}}


def mapping() -> tuple[list[tuple[str, str]], dict[str, dict[str, str]]]:
    """babel.cfg as pybabel reads it."""
    from babel.messages import frontend

    parse = getattr(frontend, "parse_mapping_cfg", None) or frontend.parse_mapping
    with (ROOT / "babel.cfg").open() as config:
        return parse(config)


@pytest.fixture(scope="module")
def extracted() -> dict[str, list[str]]:
    """Every msgid of the sources (plural forms too), with where it is used."""
    method_map, options_map = mapping()
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=makefile_keywords()):
        for msgid in message if isinstance(message, tuple) else (message,):
            if msgid:
                found.setdefault(msgid, []).append(f"{filename}:{lineno}")
    return found


def catalogue(language: str):
    with (i18n.DIRECTORY / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=language)


# --- the catalogue ----------------------------------------------------------------


def test_the_extraction_finds_the_pages_texts(extracted):
    # a sanity check of the test itself: templates, Python views, forms and the domain's refusals are read
    assert {"Sign in", "Save settings", "First name", "Enter your first name.", "Choose a time zone from the list.",
            "Your settings are saved."} <= set(extracted)


@pytest.mark.parametrize("language", [language for language in i18n.SUPPORTED if language != i18n.DEFAULT])
def test_every_text_is_translated(extracted, language):
    translated = catalogue(language)
    missing = []
    for msgid, where in sorted(extracted.items()):
        message = translated.get(msgid) or next((m for m in translated if isinstance(m.id, tuple)
                                                 and msgid in m.id), None)
        strings = () if message is None else message.string if isinstance(message.string, tuple) else (
            message.string,)
        if message is None or message.fuzzy or not strings or not all(strings):
            missing.append(f"{msgid!r} ({where[0]})")
    assert not missing, f"{len(missing)} texts have no {language} translation:\n" + "\n".join(missing)


PLACEHOLDERS = re.compile(r"%\(\w+\)[sr]|\{\w+\}")  # the pages' %(name)s (%(name)r quotes), the mails' {name}


@pytest.mark.parametrize("language", [language for language in i18n.SUPPORTED if language != i18n.DEFAULT])
def test_translations_keep_their_placeholders(language):
    for message in catalogue(language):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(PLACEHOLDERS.findall(" ".join(ids)))
        for string in strings:
            used = set(PLACEHOLDERS.findall(string))
            # a plural's count may go unsaid ("one session" has no number in some languages)
            assert used <= wanted and wanted - {"%(num)s", "%(count)s"} <= used, (language, message.id, string)


def test_the_catalogues_are_compiled():
    # `make install` compiles them; without, the pages would quietly speak English
    for language in i18n.SUPPORTED:
        if language != i18n.DEFAULT:
            assert i18n.compiled(language), f"run `make install`: {language} has no compiled catalogue"
            assert i18n.translations(language).gettext("Sign in") != "Sign in"


def test_the_profile_offers_only_the_languages_shipped():
    assert set(profile.LOCALES) == set(i18n.SUPPORTED)


def test_the_mails_catalogue_falls_back_to_english():
    assert i18n.translations("de").gettext("Sign in") == "Anmelden"
    assert i18n.translations("fr-CH").gettext("Sign in") == "Se connecter"
    for unshipped in ("es", "", None, "xx-YY"):
        assert i18n.translations(unshipped).gettext("Sign in") == "Sign in"
    assert i18n.language_of("de_AT") == "de" and i18n.language_of("pt") == "en"


# --- every template text goes through gettext ------------------------------------


class _Shown(HTMLParser):
    """The text and the shown attributes of an HTML page whose template code is replaced by a mark."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        values = dict(attrs)
        shown = [v for k, v in attrs if k in SHOWN_ATTRIBUTES]
        if tag == "input" and values.get("type") in ("submit", "button", "reset"):
            shown.append(values.get("value"))
        self.found.extend(v for v in shown if v)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.found.append(data)


def _words(text: str) -> list[str]:
    return [w for w in WORDS.findall(text) if w not in NOT_WORDS]


def untranslated(source: str, env) -> list[str]:
    """The words of ``source`` a person sees that do not go through gettext: literal text and attributes outside
    ``{% trans %}``, and string constants in template code that read as words, outside ``_()`` (a constant
    compared with a value is a program value, not a text)."""
    tokens = [(kind, value) for _line, kind, value in env.lex(source) if kind != "whitespace"]
    page: list[str] = []
    constants: list[str] = []
    skipping = False  # inside {% trans %} or a block that holds a key, not text ({% block section %})
    calls: list[bool] = []
    for i, (kind, value) in enumerate(tokens):
        previous = tokens[i - 1] if i else ("", "")
        following = tokens[i + 1] if i + 1 < len(tokens) else ("", "")
        if kind == "name" and previous[0] == "block_begin":
            if value == "trans" or (value == "block" and following[1] in KEY_BLOCKS):
                skipping = True
            elif value in ("endtrans", "endblock"):
                skipping = False
        # template code becomes a space: the HTML around it still parses, and a space is not a word
        page.append(value if kind == "data" and not skipping else " ")
        if kind == "operator" and value == "(":
            calls.append(previous[0] == "name" and previous[1] in GETTEXT_NAMES)
        elif kind == "operator" and value == ")" and calls:
            calls.pop()
        elif (kind == "string" and not skipping and not any(calls) and _words(value)
              and re.search(r"[A-Z][a-z]|[a-z] [a-z]", value)
              and previous[1] not in COMPARISONS and following[1] not in COMPARISONS):
            constants.append(value[1:-1])
    parser = _Shown()
    parser.feed("".join(page))
    parser.close()
    return [" ".join(text.split()) for text in parser.found if _words(text)] + constants


@pytest.fixture(scope="module")
def env():
    """The templates as the app's Jinja reads them (the i18n extension's tags included); no database needed."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), extensions=["jinja2.ext.i18n"])


def test_no_template_text_escapes_the_catalogue(env):
    found = {}
    for name in sorted(env.list_templates(extensions=["html"])):
        source = env.loader.get_source(env, name)[0]
        words = untranslated(source, env)
        if words:
            found[name] = words
    assert not found, "texts outside gettext:\n" + "\n".join(f"{name}: {words}" for name, words in found.items())


def test_the_template_check_can_fail(env):
    assert untranslated('<p>Hello</p><a title="Open it">{{ _("Fine") }}</a>', env) == ["Hello", "Open it"]
    assert untranslated('{% set label = "Plain words" %}{{ button("x", "Revoke") }}', env) == ["Plain words",
                                                                                                "Revoke"]
    assert untranslated('{% trans n=1 %}Hello {{ n }}{% endtrans %} · {{ _("Hi %(x)s", x="a b") }} <b>42</b>',
                        env) == []
    assert untranslated('<input type="submit" value="Send">', env) == ["Send"]


def test_every_form_label_is_translated():
    from flask_babel.speaklater import LazyString
    from flask_wtf import FlaskForm

    from oidc import console_connection_forms, console_forms, forms, profile_forms

    # each language by its own name; the date formats by example
    own_words = {"GeneralForm.locale", "GeneralForm.date_format"}
    plain = []
    for module in (forms, profile_forms, console_forms, console_connection_forms):
        for form in vars(module).values():
            if not (isinstance(form, type) and issubclass(form, FlaskForm)):
                continue
            for name, unbound in vars(form).items():
                if not hasattr(unbound, "field_class"):
                    continue
                label = unbound.args[0] if unbound.args else unbound.kwargs.get("label")
                shown = [label] if label is not None else []
                if f"{form.__name__}.{name}" not in own_words:
                    for choice in unbound.kwargs.get("choices") or []:
                        shown.append(choice.label if hasattr(choice, "label") else choice[1])
                plain.extend(f"{form.__name__}.{name}: {text!r}" for text in shown
                             if not isinstance(text, LazyString))
    assert not plain, "form texts outside gettext (use lazy_gettext):\n" + "\n".join(plain)


# --- the pages speak the person's language -----------------------------------------


def text_of(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


def lang_of(response) -> str:
    found = re.search(r'<html lang="([^"]+)"', response.get_data(as_text=True))
    assert found
    return found.group(1)


@pytest.fixture
def person(admin):
    """The account's admin, past R8, signed in below with their own language setting."""
    User.update(must_change_password=False, terms_accepted_at=clock.now()).where(User.id == admin[1].id).execute()
    return User.get_by_id(admin[1].id)


def speaks(person, locale: str) -> None:
    User.update(locale=locale).where(User.id == person.id).execute()


def test_a_visitor_gets_the_sign_in_page_in_the_browsers_language(client):
    french = client.get("/login", headers={"Accept-Language": "fr-CH, fr;q=0.9, en;q=0.8"})
    assert lang_of(french) == "fr"
    words = text_of(french)
    assert "Se connecter" in words and "Mot de passe oublié ?" in words and "Sign in" not in words
    assert "Mot de passe" in french.get_data(as_text=True)  # the form's labels too

    german = client.get("/login", headers={"Accept-Language": "de-DE"})
    assert lang_of(german) == "de" and "Anmelden" in text_of(german)


@pytest.mark.parametrize("accept", [None, "es, it;q=0.8", "*"])
def test_a_language_not_shipped_falls_back_to_english(client, accept):
    page = client.get("/login", headers={"Accept-Language": accept} if accept else {})
    assert lang_of(page) == "en" and "Forgot your password?" in text_of(page)


def test_a_signed_in_persons_setting_wins_over_the_browser(client, person, account, sign_in):
    speaks(person, "de")
    sign_in(client, person)
    french_browser = {"Accept-Language": "fr"}
    general = client.get("/profile", headers=french_browser)
    assert lang_of(general) == "de"
    words = text_of(general)
    assert "Einstellungen speichern" in words and "Zeit und Sprache" in words and "Vorname" in words
    assert "Save settings" not in words
    sessions_page = text_of(client.get("/profile/sessions", headers=french_browser))
    assert "Sitzungen" in sessions_page and "dieses Gerät" in sessions_page
    console = client.get(f"/console/{account.id}/users", headers=french_browser)
    assert lang_of(console) == "de"
    console_words = text_of(console)
    assert "Admin-Konsole" in console_words and "Gruppen" in console_words and "Einstellungen" in console_words
    assert "Audit log" not in console_words


def test_a_stored_language_not_shipped_reads_as_the_browsers(client, person, sign_in):
    speaks(person, "es")  # e.g. set by a directory over SCIM before the list was trimmed
    sign_in(client, person)
    assert lang_of(client.get("/profile", headers={"Accept-Language": "fr"})) == "fr"
    page = client.get("/profile")
    assert lang_of(page) == "en" and "Save settings" in text_of(page)
    assert '<option selected value="en">English</option>' in page.get_data(as_text=True)


def test_choosing_deutsch_on_the_profile_switches_the_pages(client, person, sign_in):
    sign_in(client, person)
    page = client.get("/profile").get_data(as_text=True)
    assert "Español" not in page  # only the languages shipped are offered
    saved = client.post("/profile", data={
        "csrf_token": csrf(page), "given_name": "Ada", "family_name": "Admin", "timezone": "Europe/Berlin",
        "date_format": "DD.MM.YYYY", "locale": "de"}, follow_redirects=True)
    assert saved.status_code == 200 and lang_of(saved) == "de"
    assert "Ihre Einstellungen sind gespeichert." in text_of(saved)  # said in the language just chosen
    assert User.get_by_id(person.id).locale == "de"


def test_refusals_of_the_domain_are_translated(client, person, sign_in):
    speaks(person, "fr")
    sign_in(client, person)
    page = client.get("/profile/security").get_data(as_text=True)
    new = "a brand new passphrase of mine"
    refused = client.post("/profile/security/password", data={
        "csrf_token": csrf(page), "current_password": "not my password", "new_password": new, "confirm": new})
    assert refused.status_code == 400
    assert "Le mot de passe actuel n’est pas correct." in text_of(refused)  # models.members says it in English
    # the form's own messages too
    empty = client.post("/profile/security/password", data={"csrf_token": csrf(page)})
    assert "Saisissez votre mot de passe actuel." in text_of(empty)


def test_times_are_in_the_persons_zone_and_format_on_every_page(client, person, account, sign_in, frozen_clock,
                                                                 deployment):
    User.update(timezone="Europe/Paris", date_format="DD.MM.YYYY", locale="fr").where(
        User.id == person.id).execute()
    sign_in(client, person)  # at 2026-01-05 09:00 UTC, 10:00 in Paris
    sessions_page = text_of(client.get("/profile/sessions"))
    assert "05.01.2026 10:00 CET" in sessions_page and "Dernière activité" in sessions_page
    invitations.invite(account, "late@acme.example", by=Actor.cli("tests"), deployment=deployment)
    pending = text_of(client.get(f"/console/{account.id}/users?tab=pending"))
    assert "05.01.2026 10:00" in pending
    members.add_user(account, "new@acme.example", by=Actor.cli("tests"), deployment=deployment)
    audit = text_of(client.get(f"/console/{account.id}/audit"))
    assert "05.01.2026 10:00" in audit and "2026-01-05" not in audit


def test_the_time_format_is_one_for_pages_and_mails():
    moment = dt.datetime(2026, 7, 1, 22, 5)  # stored times are naive UTC
    assert i18n.format_time(moment, timezone="Europe/Berlin", date_format="DD.MM.YYYY") == "02.07.2026 00:05 CEST"
    assert i18n.format_time(moment, timezone="America/New_York", date_format="MM/DD/YYYY",
                            time=False) == "07/01/2026"
    assert i18n.format_time(moment, timezone="Nowhere/Else", date_format="bogus") == "2026-07-01 22:05 UTC"
    assert i18n.format_time(None, timezone="UTC", date_format="YYYY-MM-DD") == ""


def test_the_sessions_page_names_devices_and_methods_in_the_persons_language(client, person, sign_in):
    speaks(person, "de")
    sign_in(client, person)
    sessions.start(person, account_id=None, amr=["pwd", "otp"], ip="192.0.2.7",
                   user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
    words = text_of(client.get("/profile/sessions"))
    assert "Firefox unter Linux" in words and "Passwort, Authenticator-App oder Wiederherstellungscode" in words


def test_dead_links_and_error_pages_speak_the_visitors_language(client):
    german = {"Accept-Language": "de"}
    dead = client.get("/invitations/not-a-token", headers=german)
    assert dead.status_code == 404 and lang_of(dead) == "de"
    assert "Dieser Einladungslink ist ungültig" in text_of(dead)
    assert "bitten Sie den einladenden Administrator um einen neuen" in text_of(dead)
    missing = client.get("/no/such/page", headers={"Accept-Language": "fr"})
    assert missing.status_code == 404 and "Page introuvable" in text_of(missing)
    reset = client.get("/password/reset/not-a-token", headers={"Accept-Language": "fr"})
    assert reset.status_code == 410 and "Ce lien de réinitialisation n’est pas valide" in text_of(reset)


# --- mails speak their reader's language -------------------------------------------


def last_mail(template: str):
    from models.ops import OutboxMessage

    found = [m for m in OutboxMessage.select().order_by(OutboxMessage.id.desc()) if (m.payload or {}).get(
        "template") == template]
    assert found, f"no {template} mail was queued"
    return found[0]


def test_the_password_reset_mail_speaks_the_persons_language(person, deployment, frozen_clock):
    from models import password_reset

    speaks(person, "fr")
    password_reset.request_reset(person.email, deployment)
    mail = last_mail("password_reset")
    assert mail.subject == f"Réinitialisez votre mot de passe {deployment.product_name}"
    assert "Choisissez un nouveau mot de passe : http" in mail.body and "Reset" not in mail.body


def test_an_invitation_to_a_new_person_is_in_english_and_utc(account, cli_actor, deployment, frozen_clock, admin):
    speaks(admin[1], "de")  # the inviting admin's language is not the invitee's
    invitations.invite(account, "newcomer@elsewhere.example", by=cli_actor, deployment=deployment)
    mail = last_mail("invitation")
    assert mail.subject == f"You are invited to Acme Vendor on {deployment.product_name}"
    assert "This link is valid until 2026-01-12 09:00 UTC." in mail.body  # sent 5 January, valid 7 days


def test_a_mail_to_a_person_roster_knows_uses_their_language_and_time(account, cli_actor, deployment, frozen_clock):
    from models import mails

    known = members.add_user(account, "ines@acme.example", by=cli_actor, deployment=deployment).user
    User.update(locale="de", timezone="Europe/Berlin", date_format="DD.MM.YYYY").where(User.id == known.id).execute()
    mail = mails.invited(account, known.email, "https://roster.test/invitations/x", clock.now(), deployment,
                         User.get_by_id(known.id))
    assert mail["subject"] == f"Sie sind zu Acme Vendor in {deployment.product_name} eingeladen"
    assert "Dieser Link gilt bis 05.01.2026 10:00 CET." in mail["body"]
