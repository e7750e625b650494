"""What the domain needs to know about its deployment, handed over once at start-up."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class Settings:
    secret_key: str = "development-secret-key-change-me"
    base_url: str = "http://127.0.0.1:8000"
    product_name: str = "Roster"


current = Settings()


def configure(**values: str) -> Settings:
    """Replace the settings (app factory, CLI, tests)."""
    global current
    current = Settings(**values)
    return current
