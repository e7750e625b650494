"""models.signin and models.sessions: every sign-in decision and session rule, on both databases."""

from __future__ import annotations

import datetime as dt

import pytest

from models import Actor, accounts, clock, members, sessions, signin, throttle
from models.deployment import Deployment
from models.security import OAuthClient, OAuthToken, Session
from models.tenancy import User

PASSWORD = "correct horse battery staple"


@pytest.fixture
def person(account, cli_actor, frozen_clock, deployment):
    added = members.add_user(account, "pat@acme.example", password=PASSWORD, by=cli_actor, via="cli",
                             deployment=deployment)
    User.update(must_change_password=False, terms_accepted_at=clock.now()).where(User.id == added.user.id).execute()
    return User.get_by_id(added.user.id)


def test_the_right_password_gives_the_person(person, deployment):
    assert signin.check_password("PAT@acme.example ", PASSWORD, ip="10.0.0.1", hasher=deployment.hasher).id == person.id


@pytest.mark.parametrize("email,password", [("pat@acme.example", "wrong"), ("nobody@acme.example", PASSWORD)])
def test_a_wrong_password_or_email_is_one_refusal(person, email, password, deployment):
    with pytest.raises(signin.SignInRefused) as refused:
        signin.check_password(email, password, ip="10.0.0.1", hasher=deployment.hasher)
    assert refused.value.message == "The email or password is not right."


def test_a_disabled_person_cannot_sign_in_even_with_the_password(person, deployment):
    members.disable_user(person, by=Actor.cli("operator"))
    with pytest.raises(signin.SignInRefused):
        signin.check_password(person.email, PASSWORD, ip="10.0.0.1", hasher=deployment.hasher)


def test_five_failures_lock_the_email_and_the_lock_ends(person, frozen_clock, deployment):
    for _ in range(4):
        with pytest.raises(signin.SignInRefused):
            signin.check_password(person.email, "wrong", ip=f"10.0.0.{_}", hasher=deployment.hasher)
    with pytest.raises(throttle.LockedOutError):
        signin.check_password(person.email, "wrong", ip="10.0.0.9", hasher=deployment.hasher)
    with pytest.raises(throttle.LockedOutError):
        signin.check_password(person.email, PASSWORD, ip="10.0.0.10", hasher=deployment.hasher)
    frozen_clock.advance(minutes=16)
    assert signin.check_password(person.email, PASSWORD, ip="10.0.0.11", hasher=deployment.hasher).id == person.id


def test_a_success_forgets_earlier_failures(person, deployment):
    for _ in range(4):
        with pytest.raises(signin.SignInRefused):
            signin.check_password(person.email, "wrong", ip="10.0.0.1", hasher=deployment.hasher)
    signin.check_password(person.email, PASSWORD, ip="10.0.0.1", hasher=deployment.hasher)
    for _ in range(4):
        with pytest.raises(signin.SignInRefused):
            signin.check_password(person.email, "wrong", ip="10.0.0.1", hasher=deployment.hasher)


def test_next_step_without_a_sign_in_is_login(person, account):
    assert signin.next_step(person, account, amr=[], auth_time=None).name == "login"


def test_next_step_r8_comes_first(person, account):
    User.update(must_change_password=True).where(User.id == person.id).execute()
    step = signin.next_step(User.get_by_id(person.id), account, amr=["pwd"], auth_time=clock.now())
    assert step.name == "first_login"


def test_next_step_r8_asks_a_person_with_their_own_password_for_the_terms_only(person, account):
    User.update(terms_accepted_at=None).where(User.id == person.id).execute()
    step = signin.next_step(User.get_by_id(person.id), account, amr=["pwd"], auth_time=clock.now())
    assert step.name == "first_login" and step.reason == "Accept the terms of use to continue."
    User.update(must_change_password=True).where(User.id == person.id).execute()
    step = signin.next_step(User.get_by_id(person.id), account, amr=["pwd"], auth_time=clock.now())
    assert step.name == "first_login" and "choose your own password" in step.reason


def test_next_step_max_age(person, account, frozen_clock):
    started = clock.now()
    frozen_clock.advance(minutes=10)
    assert signin.next_step(person, account, amr=["pwd"], auth_time=started, max_age=600).name is None
    frozen_clock.advance(seconds=1)
    assert signin.next_step(person, account, amr=["pwd"], auth_time=started, max_age=600).name == "login"


def test_next_step_r10_policy_and_acr_values(person, account, cli_actor):
    now = clock.now()
    assert signin.next_step(person, account, amr=["pwd"], auth_time=now) == signin.DONE
    assert signin.next_step(person, account, amr=["pwd"], auth_time=now, acr_values=["mfa"]).name == "mfa_enrol"
    accounts.set_policy(account, mfa_required=True, by=cli_actor)
    strict = accounts.get_account(account.id)
    assert signin.next_step(person, strict, amr=["pwd"], auth_time=now).name == "mfa_enrol"
    assert signin.next_step(person, strict, amr=["pwd", "otp", "mfa"], auth_time=now) == signin.DONE
    assert signin.next_step(person, strict, amr=["pwd", "hwk", "mfa"], auth_time=now) == signin.DONE


def test_next_step_asks_for_the_factor_a_person_has(person, account, cli_actor, deployment):
    from models import mfa

    credential, uri = mfa.begin_totp(person, deployment=deployment)
    import pyotp

    mfa.confirm_totp(person, credential.id, pyotp.parse_uri(uri).at(clock.now().replace(tzinfo=dt.UTC)),
                     secrets=deployment.secrets)
    accounts.set_policy(account, mfa_required=True, by=cli_actor)
    assert signin.next_step(person, accounts.get_account(account.id), amr=["pwd"],
                            auth_time=clock.now()).name == "mfa"


def test_acr_and_amr(person):
    assert signin.acr_for(["pwd"]) == "pwd"
    assert signin.acr_for(["pwd", "otp", "mfa"]) == "mfa"
    assert signin.amr_with(["pwd"], "otp") == ["pwd", "otp", "mfa"]
    assert signin.amr_with(["pwd", "otp", "mfa"], "hwk") == ["pwd", "otp", "hwk", "mfa"]


def test_admitted_accounts_are_active_memberships_narrowed_by_the_client(person, account, cli_actor, deployment):
    other = accounts.create_account("Other Reseller", "reseller", by=cli_actor)
    members.add_user(other, person.email, by=cli_actor, via="cli", deployment=deployment)
    assert [a.id for a in signin.admitted_accounts(person, None)] == sorted(
        [account.id, other.id], key=lambda i: accounts.get_account(i).name)
    assert [a.id for a in signin.admitted_accounts(person, other.id)] == [other.id]
    members.deactivate(members.get_membership(other, person.email), by=cli_actor)
    assert signin.admitted_accounts(person, other.id) == []


# --- sessions ---------------------------------------------------------------


def test_a_session_is_found_by_its_cookie_only_while_live(person, frozen_clock):
    row, raw = sessions.start(person, account_id=None, amr=["pwd"], ip="10.0.0.1", user_agent="UA")
    assert row.token_hash != raw
    assert sessions.find_active(raw).id == row.id
    assert sessions.find_active("rs_wrong") is None
    frozen_clock.advance(hours=13)
    assert sessions.find_active(raw) is None
    assert Session.get_by_id(row.id).end_reason == "idle_timeout"


def test_a_session_ends_after_its_lifetime_even_in_use(person, frozen_clock):
    row, raw = sessions.start(person, account_id=None, amr=["pwd"])
    for _ in range(15):
        frozen_clock.advance(days=1)
        sessions.find_active(raw)
        if Session.get_by_id(row.id).ended_at is not None:
            break
    assert Session.get_by_id(row.id).end_reason in ("expired", "idle_timeout")


def test_ending_one_session_revokes_its_tokens_and_keeps_the_history(person, account, deployment):
    row, raw = sessions.start(person, account_id=account.id, amr=["pwd"])
    client = OAuthClient.create(client_id="c1", account=account.id, redirect_uris=["https://a.example/cb"],
                                backchannel_logout_uri="https://a.example/bc")
    token = OAuthToken.create(client=client.client_id, user=person.id, account=account.id, session=row.id,
                              family_id="f", access_token_hash="h1", access_expires_at=clock.now())
    other_person = members.add_user(account, "bob@acme.example", by=Actor.cli("t"), via="cli",
                                    deployment=deployment).user
    assert sessions.end(row.id, "ended_by_user", user=other_person) is False  # not theirs
    assert sessions.end(row.id, "ended_by_user", user=person) is True
    assert sessions.find_active(raw) is None
    assert OAuthToken.get_by_id(token.id).revoked_at is not None
    assert [s.end_reason for s in sessions.list_for(person)] == ["ended_by_user"]


def test_end_others_keeps_the_current_one(person):
    keep, _ = sessions.start(person, account_id=None, amr=["pwd"])
    for _ in range(3):
        sessions.start(person, account_id=None, amr=["pwd"])
    assert sessions.end_others(person, keep.id) == 3
    live = [s for s in sessions.list_for(person) if s.ended_at is None]
    assert [s.id for s in live] == [keep.id]
    assert sessions.list_for(person)[0].id == keep.id  # live first


def test_a_step_up_adds_methods_to_the_session(person, account):
    row, raw = sessions.start(person, account_id=None, amr=["pwd"])
    sessions.add_methods(row, ["pwd", "otp", "mfa"], account_id=account.id)
    found = sessions.find_active(raw)
    assert found.amr == ["pwd", "otp", "mfa"] and found.account_id == account.id


def with_totp(person: User, deployment: Deployment) -> User:
    from models import mfa

    credential, uri = mfa.begin_totp(person, deployment=deployment)
    import pyotp

    mfa.confirm_totp(person, credential.id, pyotp.parse_uri(uri).at(clock.now().replace(tzinfo=dt.UTC)),
                     secrets=deployment.secrets)
    return User.get_by_id(person.id)


def test_next_step_signing_in_asks_an_enrolled_factor_whatever_the_account(person, account, deployment):
    person = with_totp(person, deployment)
    now = clock.now()
    # the account asks for no second factor, yet the person who has one uses it at every sign-in
    assert signin.next_step(person, None, amr=["pwd"], auth_time=now, signing_in=True).name == "mfa"
    assert signin.next_step(person, account, amr=["pwd"], auth_time=now, signing_in=True).name == "mfa"
    assert signin.next_step(person, None, amr=["pwd", "otp", "mfa"], auth_time=now, signing_in=True) == signin.DONE


def test_next_step_signing_in_asks_the_factor_before_r8(person, account, deployment):
    person = with_totp(person, deployment)
    User.update(terms_accepted_at=None).where(User.id == person.id).execute()
    person = User.get_by_id(person.id)
    now = clock.now()
    # no session exists before the second factor, and R8's page needs one
    assert signin.next_step(person, None, amr=["pwd"], auth_time=now, signing_in=True).name == "mfa"
    assert signin.next_step(person, None, amr=["pwd", "otp", "mfa"], auth_time=now,
                            signing_in=True).name == "first_login"


def test_next_step_after_the_sign_in_asks_a_factor_enrolled_since_only_when_the_account_does(person, account,
                                                                                            deployment):
    person = with_totp(person, deployment)
    # a session begun with the password alone, before the factor was enrolled
    assert signin.next_step(person, account, amr=["pwd"], auth_time=clock.now()) == signin.DONE


def test_next_step_signing_in_without_a_factor_goes_on_to_r8(person):
    now = clock.now()
    assert signin.next_step(person, None, amr=["pwd"], auth_time=now, signing_in=True) == signin.DONE
    User.update(must_change_password=True).where(User.id == person.id).execute()
    step = signin.next_step(User.get_by_id(person.id), None, amr=["pwd"], auth_time=now, signing_in=True)
    assert step.name == "first_login"
