"""Notifications (issue 13 point 1): each change tells the person once, as their settings say, and never a secret."""

from __future__ import annotations

import pyotp
import pytest
from playhouse.test_utils import count_queries
from soft_webauthn import SoftWebauthnDevice

from models import (
    Actor,
    Membership,
    OutboxMessage,
    User,
    accounts,
    devices,
    directory,
    groups,
    invitations,
    members,
    mfa,
    notifications,
    passkeys,
    password_reset,
    profile,
    scim_tokens,
    sessions,
)
from models.security import KnownDevice

from .test_mfa import code_at
from .test_passkeys import register

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a completely different passphrase"
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/126.0.0.0 Safari/537.36")


def notices(email: str) -> list[OutboxMessage]:
    return list(OutboxMessage.select().where((OutboxMessage.kind == notifications.KIND)
                                             & (OutboxMessage.recipient == email)).order_by(OutboxMessage.id))


def the_notice(email: str, deployment) -> tuple[str, str, str]:
    """The one notification to ``email``: (event, subject, body)."""
    [message] = notices(email)
    subject, body = notifications.render(message, deployment)
    return message.payload["template"], subject, body


def settings(user: User, **notify: bool) -> User:
    return profile.update_settings(user, given_name=user.given_name or "Pat", family_name=user.family_name,
                                   timezone=user.timezone, date_format=user.date_format, locale=user.locale,
                                   news_opt_in=False,
                                   email_notifications={**profile.notification_settings(user), **notify})


@pytest.fixture
def person(account, cli_actor, deployment, frozen_clock) -> User:
    added = members.add_user(account, "pat@acme.example", given_name="Pat", family_name="Person", password=PASSWORD,
                             by=cli_actor, via="cli", deployment=deployment)
    return added.user


@pytest.fixture
def by(admin) -> Actor:
    return Actor.for_user(admin[1])


def test_the_catalogue_uses_the_profiles_settings():
    assert {n.setting for n in notifications.CATALOGUE.values()} <= set(profile.EMAIL_NOTIFICATIONS)


# ----------------------------------------------------------------- security alerts


def test_a_changed_password_is_told_once_in_the_persons_time_zone_and_format(person, deployment):
    User.update(timezone="Europe/Berlin", date_format="DD.MM.YYYY").where(User.id == person.id).execute()
    members.change_password(User.get_by_id(person.id), current=PASSWORD, new=NEW_PASSWORD, hasher=deployment.hasher)

    event, subject, body = the_notice(person.email, deployment)

    assert event == "password_changed" and subject == "Your Roster password was changed"
    assert body.startswith("Hello Pat,\n\n")
    # the frozen clock's 09:00 UTC, in Berlin's winter time and the person's date format
    assert "was changed on 05.01.2026 10:00 CET." in body
    assert "reset your password at once at http://roster.test/password/forgot" in body
    assert "http://roster.test/profile/sessions" in body
    assert "You can turn them off there: http://roster.test/profile\n" in body
    assert PASSWORD not in body and NEW_PASSWORD not in body


def test_security_alerts_turned_off_send_nothing(person, deployment):
    person = settings(person, security=False)
    members.change_password(person, current=PASSWORD, new=NEW_PASSWORD, hasher=deployment.hasher)
    assert notices(person.email) == []
    # the other kind still goes: the setting is per kind
    members.set_role(Membership.get(Membership.user == person.id), "admin", by=Actor.cli())
    assert [m.payload["template"] for m in notices(person.email)] == ["role_changed"]


def test_the_first_password_of_a_temporary_one_is_not_an_alert(account, cli_actor, deployment, frozen_clock):
    created = members.add_user(account, "temp@acme.example", temporary_password=True, by=cli_actor,
                               deployment=deployment)
    members.complete_first_login(created.user, accept_terms=True, new_password=NEW_PASSWORD,
                                 hasher=deployment.hasher)
    assert notices("temp@acme.example") == []


def test_a_password_reset_is_told_without_the_link(person, deployment):
    password_reset.request_reset(person.email, deployment)
    [reset_mail] = OutboxMessage.select().where(OutboxMessage.kind == "mail")
    token = reset_mail.body.split("/password/reset/")[1].split()[0]

    password_reset.reset(token, NEW_PASSWORD, deployment.hasher)

    event, subject, body = the_notice(person.email, deployment)
    assert event == "password_reset" and subject == "Your Roster password was reset"
    assert token not in body and NEW_PASSWORD not in body and "signed out everywhere" in body


def test_an_authenticator_added_and_removed_and_new_recovery_codes(person, deployment, frozen_clock):
    credential, uri = mfa.begin_totp(person, deployment=deployment)
    secret = pyotp.parse_uri(uri).secret
    codes = mfa.confirm_totp(person, credential.id, code_at(secret, frozen_clock.current),
                             secrets=deployment.secrets)
    # its first recovery codes come with it: one mail, not two
    event, subject, body = the_notice(person.email, deployment)
    assert event == "totp_added" and "An authenticator app was added" in body
    assert secret not in body and not any(code in body for code in codes)

    fresh = mfa.regenerate_recovery_codes(person)
    mfa.remove_totp(person, credential.id, Actor.for_user(person))

    messages = notices(person.email)
    assert [m.payload["template"] for m in messages] == ["totp_added", "recovery_codes_regenerated", "totp_removed"]
    bodies = [notifications.render(m, deployment)[1] for m in messages]
    assert not any(code in body for code in fresh + codes for body in bodies)
    assert "the earlier ones no longer work" in bodies[1]


def test_a_passkey_added_and_removed_is_named(person, deployment, frozen_clock):
    key = register(person, SoftWebauthnDevice(), nickname="Desk key")
    frozen_clock.advance(seconds=1)
    passkeys.remove(person, key.id, Actor.for_user(person))

    messages = notices(person.email)
    assert [m.payload["template"] for m in messages] == ["passkey_added", "passkey_removed"]
    added, removed = (notifications.render(m, deployment) for m in messages)
    assert "“Desk key” was added" in added[1] and "“Desk key” was removed" in removed[1]
    # its first recovery codes are part of adding it
    assert mfa.first_recovery_codes(person) and len(notices(person.email)) == 2


def test_deleting_the_user_is_told_even_though_the_user_is_gone(person, deployment):
    members.delete_user(person, by=Actor.cli("operator"))

    assert not User.select().where(User.id == person.id).exists()
    event, subject, body = the_notice(person.email, deployment)
    assert event == "user_deleted" and subject == "Your Roster user was deleted"
    assert "made by an operator of Roster" in body and "the last mail" in body


def test_deleting_ones_own_user_says_nothing_of_who(person, deployment):
    profile.delete_own_user(person, password=PASSWORD, confirm=True, hasher=deployment.hasher)
    event, _, body = the_notice(person.email, deployment)
    assert event == "user_deleted" and "made by" not in body and PASSWORD not in body


# ----------------------------------------------------------------- new devices


def sign_in(user: User, device: str | None, user_agent: str = FIREFOX_LINUX, ip: str = "203.0.113.7") -> None:
    sessions.start(user, account_id=None, amr=["pwd"], ip=ip, user_agent=user_agent, device=device)


def test_the_very_first_sign_in_is_no_news_and_a_known_browser_neither(person, deployment):
    browser = devices.cookie_value(None)
    sign_in(person, browser)
    sign_in(person, browser)
    assert notices(person.email) == []
    [known] = KnownDevice.select()
    assert known.user_id == person.id and known.description == "Firefox on Linux"
    assert known.token_hash != browser and browser not in known.token_hash  # only a hash is kept


def test_a_new_browser_is_told_with_when_what_and_where(person, deployment, frozen_clock):
    sign_in(person, devices.cookie_value(None))
    frozen_clock.advance(hours=2)
    other = devices.cookie_value(None)
    sign_in(person, other, CHROME_WINDOWS, "198.51.100.4")

    event, subject, body = the_notice(person.email, deployment)
    assert event == "new_signin" and subject == "New sign-in to Roster from Chrome on Windows"
    assert "Someone signed in to your Roster user pat@acme.example on 2026-01-05 11:00 UTC from a browser or " \
           "device not used with it before: Chrome on Windows, IP address 198.51.100.4." in body
    assert other not in body
    sign_in(person, other, CHROME_WINDOWS, "198.51.100.4")
    assert len(notices(person.email)) == 1


def test_one_browser_is_new_to_each_person_who_uses_it(person, admin, deployment):
    _, boss = admin
    browser = devices.cookie_value(None)
    sign_in(boss, devices.cookie_value(None))
    sign_in(person, browser)
    sign_in(boss, browser)
    assert notices(person.email) == []
    assert [m.payload["template"] for m in notices(boss.email)] == ["new_signin"]


def test_new_sign_in_alerts_follow_the_setting(person, deployment):
    person = settings(person, security=False)
    sign_in(person, devices.cookie_value(None))
    sign_in(person, devices.cookie_value(None))
    assert notices(person.email) == [] and KnownDevice.select().count() == 2


def test_a_cookie_that_is_not_ours_is_replaced():
    ours = devices.cookie_value(None)
    assert ours.startswith("rd_") and devices.cookie_value(ours) == ours
    for foreign in ("", "rd_short", ours[:-1] + "!", "x" * len(ours)):
        assert devices.cookie_value(foreign) not in (foreign, ours)


# ----------------------------------------------------------------- account changes


def test_an_existing_person_added_to_an_account_is_told_once(person, by, cli_actor, deployment):
    other = accounts.create_account("Other Reseller", "reseller", by=cli_actor)
    members.add_user(other, person.email, by=cli_actor, deployment=deployment)
    event, subject, body = the_notice(person.email, deployment)
    assert event == "added" and subject == "You now have access to Other Reseller on Roster"
    assert "You were added to Other Reseller on 2026-01-05 09:00 UTC. Sign in at http://roster.test" in body
    assert "made by an operator of Roster" in body and "contact an admin of Other Reseller" in body


def test_an_invitation_to_a_registered_person_adds_and_tells_them_as_their_setting_says(person, cli_actor,
                                                                                        deployment):
    first = accounts.create_account("First Reseller", "reseller", by=cli_actor)
    second = accounts.create_account("Second Reseller", "reseller", by=cli_actor)
    assert invitations.invite(first, person.email, by=cli_actor, deployment=deployment).outcome == "added"
    settings(person, memberships=False)
    assert invitations.invite(second, person.email, by=cli_actor, deployment=deployment).outcome == "added"
    assert [m.payload["account"] for m in notices(person.email)] == ["First Reseller"]


def test_role_groups_deactivation_reactivation_and_removal_each_tell_once(account, person, by, admin, deployment):
    membership = Membership.get(Membership.user == person.id)
    sales = groups.create_group(account, "Sales", by=by)
    groups.create_group(account, "Support", by=by)

    members.set_role(membership, "user", preset="support", by=by)
    members.set_role(membership, "user", preset="support", by=by)  # nothing changes: nothing to tell
    groups.set_groups(membership, ["Sales", "Support"], by=by)
    groups.set_groups(membership, ["Support"], by=by)
    members.deactivate(membership, by=by)
    members.reactivate(membership, by=by)
    groups.add_members(sales, [membership.id], by=by)
    members.remove(membership, by=by)

    messages = notices(person.email)
    assert [m.payload["template"] for m in messages] == [
        "role_changed", "groups_changed", "groups_changed", "deactivated", "reactivated", "groups_changed", "removed"]
    bodies = [notifications.render(m, deployment)[1] for m in messages]
    assert "Your role in Acme Vendor is user since 2026-01-05 09:00 UTC, with these modules: dashboard, products, " \
           "subscriptions, support." in bodies[0]
    assert "Added to: Sales, Support." in bodies[1] and "Removed from" not in bodies[1]
    assert "Removed from: Sales." in bodies[2]
    assert "was deactivated on" in bodies[3] and "was reactivated on" in bodies[4]
    assert "Added to: Sales." in bodies[5] and "You were removed from Acme Vendor" in bodies[6]
    assert all("This change was made by admin@acme.example." in body for body in bodies)
    assert all("contact an admin of Acme Vendor" in body for body in bodies)


def test_leaving_is_confirmed_without_naming_anyone(account, person, deployment):
    members.leave(person, account)
    event, subject, body = the_notice(person.email, deployment)
    assert event == "left" and subject == "You left Acme Vendor" and "made by" not in body


def test_account_changes_turned_off_send_nothing(account, person, by, deployment):
    settings(person, memberships=False)
    membership = Membership.get(Membership.user == person.id)
    members.set_role(membership, "admin", by=by)
    members.deactivate(membership, by=by)
    members.remove(membership, by=by)
    assert notices(person.email) == []


def test_invited_memberships_get_the_invitation_and_none_of_these(account, by, deployment):
    groups.create_group(account, "Sales", by=by)
    result = invitations.invite(account, "invitee@acme.example", by=by, deployment=deployment)
    membership = Membership.get_by_id(result.membership_id)
    members.set_role(membership, "admin", by=by)
    groups.set_groups(membership, ["Sales"], by=by)
    groups.add_members(groups.get_group(account, "Sales"), [membership.id], by=by)
    members.deactivate(membership, by=by)
    members.reactivate(membership, by=by)
    members.remove(membership, by=by)
    assert notices("invitee@acme.example") == []
    assert [m.kind for m in OutboxMessage.select().where(OutboxMessage.recipient == "invitee@acme.example")] == [
        "mail"]


def test_the_mail_keeps_what_the_person_had_when_it_happened(person, by, deployment):
    User.update(locale="de", timezone="Asia/Tokyo", date_format="MM/DD/YYYY").where(User.id == person.id).execute()
    members.set_role(Membership.get(Membership.user == person.id), "admin", by=by)
    User.update(locale="fr", timezone="UTC").where(User.id == person.id).execute()

    [message] = notices(person.email)
    assert {k: message.payload[k] for k in ("locale", "timezone", "date_format", "account")} == {
        "locale": "de", "timezone": "Asia/Tokyo", "date_format": "MM/DD/YYYY", "account": "Acme Vendor"}
    assert message.payload["params"] == {"by": "user", "actor": "admin@acme.example", "role": "admin",
                                         "modules": message.payload["params"]["modules"]}


SAMPLE_PARAMS = {"key": "Desk key", "user_agent": FIREFOX_LINUX, "ip": "203.0.113.7", "role": "admin",
                 "modules": ["dashboard", "user_management"], "groups_added": ["Sales"], "groups_removed": []}


@pytest.mark.parametrize("locale", ["en", "de", "fr", "ja"])
@pytest.mark.parametrize("event", sorted(notifications.CATALOGUE))
def test_every_mail_renders_in_every_language_with_what_happened_and_how_to_stop_it(event, locale, deployment,
                                                                                      frozen_clock):
    message = OutboxMessage(kind=notifications.KIND, recipient="pat@acme.example", created_at=frozen_clock.current,
                            payload={"template": event, "params": {**SAMPLE_PARAMS, "by": "cli"}, "locale": locale,
                                     "timezone": "Europe/Paris", "date_format": "DD/MM/YYYY", "given_name": "Pat",
                                     "display_name": "", "account": "Acme Vendor"})
    subject, body = notifications.render(message, deployment)
    assert subject and "{" not in subject and "{" not in body
    assert "05/01/2026 10:00 CET" in body  # when, in the person's zone and format
    assert "http://roster.test/profile" in body or event == "user_deleted"  # how to turn these off
    assert "Pat" in body



def test_a_directory_deactivation_costs_one_insert_whatever_the_setting(account, person, monkeypatch, deployment):
    token, _ = scim_tokens.create_token(account, by=Actor.cli())
    directory_client = Actor.for_scim_token(token)
    record = directory.create_record(account, person.email, {}, None, by=directory_client, deployment=deployment)

    def set_active(active: bool) -> int:
        with count_queries() as counted:
            directory.replace_record(account.id, record.id, person.email, {"active": active}, None,
                                     by=directory_client, deployment=deployment)
        return int(counted.count)

    told = set_active(False)
    set_active(True)
    settings(person, memberships=False)
    not_wanted = set_active(False)
    set_active(True)
    monkeypatch.setattr(notifications, "notify", lambda *args, **kwargs: None)
    without_notifications = set_active(False)

    assert told == not_wanted == without_notifications + 1
    assert [m.payload["template"] for m in notices(person.email)] == ["deactivated", "reactivated"]
