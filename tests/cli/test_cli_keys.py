"""``roster keys rotate`` and ``roster keys list``."""

from __future__ import annotations

import pytest

from models import SigningKey, keys
from tests.cli.test_cli import Roster, _runner, as_json, ok


@pytest.fixture
def roster(database, database_url, monkeypatch, tmp_path) -> Roster:
    """Runs ``roster …`` in-process against the test database (SQLite and PostgreSQL)."""
    return _runner(monkeypatch, tmp_path, database_url)


def test_rotate_makes_new_active_keys_and_keeps_the_old_ones_published(roster: Roster):
    first = as_json(roster("keys", "rotate", "--json"))
    second = as_json(roster("keys", "rotate", "--token-lifetime-hours", "2", "--json"))

    assert sorted(k["alg"] for k in first) == sorted(k["alg"] for k in second) == ["ES256", "RS256"]
    assert all(k["retired_at"] is None for k in second)
    listed = {k["kid"]: k for k in as_json(roster("keys", "list", "--json"))}
    assert set(listed) == {k["kid"] for k in first + second}
    for old in first:
        assert listed[old["kid"]]["retired_at"] is not None
        assert listed[old["kid"]]["publish_until"] is not None


def test_list_shows_keys_in_a_table(roster: Roster):
    ok(roster("keys", "rotate"))
    output = ok(roster("keys", "list")).stdout

    assert "PUBLISHED UNTIL" in output
    assert output.count("RS256") == 1 and output.count("ES256") == 1


def test_rotate_text_output_names_the_new_keys(roster: Roster):
    output = ok(roster("keys", "rotate")).stdout

    for key in SigningKey.select():
        assert key.kid in output
    assert len(keys.published_jwks()["keys"]) == 2
