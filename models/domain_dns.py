"""Reading a domain's TXT records through dnspython, with the resolvers and patience the deployment sets.

A domain is verified by what DNS says (models.federation); this module only
asks and classifies the answer, so an outage, a timeout or a missing name is
a reason to show, never an exception that reaches a person.
"""

from __future__ import annotations

import dataclasses

import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver

from .settings import Settings

# what a failed lookup was: the record's name does not exist, or DNS could not say
NXDOMAIN = "nxdomain"
TIMEOUT = "dns_timeout"
FAILURE = "dns_failure"


@dataclasses.dataclass(frozen=True)
class TxtAnswer:
    """The TXT strings found at a name (each record's chunks joined), or why none could be read."""

    values: tuple[str, ...] = ()
    failure: str = ""  # "" (DNS answered; values may be empty), NXDOMAIN, TIMEOUT or FAILURE


def resolver(settings: Settings) -> dns.resolver.Resolver:
    """A resolver asking ``settings.nameservers`` (else the system's), giving up after ``dns_timeout`` seconds.

    Raises dns.resolver.NoResolverConfiguration when the system has no
    resolver configured and none is set.
    """
    nameservers = settings.nameservers
    made = dns.resolver.Resolver(configure=not nameservers)
    if nameservers:
        made.nameservers = [dns.nameserver.Do53Nameserver(address, port) for address, port in nameservers]
    # one budget for the whole lookup, retries and every server included: a verify click waits no longer
    made.lifetime = settings.dns_timeout
    made.timeout = settings.dns_timeout
    # no caching: a record published a minute ago must count at the next click
    made.cache = None
    return made


def txt_records(name: str, settings: Settings) -> TxtAnswer:
    """The TXT records at ``name`` (an absolute, ASCII name), as strings; never raises for DNS trouble."""
    try:
        answer = resolver(settings).resolve(name, dns.rdatatype.TXT, search=False, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return TxtAnswer(failure=NXDOMAIN)
    except dns.exception.Timeout:
        return TxtAnswer(failure=TIMEOUT)
    except dns.exception.DNSException:  # SERVFAIL or REFUSED from every server, no resolver configured, …
        return TxtAnswer(failure=FAILURE)
    values = []
    for rdata in answer.rrset or ():
        # RFC 7208 §3.3: one record's strings (each up to 255 octets) read as their concatenation
        values.append(b"".join(rdata.strings).decode("utf-8", errors="replace"))
    return TxtAnswer(values=tuple(values))
