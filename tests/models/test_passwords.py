"""argon2id cost: OWASP's minimum by default, configurable, and redone at the next successful sign-in."""

from __future__ import annotations

import dataclasses

import pytest
from argon2 import PasswordHasher

from models import members, signin, throttle
from models.deployment import Deployment
from models.passwords import Hasher
from models.settings import Settings
from models.tenancy import User

from ..conftest import BASE_URL, SECRET_KEY

PASSWORD = "correct horse battery staple"
OWASP = "$argon2id$v=19$m=19456,t=2,p=1$"  # OWASP Password Storage Cheat Sheet: 19 MiB, 2 passes, 1 lane
# argon2-cffi's own default until now, and so what every hash stored before was made with
OLD = PasswordHasher(memory_cost=65536, time_cost=3, parallelism=4)


def parameters(password_hash: str) -> str:
    return password_hash.rsplit("$", 2)[0] + "$"


CHEAPER = {"argon2_memory_kib": 8192, "argon2_time_cost": 1, "argon2_parallelism": 2}


@pytest.fixture
def person(account, cli_actor, deployment):
    added = members.add_user(account, "pat@acme.example", password=PASSWORD, by=cli_actor, via="cli",
                             deployment=deployment)
    return added.user


def stored(user: User) -> str:
    return User.get_by_id(user.id).password_hash


def test_the_default_cost_is_owasps_minimum():
    hasher = Hasher(Settings(secret_key=SECRET_KEY))
    made = hasher.hash(PASSWORD)
    assert parameters(made) == OWASP
    assert hasher.verify(made, PASSWORD) and not hasher.needs_rehash(made)
    assert hasher.needs_rehash(OLD.hash(PASSWORD))


def test_an_old_hash_is_redone_at_the_next_successful_sign_in_only(person, deployment):
    hasher = deployment.hasher
    old = OLD.hash(PASSWORD)
    User.update(password_hash=old).where(User.id == person.id).execute()

    with pytest.raises(signin.SignInRefused):
        signin.check_password(person.email, "not the password at all", ip="10.0.0.1", hasher=hasher)
    assert stored(person) == old  # a wrong password proves nothing: the hash stays

    signed_in = signin.check_password(person.email, PASSWORD, ip="10.0.0.1", hasher=hasher)

    new = stored(person)
    assert parameters(new) == OWASP and signed_in.password_hash == new
    assert hasher.verify(new, PASSWORD) and not hasher.verify(new, PASSWORD + "!")
    signin.check_password(person.email, PASSWORD, ip="10.0.0.1", hasher=hasher)
    assert stored(person) == new  # at the deployment's cost already: nothing to redo


def test_a_locked_out_sign_in_does_not_rehash(person, frozen_clock, deployment):
    old = OLD.hash(PASSWORD)
    User.update(password_hash=old).where(User.id == person.id).execute()
    for _ in range(throttle.MAX_FAILURES):
        with pytest.raises((signin.SignInRefused, throttle.LockedOutError)):
            signin.check_password(person.email, "wrong", ip="10.0.0.2", hasher=deployment.hasher)
    with pytest.raises(throttle.LockedOutError):
        signin.check_password(person.email, PASSWORD, ip="10.0.0.2", hasher=deployment.hasher)
    assert stored(person) == old


def test_a_changed_setting_takes_effect_for_new_hashes_and_at_the_next_sign_in(person, deployment):
    made_before = stored(person)
    assert parameters(made_before) == OWASP

    # the deployment restarted with another cost: same secret key and base URL, new argon2 settings
    changed = Deployment(Settings(secret_key=deployment.settings.secret_key, base_url=deployment.settings.base_url,
                                  **CHEAPER), deployment.links)
    hasher = changed.hasher

    assert parameters(hasher.hash("another long passphrase")) == "$argon2id$v=19$m=8192,t=1,p=2$"
    assert hasher.verify(made_before, PASSWORD)  # the cost is in the hash: old ones still verify
    assert hasher.needs_rehash(made_before)  # ... and are redone at the new cost
    signin.check_password(person.email, PASSWORD, ip="10.0.0.1", hasher=hasher)
    assert parameters(stored(person)) == "$argon2id$v=19$m=8192,t=1,p=2$"


def test_a_password_changed_during_the_check_is_not_overwritten(person, deployment):
    # the rehash writes only over the hash it checked: a reset that landed meanwhile wins
    hasher = deployment.hasher
    old = OLD.hash(PASSWORD)
    User.update(password_hash=old).where(User.id == person.id).execute()
    user = User.get_by_id(person.id)
    User.update(password_hash=hasher.hash("a newer passphrase")).where(User.id == person.id).execute()
    signin._rehash(user, PASSWORD, hasher)
    assert hasher.verify(stored(person), "a newer passphrase")


def test_an_unknown_email_is_checked_against_a_hash_of_the_current_cost(database):
    hasher = Hasher(Settings(secret_key=SECRET_KEY, **CHEAPER))
    assert parameters(hasher._dummy_hash) == "$argon2id$v=19$m=8192,t=1,p=2$"
    assert not hasher.verify(None, "roster dummy password")
    with pytest.raises(signin.SignInRefused):
        signin.check_password("nobody@acme.example", PASSWORD, ip="10.0.0.1", hasher=hasher)


@pytest.mark.parametrize("values,named", [
    ({"argon2_memory_kib": "lots"}, "argon2_memory_kib"),
    ({"argon2_memory_kib": 7}, "argon2_memory_kib"),
    ({"argon2_memory_kib": 16, "argon2_parallelism": 4}, "argon2_memory_kib"),
    ({"argon2_memory_kib": 8 * 1024 * 1024}, "argon2_memory_kib"),
    ({"argon2_time_cost": 0}, "argon2_time_cost"),
    ({"argon2_parallelism": 0}, "argon2_parallelism"),
    ({"argon2_parallelism": None}, "argon2_parallelism"),
])
def test_a_cost_out_of_range_is_refused_with_its_name(values, named, deployment):
    before = dataclasses.replace(deployment.settings)
    with pytest.raises(ValueError, match=named):
        Settings(secret_key=SECRET_KEY, base_url=BASE_URL, **values)
    # nothing else changes: the deployment in use keeps its settings and its cost
    assert deployment.settings == before
    assert parameters(deployment.hasher.hash(PASSWORD)) == OWASP


def test_the_app_takes_the_cost_from_the_environment(database_url, monkeypatch):
    from models.database import db
    from scim_server.app import create_app

    from ..conftest import dispose

    monkeypatch.setenv("ROSTER_ARGON2_MEMORY_KIB", "12288")
    monkeypatch.setenv("ROSTER_ARGON2_TIME_COST", "3")
    monkeypatch.setenv("ROSTER_ARGON2_PARALLELISM", "1")
    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "k" * 32})
    try:
        assert parameters(Deployment.of(app).hasher.hash(PASSWORD)) == "$argon2id$v=19$m=12288,t=3,p=1$"
        monkeypatch.setenv("ROSTER_ARGON2_TIME_COST", "none")
        with pytest.raises(ValueError, match="argon2_time_cost"):
            create_app({"DATABASE_URL": database_url, "SECRET_KEY": "k" * 32})
    finally:
        dispose(db.obj)


def test_the_app_without_settings_uses_owasps_minimum(app):
    assert parameters(Deployment.of(app).hasher.hash(PASSWORD)) == OWASP


def test_a_hash_that_is_not_argon2_never_verifies_and_would_be_redone(deployment):
    assert not deployment.hasher.verify("$2b$12$notargon2notargon2notargon2notargon2notargon2not", PASSWORD)
    assert deployment.hasher.needs_rehash("not a hash")
