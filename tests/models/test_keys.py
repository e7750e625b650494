"""Signing keys: created once, rotated with the old key still published, private keys encrypted at rest."""

from __future__ import annotations

import datetime as dt

import pytest
from joserfc import errors, jwk, jwt

from models import AuditEvent, SigningKey, keys
from models.crypto import Secrets

# authlib 1.9 deprecates authlib.jose for joserfc, its authors' JOSE library (an authlib dependency)
KEY_TYPES = {"RS256": "RSA", "ES256": "EC"}


def _private(key: SigningKey, secrets: Secrets):
    return jwk.import_key(keys.private_key_pem(key, secrets), KEY_TYPES[key.alg])


def _published() -> jwk.KeySet:
    return jwk.KeySet.import_key_set(keys.published_jwks())  # type: ignore[arg-type]


def _sign(key: SigningKey, claims: dict, secrets: Secrets) -> str:
    return jwt.encode({"alg": key.alg, "kid": key.kid}, claims, _private(key, secrets))


def test_ensure_keys_creates_one_rs256_and_one_es256_key_once(database, deployment):
    first = keys.ensure_keys(deployment.secrets)
    second = keys.ensure_keys(deployment.secrets)

    assert sorted(k.alg for k in first) == ["ES256", "RS256"]
    assert [k.kid for k in first] == [k.kid for k in second]
    assert SigningKey.select().count() == 2
    assert len({k.kid for k in first}) == 2


def test_active_key_creates_keys_on_first_use(database, deployment):
    key = keys.active_key("ES256", deployment.secrets)

    assert key.alg == "ES256" and key.retired_at is None
    assert keys.active_key("ES256", deployment.secrets).kid == key.kid
    assert SigningKey.select().count() == 2


def test_the_kid_of_a_generation_is_fixed_so_concurrent_creators_collide(database, deployment):
    first = keys.active_key("RS256", deployment.secrets)

    # a second creator of generation 0 would draw the same kid: the primary key lets only one insert win
    assert first.kid == keys._kid("RS256", 0, deployment.secrets)
    secrets = deployment.secrets
    assert len({keys._kid("RS256", 0, secrets), keys._kid("RS256", 1, secrets), keys._kid("ES256", 0, secrets)}) == 3
    assert len(first.kid) == 22  # 128 opaque bits, base64url


def test_rsa_key_is_2048_bits_and_ec_key_p256(database, deployment):
    keys.ensure_keys(deployment.secrets)
    rsa_key = _private(keys.active_key("RS256", deployment.secrets), deployment.secrets)
    ec_key = _private(keys.active_key("ES256", deployment.secrets), deployment.secrets)

    assert rsa_key.private_key.key_size == 2048
    assert ec_key.as_dict()["crv"] == "P-256"


def test_private_key_is_not_stored_in_clear(database, deployment):
    keys.ensure_keys(deployment.secrets)

    for row in SigningKey.select():
        assert "PRIVATE KEY" not in row.private_key_encrypted
        assert deployment.secrets.decrypt(row.private_key_encrypted).startswith("-----BEGIN PRIVATE KEY-----")
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(row.public_jwk)


def test_public_jwk_matches_the_jose_library(database, deployment):
    for key in keys.ensure_keys(deployment.secrets):
        expected = _private(key, deployment.secrets).as_dict(private=False)
        assert {k: v for k, v in key.public_jwk.items() if k not in ("kid", "alg", "use")} == expected
        assert key.public_jwk["kid"] == key.kid and key.public_jwk["alg"] == key.alg
        assert key.public_jwk["use"] == "sig"


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_a_token_signed_with_the_active_key_verifies_with_the_published_jwks(database, alg, deployment):
    key = keys.active_key(alg, deployment.secrets)
    token = _sign(key, {"sub": "someone", "iss": "http://roster.test"}, deployment.secrets)

    decoded = jwt.decode(token, _published(), algorithms=[alg])

    assert decoded.header["kid"] == key.kid
    assert decoded.claims["sub"] == "someone"


def test_rotation_keeps_the_old_key_published_until_its_tokens_expire(database, frozen_clock, cli_actor, deployment):
    old = {k.alg: k for k in keys.ensure_keys(deployment.secrets)}
    old_token = _sign(old["RS256"], {"sub": "x"}, deployment.secrets)
    frozen_clock.advance(hours=1)

    new = {k.alg: k for k in keys.rotate(cli_actor, secrets=deployment.secrets,
                                         longest_token_lifetime=dt.timedelta(hours=2))}

    assert {keys.active_key(alg, deployment.secrets).kid for alg in keys.ALGORITHMS} == {k.kid for k in new.values()}
    retired = SigningKey.get_by_id(old["RS256"].kid)
    assert retired.retired_at == frozen_clock.current
    assert retired.publish_until == frozen_clock.current + dt.timedelta(hours=2)
    published = {k["kid"] for k in keys.published_jwks()["keys"]}
    assert published == {k.kid for k in old.values()} | {k.kid for k in new.values()}
    assert jwt.decode(old_token, _published(), algorithms=["RS256"]).claims["sub"] == "x"

    frozen_clock.advance(hours=2)

    assert {k["kid"] for k in keys.published_jwks()["keys"]} == {k.kid for k in new.values()}
    with pytest.raises(errors.InvalidKeyIdError):
        jwt.decode(old_token, _published(), algorithms=["RS256"])
    event = AuditEvent.get(AuditEvent.action == "signing_key.rotated")
    assert event.actor_type == "cli"
    assert sorted(event.detail["retired"]) == sorted(k.kid for k in old.values())
    assert sorted(event.detail["created"]) == sorted(k.kid for k in new.values())


def test_rotation_twice_retires_every_earlier_key(database, frozen_clock, cli_actor, deployment):
    keys.ensure_keys(deployment.secrets)
    keys.rotate(cli_actor, secrets=deployment.secrets)
    latest = keys.rotate(cli_actor, secrets=deployment.secrets)

    active = SigningKey.select().where(SigningKey.retired_at.is_null())
    assert {k.kid for k in active} == {k.kid for k in latest}
    assert SigningKey.select().count() == 6
    assert len(keys.published_jwks()["keys"]) == 6


def test_the_rs256_signing_key_is_imported_once_per_key_and_signs_for_the_published_jwks(database, cli_actor,
                                                                                         deployment):
    key = keys.active_key("RS256", deployment.secrets)
    imported = keys.private_rsa_key(key, deployment.secrets)

    # the PEM is not loaded again
    assert keys.private_rsa_key(SigningKey.get_by_id(key.kid), deployment.secrets) is imported
    token = jwt.encode({"alg": "RS256", "kid": key.kid}, {"sub": "someone"}, imported)
    assert jwt.decode(token, _published(), algorithms=["RS256"]).claims["sub"] == "someone"

    rotated = {k.alg: k for k in keys.rotate(cli_actor, secrets=deployment.secrets)}["RS256"]
    assert keys.private_rsa_key(rotated, deployment.secrets) is not imported
    assert keys.private_rsa_key(rotated, deployment.secrets).kid == rotated.kid != key.kid
