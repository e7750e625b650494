"""The pages' language and times: Flask-Babel on the catalogue of models.i18n, and one time filter.

The language is the signed-in person's setting when Roster ships it, else
the best of the browser's Accept-Language, else English. Times are shown in
the signed-in person's time zone and date format (UTC and ISO 8601 for a
visitor), on every page, by the ``localtime`` filter.
"""

from __future__ import annotations

import datetime as dt

from flask import Flask, request
from flask_babel import Babel, get_locale
from flask_babel import gettext as _

from models import i18n
from models.database import DatabaseUnavailableError
from models.tenancy import User

from . import web_session

N_ = i18n.N_
# the program values pages show (roles, statuses, account types) as words
WORDS = {
    "admin": N_("admin"), "user": N_("user"),
    "active": N_("active"), "invited": N_("invited"), "deactivated": N_("deactivated"), "pending": N_("pending"),
    "accepted": N_("accepted"), "revoked": N_("revoked"), "expired": N_("expired"), "disabled": N_("disabled"),
    "vendor": N_("vendor"), "distributor": N_("distributor"), "reseller": N_("reseller"), "provider": N_("provider"),
    # modules and presets (models.permissions)
    "dashboard": N_("dashboard"), "products": N_("products"), "orders": N_("orders"),
    "subscriptions": N_("subscriptions"), "billing": N_("billing"), "reports": N_("reports"), "support": N_("support"),
    "pricing": N_("pricing"), "payment": N_("payment"), "user_management": N_("user management"),
    "basics": N_("basics"), "purchasing": N_("purchasing"), "all": N_("all"),
    # how a membership came to be (Membership.created_via)
    "console": N_("the admin console"), "scim": N_("the directory (SCIM)"), "cli": N_("the command line"),
    "invitation": N_("an invitation"),
}


def word(value: str | None) -> str:
    """A program value (``admin``, ``deactivated``, ``reseller``) as a word of the page's language."""
    known = WORDS.get(value or "")
    return _(known) if known else (value or "")


def words(values: list[str] | None) -> str:
    """Program values as words of the page's language, separated by commas."""
    return ", ".join(word(v) for v in values or [])


def translated(message: str) -> str:
    """A text of the domain (a refusal, a bulk invite's reason) in the page's language, its values filled in after.

    Plain ``str``: the page escapes it, values included (the template ``_()`` would mark it safe).
    """
    return i18n.localized(message, _)


def _signed_in() -> User | None:
    try:
        return web_session.current_user()
    except DatabaseUnavailableError:  # the 503 page still speaks the browser's language
        return None


def select_locale() -> str:
    """The person's language if shipped, else the best of Accept-Language (``fr-CH`` gives ``fr``), else English."""
    user = _signed_in()
    chosen = i18n.supported(user.locale) if user is not None else None
    return chosen or request.accept_languages.best_match(i18n.SUPPORTED, default=i18n.DEFAULT)


def html_lang() -> str:
    """The language of the page being rendered, for ``<html lang>``."""
    return str(get_locale() or i18n.DEFAULT)


def local_time(value: dt.datetime | None, user: User | None = None, *, time: bool = True) -> str:
    """A stored (naive UTC) time in ``user``'s (else the signed-in person's) time zone and date format."""
    user = user or _signed_in()
    return i18n.format_time(value, timezone=user.timezone if user else None,
                            date_format=user.date_format if user else None, time=time)


def _localtime_filter(value: dt.datetime | None, time: bool = True) -> str:
    return local_time(value, time=time)


def init_app(app: Flask) -> None:
    """Translate the pages with the shipped catalogues; give templates the time filter, ``html_lang()``, the words
    and ``translated()``."""
    Babel(app, locale_selector=select_locale, default_domain=i18n.DOMAIN,
          default_translation_directories=str(i18n.DIRECTORY))
    app.add_template_filter(_localtime_filter, "localtime")
    app.add_template_global(html_lang, "html_lang")
    app.add_template_global(word, "word")
    app.add_template_global(words, "words")
    app.add_template_global(translated, "translated")
