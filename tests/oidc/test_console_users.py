"""Console, Users: tabs, search, paging, the wizard (R2), bulk invite (R5), R8, members, invitations (R1, R3-R6)."""

from __future__ import annotations

import datetime as dt

from models import Actor, clock, groups, invitations, members
from models.ops import AuditEvent
from models.tenancy import DirectoryRecord, Invitation, Membership, User

# the shared fixtures are imported by name; tests naming them as arguments is how pytest works
# ruff: noqa: F811
from .test_console_base import PASSWORD, console, other  # noqa: F401


def text(response) -> str:
    return response.get_data(as_text=True)


# ----------------------------------------------------------------- tabs, search, paging


def test_tabs_list_members_by_state(console, account, cli_actor, deployment):
    gone = members.add_user(account, "gone@acme.example", given_name="Gus", family_name="Gone", password=PASSWORD,
                            by=cli_actor, deployment=deployment)
    members.deactivate(gone.membership, by=cli_actor)
    invitations.invite(account, "soon@acme.example", by=cli_actor, deployment=deployment)
    DirectoryRecord.create(account=account.id, user_name="nomail", user_name_key="nomail",
                           unlinked_reason="no_valid_email")
    active = text(console.get("/users"))
    assert "admin@acme.example" in active and "gone@acme.example" not in active
    assert "gone@acme.example" in text(console.get("/users?tab=deactivated"))
    pending = text(console.get("/users?tab=pending"))
    assert "soon@acme.example" in pending and "admin@acme.example" not in pending
    attention = text(console.get("/users?tab=attention"))
    assert "nomail" in attention and "no valid email" in attention


def test_search_by_name_or_email(console, account, cli_actor, deployment):
    members.add_user(account, "zed@acme.example", given_name="Zed", family_name="Zulu", password=PASSWORD,
                     by=cli_actor, deployment=deployment)
    found = text(console.get("/users?q=zulu"))
    assert "zed@acme.example" in found and "admin@acme.example" not in found
    assert "zed@acme.example" in text(console.get("/users?q=ZED@"))
    assert "No active members match" in text(console.get("/users?q=100%25"))


def test_paging_shows_fifty_a_page(console, account):
    now = clock.now()
    users = [{"id": f"u{n:04}", "email": f"p{n:04}@acme.example", "email_key": f"p{n:04}@acme.example",
              "status": "active", "email_notifications": {}, "created_at": now, "updated_at": now} for n in range(120)]
    User.insert_many(users).execute()
    Membership.insert_many([{"id": f"m{n:04}", "user": f"u{n:04}", "account": account.id, "status": "active",
                             "role": "user", "permissions": [], "created_at": now, "updated_at": now}
                            for n in range(120)]).execute()
    first, third = text(console.get("/users")), text(console.get("/users?page=3"))
    assert first.count("@acme.example</a>") == 50 and 'rel="next"' in first and "p0048@" in first
    assert third.count("@acme.example</a>") == 21 and 'rel="next"' not in third and 'rel="prev"' in third


# ----------------------------------------------------------------- the add-user wizard (R2)


def wizard(console, **fields):
    return console.post("/users/new", fields)


def test_the_wizard_invites_through_general_groups_summary(console, account, cli_actor):
    sales = groups.create_group(account, "Sales", by=cli_actor)
    general = {"given_name": "Nia", "family_name": "Newcomer", "email": "nia@acme.example", "role": "user",
               "preset": "support"}
    step1 = wizard(console, step="general", **general)
    assert step1.status_code == 200 and "Choose one or more" not in text(step1) and 'name="groups"' in text(step1)
    missing = wizard(console, step="groups", **general)
    assert missing.status_code == 400 and "Choose one or more groups." in text(missing)
    step2 = wizard(console, step="groups", groups=sales.id, **general)
    assert "Summary" in text(step2) and "Sales" in text(step2) and "nia@acme.example" in text(step2)
    back = wizard(console, step="summary", back="1", groups=sales.id, **general)
    assert 'value="' + sales.id + '" checked' in text(back).replace('id="groups-1" ', "")
    done = wizard(console, step="summary", groups=sales.id, **general)
    assert done.status_code == 302 and "tab=pending" in done.headers["Location"]
    assert "Invitation sent to nia@acme.example." in text(console.client.get(done.headers["Location"]))
    membership = members.get_membership(account, "nia@acme.example")
    assert membership.status == "invited" and "support" in membership.permissions
    assert groups.group_member_emails(sales) == ["nia@acme.example"]
    assert invitations.find_invitation(account, "nia@acme.example").status == "pending"


def test_the_wizard_keeps_what_was_typed_and_shows_errors_by_the_field(console):
    response = wizard(console, step="general", given_name="Nia", family_name="", email="not-an-email")
    html = text(response)
    assert response.status_code == 400
    assert 'value="Nia"' in html and 'value="not-an-email"' in html
    assert "Enter a valid email address." in html and 'aria-invalid="true"' in html


def test_the_wizard_refuses_a_member_and_a_disposable_domain(console):
    general = {"given_name": "A", "family_name": "B", "role": "user", "preset": "basics"}
    taken = wizard(console, step="summary", email="admin@acme.example", **general)
    assert taken.status_code == 400 and "already a member" in text(taken)
    throwaway = wizard(console, step="summary", email="x@mailinator.com", **general)
    assert throwaway.status_code == 400 and "disposable" in text(throwaway)


def test_the_wizard_adds_an_existing_person_at_once(console, account, other):
    done = wizard(console, step="summary", given_name="S", family_name="T", email="staff@other.example",
                  role="user", preset="basics")
    assert done.status_code == 302
    assert members.get_membership(account, "staff@other.example").status == "active"


# ----------------------------------------------------------------- bulk invite (R5)


def test_bulk_invite_reports_each_email(console, account, cli_actor, deployment):
    team = groups.create_group(account, "Team", by=cli_actor)
    invitations.invite(account, "pending@acme.example", by=cli_actor, deployment=deployment)
    response = console.post("/users/bulk", {
        "emails": "one@acme.example, two@acme.example\nadmin@acme.example\npending@acme.example\nbad@@x\n"
                  "spam@mailinator.com", "role": "user", "preset": "purchasing", "groups": team.id})
    html = text(response)
    assert response.status_code == 200
    assert "2 of 6 invited" in html
    for email, outcome in [("one@acme.example", "Invited"), ("admin@acme.example", "Already a member"),
                           ("pending@acme.example", "Already invited"), ("spam@mailinator.com", "Rejected")]:
        assert f"<td>{email}</td><td>{outcome}" in html
    membership = members.get_membership(account, "two@acme.example")
    assert "billing" in membership.permissions
    assert set(groups.group_member_emails(team)) == {"one@acme.example", "two@acme.example"}


def test_bulk_invite_needs_emails(console):
    response = console.post("/users/bulk", {"emails": "", "role": "user", "preset": "basics"})
    assert response.status_code == 400 and "Enter at least one email address." in text(response)


# ----------------------------------------------------------------- temporary password (R8)


def test_create_a_user_with_a_temporary_password(console, account):
    response = console.post("/users/create", {"given_name": "Tom", "family_name": "Temp", "email": "tom@acme.example",
                                              "role": "user", "preset": "basics"})
    assert response.status_code == 200 and "temporary password was mailed" in text(response)
    user = User.get(User.email_key == "tom@acme.example")
    assert user.must_change_password and user.status == "active"
    assert members.get_membership(account, "tom@acme.example").status == "active"


# ----------------------------------------------------------------- a member (R1, R6, R7)


def test_edit_role_and_groups(console, account, cli_actor, deployment):
    a, b = groups.create_group(account, "A", by=cli_actor), groups.create_group(account, "B", by=cli_actor)
    added = members.add_user(account, "m@acme.example", password=PASSWORD, groups=[a.id], by=cli_actor,
                             deployment=deployment)
    page = text(console.get(f"/members/{added.membership.id}"))
    assert "m@acme.example" in page and "Save groups" in page
    response = console.post(f"/members/{added.membership.id}/groups", {"groups": [b.id]})
    assert response.status_code == 302
    assert "m@acme.example is now in B." in text(console.client.get(response.headers["Location"]))
    assert groups.group_member_emails(b) == ["m@acme.example"] and groups.group_member_emails(a) == []
    console.post(f"/members/{added.membership.id}/role", {"role": "admin", "preset": ""})
    assert Membership.get_by_id(added.membership.id).role == "admin"


def test_deactivate_and_reactivate(console, account, cli_actor, deployment):
    added = members.add_user(account, "d@acme.example", password=PASSWORD, by=cli_actor, deployment=deployment)
    response = console.post(f"/members/{added.membership.id}/deactivate")
    assert "d@acme.example is deactivated" in text(console.client.get(response.headers["Location"]))
    assert Membership.get_by_id(added.membership.id).status == "deactivated"
    console.post(f"/members/{added.membership.id}/reactivate")
    assert Membership.get_by_id(added.membership.id).status == "active"


def test_remove_asks_first_then_removes(console, account, cli_actor, deployment):
    added = members.add_user(account, "r@acme.example", password=PASSWORD, by=cli_actor, deployment=deployment)
    confirm = console.get(f"/members/{added.membership.id}/remove")
    assert confirm.status_code == 200 and "Remove r@acme.example?" in text(confirm)
    assert Membership.get_or_none(Membership.id == added.membership.id) is not None
    response = console.post(f"/members/{added.membership.id}/remove")
    assert "r@acme.example was removed" in text(console.client.get(response.headers["Location"]))
    assert Membership.get_or_none(Membership.id == added.membership.id) is None


def test_the_last_admin_is_refused_on_screen(console):
    me = Membership.get(Membership.user == console.user.id)
    for path, data in [("/deactivate", {}), ("/remove", {}), ("/role", {"role": "user", "preset": "basics"})]:
        response = console.post(f"/members/{me.id}{path}", data, follow_redirects=True)
        assert response.status_code == 200
        assert "must keep at least one active admin" in text(response), path
        assert 'role="alert"' in text(response)
    me = Membership.get_by_id(me.id)
    assert (me.status, me.role) == ("active", "admin")


# ----------------------------------------------------------------- a pending invitation (R3, R4)


def test_copy_link_resend_and_revoke(console, account, cli_actor, deployment):
    invited = invitations.invite(account, "inv@acme.example", by=cli_actor, deployment=deployment)
    page = text(console.get(f"/invitations/{invited.invitation_id}"))
    assert "Copy link" in page and "Resend" in page and "Revoke" in page
    link = text(console.get(f"/invitations/{invited.invitation_id}/link"))
    assert invited.link in link
    response = console.post(f"/invitations/{invited.invitation_id}/resend")
    assert "the old link no longer works" in text(console.client.get(response.headers["Location"]))
    assert invitations.lookup(invited.link.rsplit("/", 1)[1]).status == "invalid"
    assert Invitation.get_by_id(invited.invitation_id).sent_count == 2
    response = console.post(f"/invitations/{invited.invitation_id}/revoke")
    assert "is revoked" in text(console.client.get(response.headers["Location"]))
    assert Invitation.get_by_id(invited.invitation_id).status == "revoked"
    assert console.get(f"/invitations/{invited.invitation_id}/link").status_code == 302


def test_edit_a_pending_invitations_email_and_name(console, account, cli_actor, deployment):
    invited = invitations.invite(account, "typo@acme.example", by=cli_actor, deployment=deployment)
    bad = console.post(f"/invitations/{invited.invitation_id}", {"email": "nope", "given_name": "Ann"})
    assert bad.status_code == 400 and 'value="Ann"' in text(bad)
    response = console.post(f"/invitations/{invited.invitation_id}", {"email": "right@acme.example",
                                                                        "given_name": "Ann", "family_name": "Lee"})
    assert response.status_code == 302
    found = Invitation.get_by_id(invited.invitation_id)
    assert (found.email, found.given_name, found.family_name) == ("right@acme.example", "Ann", "Lee")


def test_every_action_is_audited_with_the_admin_as_actor(console, account, cli_actor, deployment):
    added = members.add_user(account, "a@acme.example", password=PASSWORD, by=cli_actor, deployment=deployment)
    console.post(f"/members/{added.membership.id}/deactivate")
    event = AuditEvent.get(AuditEvent.action == "membership.deactivated")
    assert event.actor_label == "admin@acme.example"
    assert Actor.for_user(console.user).user_id == event.actor_id
    assert event.at <= clock.now() + dt.timedelta(seconds=1)
