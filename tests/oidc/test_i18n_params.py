"""Refusals with values in them (issue 13 point 2): the page translates the template, then fills in the values.

``models.i18n.Text`` is the English text as a ``str`` (SCIM, the command line and these tests' English checks
read it unchanged) and keeps its template and values, which a page translates and fills in, escaped as any text.
"""

from __future__ import annotations

import ast
import copy
import datetime as dt
import html
import pickle
import re
from pathlib import Path

import pytest

from models import Actor, i18n, invitations, members
from models.errors import ConflictError
from models.i18n import Text
from models.tenancy import Membership, User
from models.throttle import LockedOutError

# the shared fixtures are imported by name; tests naming them as arguments is how pytest works
# ruff: noqa: F811
from .flow import PASSWORD, csrf, ready_person
from .test_console_base import console  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]


def words(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


def speaks(user: User, locale: str) -> None:
    User.update(locale=locale).where(User.id == user.id).execute()


# --- the text and its translation ---------------------------------------------------


def test_a_text_with_values_reads_as_the_english_it_replaces():
    said = Text("%(email)s is already a member of %(account)s.", email="pat@acme.example", account="Acme")
    assert said == "pat@acme.example is already a member of Acme."
    assert str(said) == said and type(str(said)) is str
    assert said.template == "%(email)s is already a member of %(account)s."
    assert said.params == {"email": "pat@acme.example", "account": "Acme"}
    assert Text("An account named %(name)r exists already.", name="Acme") == "An account named 'Acme' exists already."
    for kept in (copy.deepcopy(said), pickle.loads(pickle.dumps(said))):
        assert kept == said and kept.template == said.template and kept.params == said.params


def test_the_template_is_translated_then_the_values_filled_in():
    said = Text("%(email)s is already a member of %(account)s.", email="pat@acme.example", account="Acme")
    assert i18n.localized(said, i18n.translations("de").gettext) == "pat@acme.example ist bereits Mitglied von Acme."
    assert i18n.localized(said, i18n.translations("fr").gettext) == "pat@acme.example est déjà membre de Acme."
    assert i18n.localized(said, i18n.translations("en").gettext) == said
    # a fixed text is its own msgid, as before
    assert i18n.localized("Choose a password.", i18n.translations("de").gettext) != "Choose a password."


def test_a_translation_that_does_not_fit_the_values_gives_the_english():
    said = Text("No user %(id)s in this account.", id="r1")
    assert i18n.localized(said, lambda _template: "Kein Benutzer %(nope)s.") == "No user r1 in this account."
    assert i18n.localized(said, lambda _template: "Kein Benutzer %(id)d.") == "No user r1 in this account."


def test_the_domains_english_is_unchanged(account, admin, deployment):
    with pytest.raises(ConflictError) as raised:
        members.add_user(account, "admin@acme.example", password=PASSWORD, by=Actor.cli("tests"),
                         deployment=deployment)
    assert str(raised.value) == "admin@acme.example is already a member of Acme Vendor."
    assert raised.value.message.template == "%(email)s is already a member of %(account)s."
    [result] = invitations.bulk_invite(account, ["admin@acme.example"], by=Actor.cli("tests"), deployment=deployment)
    assert result.reason == "admin@acme.example is already a member."
    assert str(LockedOutError(dt.datetime(2026, 1, 5, 9, 14, 30))) == "Too many attempts; try again after 09:15 UTC."


# --- the pages ------------------------------------------------------------------------


def test_a_german_admin_reads_that_the_person_is_already_a_member(console):
    speaks(console.user, "de")
    created = console.post("/users/create", {"given_name": "Ada", "family_name": "Admin",
                                             "email": "admin@acme.example", "role": "user", "preset": "basics"})
    assert created.status_code == 400
    assert "admin@acme.example ist bereits Mitglied von Acme Vendor." in words(created)
    assert "already a member" not in words(created)
    bulk = console.post("/users/bulk", {"emails": "admin@acme.example\nnew@acme.example\nnew@acme.example",
                                        "role": "user", "preset": "basics"})
    assert "admin@acme.example ist bereits Mitglied." in words(bulk)
    assert "new@acme.example steht mehrmals in der Liste." in words(bulk)


def test_the_last_admin_refusal_is_flashed_in_german(console):
    speaks(console.user, "de")
    me = Membership.get(Membership.user == console.user.id)
    response = console.post(f"/members/{me.id}/deactivate", follow_redirects=True)
    assert ("Acme Vendor muss mindestens einen aktiven Administrator behalten: Machen Sie zuerst ein anderes "
            "Mitglied zum Administrator.") in words(response)


def test_the_lockout_is_said_in_french_on_the_login_page(client, account, frozen_clock, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    french = {"Accept-Language": "fr"}
    page = client.get("/login", headers=french).get_data(as_text=True)
    for _ in range(5):
        client.post("/login", data={"csrf_token": csrf(page), "email": person.email, "password": "wrong password!"},
                    headers=french)
    locked = client.post("/login", data={"csrf_token": csrf(page), "email": person.email, "password": PASSWORD},
                         headers=french)
    assert locked.status_code == 400
    assert "Trop de tentatives ; réessayez après 09:15 UTC." in words(locked)
    assert "Too many attempts" not in words(locked)


def test_values_are_escaped_never_marked_safe(console):
    speaks(console.user, "de")
    hostile = "<script>alert(1)</script>"
    bulk = console.post("/users/bulk", {"emails": hostile, "role": "user", "preset": "basics"}).get_data(as_text=True)
    assert "ist keine gültige E-Mail-Adresse" in bulk
    assert hostile not in bulk and "&lt;script&gt;alert(1)&lt;/script&gt;" in bulk
    name = "<b>Team</b>"
    assert console.post("/groups", {"display_name": name}).status_code == 302
    duplicate = console.post("/groups", {"display_name": name})
    page = duplicate.get_data(as_text=True)
    assert duplicate.status_code == 400 and "Eine Gruppe namens" in page and "existiert bereits" in page
    assert name not in page and "&lt;b&gt;Team&lt;/b&gt;" in page


# --- no refusal of the domain is built from an f-string ---------------------------------


def _refusal_classes(trees: dict[Path, ast.Module]) -> set[str]:
    """RosterError and every class of models/ that derives from it, by name."""
    known = {"RosterError"}
    grew = True
    while grew:
        grew = False
        for tree in trees.values():
            for node in ast.walk(tree):
                if (isinstance(node, ast.ClassDef) and node.name not in known
                        and any(getattr(base, "id", getattr(base, "attr", None)) in known for base in node.bases)):
                    known.add(node.name)
                    grew = True
    return known


def _built_with_values(node: ast.AST) -> bool:
    """An f-string, ``.format()`` or ``%`` on a literal: a text whose values would end up in the msgid."""
    return any(isinstance(n, ast.JoinedStr)
               or (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "format"
                   and isinstance(n.func.value, ast.Constant))
               or (isinstance(n, ast.BinOp) and isinstance(n.op, ast.Mod) and isinstance(n.left, ast.Constant))
               for n in ast.walk(node))


def test_no_refusal_of_the_domain_is_built_from_an_f_string():
    # such a message cannot be in the catalogue, so a page shows it in English: use models.i18n.Text
    trees = {path: ast.parse(path.read_text()) for path in sorted((ROOT / "models").rglob("*.py"))
             if "migrations" not in path.parts}
    refusals = _refusal_classes(trees)
    found = []
    for path, tree in trees.items():
        for cls in [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name in refusals] + [tree]:
            for node in ast.walk(cls):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", getattr(node.func, "attr", None))
                # a refusal's own constructor passes its message on to super().__init__
                if name in refusals or (cls is not tree and name == "__init__"):
                    message = node.args[:1] + [k.value for k in node.keywords if k.arg == "message"]
                    if any(_built_with_values(m) for m in message):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, "refusals built from f-strings (use models.i18n.Text):\n" + "\n".join(sorted(set(found)))


def test_a_german_admin_reads_who_did_what_in_the_audit_log_in_german(console):
    from models import scim_tokens

    scim_tokens.create_token(console.account, description="Okta", by=Actor.cli("nightly"))
    speaks(console.user, "de")
    page = words(console.get("/audit"))
    assert "Kommandozeile (nightly)" in page
    assert "Command line (" not in page
