"""What the domain needs to know about its deployment: read once at start-up, never changed.

The app factory (and the CLI, and the outbox sender) builds one ``Settings``
and hands it down inside a ``models.deployment.Deployment``; nothing in the
domain reads configuration from anywhere else.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from urllib.parse import urlsplit

# where the SCIM service is mounted: a URL directories are configured with, so it never moves
SCIM_PATH = "/scim/v2"


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
    # the terms of use a person accepts at registration and first sign-in; empty: Roster's placeholder page
    terms_url: str = ""
    # the DNS servers that verify an account's domains (models.domain_dns): "host" or "host:port", comma-separated
    # IP addresses ("[::1]:53" for IPv6 with a port); empty: the system resolver (/etc/resolv.conf)
    dns_nameservers: str = ""
    # seconds a domain verification may wait for DNS before it says DNS did not answer
    dns_timeout: float = 3.0

    @property
    def issuer(self) -> str:
        """The OpenID provider's issuer identifier (and the logout tokens' ``iss``): BASE_URL without a final /."""
        return self.base_url.rstrip("/")

    @property
    def scim_base_url(self) -> str:
        """The SCIM base URL a directory is given (the console, `roster init`)."""
        return self.issuer + SCIM_PATH

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
        terms = urlsplit(self.terms_url)
        # a link every person follows: a javascript: or relative address is a mistake, never the terms
        if self.terms_url and (terms.scheme not in ("http", "https") or not terms.netloc):
            raise ValueError(f"terms_url must be an http:// or https:// address, not {self.terms_url!r}.")
        if not self.secret_key:
            raise ValueError("secret_key must not be empty.")
        self._check_dns()

    @property
    def nameservers(self) -> list[tuple[str, int]]:
        """``dns_nameservers`` as (IP address, port) pairs; empty: the system resolver's."""
        return [_nameserver(item) for item in self.dns_nameservers.split(",") if item.strip()]

    def _check_dns(self) -> None:
        try:
            object.__setattr__(self, "dns_timeout", float(self.dns_timeout))
        except (TypeError, ValueError):
            raise ValueError(f"dns_timeout must be a number of seconds, not {self.dns_timeout!r}.") from None
        if not 0.1 <= self.dns_timeout <= 60:
            raise ValueError(f"dns_timeout must be between 0.1 and 60 seconds, not {self.dns_timeout}.")
        self.nameservers  # noqa: B018  # raises ValueError naming the entry that is not an address


def _nameserver(item: str) -> tuple[str, int]:
    """``127.0.0.1``, ``127.0.0.1:5353``, ``::1`` or ``[::1]:5353`` → (address, port)."""
    text = item.strip()
    host, port = text, "53"
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else (rest or "53")
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        address = str(ipaddress.ip_address(host))
        number = int(port)
    except ValueError:
        raise ValueError(f"dns_nameservers: {text!r} is not an IP address with an optional :port "
                         "(a resolver is named by its address).") from None
    if not 1 <= number <= 65535:
        raise ValueError(f"dns_nameservers: the port of {text!r} must be between 1 and 65535.")
    return address, number
