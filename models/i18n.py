"""The languages Roster speaks: one gettext catalogue (domain ``messages``) for pages and mails.

The catalogues live in ``models/translations/<locale>/LC_MESSAGES/messages.po`` (committed) and
are compiled to ``.mo`` by ``make install`` (``pybabel compile``). The pages read them through
Flask-Babel, the mails through :func:`translations`, so a text is translated once for both.
A missing ``.mo`` means English, never a failed start; the tests insist the catalogues are compiled.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from functools import cache
from pathlib import Path

from babel.support import NullTranslations, Translations

DOMAIN = "messages"
DIRECTORY = Path(__file__).with_name("translations")
DEFAULT = "en"
# English is the source language (msgids), German and French are shipped catalogues
SUPPORTED = ("en", "de", "fr")
# a person's date format (models.profile.DATE_FORMATS, the stored value) → strftime
DATE_PATTERNS = {"YYYY-MM-DD": "%Y-%m-%d", "DD/MM/YYYY": "%d/%m/%Y", "MM/DD/YYYY": "%m/%d/%Y",
                 "DD.MM.YYYY": "%d.%m.%Y"}


def N_(text: str) -> str:  # the gettext name pybabel extracts by default
    """Mark ``text`` for extraction without translating it now (it is translated where it is shown)."""
    return text


class Text(str):
    """A text for a person with values in it: ``Text("%(email)s is already a member.", email=email)``.

    As a ``str`` it is the English text with the values filled in, so SCIM, the command line and logs read
    it unchanged; a page translates its :attr:`template` and fills in :attr:`params` after
    (:func:`localized`), so one msgid serves every value. ``make translations`` extracts
    the template (babel keyword ``Text``); placeholders are Python's ``%(name)s`` (``%(name)r`` quotes),
    a literal percent sign is ``%%``.
    """

    template: str
    params: dict[str, object]

    def __new__(cls, template: str, /, **params: object) -> Text:
        text = super().__new__(cls, template % params)
        text.template = template
        text.params = params
        return text

    def __getnewargs_ex__(self) -> tuple[tuple[str], dict[str, object]]:  # copy and pickle keep template and values
        return (self.template,), self.params


def localized(message: str, gettext: Callable[[str], str]) -> str:
    """``message`` in the language of ``gettext``: a :class:`Text`'s template translated, then its values filled in;
    any other text translated as it is (a fixed text is its own msgid).

    The values are filled in as they are, never translated or marked safe: the page escapes them as any text.
    A translation whose placeholders do not fit the template's values gives the English rather than an error page.
    """
    if not message:  # gettext("") is the catalogue's header, never a text of a page
        return message
    if not isinstance(message, Text):
        return gettext(message)
    try:
        return gettext(message.template) % message.params
    except (KeyError, ValueError, TypeError):
        return str(message)


def supported(locale: str | None) -> str | None:
    """``locale`` when Roster ships it (``de``, ``de-CH`` and ``de_CH`` all give ``de``), else None."""
    if not locale:
        return None
    language = locale.replace("-", "_").split("_", 1)[0].lower()
    return language if language in SUPPORTED else None


def language_of(locale: str | None) -> str:
    """The language to speak to a person whose setting is ``locale``: theirs when shipped, else English."""
    return supported(locale) or DEFAULT


@cache
def translations(locale: str | None) -> NullTranslations:
    """The compiled catalogue for ``locale`` (English, i.e. the msgids unchanged, when none is shipped or compiled)."""
    language = language_of(locale)
    if language == DEFAULT:
        return NullTranslations()
    return Translations.load(str(DIRECTORY), [language], domain=DOMAIN)


def compiled(locale: str) -> bool:
    """Whether the ``.mo`` of ``locale`` exists (the tests fail without it; the app falls back to English)."""
    return (DIRECTORY / locale / "LC_MESSAGES" / f"{DOMAIN}.mo").is_file()


def format_time(value: dt.datetime | None, *, timezone: str | None, date_format: str | None,
                time: bool = True) -> str:
    """A stored (naive UTC) time in a person's time zone and date format: ``31.01.2026 10:15 CET``, or the day only.

    Pages and mails show every time this way; an unknown zone or format reads as UTC and ISO 8601.
    """
    if value is None:
        return ""
    try:
        zone = zoneinfo.ZoneInfo(timezone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    local = aware.astimezone(zone)
    day = local.strftime(DATE_PATTERNS.get(date_format or "", "%Y-%m-%d"))
    return f"{day} {local.strftime('%H:%M %Z')}" if time else day
