"""A real DNS server on loopback for the domain tests: dnslib's server over UDP and TCP, answering from a dict.

Roster is pointed at it through ``ROSTER_DNS_NAMESERVERS=127.0.0.1:<port>``
(or ``Settings(dns_nameservers=...)``), so verification goes through
dnspython and the network exactly as in production. A name published with
no values exists without TXT records (NOERROR, empty answer); a name never
published is NXDOMAIN; ``failing`` makes every answer SERVFAIL.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

from dnslib import QTYPE, RCODE, RR, TXT, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer


class _Answers(BaseResolver):  # type: ignore[misc]  # dnslib is untyped
    def __init__(self) -> None:
        self.records: dict[str, list[str]] = {}
        self.failing = False
        self.asked: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        with self.lock:
            self.asked.append((name, QTYPE[request.q.qtype]))
            if self.failing:
                reply.header.rcode = RCODE.SERVFAIL
                return reply
            if name not in self.records:
                reply.header.rcode = RCODE.NXDOMAIN
                return reply
            values = list(self.records[name])
        if request.q.qtype == QTYPE.TXT:
            for value in values:
                raw = value.encode()
                # a TXT string holds 255 octets: a longer value is published as several, as DNS hosts do
                chunks = [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(chunks), ttl=0))
        return reply


class _Handler(DNSHandler):  # type: ignore[misc]  # dnslib is untyped
    def get_reply(self, data: bytes) -> bytes:
        """As dnslib's, but a UDP answer over 512 octets is sent empty with TC set (RFC 1035 §4.2.1), question kept,
        so the client asks again over TCP (dnslib's own truncation drops the question, which clients reject)."""
        request = DNSRecord.parse(data)
        reply = self.server.resolver.resolve(request, self)
        packed: bytes = reply.pack()
        if self.protocol == "udp" and len(packed) > 512:
            cut = request.reply()
            cut.header.tc = 1
            packed = cut.pack()
        return packed


class LoopbackDns:
    """Start with ``with LoopbackDns() as dns:``; ``dns.nameserver`` is what ROSTER_DNS_NAMESERVERS takes."""

    def __init__(self) -> None:
        self.answers = _Answers()
        self.servers: list[DNSServer] = []
        self.port = 0

    def __enter__(self) -> LoopbackDns:
        quiet = DNSLogger("-request,-reply,-truncated,-error", prefix=False)
        for _ in range(20):  # a UDP port free now may be taken for TCP: draw another
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            servers: list[DNSServer] = []
            try:
                for tcp in (False, True):
                    servers.append(DNSServer(self.answers, address="127.0.0.1", port=port, tcp=tcp, logger=quiet,
                                             handler=_Handler))
            except OSError:
                for server in servers:
                    server.server.server_close()
                continue
            self.port, self.servers = port, servers
            break
        else:
            raise RuntimeError("no free port for the test DNS server")
        for server in self.servers:
            server.start_thread()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self.servers:
            server.server.shutdown()
            server.server.server_close()

    @property
    def nameserver(self) -> str:
        return f"127.0.0.1:{self.port}"

    def publish(self, name: str, *values: str) -> None:
        """Make ``name`` exist with these TXT values (none: the name exists, without a TXT record)."""
        with self.answers.lock:
            self.answers.records[name.rstrip(".").lower()] = list(values)

    def unpublish(self, name: str) -> None:
        with self.answers.lock:
            self.answers.records.pop(name.rstrip(".").lower(), None)

    @property
    def failing(self) -> bool:
        return self.answers.failing

    @failing.setter
    def failing(self, value: bool) -> None:
        self.answers.failing = value

    @property
    def asked(self) -> list[tuple[str, str]]:
        with self.answers.lock:
            return list(self.answers.asked)


def silent_nameserver() -> tuple[socket.socket, str]:
    """A UDP socket bound on loopback that never answers (a firewalled resolver): close it when done."""
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    return sink, f"127.0.0.1:{sink.getsockname()[1]}"
