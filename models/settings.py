"""What the domain needs to know about its deployment: read once at start-up, never changed.

The app factory (and the CLI, and the outbox sender) builds one ``Settings``
and hands it down inside a ``models.deployment.Deployment``; nothing in the
domain reads configuration from anywhere else.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Settings:
    secret_key: str = dataclasses.field(repr=False)
    base_url: str = "http://127.0.0.1:8000"
    product_name: str = "Roster"
    # argon2id cost of password hashes: OWASP's recommended minimum (Password
    # Storage Cheat Sheet: 19 MiB, 2 passes, 1 lane) unless the deployment says
    # otherwise; a hash made with other values is redone at the next sign-in
    argon2_memory_kib: int = 19456
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1

    @property
    def issuer(self) -> str:
        """The OpenID provider's issuer identifier (and the logout tokens' ``iss``): BASE_URL without a final /."""
        return self.base_url.rstrip("/")

    def __post_init__(self) -> None:
        """ValueError names a setting that is out of range; numbers may come as the environment's strings."""
        for name in ("argon2_memory_kib", "argon2_time_cost", "argon2_parallelism"):
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, int(value))
            except (TypeError, ValueError):
                raise ValueError(f"{name} must be a whole number, not {value!r}.") from None
        if not 1 <= self.argon2_parallelism <= 255:
            raise ValueError(f"argon2_parallelism must be between 1 and 255, not {self.argon2_parallelism}.")
        if not 1 <= self.argon2_time_cost <= 100:
            raise ValueError(f"argon2_time_cost must be between 1 and 100, not {self.argon2_time_cost}.")
        # argon2 needs 8 KiB per lane; above 4 GiB a sign-in is a denial of service
        if not 8 * self.argon2_parallelism <= self.argon2_memory_kib <= 4 * 1024 * 1024:
            raise ValueError(f"argon2_memory_kib must be between {8 * self.argon2_parallelism} (8 per lane) "
                             f"and 4194304 (4 GiB), not {self.argon2_memory_kib}.")
        if not self.secret_key:
            raise ValueError("secret_key must not be empty.")
