"""What a User-Agent header says about a browser, in words a person reads ("Firefox on Linux").

One reading for the Sessions page, the known devices (models.devices) and
the new-sign-in mail (models.notifications); the header is the browser's
word, not proof.
"""

from __future__ import annotations

from collections.abc import Callable

from .i18n import N_

_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
             ("Chromium/", "Chromium"), ("Safari/", "Safari"))
_SYSTEMS = (("Windows", "Windows"), ("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"),
            ("CrOS", "ChromeOS"), ("Mac OS X", "macOS"), ("Macintosh", "macOS"), ("Linux", "Linux"))


def _untranslated(text: str) -> str:
    return text


def describe(user_agent: str, gettext: Callable[[str], str] = _untranslated) -> str:
    """``Browser on OS`` from a User-Agent header, in the language ``gettext`` translates to (English without)."""
    browser = next((name for token, name in _BROWSERS if token in user_agent), None)
    system = next((name for token, name in _SYSTEMS if token in user_agent), None)
    if browser is None and system is None:
        return gettext(N_("Unknown device"))
    if browser is None:
        return gettext(N_("A browser on %(system)s")) % {"system": system}
    if system is None:
        return browser
    return gettext(N_("%(browser)s on %(system)s")) % {"browser": browser, "system": system}
