"""Secrets at rest: encrypted under the server's key, tamper-evident."""

from __future__ import annotations

import pytest

from models import crypto, settings


@pytest.fixture
def use_key(monkeypatch):
    return lambda key: monkeypatch.setattr(settings, "current", settings.Settings(secret_key=key))


def test_round_trip_and_no_plaintext_in_the_ciphertext(use_key):
    use_key("k1" * 20)
    stored = crypto.encrypt("JBSWY3DPEHPK3PXP")
    assert "JBSWY3DPEHPK3PXP" not in stored
    assert crypto.decrypt(stored) == "JBSWY3DPEHPK3PXP"


def test_another_secret_key_or_a_changed_ciphertext_cannot_decrypt(use_key):
    use_key("k1" * 20)
    stored = crypto.encrypt("seed")
    use_key("k2" * 20)
    with pytest.raises(crypto.DecryptionError, match="ROSTER_SECRET_KEY"):
        crypto.decrypt(stored)
    use_key("k1" * 20)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(stored[:-4] + ("AAAA" if not stored.endswith("AAAA") else "BBBB"))
