"""The client's address behind trusted proxies, as WSGI middleware.

Sign-in throttling, sessions and audit rows key on ``REMOTE_ADDR``. Behind a
load balancer that is the balancer's address for everyone, so five wrong
passwords from anyone would lock out everyone. This middleware sets
``REMOTE_ADDR`` to the client the proxies saw, from ``X-Forwarded-For``,
believing the header only as far as the trusted proxies vouch for it:

- the TCP peer must be a trusted proxy (``FORWARDED_ALLOW_IPS``, the same
  setting and default as gunicorn's, which trusts ``X-Forwarded-Proto`` on it);
  from anyone else the header is ignored, so a client cannot choose its key;
- the header is read from the right, where each proxy appended the address it
  saw; trusted hops are skipped, and the first address that is not a trusted
  proxy is the client. Entries further left were written by the client itself.

``*`` trusts any peer but no hop in the header: the address the peer appended
is the client (one proxy in front, reachable by nobody else). A hop that is
not an IP address ends the walk at the last address a trusted proxy vouched for.
The peer's own address stays in ``environ["roster.peer_addr"]``.

werkzeug's ProxyFix trusts a fixed number of hops from whoever connects,
which is not the rule gunicorn applies; hence this small walk instead.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

DEFAULT_TRUSTED = "127.0.0.1,::1"  # gunicorn's default for forwarded_allow_ips

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """The proxies ``FORWARDED_ALLOW_IPS`` names: addresses and CIDR networks, comma separated, or ``*``."""

    def __init__(self, setting: str | None) -> None:
        entries = [part.strip() for part in (DEFAULT_TRUSTED if setting is None else setting).split(",")]
        self.any_peer = "*" in entries
        try:
            self.networks: tuple[Network, ...] = tuple(
                ipaddress.ip_network(entry) for entry in entries if entry and entry != "*")
        except ValueError as exc:
            raise ValueError(f"FORWARDED_ALLOW_IPS must list IP addresses or networks (e.g. 10.0.0.5,10.1.0.0/16) "
                             f"separated by commas, or be *: {exc}") from None

    def __contains__(self, address: Address) -> bool:
        return any(address in network for network in self.networks)

    def peer_is_trusted(self, peer: str) -> bool:
        found = parse_address(peer)
        if found is None:
            # as gunicorn does: a peer without an address is a UNIX socket, which only local processes reach
            return not peer or self.any_peer
        return self.any_peer or found in self


def parse_address(text: str) -> Address | None:
    """An address as proxies write it (``1.2.3.4``, ``1.2.3.4:5678``, ``[::1]:5678``, ``::1``), else None."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]  # IPv4 with a port, as some load balancers append it
    try:
        found = ipaddress.ip_address(text)
    except ValueError:
        return None
    # an IPv4 client on a dual-stack socket is the same client as on an IPv4 one
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


def client_address(peer: str, forwarded_for: str, trusted: TrustedProxies) -> str:
    """The client's address for a request from ``peer`` carrying ``X-Forwarded-For: forwarded_for``."""
    if not forwarded_for or not trusted.peer_is_trusted(peer):
        return peer
    vouched = peer  # the last address a trusted party stands behind
    for hop in reversed(forwarded_for.split(",")):
        found = parse_address(hop)
        if found is None:
            return vouched
        vouched = str(found)
        if found not in trusted:
            return vouched
    return vouched


class ClientAddress:
    """Sets ``REMOTE_ADDR`` to :func:`client_address`, for everything inside it."""

    def __init__(self, app: Callable[..., Iterable[bytes]], trusted: TrustedProxies) -> None:
        self.app = app
        self.trusted = trusted

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        forwarded_for = environ.get("HTTP_X_FORWARDED_FOR")
        if forwarded_for:
            peer = environ.get("REMOTE_ADDR") or ""
            environ["roster.peer_addr"] = peer
            environ["REMOTE_ADDR"] = client_address(peer, forwarded_for, self.trusted)
        return self.app(environ, start_response)
