"""Enterprise SSO connections (DESIGN.md §7): each account's upstream IdPs, OIDC or SAML, and their policy.

A connection holds what Roster needs to send a person to the IdP and read
what comes back (issuer and client for OIDC, the IdP's metadata for SAML),
the claim or attribute names to read, and the account's policy for it:
``sso_required`` (F4), ``jit`` with a default role and groups (F3),
``trust_upstream_mfa`` (F5). A new connection starts disabled, so a half-set-up
IdP never receives the account's people: the admin tests it, then enables it.

The OIDC client secret is encrypted with the deployment's key and never
shown again. The URLs an admin registers at the IdP depend only on the
deployment's base URL and the connection's id (:func:`urls`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import peewee as pw

from . import audit, clock, saml_metadata
from .accounts import lock, require_admin
from .audit import Actor
from .crypto import Secrets
from .database import BaseModel, transaction
from .errors import ForbiddenError, InvalidInputError, NotFoundError, PolicyViolationError
from .fields import IdField, JSONField
from .groups import resolve_groups
from .i18n import Text
from .settings import Settings
from .tenancy import Account, Group, User

KINDS = ("oidc", "saml")
SSO_PATH = "/sso"
DEFAULT_SCOPES = ("openid", "email", "profile")
# what a claim (OIDC) or attribute (SAML) is called upstream, unless the connection says otherwise
OIDC_CLAIMS = {"subject": "sub", "email": "email", "given_name": "given_name", "family_name": "family_name",
               "groups": "groups"}
SAML_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "email": ("email", "mail", "emailAddress", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
              "urn:oid:0.9.2342.19200300.100.1.3"),
    "given_name": ("givenName", "firstName", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
                   "urn:oid:2.5.4.42"),
    "family_name": ("surname", "sn", "lastName", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
                    "urn:oid:2.5.4.4"),
    "groups": ("groups", "memberOf", "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"),
}
MAPPED = ("subject", "email", "given_name", "family_name", "groups")
# an account connects a few company IdPs, not a catalogue: a bound on what one admin can make Roster store
MAX_CONNECTIONS = 20
MAX_SCOPES = 20
MAX_DEFAULT_GROUPS = 50
MAX_MFA_CONTEXTS = 10


class Connection(BaseModel):
    """One upstream IdP of an account."""

    id = IdField()
    account = pw.ForeignKeyField(Account, backref="+", on_delete="CASCADE")
    kind = pw.CharField(max_length=8)
    name = pw.CharField(max_length=200)
    enabled = pw.BooleanField(default=False)
    # OIDC
    issuer = pw.CharField(max_length=2048, default="")
    client_id = pw.CharField(max_length=512, default="")
    client_secret = pw.TextField(default="")  # encrypted (models.crypto), never shown
    scopes = JSONField(default=list)
    claim_mapping = JSONField(default=dict)  # MAPPED key → claim or attribute name; absent keys use the defaults
    # SAML
    idp_metadata_xml = pw.TextField(default="")
    idp_metadata_url = pw.CharField(max_length=2048, default="")
    idp_entity_id = pw.CharField(max_length=1024, default="")
    mfa_contexts = JSONField(default=list)  # AuthnContextClassRefs that count as a second factor (F5)
    # policy
    sso_required = pw.BooleanField(default=False)
    jit = pw.BooleanField(default=False)
    default_role = pw.CharField(max_length=20, default="user")
    default_groups = JSONField(default=list)  # group ids
    trust_upstream_mfa = pw.BooleanField(default=False)
    created_at = pw.DateTimeField(default=clock.now)
    updated_at = pw.DateTimeField(default=clock.now)
    # the raw foreign-key value peewee exposes, declared for type checkers
    account_id: str

    def claim(self, key: str) -> str:
        """The OIDC claim that carries ``key`` (one of MAPPED)."""
        return str((self.claim_mapping or {}).get(key) or OIDC_CLAIMS[key])

    def attribute_names(self, key: str) -> tuple[str, ...]:
        """The SAML attribute names that may carry ``key``: the configured one, else the usual ones."""
        configured = (self.claim_mapping or {}).get(key)
        return (str(configured),) if configured else SAML_ATTRIBUTES.get(key, ())


class ExternalIdentity(BaseModel):
    """The only durable link between an upstream person (connection, subject) and a Roster user (F2)."""

    id = IdField()
    connection = pw.ForeignKeyField(Connection, backref="+", on_delete="CASCADE", index=False)
    subject = pw.CharField(max_length=512)  # OIDC sub / SAML NameID
    user = pw.ForeignKeyField(User, backref="+", on_delete="CASCADE")
    email = pw.CharField(max_length=320, default="")  # as asserted when linked, for the admin to read
    created_at = pw.DateTimeField(default=clock.now)
    last_sign_in_at = pw.DateTimeField(default=clock.now)
    connection_id: str
    user_id: str

    class Meta:
        indexes = ((("connection", "subject"), True),)


class SsoRequest(BaseModel):
    """A sign-in sent to an upstream IdP and not back yet. In the database, so any instance can finish it.

    ``id`` is the hash of the ``state`` (OIDC) or RelayState (SAML) sent out;
    ``browser_hash`` the hash of a cookie of the browser that started it, so
    a response only completes the sign-in in that browser (no login CSRF).
    """

    id = pw.CharField(primary_key=True, max_length=64)
    connection = pw.ForeignKeyField(Connection, backref="+", on_delete="CASCADE")
    browser_hash = pw.CharField(max_length=64)
    nonce = pw.CharField(max_length=128, default="")
    code_verifier = pw.TextField(default="")  # encrypted (models.crypto)
    saml_request_id = pw.CharField(max_length=128, default="")
    next = pw.TextField(default="")  # where the sign-in goes on: the relying party's authorization request
    test = pw.BooleanField(default=False)  # an admin's "Test sign-in": shows the claims, signs nobody in
    # a SAML response checked at the ACS (a cross-site POST, without the browser's cookies), finished at the
    # redirect that follows, where the browser's cookies are back
    result = JSONField(null=True)
    created_at = pw.DateTimeField(default=clock.now)
    expires_at = pw.DateTimeField(index=True)
    connection_id: str


class SamlAssertion(BaseModel):
    """A SAML assertion already used: its ID is accepted once, on every instance (F7)."""

    id = IdField()
    connection = pw.ForeignKeyField(Connection, backref="+", on_delete="CASCADE", index=False)
    assertion_id = pw.CharField(max_length=256)
    expires_at = pw.DateTimeField(index=True)  # kept until its NotOnOrAfter: a later replay fails on time alone

    class Meta:
        indexes = ((("connection", "assertion_id"), True),)


TABLES = [Connection, ExternalIdentity, SsoRequest, SamlAssertion]


@dataclasses.dataclass(frozen=True)
class Urls:
    """What an admin registers at the IdP for a connection."""

    start: str  # where Roster's sign-in sends a person to this IdP
    redirect_uri: str  # OIDC
    entity_id: str  # SAML: our SP entity id, which is also where our SP metadata is served
    acs_url: str  # SAML: the assertion consumer service (HTTP-POST)

    @property
    def metadata_url(self) -> str:
        return self.entity_id


def urls(connection: Connection | str, settings: Settings) -> Urls:
    connection_id = connection if isinstance(connection, str) else connection.id
    base = f"{settings.issuer}{SSO_PATH}"
    # one redirect URI for every OIDC connection (the state names the sign-in, and so the connection): an admin
    # can register it at the IdP before the IdP has given the client ID and secret the connection needs
    return Urls(start=f"{base}/{connection_id}/start", redirect_uri=f"{base}/oidc/callback",
                entity_id=f"{base}/saml/{connection_id}/metadata", acs_url=f"{base}/saml/{connection_id}/acs")


# ------------------------------------------------------------------ reading


def list_connections(account: Account) -> list[Connection]:
    return list(Connection.select().where(Connection.account == account.id).order_by(Connection.name,
                                                                                     Connection.id))


def get_connection(connection_id: str, account: Account | None = None) -> Connection:
    """The connection ``connection_id`` (of ``account`` when given: another account's is not found)."""
    found = Connection.get_or_none(Connection.id == str(connection_id)[:64])
    if found is None or (account is not None and found.account_id != account.id):
        raise NotFoundError(Text("No connection %(id)s.", id=str(connection_id)[:64]))
    return found


def client_secret(connection: Connection, secrets: Secrets) -> str:
    return secrets.decrypt(connection.client_secret) if connection.client_secret else ""


def default_groups(connection: Connection) -> list[Group]:
    """The connection's JIT groups that still exist."""
    ids = list(connection.default_groups or [])
    if not ids:
        return []
    return list(Group.select().where((Group.account == connection.account_id) & Group.id.in_(ids))
                .order_by(Group.display_name_key))


# ------------------------------------------------------------------ checks


def _require_admin(account: Account, by: Actor) -> None:
    # a directory's token provisions people; how they sign in is the account admins' decision
    if by.type == "scim_token":
        raise ForbiddenError("A SCIM token cannot manage the account's single sign-on.")
    require_admin(account, by)


def check_name(name: object, fallback: str) -> str:
    text = name.strip() if isinstance(name, str) else ""
    if len(text) > 200:
        raise InvalidInputError("A connection's name has at most 200 characters.", field="name")
    if any(not ch.isprintable() for ch in text):
        raise InvalidInputError("A connection's name cannot hold control characters.", field="name")
    return text or fallback


def check_url(value: object, field: str, *, label: str) -> str:
    """An absolute http(s) URL without credentials or fragment; https unless it is on loopback.

    ``label`` names the field in the refusal (``issuer``, ``metadata URL``): a term of the protocol, left untranslated.
    """
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise InvalidInputError(Text("The %(label)s is required.", label=label), field=field)
    if len(text) > 2048 or not text.isprintable() or any(ch.isspace() for ch in text):
        raise InvalidInputError(Text("The %(label)s is not a URL Roster can use.", label=label), field=field)
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidInputError(Text("The %(label)s must be an https:// URL.", label=label), field=field)
    if parts.username or parts.password or parts.fragment:
        raise InvalidInputError(Text("The %(label)s cannot carry a user name, password or #fragment.", label=label),
                                field=field)
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise InvalidInputError(Text("The %(label)s must be an https:// URL (plain http only on this machine).",
                                     label=label), field=field)
    return text


def check_client_id(value: object) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > 512 or not text.isprintable():
        raise InvalidInputError("The client ID the IdP gave is required.", field="client_id")
    return text


def check_scopes(scopes: Sequence[str] | None) -> list[str]:
    chosen = [s.strip() for s in (scopes or DEFAULT_SCOPES) if s and s.strip()]
    if len(chosen) > MAX_SCOPES or any(len(s) > 100 or not s.isascii() or not s.isprintable() or " " in s
                                       for s in chosen):
        raise InvalidInputError(Text("Give at most %(count)s scopes, each a short word such as email.",
                                     count=MAX_SCOPES), field="scope")
    if "openid" not in chosen:
        chosen.insert(0, "openid")  # without it the IdP sends no ID token
    return list(dict.fromkeys(chosen))


def check_mapping(mapping: dict[str, Any] | None) -> dict[str, str]:
    cleaned: dict[str, str] = {}
    for key, value in (mapping or {}).items():
        if key not in MAPPED:
            raise InvalidInputError(Text("Unknown mapping %(key)r: use %(names)s.", key=key, names=", ".join(MAPPED)),
                                    field="claim_mapping")
        text = value.strip() if isinstance(value, str) else ""
        if len(text) > 256 or not text.isprintable():
            raise InvalidInputError(Text("The name mapped to %(key)s is not usable.", key=key), field="claim_mapping")
        if text:
            cleaned[key] = text
    return cleaned


def check_mfa_contexts(contexts: Sequence[str] | None) -> list[str]:
    chosen = [c.strip() for c in (contexts or []) if c and c.strip()]
    if len(chosen) > MAX_MFA_CONTEXTS or any(len(c) > 256 or not c.isprintable() for c in chosen):
        raise InvalidInputError(Text("Give at most %(count)s AuthnContextClassRef values.", count=MAX_MFA_CONTEXTS),
                                field="mfa_contexts")
    return chosen


def _count_check(account: Account) -> None:
    if Connection.select().where(Connection.account == account.id).count() >= MAX_CONNECTIONS:
        raise PolicyViolationError(Text("%(account)s has %(count)s connections, the most an account can have: delete "
                                        "one first.", account=account.name, count=MAX_CONNECTIONS),
                                   reason="too_many_connections")


# ------------------------------------------------------------------ writing


def create_oidc(account: Account, *, issuer: str, client_id: str, client_secret: str, secrets: Secrets,
                scopes: Sequence[str] | None = None, name: str = "", claim_mapping: dict[str, Any] | None = None,
                by: Actor) -> Connection:
    """A new OIDC connection (disabled until an admin enables it)."""
    issuer = check_url(issuer, "issuer", label="issuer").rstrip("/")
    client_id = check_client_id(client_id)
    if not isinstance(client_secret, str) or not client_secret.strip() or len(client_secret) > 4096:
        raise InvalidInputError("The client secret the IdP gave is required.", field="client_secret")
    chosen_scopes = check_scopes(scopes)
    mapping = check_mapping(claim_mapping)
    with transaction():
        _require_admin(account, by)
        lock(account)
        _count_check(account)
        connection = Connection.create(account=account.id, kind="oidc", name=check_name(name, urlsplit(issuer).hostname
                                                                                         or "OIDC"),
                                       issuer=issuer, client_id=client_id,
                                       client_secret=secrets.encrypt(client_secret.strip()), scopes=chosen_scopes,
                                       claim_mapping=mapping)
        audit.record(by, "connection.created", account_id=account.id, target_type="connection",
                     target_id=connection.id, kind="oidc", name=connection.name, issuer=issuer)
    return connection


def create_saml(account: Account, *, metadata_xml: str, metadata_url: str = "", name: str = "",
                claim_mapping: dict[str, Any] | None = None, mfa_contexts: Sequence[str] | None = None,
                by: Actor) -> Connection:
    """A new SAML connection from the IdP's metadata (pasted, or fetched from ``metadata_url`` by the caller)."""
    idp = saml_metadata.parse(metadata_xml)
    url = check_url(metadata_url, "metadata_url", label="metadata URL") if metadata_url else ""
    mapping = check_mapping(claim_mapping)
    contexts = check_mfa_contexts(mfa_contexts)
    with transaction():
        _require_admin(account, by)
        lock(account)
        _count_check(account)
        connection = Connection.create(account=account.id, kind="saml",
                                       name=check_name(name, urlsplit(idp.entity_id).hostname or "SAML"),
                                       idp_metadata_xml=metadata_xml, idp_metadata_url=url,
                                       idp_entity_id=idp.entity_id, claim_mapping=mapping, mfa_contexts=contexts)
        audit.record(by, "connection.created", account_id=account.id, target_type="connection",
                     target_id=connection.id, kind="saml", name=connection.name, idp_entity_id=idp.entity_id)
    return connection


_UNCHANGED: Any = object()


def update(connection: Connection, *, by: Actor, secrets: Secrets | None = None, name: Any = _UNCHANGED,
           issuer: Any = _UNCHANGED, client_id: Any = _UNCHANGED, client_secret: Any = _UNCHANGED,
           scopes: Any = _UNCHANGED, claim_mapping: Any = _UNCHANGED, metadata_xml: Any = _UNCHANGED,
           metadata_url: Any = _UNCHANGED, mfa_contexts: Any = _UNCHANGED, enabled: Any = _UNCHANGED,
           sso_required: Any = _UNCHANGED, jit: Any = _UNCHANGED, default_role: Any = _UNCHANGED,
           default_groups: Any = _UNCHANGED, trust_upstream_mfa: Any = _UNCHANGED) -> Connection:
    """Change what is given; the rest stays. A client secret left empty keeps the stored one.

    Every check runs before anything is written: a refused change changes nothing.
    """
    account = Account.get_by_id(connection.account_id)
    changes: dict[str, Any] = {}
    if name is not _UNCHANGED:
        changes["name"] = check_name(name, connection.name)
    if connection.kind == "oidc":
        if issuer is not _UNCHANGED:
            changes["issuer"] = check_url(issuer, "issuer", label="issuer").rstrip("/")
        if client_id is not _UNCHANGED:
            changes["client_id"] = check_client_id(client_id)
        if client_secret is not _UNCHANGED and isinstance(client_secret, str) and client_secret.strip():
            if secrets is None or len(client_secret) > 4096:
                raise InvalidInputError("The client secret is not usable.", field="client_secret")
            changes["client_secret"] = secrets.encrypt(client_secret.strip())
        if scopes is not _UNCHANGED:
            changes["scopes"] = check_scopes(scopes)
    else:
        if metadata_xml is not _UNCHANGED and metadata_xml:
            changes["idp_entity_id"] = saml_metadata.parse(metadata_xml).entity_id
            changes["idp_metadata_xml"] = metadata_xml
        if metadata_url is not _UNCHANGED:
            changes["idp_metadata_url"] = (check_url(metadata_url, "metadata_url", label="metadata URL")
                                           if metadata_url else "")
        if mfa_contexts is not _UNCHANGED:
            changes["mfa_contexts"] = check_mfa_contexts(mfa_contexts)
    if claim_mapping is not _UNCHANGED:
        changes["claim_mapping"] = check_mapping(claim_mapping)
    for field, value in (("enabled", enabled), ("sso_required", sso_required), ("jit", jit),
                         ("trust_upstream_mfa", trust_upstream_mfa)):
        if value is not _UNCHANGED:
            changes[field] = bool(value)
    if default_role is not _UNCHANGED:
        if default_role not in ("user", "admin"):
            raise InvalidInputError(Text("Unknown role %(role)r: use user or admin.", role=str(default_role)[:40]),
                                    field="default_role")
        changes["default_role"] = default_role
    if default_groups is not _UNCHANGED:
        refs = list(default_groups or [])
        if len(refs) > MAX_DEFAULT_GROUPS:
            raise InvalidInputError(Text("Give at most %(count)s default groups.", count=MAX_DEFAULT_GROUPS),
                                    field="default_groups")
        changes["default_groups"] = [g.id for g in resolve_groups(account, refs)]
    with transaction():
        _require_admin(account, by)
        lock(account)
        current = get_connection(connection.id, account)
        changed = {k: v for k, v in changes.items() if getattr(current, k) != v}
        if changed:
            Connection.update(updated_at=clock.now(), **changed).where(Connection.id == current.id).execute()
            shown = {k: ("(changed)" if k in ("client_secret", "idp_metadata_xml") else v) for k, v in changed.items()}
            audit.record(by, "connection.updated", account_id=account.id, target_type="connection",
                         target_id=current.id, **{"name": current.name, **shown})
    return get_connection(connection.id)


def delete(connection: Connection, *, by: Actor) -> None:
    """Delete a connection with its linked identities; its people keep their Roster users and memberships."""
    account = Account.get_by_id(connection.account_id)
    with transaction():
        _require_admin(account, by)
        lock(account)
        current = get_connection(connection.id, account)
        linked = ExternalIdentity.select().where(ExternalIdentity.connection == current.id).count()
        Connection.delete().where(Connection.id == current.id).execute()
        audit.record(by, "connection.deleted", account_id=account.id, target_type="connection",
                     target_id=current.id, name=current.name, kind=current.kind, identities=linked)


def linked_identities(connection: Connection) -> int:
    return int(ExternalIdentity.select().where(ExternalIdentity.connection == connection.id).count())


def forget_expired(now: dt.datetime | None = None) -> int:
    """Drop sign-ins in flight and used assertion IDs that have expired (both refuse on time alone)."""
    now = now or clock.now()
    gone = SsoRequest.delete().where(SsoRequest.expires_at < now).execute()
    return int(gone) + int(SamlAssertion.delete().where(SamlAssertion.expires_at < now).execute())
