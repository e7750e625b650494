"""WebAuthn security keys and passkeys (R10), against soft-webauthn, a real software authenticator.

soft-webauthn answers with the browser's shapes but raw bytes; ``to_json``
turns that into the JSON a browser page posts (base64url, as webauthn expects).
It never verifies the user, so user verification stays "preferred".
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
from fido2 import cbor
from soft_webauthn import SoftWebauthnDevice

from models import (
    Actor,
    AuditEvent,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    RecoveryCode,
    User,
    WebAuthnCredential,
    members,
    mfa,
    passkeys,
)
from models.database import db

from .test_concurrency import race

RP_ID = "roster.test"
RP_NAME = "Roster"
ORIGIN = "https://roster.test"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def from_b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def for_device(options_json: str) -> dict[str, Any]:
    """The options JSON as a page hands it to navigator.credentials (binary fields as bytes)."""
    options = json.loads(options_json)
    options["challenge"] = from_b64url(options["challenge"])
    if "user" in options:
        options["user"]["id"] = from_b64url(options["user"]["id"])
    return {"publicKey": options}


def to_json(credential: dict[str, Any]) -> str:
    """soft-webauthn's PublicKeyCredential as the JSON a page posts (PublicKeyCredential.toJSON())."""
    response = {key: b64url(value) if isinstance(value, bytes) else value
                for key, value in credential["response"].items()}
    raw_id = b64url(credential["rawId"])
    return json.dumps({"id": raw_id, "rawId": raw_id, "response": response, "type": credential["type"]})


def as_synced_passkey(credential: dict[str, Any]) -> dict[str, Any]:
    """Mark a registration as a backed-up, backup-eligible (synced) passkey: flags BE and BS.

    With attestation "none" nothing signs the authenticator data, so the flags can be set here.
    """
    attestation = cbor.decode(credential["response"]["attestationObject"])
    auth_data = bytearray(attestation["authData"])
    auth_data[32] |= 0x08 | 0x10
    attestation["authData"] = bytes(auth_data)
    changed = copy.deepcopy({k: v for k, v in credential.items() if k != "response"})
    changed["response"] = dict(credential["response"], attestationObject=cbor.encode(attestation))
    return changed


def register(user: User, device: SoftWebauthnDevice, *, nickname: str | None = None,
             synced: bool = False) -> WebAuthnCredential:
    options, challenge = passkeys.registration_options(user, rp_id=RP_ID, rp_name=RP_NAME)
    created = device.create(for_device(options), ORIGIN)
    if synced:
        created = as_synced_passkey(created)
    return passkeys.finish_registration(user, to_json(created), challenge=challenge, rp_id=RP_ID, origin=ORIGIN,
                                        nickname=nickname, by=Actor.for_user(user))


def assertion(device: SoftWebauthnDevice, user: User | None = None, *,
              origin: str = ORIGIN) -> tuple[str, bytes]:
    """A signed response to fresh authentication options, and the challenge to check it against."""
    options, challenge = passkeys.authentication_options(rp_id=RP_ID, user=user)
    return to_json(device.get(for_device(options), origin)), challenge


def sign_in(device: SoftWebauthnDevice, user: User | None = None):
    response, challenge = assertion(device, user)
    return passkeys.verify_authentication(response, challenge=challenge, rp_id=RP_ID, origin=ORIGIN, user=user)


def actions() -> list[str]:
    return [e.action for e in AuditEvent.select().order_by(AuditEvent.id) if e.action.startswith("mfa.")]


@pytest.fixture
def user(admin):
    return admin[1]


@pytest.fixture
def other(account, cli_actor, deployment):
    return members.add_user(account, "bob@acme.example", password="another long unusual passphrase",
                            by=cli_actor, deployment=deployment).user


@pytest.fixture
def device():
    return SoftWebauthnDevice()


@pytest.fixture
def key(user, device, frozen_clock):
    """A registered security key; the clock moves on so the next challenge is newer than the registration."""
    credential = register(user, device)
    frozen_clock.advance(seconds=1)
    return credential


# --- registration -------------------------------------------------------------


def test_registration_options_ask_for_a_passkey_and_exclude_the_persons_keys(user, key):
    options, challenge = passkeys.registration_options(user, rp_id=RP_ID, rp_name=RP_NAME)

    parsed = json.loads(options)
    assert parsed["rp"] == {"id": RP_ID, "name": RP_NAME}
    assert from_b64url(parsed["user"]["id"]) == user.id.encode()
    assert parsed["user"]["name"] == user.email
    assert from_b64url(parsed["challenge"]) == challenge
    assert parsed["authenticatorSelection"]["residentKey"] == "preferred"
    assert parsed["authenticatorSelection"]["userVerification"] == "preferred"
    assert {p["alg"] for p in parsed["pubKeyCredParams"]} == {-7, -8, -257}
    assert parsed["attestation"] == "none"
    assert [c["id"] for c in parsed["excludeCredentials"]] == [key.credential_id]


def test_finish_registration_stores_a_hardware_key(user, device, frozen_clock):
    credential = register(user, device)

    stored = WebAuthnCredential.get_by_id(credential.id)
    assert stored.user_id == user.id
    assert stored.credential_id == b64url(device.credential_id)
    assert stored.sign_count == 0
    assert stored.device_type == "single_device"
    assert stored.nickname == "Security key"
    assert stored.created_at == frozen_clock.current
    assert stored.last_used_at is None
    assert passkeys.amr_method(stored) == "hwk"
    assert mfa.has_second_factor(user)
    event = AuditEvent.get(AuditEvent.action == "mfa.webauthn_added")
    assert (event.actor_type, event.actor_id, event.target_id) == ("user", user.id, user.id)
    assert event.detail["credential_id"] == credential.id
    assert event.detail["device_type"] == "single_device"


def test_a_synced_passkey_is_stored_as_multi_device_and_counts_as_swk(user, device, frozen_clock):
    credential = register(user, device, synced=True)

    assert credential.device_type == "multi_device"
    assert credential.nickname == "Passkey"
    assert passkeys.amr_method(credential) == "swk"
    assert mfa.amr_for(["pwd", passkeys.amr_method(credential)]) == ["pwd", "swk", "mfa"]


def test_registration_keeps_the_nickname_and_the_transports(user, device, frozen_clock):
    options, challenge = passkeys.registration_options(user, rp_id=RP_ID, rp_name=RP_NAME)
    created = json.loads(to_json(device.create(for_device(options), ORIGIN)))
    created["response"]["transports"] = ["usb", "nfc", "carrier-pigeon"]

    credential = passkeys.finish_registration(user, json.dumps(created), challenge=challenge, rp_id=RP_ID,
                                              origin=ORIGIN, nickname="  Blue   YubiKey ", by=Actor.for_user(user))

    stored = WebAuthnCredential.get_by_id(credential.id)
    assert stored.nickname == "Blue YubiKey"
    assert stored.transports == ["usb", "nfc"]
    options, _ = passkeys.authentication_options(rp_id=RP_ID, user=user)
    assert json.loads(options)["allowCredentials"][0]["transports"] == ["usb", "nfc"]


def test_registration_refuses_another_challenge(user, device, frozen_clock):
    options, _ = passkeys.registration_options(user, rp_id=RP_ID, rp_name=RP_NAME)
    _, other_challenge = passkeys.registration_options(user, rp_id=RP_ID, rp_name=RP_NAME)
    created = to_json(device.create(for_device(options), ORIGIN))

    with pytest.raises(InvalidInputError) as refused:
        passkeys.finish_registration(user, created, challenge=other_challenge, rp_id=RP_ID, origin=ORIGIN,
                                     by=Actor.for_user(user))
    assert refused.value.reason == "challenge_mismatch"
    assert WebAuthnCredential.select().count() == 0
    assert "mfa.webauthn_added" not in actions()


@pytest.mark.parametrize(("rp_id", "origin", "reason"), [
    (RP_ID, "https://evil.test", "origin_mismatch"),
    ("other.test", ORIGIN, "rp_id_mismatch"),
])
def test_registration_refuses_another_origin_or_rp_id(user, device, frozen_clock, rp_id, origin, reason):
    options, challenge = passkeys.registration_options(user, rp_id=RP_ID, rp_name=RP_NAME)
    created = to_json(device.create(for_device(options), origin))

    with pytest.raises(InvalidInputError) as refused:
        passkeys.finish_registration(user, created, challenge=challenge, rp_id=rp_id, origin=ORIGIN,
                                     by=Actor.for_user(user))
    assert refused.value.reason == reason
    assert WebAuthnCredential.select().count() == 0


@pytest.mark.parametrize("response", ["not json", "{}", json.dumps({"id": "x", "rawId": "x", "type": "public-key",
                                                                   "response": {"clientDataJSON": "e30",
                                                                                "attestationObject": "oA"}})])
def test_registration_refuses_a_malformed_response(user, frozen_clock, response):
    _, challenge = passkeys.registration_options(user, rp_id=RP_ID, rp_name=RP_NAME)
    with pytest.raises(InvalidInputError) as refused:
        passkeys.finish_registration(user, response, challenge=challenge, rp_id=RP_ID, origin=ORIGIN,
                                     by=Actor.for_user(user))
    assert refused.value.reason == "invalid_response"
    assert "could not be verified" in refused.value.message


def test_registration_refuses_a_key_already_registered_by_anyone(user, other, device, frozen_clock):
    options, challenge = passkeys.registration_options(user, rp_id=RP_ID, rp_name=RP_NAME)
    created = to_json(device.create(for_device(options), ORIGIN))
    passkeys.finish_registration(user, created, challenge=challenge, rp_id=RP_ID, origin=ORIGIN,
                                 by=Actor.for_user(user))

    for person in (user, other):
        with pytest.raises(InvalidInputError) as refused:
            passkeys.finish_registration(person, created, challenge=challenge, rp_id=RP_ID, origin=ORIGIN,
                                         by=Actor.for_user(person))
        assert refused.value.reason == "already_registered"
    assert WebAuthnCredential.select().count() == 1


def test_registration_refuses_an_expired_or_foreign_challenge(user, device, frozen_clock):
    options, challenge = passkeys.registration_options(user, rp_id=RP_ID, rp_name=RP_NAME)
    created = to_json(device.create(for_device(options), ORIGIN))
    frozen_clock.advance(minutes=5, seconds=1)

    with pytest.raises(InvalidInputError) as expired:
        passkeys.finish_registration(user, created, challenge=challenge, rp_id=RP_ID, origin=ORIGIN,
                                     by=Actor.for_user(user))
    assert expired.value.reason == "expired_challenge"
    with pytest.raises(InvalidInputError) as foreign:
        passkeys.finish_registration(user, created, challenge=b"chosen by the caller", rp_id=RP_ID, origin=ORIGIN,
                                     by=Actor.for_user(user))
    assert foreign.value.reason == "invalid_challenge"


def test_registration_refuses_a_bad_nickname(user, device, frozen_clock):
    for nickname, reason in (("   ", "required"), ("x" * 101, "too_long")):
        with pytest.raises(InvalidInputError) as refused:
            register(user, SoftWebauthnDevice(), nickname=nickname)
        assert (refused.value.field, refused.value.reason) == ("nickname", reason)


# --- authentication -----------------------------------------------------------


def test_a_second_factor_with_the_persons_key(user, key, device, frozen_clock):
    options, _ = passkeys.authentication_options(rp_id=RP_ID, user=user)
    assert [c["id"] for c in json.loads(options)["allowCredentials"]] == [key.credential_id]
    assert json.loads(options)["userVerification"] == "preferred"

    person, credential = sign_in(device, user)

    assert person.id == user.id
    assert credential.id == key.id
    assert credential.sign_count == 1
    assert credential.last_used_at == frozen_clock.current
    assert WebAuthnCredential.get_by_id(key.id).sign_count == 1


def test_a_discoverable_passkey_sign_in_finds_the_person(user, key, device, frozen_clock):
    options, _ = passkeys.authentication_options(rp_id=RP_ID)
    assert json.loads(options).get("allowCredentials", []) == []

    person, credential = sign_in(device)

    assert person.id == user.id and credential.id == key.id


def test_signing_in_again_with_a_new_challenge(user, key, device, frozen_clock):
    sign_in(device, user)
    frozen_clock.advance(minutes=1)
    _, credential = sign_in(device, user)
    assert credential.sign_count == 2


def test_authentication_refuses_another_challenge(user, key, device, frozen_clock):
    response, _ = assertion(device, user)
    _, other_challenge = passkeys.authentication_options(rp_id=RP_ID, user=user)

    with pytest.raises(InvalidInputError) as refused:
        passkeys.verify_authentication(response, challenge=other_challenge, rp_id=RP_ID, origin=ORIGIN, user=user)
    assert refused.value.reason == "challenge_mismatch"
    assert WebAuthnCredential.get_by_id(key.id).last_used_at is None


def test_authentication_refuses_another_origin(user, key, device, frozen_clock):
    response, challenge = assertion(device, user, origin="https://roster.test.evil.example")
    with pytest.raises(InvalidInputError) as refused:
        passkeys.verify_authentication(response, challenge=challenge, rp_id=RP_ID, origin=ORIGIN, user=user)
    assert refused.value.reason == "origin_mismatch"


def test_authentication_accepts_one_of_several_origins(user, key, device, frozen_clock):
    response, challenge = assertion(device, user)
    person, _ = passkeys.verify_authentication(response, challenge=challenge, rp_id=RP_ID,
                                               origin=["https://other.roster.test", ORIGIN], user=user)
    assert person.id == user.id


def test_authentication_refuses_another_rp_id(user, key, device, frozen_clock):
    response, challenge = assertion(device, user)
    with pytest.raises(InvalidInputError) as refused:
        passkeys.verify_authentication(response, challenge=challenge, rp_id="other.test", origin=ORIGIN, user=user)
    assert refused.value.reason == "rp_id_mismatch"


def test_authentication_refuses_an_expired_challenge(user, key, device, frozen_clock):
    response, challenge = assertion(device, user)
    frozen_clock.advance(minutes=6)
    with pytest.raises(InvalidInputError) as refused:
        passkeys.verify_authentication(response, challenge=challenge, rp_id=RP_ID, origin=ORIGIN, user=user)
    assert refused.value.reason == "expired_challenge"


def test_authentication_refuses_a_forged_signature(user, key, device, frozen_clock):
    response, challenge = assertion(device, user)
    forged = json.loads(response)
    signature = bytearray(from_b64url(forged["response"]["signature"]))
    signature[-1] ^= 0x01
    forged["response"]["signature"] = b64url(bytes(signature))

    with pytest.raises(InvalidInputError) as refused:
        passkeys.verify_authentication(json.dumps(forged), challenge=challenge, rp_id=RP_ID, origin=ORIGIN,
                                       user=user)
    assert refused.value.reason == "invalid_response"
    assert WebAuthnCredential.get_by_id(key.id).sign_count == 0


def test_a_key_of_someone_else_is_not_a_second_factor_for_me(user, other, key, device, frozen_clock):
    response, challenge = assertion(device, user)
    with pytest.raises(InvalidInputError) as refused:
        passkeys.verify_authentication(response, challenge=challenge, rp_id=RP_ID, origin=ORIGIN, user=other)
    assert refused.value.reason == "unknown_credential"
    # nothing was used: the owner can still answer that very challenge
    person, _ = passkeys.verify_authentication(response, challenge=challenge, rp_id=RP_ID, origin=ORIGIN, user=user)
    assert person.id == user.id


def test_an_unknown_key_or_a_user_handle_of_someone_else_is_refused(user, other, key, device, frozen_clock):
    stranger = SoftWebauthnDevice()
    stranger.cred_init(RP_ID, b"nobody")
    response, challenge = assertion(stranger)
    with pytest.raises(InvalidInputError) as unknown:
        passkeys.verify_authentication(response, challenge=challenge, rp_id=RP_ID, origin=ORIGIN)
    assert unknown.value.reason == "unknown_credential"

    response, challenge = assertion(device)
    claimed = json.loads(response)
    claimed["response"]["userHandle"] = b64url(other.id.encode())
    with pytest.raises(InvalidInputError) as handle:
        passkeys.verify_authentication(json.dumps(claimed), challenge=challenge, rp_id=RP_ID, origin=ORIGIN)
    assert handle.value.reason == "unknown_credential"


def test_a_disabled_person_cannot_sign_in_with_a_passkey(user, key, device, frozen_clock):
    User.update(status="disabled").where(User.id == user.id).execute()
    with pytest.raises(ForbiddenError):
        sign_in(device)


def test_a_replayed_assertion_is_refused_and_audited(user, key, device, frozen_clock):
    response, challenge = assertion(device, user)
    passkeys.verify_authentication(response, challenge=challenge, rp_id=RP_ID, origin=ORIGIN, user=user)
    frozen_clock.advance(seconds=5)

    with pytest.raises(InvalidInputError) as refused:
        passkeys.verify_authentication(response, challenge=challenge, rp_id=RP_ID, origin=ORIGIN, user=user)

    assert refused.value.reason == "sign_count"
    event = AuditEvent.get(AuditEvent.action == "mfa.webauthn_clone_suspected")
    assert event.target_id == user.id
    assert event.detail == {"credential_id": key.id, "stored_sign_count": 1, "presented_sign_count": 1}
    assert WebAuthnCredential.get_by_id(key.id).sign_count == 1


def test_a_cloned_key_whose_counter_lags_is_refused_and_audited(user, key, device, frozen_clock):
    clone = SoftWebauthnDevice()
    clone.credential_id, clone.private_key = device.credential_id, device.private_key
    clone.rp_id, clone.user_handle, clone.sign_count = device.rp_id, device.user_handle, device.sign_count
    sign_in(device, user)
    sign_in_at = WebAuthnCredential.get_by_id(key.id).last_used_at
    frozen_clock.advance(minutes=1)

    with pytest.raises(InvalidInputError) as refused:
        sign_in(clone, user)

    assert refused.value.reason == "sign_count"
    assert "copied" in refused.value.message
    assert actions().count("mfa.webauthn_clone_suspected") == 1
    stored = WebAuthnCredential.get_by_id(key.id)
    assert (stored.sign_count, stored.last_used_at) == (1, sign_in_at)


def test_an_authenticator_without_a_counter_cannot_replay_either(user, frozen_clock):
    # most synced passkeys always report 0; the challenge's issue time stands in for the counter
    device = SoftWebauthnDevice()
    register(user, device)
    frozen_clock.advance(seconds=1)
    device.sign_count = -1  # soft-webauthn adds one before signing: it reports 0
    response, challenge = assertion(device, user)
    passkeys.verify_authentication(response, challenge=challenge, rp_id=RP_ID, origin=ORIGIN, user=user)
    frozen_clock.advance(seconds=1)

    with pytest.raises(InvalidInputError) as refused:
        passkeys.verify_authentication(response, challenge=challenge, rp_id=RP_ID, origin=ORIGIN, user=user)
    assert refused.value.reason == "replayed"
    assert "mfa.webauthn_assertion_replayed" in actions()

    device.sign_count = -1
    _, credential = sign_in(device, user)
    assert credential.sign_count == 0


def test_one_assertion_used_concurrently_passes_once(user, key, device, frozen_clock):
    response, challenge = assertion(device, user)
    db.close()

    results = race([lambda: passkeys.verify_authentication(response, challenge=challenge, rp_id=RP_ID,
                                                           origin=ORIGIN, user=user)] * 6)

    db.connect(reuse_if_open=True)
    winners = [r for r in results if isinstance(r, tuple)]
    assert len(winners) == 1, results
    assert all(isinstance(r, InvalidInputError) for r in results if r not in winners), results
    assert WebAuthnCredential.get_by_id(key.id).sign_count == 1


# --- the person's keys -------------------------------------------------------


def test_list_rename_and_remove_touch_only_the_persons_own_keys(user, other, key, frozen_clock):
    others_key = register(other, SoftWebauthnDevice())

    assert [c.id for c in passkeys.list_for(user)] == [key.id]
    assert [c.id for c in passkeys.list_for(other)] == [others_key.id]
    options, _ = passkeys.registration_options(user, rp_id=RP_ID, rp_name=RP_NAME)
    assert [c["id"] for c in json.loads(options)["excludeCredentials"]] == [key.credential_id]
    with pytest.raises(NotFoundError):
        passkeys.rename(user, others_key.id, "Mine now", Actor.for_user(user))
    with pytest.raises(NotFoundError):
        passkeys.remove(user, others_key.id, Actor.for_user(user))
    assert WebAuthnCredential.get_by_id(others_key.id).nickname == "Security key"


def test_rename(user, key):
    renamed = passkeys.rename(user, key.id, " Office  key ", Actor.for_user(user))

    assert renamed.nickname == "Office key"
    assert WebAuthnCredential.get_by_id(key.id).nickname == "Office key"
    assert AuditEvent.get(AuditEvent.action == "mfa.webauthn_renamed").detail["nickname"] == "Office key"
    with pytest.raises(InvalidInputError):
        passkeys.rename(user, key.id, "", Actor.for_user(user))


def test_removing_the_last_second_factor_removes_the_recovery_codes(user, key, cli_actor):
    mfa.regenerate_recovery_codes(user)

    passkeys.remove(user, key.id, cli_actor)

    assert passkeys.list_for(user) == []
    assert not mfa.has_second_factor(user)
    assert RecoveryCode.select().count() == 0
    event = AuditEvent.get(AuditEvent.action == "mfa.webauthn_removed")
    assert event.actor_type == "cli"
    assert event.detail == {"credential_id": key.id, "recovery_codes_removed": 10}
    with pytest.raises(NotFoundError):
        passkeys.remove(user, key.id, cli_actor)


def test_removing_one_of_two_keys_keeps_the_recovery_codes(user, key, frozen_clock):
    second = register(user, SoftWebauthnDevice())
    codes = mfa.regenerate_recovery_codes(user)

    passkeys.remove(user, key.id, Actor.for_user(user))

    assert [c.id for c in passkeys.list_for(user)] == [second.id]
    assert mfa.use_recovery_code(user, codes[0]) is True


def test_the_audit_trail_of_a_keys_life(user, device, frozen_clock):
    credential = register(user, device)
    passkeys.rename(user, credential.id, "Travel key", Actor.for_user(user))
    passkeys.remove(user, credential.id, Actor.for_user(user))

    assert actions() == ["mfa.webauthn_added", "mfa.webauthn_renamed", "mfa.webauthn_removed"]
    assert all(e.account_id is None for e in AuditEvent.select().where(AuditEvent.action.startswith("mfa.")))


# --- as a second factor at sign-in (models.signin) ------------------------------------


def test_a_security_key_at_sign_in_gives_its_method(user, key, device, frozen_clock):
    from models import signin

    response, challenge = assertion(device, user)
    assert signin.check_security_key(user, response, challenge=challenge, rp_id=RP_ID, origin=ORIGIN) == "hwk"


def test_security_key_failures_are_throttled_with_the_codes(user, key, device, frozen_clock, deployment):
    from models import signin, throttle
    from models.errors import RosterError

    def wrong_origin() -> None:
        response, challenge = assertion(device, user, origin="https://evil.example")
        signin.check_security_key(user, response, challenge=challenge, rp_id=RP_ID, origin=ORIGIN)

    for _ in range(3):
        with pytest.raises(InvalidInputError):
            wrong_origin()
    with pytest.raises(RosterError):
        signin.check_second_factor(user, "000000", secrets=deployment.secrets)
    # the fifth failure of the person, key or code, locks both
    with pytest.raises(throttle.LockedOutError):
        wrong_origin()
    response, challenge = assertion(device, user)
    with pytest.raises(throttle.LockedOutError):
        signin.check_security_key(user, response, challenge=challenge, rp_id=RP_ID, origin=ORIGIN)
    frozen_clock.advance(minutes=16)
    response, challenge = assertion(device, user)
    assert signin.check_security_key(user, response, challenge=challenge, rp_id=RP_ID, origin=ORIGIN) == "hwk"
