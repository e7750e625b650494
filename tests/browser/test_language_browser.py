"""The language switch in headless Chromium against a live `roster serve` (issue 13 point 2).

A person chooses Deutsch on their profile and every page they open is German,
until they choose English again; a signed-out visitor whose browser asks for
French gets the sign-in page in French. Each page is photographed.
"""

from __future__ import annotations

import pytest

from .conftest import screenshot
from .test_profile_browser import create_person, first_sign_in

pytestmark = pytest.mark.browser


def test_a_person_switches_the_pages_to_german(server, page):
    email = create_person(server, "lena@browser.example")
    first_sign_in(page, server, email)
    assert page.locator("html").get_attribute("lang") == "en"

    page.get_by_label("Language").select_option(label="Deutsch")
    page.get_by_role("button", name="Save settings").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.get_by_role("status").filter(has_text="Ihre Einstellungen sind gespeichert.").is_visible()
    assert page.get_by_role("heading", name="Profil", exact=True).is_visible()
    assert page.get_by_label("Sprache").input_value() == "de"
    assert page.get_by_role("button", name="Einstellungen speichern").is_visible()
    screenshot(page, "language-profile-german")

    page.get_by_role("link", name="Sicherheit").click()
    page.wait_for_url("**/profile/security")
    assert page.get_by_role("heading", name="Passwort", exact=True).is_visible()
    assert page.get_by_role("button", name="Passwort ändern").is_visible()
    screenshot(page, "language-security-german")

    page.get_by_role("link", name="Sitzungen").click()
    page.wait_for_url("**/profile/sessions")
    assert page.get_by_text("Jetzt aktiv").is_visible()
    screenshot(page, "language-sessions-german")

    # and back: the choice is the person's, not the browser's
    page.get_by_role("link", name="Allgemein").click()
    page.get_by_label("Sprache").select_option(label="English")
    page.get_by_role("button", name="Einstellungen speichern").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("button", name="Save settings").is_visible()


def test_a_french_browser_gets_the_sign_in_page_in_french(server, browser):
    context = browser.new_context(viewport={"width": 1024, "height": 768}, locale="fr-FR")
    try:
        page = context.new_page()
        page.goto(f"{server.base_url}/profile")  # signed out: on to the sign-in page
        page.wait_for_url("**/login**")
        assert page.locator("html").get_attribute("lang") == "fr"
        assert page.get_by_role("heading", name="Se connecter").is_visible()
        assert page.get_by_label("E-mail").is_visible()
        assert page.get_by_role("link", name="Mot de passe oublié ?").is_visible()
        screenshot(page, "language-login-french")

        # identifier first (F1): the email, then the password step, in French too
        page.get_by_label("E-mail").fill("nobody@browser.example")
        page.get_by_role("button", name="Continuer").click()
        page.get_by_label("Mot de passe").fill("not the password at all")
        screenshot(page, "language-login-french-password")
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_load_state()
        assert page.locator("html").get_attribute("lang") == "fr"
        assert page.get_by_text("L’adresse e-mail ou le mot de passe n’est pas correct.").is_visible()
        screenshot(page, "language-login-french-refused")
    finally:
        context.close()
