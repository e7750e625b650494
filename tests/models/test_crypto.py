"""Secrets at rest: encrypted under the server's key, tamper-evident."""

from __future__ import annotations

import pytest

from models import crypto


def test_round_trip_and_no_plaintext_in_the_ciphertext():
    secrets = crypto.Secrets("k1" * 20)
    stored = secrets.encrypt("JBSWY3DPEHPK3PXP")
    assert "JBSWY3DPEHPK3PXP" not in stored
    assert secrets.decrypt(stored) == "JBSWY3DPEHPK3PXP"


def test_another_secret_key_or_a_changed_ciphertext_cannot_decrypt():
    stored = crypto.Secrets("k1" * 20).encrypt("seed")
    with pytest.raises(crypto.DecryptionError, match="ROSTER_SECRET_KEY"):
        crypto.Secrets("k2" * 20).decrypt(stored)
    with pytest.raises(crypto.DecryptionError):
        crypto.Secrets("k1" * 20).decrypt(stored[:-4] + ("AAAA" if not stored.endswith("AAAA") else "BBBB"))
