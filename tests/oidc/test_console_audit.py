"""Console, Audit log (issue 13, point 7): names and words, keyset pages, filters, CSV and JSON Lines exports,
tenant isolation from the attacker's side, and page views that are not events."""

from __future__ import annotations

import csv
import html
import io
import json
import re

from playhouse.test_utils import count_queries

from models import Actor, accounts, audit, clients, groups, members
from models.ops import AuditEvent
from models.security import TotpCredential
from models.tenancy import User

# the shared fixtures are imported by name; tests naming them as arguments is how pytest works
# ruff: noqa: F811
from .test_console_base import PASSWORD, console, other, ready  # noqa: F401
from .test_profile import post_form


def text(response) -> str:
    return response.get_data(as_text=True)


def link(page: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', page)
    return html.unescape(found.group(1)) if found else None


def rows_of(page: str) -> list[str]:
    body = page.split("<tbody>")[1].split("</tbody>")[0]
    return re.findall(r"<tr>(.*?)</tr>", body, re.S)


def detail_cells(page: str) -> list[str]:
    return re.findall(r'<td class="detail">(.*?)</td>', page, re.S)


def export(console, kind: str, query: str = ""):
    return console.get(f"/audit/export.{kind}{query}")


# ----------------------------------------------------------------- names and words


def test_people_and_things_are_named_with_their_ids_on_hover(console, account, cli_actor, deployment):
    bob = members.add_user(account, "bob@acme.example", given_name="Bob", family_name="Builder", password=PASSWORD,
                           by=cli_actor, deployment=deployment)
    members.deactivate(bob.membership, by=Actor.for_user(console.user))
    team = groups.create_group(account, "Sales", by=Actor.for_user(console.user))
    page = text(console.get("/audit"))
    row = next(r for r in rows_of(page) if "Member deactivated" in r)
    # who: the admin by name and email; about: Bob by name and email; ids only in the tooltip
    assert "<strong>Ada Admin</strong>" in row and "admin@acme.example" in row
    assert "<strong>Bob Builder</strong>" in row and "bob@acme.example" in row
    assert f'title="user {bob.user.id} · member {bob.membership.id}"' in row
    assert f'title="user {console.user.id} · member ' in row
    assert bob.membership.id not in re.sub(r'title="[^"]*"', "", row)
    group_row = next(r for r in rows_of(page) if "Group created" in r)
    assert "<strong>Sales</strong>" in group_row and f'title="group {team.id}"' in group_row
    assert 'title="group.created' in group_row  # the program's name of the action, on hover
    added = [r for r in rows_of(page) if "Member added" in r]
    assert all("Command line (tests)" in r for r in added) and len(added) == 2
    assert "Through: the admin console" in added[0] and "Through: the command line" in added[1]
    assert "New user: yes" in added[0] and "Temporary password: no" in added[0]


def test_values_are_words_not_program_values(console, account, deployment):
    by = Actor.for_user(console.user)
    clients.create_client(account, name="Shop", redirect_uris=["https://shop.example/cb", "https://shop.example/b"],
                          by=by)
    accounts.set_policy(account, mfa_required=False, allowed_email_domains=[], invitation_ttl_days=14, by=by)
    page = text(console.get("/audit"))
    details = " ".join(detail_cells(page))
    for program_value in ("None", "True", "False", "[", "]", "{", "'"):
        assert program_value not in details, program_value
    assert "Back-channel logout URI" not in details  # nothing set: left out
    assert "Public client: no" in details and "First-party application: yes" in details
    assert "Redirect URIs: https://shop.example/cb, https://shop.example/b" in details
    assert "Second factor required: no" in details and "Allowed email domains: any domain" in details
    assert "Invitation validity (days): 14" in details


def test_a_removed_member_is_still_named_by_what_the_trail_recorded(console, account, cli_actor, deployment):
    gone = members.add_user(account, "gone@acme.example", given_name="Gus", family_name="Gone", password=PASSWORD,
                            by=cli_actor, deployment=deployment)
    members.remove(gone.membership, by=Actor.for_user(console.user))
    row = next(r for r in rows_of(text(console.get("/audit"))) if "Member removed" in r)
    assert "gone@acme.example" in row and "no longer here" in row


def test_a_person_of_another_account_is_not_described_by_their_current_name(console, account, other):
    """The trail names a non-member by the email it recorded then, never by their user's current details."""
    boss = User.get_by_id(other.boss.user_id)
    audit.record(Actor.for_user(boss), "membership.left", account_id=account.id, target_type="membership",
                 target_id="gone")
    User.update(given_name="Secret", family_name="Newname", email="renamed@other.example",
                email_key="renamed@other.example").where(User.id == boss.id).execute()
    row = next(r for r in rows_of(text(console.get("/audit"))) if "Member left" in r)
    assert "boss@other.example" in row and "no longer a member" in row
    assert "Secret" not in row and "renamed@other.example" not in row


# ----------------------------------------------------------------- keyset pages


def test_pages_go_by_position_newest_first_and_back(console, account, cli_actor, frozen_clock):
    for n in range(120):
        groups.create_group(account, f"Team {n:03}", by=cli_actor)
        if n % 3 == 0:  # many events share a time: the id breaks the tie
            frozen_clock.advance(seconds=1)
    names = []
    page = text(console.get("/audit?action=group.created"))
    assert link(page, "prev") is None
    seen_pages = []
    while True:
        shown = re.findall(r"<strong>(Team \d+)</strong>", page)
        names.extend(shown)
        seen_pages.append(page)
        older = link(page, "next")
        if older is None:
            break
        assert "before=" in older and "action=group.created" in older and "page=" not in older
        page = text(console.client.get(older))
    assert [len(re.findall(r"<strong>(Team \d+)</strong>", p)) for p in seen_pages] == [50, 50, 20]
    assert names == [f"Team {n:03}" for n in reversed(range(120))]  # every event once, newest first
    newer = link(page, "prev")
    assert newer is not None and "after=" in newer
    back = text(console.client.get(newer))
    assert re.findall(r"<strong>(Team \d+)</strong>", back) == names[50:100]
    assert re.findall(r"<strong>(Team \d+)</strong>", text(console.client.get(link(back, "prev")))) == names[:50]


def test_a_page_costs_no_offset(console, account, cli_actor):
    for n in range(60):
        groups.create_group(account, f"Team {n:02}", by=cli_actor)
    first = text(console.get("/audit"))
    with count_queries() as counted:
        console.client.get(link(first, "next"))
    trail = [str(q.msg[0]) for q in counted.get_queries() if '"audit_event"' in str(q.msg[0])]
    assert len(trail) >= 2 and not any("OFFSET" in sql.upper() for sql in trail)


def test_a_made_up_position_shows_only_this_accounts_events(console, account, other):
    theirs = AuditEvent.select().where(AuditEvent.account_id == other.account.id).order_by(
        AuditEvent.id.desc()).first()
    for key in ("before", "after"):
        token = f"99999999999999999-{theirs.id + 1}" if key == "before" else "0-0"
        page = text(console.get(f"/audit?{key}={token}"))
        assert "other.example" not in page and "Other Reseller" not in page and "Other team" not in page
    assert console.get("/audit?before=garbage&after=-1").status_code == 200


# ----------------------------------------------------------------- exports


def test_csv_export_honours_the_filters_and_streams_in_batches(console, account, cli_actor, monkeypatch,
                                                               frozen_clock):
    from models import audit_export

    monkeypatch.setattr(audit_export, "BATCH", 7)
    for n in range(30):
        groups.create_group(account, f"=Team {n:02}", by=cli_actor)
        frozen_clock.advance(seconds=1)
    response = export(console, "csv", "?action=group.created")
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(r'attachment; filename="audit-acme-vendor-2026-01-05\.csv"',
                        response.headers["Content-Disposition"])
    rows = list(csv.reader(io.StringIO(text(response))))
    assert rows[0][:4] == ["Time (UTC)", "Action", "Action code", "Actor"]
    assert len(rows) == 31 and {r[2] for r in rows[1:]} == {"group.created"}
    # every event once, newest first, across the batches; no cell a spreadsheet would run
    assert [r[6] for r in rows[1:]] == [f"'=Team {n:02}" for n in reversed(range(30))]
    assert rows[1][0] == "2026-01-05T09:00:29Z" and rows[1][3] == "Command line (tests)"


def test_jsonl_export_carries_words_and_ids(console, account, cli_actor, deployment):
    bob = members.add_user(account, "bob@acme.example", given_name="Bob", family_name="Builder", password=PASSWORD,
                           by=cli_actor, deployment=deployment)
    members.deactivate(bob.membership, by=Actor.for_user(console.user))
    response = export(console, "jsonl", "?actor=admin@acme")
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["Content-Type"].startswith("application/jsonl")
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    lines = [json.loads(line) for line in text(response).splitlines()]
    assert [e["action"] for e in lines] == ["membership.deactivated"]
    event = lines[0]
    assert event["summary"] == "Member deactivated"
    assert event["actor"]["email"] == "admin@acme.example" and event["actor"]["name"] == "Ada Admin"
    assert (event["target"]["name"], event["target"]["email"], event["target"]["note"]) == (
        "Bob Builder", "bob@acme.example", "deactivated")
    assert bob.membership.id in event["target"]["ids"] and event["at"].endswith("Z")


def test_the_page_links_to_both_exports_with_its_filters(console, account):
    page = text(console.get("/audit?action=account.created&actor=tests"))
    for kind in ("csv", "jsonl"):
        href = html.unescape(re.search(rf'href="([^"]+/audit/export\.{kind}[^"]*)"', page).group(1))
        assert "action=account.created" in href and "actor=tests" in href
        assert "Acme Vendor" in text(console.client.get(href))


def test_an_export_with_a_bad_filter_is_refused(console):
    assert export(console, "csv", "?since=not-a-date").status_code == 400


def test_exports_never_hold_another_accounts_events(console, account, other):
    theirs = AuditEvent.select().where(AuditEvent.account_id == other.account.id).count()
    assert theirs > 0
    boss = User.get_by_id(other.boss.user_id)
    for query in ("", f"?actor={boss.id}", "?actor=other.example", "?action=invitation.created",
                  "?action=group.created"):
        for kind in ("csv", "jsonl"):
            body = text(export(console, kind, query))
            assert "other.example" not in body and "Other Reseller" not in body and "Other team" not in body
            assert other.account.id not in body
    # the other account's own export is refused, as its page is
    for kind in ("csv", "jsonl"):
        response = console.client.get(f"/console/{other.account.id}/audit/export.{kind}")
        assert response.status_code == 403 and "other.example" not in text(response)


def test_exports_are_for_admins_only(client, account, admin, cli_actor, sign_in, deployment):
    response = client.get(f"/console/{account.id}/audit/export.csv")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    plain = members.add_user(account, "plain@acme.example", password=PASSWORD, by=cli_actor, deployment=deployment)
    sign_in(client, ready(plain.user))
    for kind in ("csv", "jsonl"):
        response = client.get(f"/console/{account.id}/audit/export.{kind}")
        assert response.status_code == 403 and "Acme Vendor," not in text(response)


# ----------------------------------------------------------------- repeated page views are not events


def enrolment_events(user) -> int:
    return AuditEvent.select().where((AuditEvent.action == "mfa.totp_enrolment_started")
                                     & (AuditEvent.target_id == user.id)).count()


def secret_of(page: str) -> str:
    return re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page).group(1)


def test_reloading_the_sign_in_enrolment_page_is_not_an_event(client, admin, sign_in, app):
    user = ready(admin[1])
    sign_in(client, user)
    first = text(client.get("/login/mfa/enrol"))
    again = text(client.get("/login/mfa/enrol"))
    wrong = client.post("/login/mfa/enrol", data={"csrf_token": re.search(
        r'name="csrf_token"[^>]*value="([^"]+)"', again).group(1), "code": "000000"})
    assert wrong.status_code == 400
    assert secret_of(first) == secret_of(again) == secret_of(text(wrong))  # the same enrolment, shown again
    assert enrolment_events(user) == 1
    assert TotpCredential.select().where(TotpCredential.user == user.id).count() == 1
    # another browser starts its own enrolment: that one is an event
    other_browser = app.test_client()
    sign_in(other_browser, user)
    assert secret_of(text(other_browser.get("/login/mfa/enrol"))) != secret_of(first)
    assert enrolment_events(user) == 2
    # the first browser's enrolment was replaced: it starts anew, once
    assert secret_of(text(client.get("/login/mfa/enrol"))) != secret_of(first)
    client.get("/login/mfa/enrol")
    assert enrolment_events(user) == 3


def test_reloading_the_profile_enrolment_page_is_not_an_event(client, admin, sign_in):
    user = ready(admin[1])
    sign_in(client, user)
    post_form(client, "/profile/security", "/profile/security/totp/start")
    pages = [text(client.get("/profile/security/totp")) for _ in range(3)]
    assert len({secret_of(p) for p in pages}) == 1
    assert enrolment_events(user) == 1


def test_no_page_view_is_an_event(app, client, console, account):
    """Every page a signed-in admin can GET, loaded again, records nothing."""
    skipped = ("logout", "end_session")
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or set(rule.arguments) - {"account_id"} or any(
                s in rule.endpoint for s in skipped) or rule.endpoint == "static":
            continue
        urls.append(rule.build({"account_id": account.id} if "account_id" in rule.arguments else {})[1])
    assert f"/console/{account.id}/audit" in urls and "/login/mfa/enrol" in urls and "/profile/security" in urls
    urls += [f"/console/{account.id}/audit/export.csv", f"/console/{account.id}/audit/export.jsonl"]
    for url in urls:
        client.get(url).get_data()  # read to the end: an export streams
    before = AuditEvent.select().count()
    for url in urls:
        response = client.get(url)
        response.get_data()
        assert response.status_code < 500, url
    assert AuditEvent.select().count() == before

