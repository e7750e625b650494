"""Second factors (R10): TOTP with a ±1 step window and no replay, recovery codes, amr."""

from __future__ import annotations

import datetime as dt

import pyotp
import pytest

from models import (
    Actor,
    AuditEvent,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    RecoveryCode,
    TotpCredential,
    WebAuthnCredential,
    mfa,
)
from models.database import db

from .test_concurrency import race


def code_at(secret: str, moment: dt.datetime, steps: int = 0) -> str:
    """The code an authenticator app shows at ``moment`` (naive UTC), ``steps`` time steps away."""
    return pyotp.TOTP(secret).at(moment.replace(tzinfo=dt.UTC), counter_offset=steps)


@pytest.fixture
def user(admin):
    return admin[1]


@pytest.fixture
def enrolled(user, frozen_clock, deployment):
    """A confirmed authenticator; returns (credential, secret, recovery codes)."""
    credential, uri = mfa.begin_totp(user, deployment=deployment)
    secret = pyotp.parse_uri(uri).secret
    codes = mfa.confirm_totp(user, credential.id, code_at(secret, frozen_clock.current), secrets=deployment.secrets)
    # a later step, so the enrolment code's step is not what the tests use next
    frozen_clock.advance(seconds=90)
    return TotpCredential.get_by_id(credential.id), secret, codes


def test_begin_totp_stores_the_secret_encrypted_and_unconfirmed(user, frozen_clock, deployment):
    credential, uri = mfa.begin_totp(user, deployment=deployment)

    secret = pyotp.parse_uri(uri).secret
    assert uri.startswith("otpauth://totp/")
    assert "issuer=Roster" in uri
    stored = TotpCredential.get_by_id(credential.id)
    assert stored.confirmed_at is None
    assert secret not in stored.secret_encrypted
    assert deployment.secrets.decrypt(stored.secret_encrypted) == secret
    assert not mfa.has_second_factor(user)
    # unconfirmed: no factor
    assert mfa.verify_totp(user, code_at(secret, frozen_clock.current), secrets=deployment.secrets) is False


def test_begin_totp_again_drops_the_unconfirmed_enrolment(user, frozen_clock, deployment):
    first, _ = mfa.begin_totp(user, deployment=deployment)
    second, _ = mfa.begin_totp(user, deployment=deployment)
    assert [c.id for c in TotpCredential.select()] == [second.id]
    assert first.id != second.id


def test_confirm_totp_marks_confirmed_and_issues_ten_hashed_recovery_codes(user, frozen_clock, deployment):
    credential, uri = mfa.begin_totp(user, deployment=deployment)
    secret = pyotp.parse_uri(uri).secret

    codes = mfa.confirm_totp(user, credential.id, code_at(secret, frozen_clock.current), secrets=deployment.secrets)

    stored = TotpCredential.get_by_id(credential.id)
    assert stored.confirmed_at == frozen_clock.current
    assert stored.last_used_step == int(frozen_clock.current.replace(tzinfo=dt.UTC).timestamp()) // 30
    assert len(codes) == 10 and len(set(codes)) == 10
    hashes = {r.code_hash for r in RecoveryCode.select().where(RecoveryCode.user == user.id)}
    assert len(hashes) == 10
    assert not any(c in h or c.replace("-", "") in h for c in codes for h in hashes)
    assert mfa.has_second_factor(user)
    assert AuditEvent.select().where(AuditEvent.action == "mfa.totp_confirmed").count() == 1
    # the code that confirmed it is spent
    assert mfa.verify_totp(user, code_at(secret, frozen_clock.current), secrets=deployment.secrets) is False


def test_confirm_totp_refuses_a_wrong_code_and_leaves_it_unconfirmed(user, frozen_clock, deployment):
    credential, uri = mfa.begin_totp(user, deployment=deployment)
    secret = pyotp.parse_uri(uri).secret

    with pytest.raises(InvalidInputError):
        mfa.confirm_totp(user, credential.id, code_at(secret, frozen_clock.current, steps=2),
                         secrets=deployment.secrets)
    with pytest.raises(InvalidInputError):
        mfa.confirm_totp(user, credential.id, "not a code", secrets=deployment.secrets)

    assert TotpCredential.get_by_id(credential.id).confirmed_at is None
    assert RecoveryCode.select().count() == 0


def test_confirm_totp_refuses_someone_elses_or_a_confirmed_credential(user, enrolled, frozen_clock, account,
                                                                         cli_actor, deployment):
    from models import members

    other = members.add_user(account, "other@acme.example", password="another long passphrase",
                             by=cli_actor, deployment=deployment).user
    credential, secret, _ = enrolled
    with pytest.raises(NotFoundError):
        mfa.confirm_totp(other, credential.id, code_at(secret, frozen_clock.current), secrets=deployment.secrets)
    with pytest.raises(ConflictError):
        mfa.confirm_totp(user, credential.id, code_at(secret, frozen_clock.current), secrets=deployment.secrets)


@pytest.mark.parametrize("steps", [-1, 0, 1])
def test_verify_totp_accepts_the_previous_current_and_next_step(user, enrolled, frozen_clock, steps, deployment):
    _, secret, _ = enrolled
    assert mfa.verify_totp(user, code_at(secret, frozen_clock.current, steps), secrets=deployment.secrets) is True


@pytest.mark.parametrize("steps", [-2, 2])
def test_verify_totp_refuses_two_steps_away(user, enrolled, frozen_clock, steps, deployment):
    _, secret, _ = enrolled
    assert mfa.verify_totp(user, code_at(secret, frozen_clock.current, steps), secrets=deployment.secrets) is False


def test_verify_totp_refuses_a_replayed_or_an_earlier_step(user, enrolled, frozen_clock, deployment):
    _, secret, _ = enrolled
    now = frozen_clock.current
    assert mfa.verify_totp(user, code_at(secret, now), secrets=deployment.secrets) is True
    assert mfa.verify_totp(user, code_at(secret, now), secrets=deployment.secrets) is False
    assert mfa.verify_totp(user, code_at(secret, now, -1), secrets=deployment.secrets) is False
    assert mfa.verify_totp(user, code_at(secret, now, 1), secrets=deployment.secrets) is True
    frozen_clock.advance(seconds=60)
    assert mfa.verify_totp(user, code_at(secret, frozen_clock.current), secrets=deployment.secrets) is True


def test_verify_totp_ignores_spaces_and_refuses_garbage(user, enrolled, frozen_clock, deployment):
    _, secret, _ = enrolled
    assert mfa.verify_totp(user, "", secrets=deployment.secrets) is False
    assert mfa.verify_totp(user, "abcdef", secrets=deployment.secrets) is False
    code = code_at(secret, frozen_clock.current)
    assert mfa.verify_totp(user, f"{code[:3]} {code[3:]}", secrets=deployment.secrets) is True


def test_verify_totp_uses_the_domain_clock_not_the_system_clock(user, enrolled, frozen_clock, deployment):
    _, secret, _ = enrolled
    # the frozen clock is in January 2026
    assert mfa.verify_totp(user, pyotp.TOTP(secret).now(), secrets=deployment.secrets) is False


def test_the_same_code_used_concurrently_passes_once(user, enrolled, frozen_clock, deployment):
    _, secret, _ = enrolled
    code = code_at(secret, frozen_clock.current)
    db.close()
    results = race([lambda: mfa.verify_totp(user, code, secrets=deployment.secrets)] * 6)
    db.connect(reuse_if_open=True)
    assert sorted(results, key=str) == [False] * 5 + [True], results


def test_remove_totp_removes_the_factor_and_its_recovery_codes(user, enrolled, frozen_clock, cli_actor, deployment):
    credential, secret, codes = enrolled
    with pytest.raises(NotFoundError):
        mfa.remove_totp(user, "no-such-credential", cli_actor)

    mfa.remove_totp(user, credential.id, cli_actor)

    assert not mfa.has_second_factor(user)
    assert TotpCredential.select().count() == 0
    assert RecoveryCode.select().count() == 0
    assert mfa.verify_totp(user, code_at(secret, frozen_clock.current), secrets=deployment.secrets) is False
    assert AuditEvent.get(AuditEvent.action == "mfa.totp_removed").actor_type == "cli"


def test_remove_totp_keeps_recovery_codes_while_a_webauthn_key_remains(user, enrolled, cli_actor):
    credential, _, codes = enrolled
    WebAuthnCredential.create(user=user.id, credential_id="key-1", public_key="pk")
    mfa.remove_totp(user, credential.id, cli_actor)
    assert mfa.has_second_factor(user)
    assert mfa.use_recovery_code(user, codes[0]) is True


def test_recovery_codes_are_single_use(user, enrolled):
    _, _, codes = enrolled
    assert mfa.remaining_recovery_codes(user) == 10
    assert mfa.use_recovery_code(user, codes[0]) is True
    assert mfa.use_recovery_code(user, codes[0]) is False
    assert mfa.use_recovery_code(user, "") is False
    assert mfa.use_recovery_code(user, "aaaa-bbbb-cccc-dddd") is False
    # typed without dashes, in capitals, with spaces: the same code
    assert mfa.use_recovery_code(user, " " + codes[1].replace("-", " ").upper()) is True
    assert mfa.remaining_recovery_codes(user) == 8
    assert AuditEvent.select().where(AuditEvent.action == "mfa.recovery_code_used").count() == 2


def test_a_recovery_code_belongs_to_its_owner(user, enrolled, account, cli_actor, deployment):
    from models import members

    other = members.add_user(account, "other@acme.example", password="another long passphrase",
                             by=cli_actor, deployment=deployment).user
    _, _, codes = enrolled
    assert mfa.use_recovery_code(other, codes[0]) is False
    assert mfa.use_recovery_code(user, codes[0]) is True


def test_a_recovery_code_used_concurrently_passes_once(user, enrolled):
    _, _, codes = enrolled
    db.close()
    results = race([lambda: mfa.use_recovery_code(user, codes[0])] * 6)
    db.connect(reuse_if_open=True)
    assert sorted(results, key=str) == [False] * 5 + [True], results


def test_regenerating_recovery_codes_invalidates_the_old_ones(user, enrolled):
    _, _, old = enrolled
    new = mfa.regenerate_recovery_codes(user)

    assert len(new) == 10 and not set(new) & set(old)
    assert all(mfa.use_recovery_code(user, c) is False for c in old)
    assert mfa.use_recovery_code(user, new[0]) is True
    assert AuditEvent.select().where(AuditEvent.action == "mfa.recovery_codes_regenerated").count() == 1


def test_has_second_factor_counts_confirmed_totp_or_any_webauthn_key(user, frozen_clock, deployment):
    assert not mfa.has_second_factor(user)
    mfa.begin_totp(user, deployment=deployment)
    assert not mfa.has_second_factor(user)
    WebAuthnCredential.create(user=user.id, credential_id="key-1", public_key="pk")
    assert mfa.has_second_factor(user)


def test_mfa_required_for_follows_the_account_policy(account):
    assert mfa.mfa_required_for(account) is False
    account.mfa_required = True
    assert mfa.mfa_required_for(account) is True


@pytest.mark.parametrize(
    ("methods", "amr"),
    [
        (["password"], ["pwd"]),
        (["password", "totp"], ["pwd", "otp", "mfa"]),
        (["pwd", "recovery_code"], ["pwd", "otp", "mfa"]),
        (["password", "security_key"], ["pwd", "hwk", "mfa"]),
        (["passkey"], ["swk"]),
        (["totp", "recovery_code"], ["otp"]),
        (["security_key", "totp"], ["hwk", "otp"]),
        ([], []),
    ],
)
def test_amr_for_maps_methods_to_rfc_8176_values(methods, amr):
    assert mfa.amr_for(methods) == amr


def test_amr_for_refuses_an_unknown_method():
    with pytest.raises(ValueError):
        mfa.amr_for(["password", "carrier pigeon"])


def test_actor_for_user_is_recorded_on_enrolment(user, frozen_clock, deployment):
    mfa.begin_totp(user, deployment=deployment)
    event = AuditEvent.get(AuditEvent.action == "mfa.totp_enrolment_started")
    assert (event.actor_type, event.actor_id, event.target_id) == ("user", user.id, user.id)
    assert Actor.for_user(user).label == user.email
