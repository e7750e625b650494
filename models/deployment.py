"""Everything the domain is handed about its deployment, built once by whoever starts it.

The app factory, the CLI and the outbox sender each build one ``Deployment``
and pass it to the domain functions that need it: the secret key (as
``secrets``), the password hashing cost (as ``hasher``), the product's name
and base URL (``settings``) and the links of the web pages (``links``).
Nothing in ``models`` keeps configuration in a module.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from .crypto import Secrets
from .links import Links
from .passwords import Hasher
from .settings import Settings

EXTENSION = "roster"


class _HasExtensions(Protocol):
    extensions: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Deployment:
    settings: Settings
    links: Links
    secrets: Secrets = dataclasses.field(init=False, repr=False)
    hasher: Hasher = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "secrets", Secrets(self.settings.secret_key))
        object.__setattr__(self, "hasher", Hasher(self.settings))

    @property
    def product_name(self) -> str:
        return self.settings.product_name

    def install(self, app: _HasExtensions) -> None:
        """Make this the deployment of ``app`` (a Flask app; the domain needs none of Flask)."""
        app.extensions[EXTENSION] = self

    @staticmethod
    def of(app: _HasExtensions) -> Deployment:
        """The deployment ``install`` gave ``app``."""
        deployment: Deployment = app.extensions[EXTENSION]
        return deployment
