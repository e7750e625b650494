"""Enterprise sign-in decisions (DESIGN.md §7, F1–F6), with no protocol in sight.

oidc.federation reads and checks what an upstream IdP sent (F7) and hands
this module an :class:`Asserted`; here it is decided who that is (F2: the
linked identity, else a link made only on proof), whether they may come in
(F3 JIT, R6 and F6: a blocked membership stays blocked), and what the
sign-in counts for (F5). F1 (:func:`route`) and F4 (:func:`required`) are
asked by the sign-in pages and the authorization endpoint.
"""

from __future__ import annotations

import dataclasses
import re

import peewee as pw

from . import audit, clock, emails, federation, permissions
from .accounts import lock
from .audit import Actor
from .connections import Connection, ExternalIdentity, default_groups
from .database import transaction
from .errors import RosterError
from .federation import Domain
from .i18n import N_
from .tenancy import Account, DirectoryRecord, Group, GroupMember, Invitation, Membership, User

# what an upstream amr may say that Roster passes on (RFC 8176 values are short words)
_AMR_VALUE = re.compile(r"[a-z0-9_-]{1,32}\Z")
UPSTREAM_SECOND_FACTORS = frozenset({"mfa", "otp", "hwk", "swk"})
MAX_UPSTREAM_METHODS = 8

# why an upstream sign-in was refused: the code in the audit trail, the text on the person's page
REFUSALS = {
    "connection_disabled": N_("This single sign-on connection is switched off. Ask an admin of the account."),
    "no_email": N_("Your company's sign-in did not say your email address, so Roster cannot tell who you are. "
                   "Ask your IT team to release the email attribute to Roster."),
    "email_not_verified": N_("Your company's sign-in says your email address is not verified."),
    "foreign_domain": N_("Your company's sign-in gave an email address in a domain that belongs to another "
                         "account. Ask an admin of the account."),
    "unverified_domain": N_("Your email address is not in a domain this account has verified, and there is no "
                            "directory record for you, so Roster will not link or create a user for it. Ask an "
                            "admin of the account to verify the domain or provision you."),
    "not_member": N_("You are not a member of this account, and it does not add people at their first sign-in. "
                     "Ask an admin of the account to add you."),
    "deactivated": N_("Your membership in this account is deactivated. Ask an admin of the account."),
    "user_disabled": N_("Your Roster user is disabled. Ask an admin."),
    "email_refused": N_("Your email address is not one this account accepts."),
}


class SsoRefused(RosterError):
    """An upstream sign-in that may not go on; ``reason`` is a key of REFUSALS."""

    code = "sso_refused"

    def __init__(self, reason: str, detail: str = "") -> None:
        # a protocol failure (F7, reasons of oidc.upstream_*) says itself what failed, in ``detail`` (a
        # models.i18n.Text, so the page translates it); the details of REFUSALS' reasons are the audit trail's
        super().__init__(REFUSALS.get(reason) or detail or N_("The sign-in through your company failed."),
                         reason=reason)
        self.detail = detail


@dataclasses.dataclass(frozen=True)
class Asserted:
    """What an upstream IdP said about a person, once its protocol checks passed (F7)."""

    subject: str  # OIDC sub / SAML NameID
    email: str = ""
    email_verified: bool | None = None  # OIDC's email_verified, when sent
    given_name: str = ""
    family_name: str = ""
    groups: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()  # OIDC amr, or what a SAML AuthnContextClassRef maps to
    second_factor: bool = False  # the IdP says a second factor was used (F5 decides whether it counts)


@dataclasses.dataclass(frozen=True)
class SignedIn:
    user: User
    membership: Membership
    amr: list[str]
    linked: bool  # the identity was linked in this sign-in


# ------------------------------------------------------------------ F1, F4


def _domain_of(email: str) -> str:
    return email.rsplit("@", 1)[1].strip().lower() if "@" in email else ""


def route(email: str) -> Connection | None:
    """F1: the enabled connection of the account that verified ``email``'s domain, if there is one."""
    domain = federation.verified_domain(_domain_of(email)) if _domain_of(email) else None
    if domain is None:
        return None
    found: Connection | None = (Connection.select()
                                .where((Connection.account == domain.account_id) & Connection.enabled)
                                .order_by(Connection.sso_required.desc(), Connection.created_at, Connection.id)
                                .first())
    return found


def enabled_connection(connection_id: str) -> Connection | None:
    """An explicit ``connection=`` of a sign-in, when it names an enabled connection."""
    found: Connection | None = Connection.get_or_none((Connection.id == str(connection_id)[:64])
                                                      & Connection.enabled)
    return found


def _required_query(email: str) -> pw.ModelSelect[Connection]:
    return (Connection.select(Connection).join(Domain, on=(Domain.account == Connection.account))
            .where(Connection.enabled & Connection.sso_required & (Domain.verified_name == _domain_of(email))))


def required(user: User, account: Account) -> Connection | None:
    """F4: the connection ``user`` must sign in through to use ``account`` (its email is in the account's
    verified domains and a connection there requires SSO), or None."""
    if "@" not in user.email:
        return None
    found: Connection | None = (_required_query(user.email).where(Connection.account == account.id)
                                .order_by(Connection.created_at, Connection.id).first())
    return found


def password_refused(user: User) -> Connection | None:
    """F4: a connection that forbids ``user`` a password (a member of an account that requires SSO for
    their domain); password reset is refused for them too."""
    if "@" not in user.email:
        return None
    found: Connection | None = (_required_query(user.email)
                                .join(Membership, on=(Membership.account == Connection.account))
                                .where(Membership.user == user.id).first())
    return found


def members_affected(connection: Connection) -> tuple[int, int]:
    """Before SSO-required is switched on: (members who lose their password for the account, active admins
    who keep one — outside the verified domains, the break-glass admins of R1)."""
    names = [d.name for d in Domain.select(Domain.name).where((Domain.account == connection.account_id)
                                                               & (Domain.status == "verified"))]
    query = (Membership.select(Membership.role, User.email_key).join(User)
             .where((Membership.account == connection.account_id) & (Membership.status == "active")))
    affected = keep = 0
    for membership in query:
        inside = _domain_of(membership.user.email_key) in names
        affected += inside
        keep += (not inside) and membership.role == "admin"
    return affected, keep


def connection_names(user: User) -> dict[str, str]:
    """How ``user`` signs in to each account, where it is not a password: account id → connection name.

    A connection they signed in through before, else the one their email's
    domain routes to (F1).
    """
    names: dict[str, str] = {}
    routed = route(user.email) if "@" in user.email else None
    if routed is not None:
        names[routed.account_id] = routed.name
    linked = (Connection.select(Connection.account, Connection.name)
              .join(ExternalIdentity, on=(ExternalIdentity.connection == Connection.id))
              .where((ExternalIdentity.user == user.id) & Connection.enabled)
              .order_by(ExternalIdentity.last_sign_in_at.desc()))
    for connection in linked:
        names.setdefault(connection.account_id, connection.name)
    return names


# ------------------------------------------------------------------ F2, F3, F5, F6


def upstream_amr(connection: Connection, asserted: Asserted) -> list[str]:
    """F5: ``fed`` with what the IdP asserted; its second factor only when the connection trusts it."""
    methods = [m for m in asserted.methods if isinstance(m, str) and _AMR_VALUE.match(m)][:MAX_UPSTREAM_METHODS]
    trusted = connection.trust_upstream_mfa and (asserted.second_factor or UPSTREAM_SECOND_FACTORS & set(methods))
    if trusted:
        values = ["fed", *(m for m in methods if m != "fed")]
        return values if "mfa" in values else [*values, "mfa"]
    return ["fed", *(m for m in methods if m not in UPSTREAM_SECOND_FACTORS and m != "fed")]


def refuse(connection: Connection, reason: str, *, ip: str, detail: str = "", email: str = "",
           subject: str = "") -> SsoRefused:
    """Record a failed upstream sign-in for the account's admins and return the refusal to raise."""
    with transaction():
        audit.record(Actor.system("sso"), "sso.failed", account_id=connection.account_id, target_type="connection",
                     target_id=connection.id, reason=reason, detail=detail[:500], email=email[:320],
                     subject=subject[:200], ip=ip[:64])
    return SsoRefused(reason, detail)


def sign_in(connection: Connection, asserted: Asserted, *, ip: str) -> SignedIn:
    """Who ``asserted`` is in ``connection``'s account, and may they come in (F2, F3, R6, F6).

    In one transaction under the account's lock, so two first sign-ins of
    one person link once, and a SCIM deactivation committed first is seen.
    """
    if not connection.enabled:
        raise refuse(connection, "connection_disabled", ip=ip)
    email = asserted.email.strip()
    try:
        with transaction():
            lock(connection.account_id)
            account = Account.get_by_id(connection.account_id)
            identity = ExternalIdentity.get_or_none((ExternalIdentity.connection == connection.id)
                                                    & (ExternalIdentity.subject == asserted.subject))
            user = User.get_or_none(User.id == identity.user_id) if identity is not None else None
            linked = user is None
            if user is None:
                user = _link_or_create(connection, account, asserted)
            if user.status == "disabled":
                raise SsoRefused("user_disabled")
            membership = _admit(connection, account, user, asserted)
            _join_asserted_groups(account, membership, asserted.groups)
            now = clock.now()
            if identity is None:
                ExternalIdentity.create(connection=connection.id, subject=asserted.subject, user=user.id,
                                        email=email[:320], created_at=now, last_sign_in_at=now)
                audit.record(Actor.for_user(user), "sso.linked", account_id=account.id, target_type="connection",
                             target_id=connection.id, subject=asserted.subject[:200], email=email[:320])
            else:
                ExternalIdentity.update(last_sign_in_at=now).where(ExternalIdentity.id == identity.id).execute()
    except SsoRefused as refusal:
        raise refuse(connection, str(refusal.reason), ip=ip, detail=refusal.detail, email=email,
                     subject=asserted.subject) from None
    return SignedIn(User.get_by_id(user.id), membership, upstream_amr(connection, asserted), linked)


def _link_or_create(connection: Connection, account: Account, asserted: Asserted) -> User:
    """F2: the Roster user a new upstream identity is, proven by a verified domain or the account's directory.

    Never on an email alone: an IdP (any admin can configure one) could
    assert anybody's address. An email in another account's verified domain
    is refused outright; in an unverified domain only a SCIM record of this
    account (externalId = subject, or userName = the email or subject) links.
    """
    email = asserted.email.strip()
    if not email or "@" not in email:
        raise SsoRefused("no_email", "the IdP asserted no email address")
    if asserted.email_verified is False:
        raise SsoRefused("email_not_verified", f"email_verified is false for {email}")
    key = emails.key(email)
    owner = Domain.get_or_none(Domain.verified_name == _domain_of(key))
    if owner is not None and owner.account_id != account.id:
        raise SsoRefused("foreign_domain", f"{_domain_of(key)} is verified by another account")
    existing = User.get_or_none(User.email_key == key)
    if owner is not None:  # the account proved it owns the domain: its IdP speaks for these addresses
        return existing if existing is not None else _new_user(connection, asserted, key)
    record = _directory_record(account, asserted.subject, key)
    if record is not None:
        return User.select().join(Membership, on=(Membership.user == User.id)).where(
            Membership.id == record.membership_id).get()
    if existing is not None:
        raise SsoRefused("unverified_domain", f"{email} matches a Roster user, but {_domain_of(key)} is not "
                                              "verified by the account and no directory record names it")
    raise SsoRefused("unverified_domain", f"{_domain_of(key)} is not verified by the account")


def _directory_record(account: Account, subject: str, email_key: str) -> DirectoryRecord | None:
    from .directory import user_name_key

    condition = ((DirectoryRecord.external_id == subject) | (DirectoryRecord.user_name_key == user_name_key(subject))
                 | (DirectoryRecord.user_name_key == user_name_key(email_key)))
    found: DirectoryRecord | None = (DirectoryRecord.select()
                                     .where((DirectoryRecord.account == account.id)
                                            & DirectoryRecord.membership.is_null(False) & condition)
                                     .order_by(DirectoryRecord.created_at).first())
    return found


def _new_user(connection: Connection, asserted: Asserted, key: str) -> User:
    """JIT (F3): a person the account's IdP vouches for, in one of its verified domains; no password.

    The address is checked against the account's rules (R5) by :func:`_admit`, which makes the membership
    next in the same transaction: a refusal there takes this user back too."""
    if not connection.jit:
        raise SsoRefused("not_member", f"{key} has no Roster user and JIT is off")
    with transaction():
        user: User = User.create(email=asserted.email.strip()[:320], email_key=key,
                                 given_name=asserted.given_name[:200], family_name=asserted.family_name[:200],
                                 status="active")
    return user


def _admit(connection: Connection, account: Account, user: User, asserted: Asserted) -> Membership:
    """R6, F3, F6: the person's membership, made or activated when the account wants them, else a refusal.

    A deactivated membership stays refused, whoever the IdP says they are; a
    person invited (by an admin or the directory) accepts by signing in; a
    person without a membership (never one, or removed) gets one only by JIT.
    """
    membership = Membership.get_or_none((Membership.user == user.id) & (Membership.account == account.id))
    now = clock.now()
    if membership is not None and membership.status == "deactivated":
        raise SsoRefused("deactivated", f"{user.email}'s membership is deactivated")
    if membership is not None and membership.status == "invited":
        Membership.update(status="active", updated_at=now).where(Membership.id == membership.id).execute()
        Invitation.update(status="accepted", accepted_at=now).where(
            (Invitation.membership == membership.id) & (Invitation.status == "pending")).execute()
        _activate(user, asserted)
        audit.record(Actor.for_user(user), "invitation.accepted", account_id=account.id, target_type="membership",
                     target_id=membership.id, via="sso")
        return Membership.get_by_id(membership.id)
    if membership is not None:
        return membership
    if not connection.jit:
        raise SsoRefused("not_member", f"{user.email} is not a member and JIT is off")
    try:
        emails.check_invitable(user.email, account.allowed_email_domains)
    except RosterError as exc:
        raise SsoRefused("email_refused", str(exc)) from None
    _activate(user, asserted)
    membership = Membership.create(user=user.id, account=account.id, status="active", role=connection.default_role,
                                   permissions=permissions.resolve(connection.default_role), created_via="sso")
    groups = default_groups(connection)
    _add_to_groups(membership, [g.id for g in groups])
    audit.record(Actor.for_user(user), "membership.created", account_id=account.id, target_type="membership",
                 target_id=membership.id, email=user.email, role=connection.default_role, via="sso",
                 connection_id=connection.id, groups=[g.display_name for g in groups])
    return membership


def _join_asserted_groups(account: Account, membership: Membership, names: tuple[str, ...]) -> None:
    """The account's groups the IdP says the person is in (by name, any case) get them; none is made or left:
    groups are the account's to define (by hand or by SCIM), the IdP only says who belongs."""
    if not names:
        return
    wanted = (Group.select(Group.id).where((Group.account == account.id)
                                            & Group.display_name_key.in_([n.lower() for n in names][:100])))
    present = {link.group_id for link in GroupMember.select(GroupMember.group).where(
        GroupMember.membership == membership.id)}
    missing = [group.id for group in wanted if group.id not in present]
    if missing:
        _add_to_groups(membership, missing)
        audit.record(Actor.system("sso"), "membership.groups_joined", account_id=account.id,
                     target_type="membership", target_id=membership.id, groups=missing, via="sso")


def _add_to_groups(membership: Membership, group_ids: list[str]) -> None:
    """As models.groups.add_members writes it: the links, and a new version of each group (SCIM's ETag)."""
    if group_ids:
        GroupMember.insert_many([{"group": g, "membership": membership.id} for g in group_ids]) \
            .on_conflict_ignore().execute()
        Group.update(version=Group.version + 1, updated_at=clock.now()).where(Group.id.in_(group_ids)).execute()


def _activate(user: User, asserted: Asserted) -> None:
    """A pending person (invited, never registered) becomes active by signing in upstream; names fill gaps."""
    if user.status != "pending":
        return
    User.update(status="active", given_name=user.given_name or asserted.given_name[:200],
                family_name=user.family_name or asserted.family_name[:200], updated_at=clock.now()).where(
        User.id == user.id).execute()
