"""The audit trail as an admin reads it: people and things by name and email, values as words.

The trail keeps plain ids (it outlives what it describes, models.ops). For
one page of an account's events, :func:`describe` looks the ids up in a few
queries, each scoped to that account: a person is named by their current
name and email only while they are a member of the account, else by what
the trail itself recorded (the email at the time), so the log never tells
one tenant about another's people. The ids stay available (``Party.ids``)
for a tooltip or an export.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from .connections import Connection
from .federation import Domain
from .i18n import N_, Text
from .ops import AuditEvent
from .security import OAuthClient
from .tenancy import Account, DirectoryRecord, Group, Invitation, Membership, ScimToken, User

ACTIONS: dict[str, str] = {
    "account.created": N_("Account created"),
    "account.policy_changed": N_("Account policy changed"),
    "client.created": N_("Application registered"),
    "client.deleted": N_("Application deleted"),
    "client.secret_rotated": N_("Application secret replaced"),
    "client.updated": N_("Application changed"),
    "connection.created": N_("Single sign-on connection added"),
    "connection.deleted": N_("Single sign-on connection deleted"),
    "connection.tested": N_("Single sign-on connection tested"),
    "connection.updated": N_("Single sign-on connection changed"),
    "directory_record.created": N_("Directory record created"),
    "directory_record.deleted": N_("Directory record deleted"),
    "directory_record.password_not_set": N_("Directory password not set"),
    "directory_record.patched": N_("Directory record changed"),
    "directory_record.replaced": N_("Directory record replaced"),
    "directory_record.updated": N_("Directory record changed"),
    "domain.added": N_("Domain added"),
    "domain.removed": N_("Domain removed"),
    "domain.verification_failed": N_("Domain verification failed"),
    "domain.verified": N_("Domain verified"),
    "group.created": N_("Group created"),
    "membership.groups_joined": N_("Groups joined at single sign-on"),
    "group.deleted": N_("Group deleted"),
    "group.members_added": N_("Group members added"),
    "group.members_removed": N_("Group members removed"),
    "group.renamed": N_("Group renamed"),
    "group.updated": N_("Group changed"),
    "invitation.accepted": N_("Invitation accepted"),
    "invitation.created": N_("Invitation sent"),
    "invitation.edited": N_("Invitation edited"),
    "invitation.resent": N_("Invitation sent again"),
    "invitation.revoked": N_("Invitation revoked"),
    "membership.created": N_("Member added"),
    "membership.deactivated": N_("Member deactivated"),
    "membership.groups_changed": N_("Member's groups changed"),
    "membership.left": N_("Member left the account"),
    "membership.reactivated": N_("Member reactivated"),
    "membership.removed": N_("Member removed"),
    "membership.role_changed": N_("Member's role changed"),
    "oauth.code_replayed": N_("Authorization code used twice"),
    "oauth.refresh_token_reused": N_("Refresh token used twice"),
    "oauth.token_revoked": N_("Tokens revoked"),
    "scim_token.created": N_("SCIM token created"),
    "scim_token.revoked": N_("SCIM token revoked"),
    "session.ended": N_("Signed out"),
    "session.others_ended": N_("Other sessions ended"),
    "session.started": N_("Signed in"),
    "sso.failed": N_("Single sign-on failed"),
    "sso.linked": N_("Upstream identity linked"),
    "password.reset_refused": N_("Password reset refused (single sign-on required)"),
}

LABELS: dict[str, str] = {
    "allowed_email_domains": N_("Allowed email domains"),
    "amr": N_("Signed in with"),
    "backchannel_logout_uri": N_("Back-channel logout URI"),
    "count": N_("How many"),
    "email": N_("Email"),
    "external_id": N_("External id"),
    "family_name": N_("Last name"),
    "fields": N_("Fields"),
    "first_party": N_("First-party application"),
    "given_name": N_("First name"),
    "groups": N_("Groups"),
    "invitation_ttl_days": N_("Invitation validity (days)"),
    "ip": N_("IP address"),
    "members": N_("Members"),
    "members_added": N_("Members added"),
    "members_replaced": N_("Members replaced"),
    "membership_id": N_("Member"),
    "membership_links_removed": N_("Members removed"),
    "mfa_required": N_("Second factor required"),
    "name": N_("Name"),
    "new_user": N_("New user"),
    "permissions": N_("Modules"),
    "post_logout_redirect_uris": N_("Post-logout redirect URIs"),
    "public": N_("Public client"),
    "reason": N_("Reason"),
    "record_links_removed": N_("Directory members removed"),
    "records": N_("Directory records"),
    "records_added": N_("Directory records added"),
    "records_removed": N_("Directory records removed"),
    "redirect_uris": N_("Redirect URIs"),
    "revoked": N_("Tokens revoked"),
    "role": N_("Role"),
    "temporary_password": N_("Temporary password"),
    "tokens_ended": N_("Tokens ended"),
    "type": N_("Type"),
    "unlinked_reason": N_("Not linked because"),
    "user_id": N_("Person"),
    "user_name": N_("User name"),
    "was_verified": N_("Was verified"),
    "via": N_("Through"),
}

_WORDS: dict[str, dict[str, str]] = {
    "amr": {"pwd": "password", "otp": "one-time code", "hwk": "security key", "swk": "passkey",
            "mfa": "two factors"},
    "role": {"admin": "admin", "user": "user"},
    "via": {"console": "the admin console", "scim": "the directory (SCIM)", "cli": "the command line",
            "invitation": "an invitation"},
    "reason": {"user_deleted": "the person deleted their user", "logout": "signed out",
               "signed_out": "signed out",
               # a domain's failed verification (models.federation)
               "record_missing": "no TXT record", "value_mismatch": "the TXT record has another value",
               "nxdomain": "the record's name does not exist (NXDOMAIN)", "dns_timeout": "DNS did not answer",
               "dns_failure": "DNS failed", "taken": "verified by another account"},
    "unlinked_reason": {
        "no_valid_email": "no valid email address",
        "already_member_through_other_record": "already a member through another record",
        "email_rejected": "the email address was refused",
    },
}
_FIRST = ("name", "email", "given_name", "family_name", "user_name", "user_id", "role", "permissions", "groups",
          "members", "via")
# keys whose values are program codes: shown with spaces for underscores when no better words are known
_CODES = ("permissions", "reason", "unlinked_reason", "type")
# what None means for a key whose absence is itself a setting
_NONE_MEANS = {"allowed_email_domains": "any domain"}
# events that say what changed: there, a value set to nothing is news ("none"), elsewhere it is left out
_CHANGE_SUFFIXES = (".policy_changed", ".updated", ".edited", ".patched", ".replaced")
# the events whose details name what they are about (email, name or userName), bounded per thing
NAMING_ACTIONS = ("membership.created", "invitation.created", "invitation.edited", "group.created",
                  "group.renamed", "group.deleted", "client.created", "client.updated", "client.deleted",
                  "directory_record.created", "directory_record.deleted", "connection.created", "connection.updated",
                  "connection.deleted")
# detail keys that hold ids, and what they are ids of
_ID_KEYS = {"user_id": "user", "membership_id": "membership", "members": "membership", "groups": "group",
            "records": "record", "records_added": "record", "records_removed": "record"}
_TARGETS = {"membership": "membership", "user": "user", "invitation": "invitation", "group": "group",
            "oauth_client": "client", "client": "client", "directory_record": "record", "scim_token": "token",
            "domain": "domain", "connection": "connection"}
_KINDS = {"membership": N_("Member"), "user": N_("Person"), "invitation": N_("Invitation"), "group": N_("Group"),
          "client": N_("Application"), "record": N_("Directory record"), "token": N_("SCIM token"),
          "session": N_("Session"), "account": N_("Account"), "domain": N_("Domain"),
          "connection": N_("Single sign-on connection")}


@dataclasses.dataclass(frozen=True)
class Party:
    """Who acted, or what an event is about, in words; ``ids`` names the stored ids (for a tooltip)."""

    kind: str
    name: str
    email: str = ""
    ids: str = ""
    note: str = ""

    @property
    def text(self) -> str:
        """One line: ``Name <email>`` (or what there is), with the note in brackets."""
        if self.email and self.name and self.name != self.email:
            shown = f"{self.name} <{self.email}>"
        else:
            shown = self.name or self.email or self.kind
        return f"{shown} ({self.note})" if self.note else shown


@dataclasses.dataclass(frozen=True)
class Detail:
    label: str
    text: str
    ids: str = ""


@dataclasses.dataclass(frozen=True)
class Entry:
    """One audit event as a person reads it."""

    id: int
    at: dt.datetime
    action: str
    summary: str
    actor: Party
    target: Party | None
    details: list[Detail]
    detail: dict[str, Any]
    request_id: str

    @property
    def details_text(self) -> str:
        return "; ".join(f"{d.label}: {d.text}" for d in self.details)


def action_words(action: str) -> str:
    """``group.created`` → "Group created" (known actions have their own words)."""
    if action in ACTIONS:
        return ACTIONS[action]
    subject, _, verb = action.partition(".")
    return f"{subject.replace('_', ' ').capitalize()} {verb.replace('_', ' ')}".strip()


def _label(key: str) -> str:
    return LABELS.get(key) or key.replace("_", " ").capitalize()


def _word(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return _WORDS.get(key, {}).get(value, value.replace("_", " ") if key in _CODES else value)
    if isinstance(value, dict):
        return ", ".join(f"{_label(k)}: {_word(k, v)}" for k, v in value.items() if v is not None)
    if isinstance(value, (list, tuple)):
        return ", ".join(_word(key, v) for v in value)
    return str(value)


def _first_things_first(item: tuple[str, Any]) -> int:
    """Details are stored with sorted keys: show who and what first, the rest as stored."""
    return _FIRST.index(item[0]) if item[0] in _FIRST else len(_FIRST)


def _ids(values: Any) -> list[str]:
    if isinstance(values, str):
        return [values] if values else []
    if isinstance(values, (list, tuple)):
        return [v for v in values if isinstance(v, str) and v]
    return []


class _Names:
    """The names behind the ids of some events of one account, looked up once (a query per kind)."""

    def __init__(self, account: Account, events: Sequence[AuditEvent]) -> None:
        self.account = account
        wanted: dict[str, set[str]] = {kind: set() for kind in ("user", "membership", "invitation", "group",
                                                                 "client", "record", "token", "domain",
                                                                 "connection")}
        for e in events:
            if e.actor_type == "user" and e.actor_id:
                wanted["user"].add(e.actor_id)
            if e.actor_type == "scim_token" and e.actor_id:
                wanted["token"].add(e.actor_id)
            if e.target_type in _TARGETS and e.target_id:
                wanted[_TARGETS[e.target_type]].add(e.target_id)
            for key, kind in _ID_KEYS.items():
                wanted[kind].update(_ids((e.detail or {}).get(key)))
        self.found: dict[str, dict[str, Party]] = {kind: {} for kind in wanted}
        self._people(wanted["user"], wanted["membership"])
        self._things(wanted)
        self._from_trail({kind: ids - set(self.found[kind]) for kind, ids in wanted.items()})

    def _people(self, user_ids: set[str], membership_ids: set[str]) -> None:
        if not user_ids and not membership_ids:
            return
        rows = (Membership.select(Membership, User).join(User)
                .where((Membership.account == self.account.id)
                       & (Membership.id.in_(list(membership_ids)) | Membership.user.in_(list(user_ids)))))
        for m in rows:
            person = Party("Person", m.user.name, m.user.email, f"user {m.user.id} · member {m.id}",
                           "" if m.status == "active" else m.status)
            self.found["user"][m.user.id] = person
            self.found["membership"][m.id] = dataclasses.replace(person, kind="Member")

    def _things(self, wanted: dict[str, set[str]]) -> None:
        account = self.account.id
        if wanted["invitation"]:
            for inv in Invitation.select().where((Invitation.account == account)
                                                 & Invitation.id.in_(list(wanted["invitation"]))):
                name = " ".join(p for p in (inv.given_name, inv.family_name) if p)
                self.found["invitation"][inv.id] = Party("Invitation", name, inv.email, f"invitation {inv.id}",
                                                         "" if inv.status == "pending" else inv.status)
        if wanted["group"]:
            for group in Group.select().where((Group.account == account) & Group.id.in_(list(wanted["group"]))):
                self.found["group"][group.id] = Party("Group", group.display_name, ids=f"group {group.id}")
        if wanted["client"]:
            for client in OAuthClient.select().where((OAuthClient.account == account)
                                                     & OAuthClient.client_id.in_(list(wanted["client"]))):
                self.found["client"][client.client_id] = Party("Application", client.name or client.client_id,
                                                               ids=f"client_id {client.client_id}")
        if wanted["record"]:
            for record in DirectoryRecord.select(DirectoryRecord.id, DirectoryRecord.user_name).where(
                    (DirectoryRecord.account == account) & DirectoryRecord.id.in_(list(wanted["record"]))):
                self.found["record"][record.id] = Party("Directory record", record.user_name,
                                                        ids=f"directory record {record.id}")
        if wanted["token"]:
            for token in ScimToken.select().where((ScimToken.account == account)
                                                  & ScimToken.id.in_(list(wanted["token"]))):
                name = (Text("SCIM token “%(description)s” (%(hint)s…)", description=token.description,
                             hint=token.hint) if token.description
                        else Text("SCIM token (%(hint)s…)", hint=token.hint))
                self.found["token"][token.id] = Party("SCIM token", name,
                                                      ids=f"SCIM token {token.id}",
                                                      note="revoked" if token.revoked_at else "")
        if wanted["domain"]:
            for domain in Domain.select().where((Domain.account == account) & Domain.id.in_(list(wanted["domain"]))):
                self.found["domain"][domain.id] = Party("Domain", domain.name, ids=f"domain {domain.id}",
                                                        note="" if domain.status == "verified" else domain.status)
        if wanted["connection"]:
            for connection in Connection.select().where((Connection.account == account)
                                                        & Connection.id.in_(list(wanted["connection"]))):
                self.found["connection"][connection.id] = Party(
                    "Single sign-on connection", connection.name, ids=f"{connection.kind} connection {connection.id}",
                    note="" if connection.enabled else "disabled")

    def _from_trail(self, missing: dict[str, set[str]]) -> None:
        """What is gone since (a removed member, a deleted group) by what this account's trail recorded of it."""
        targets = {i for k in ("membership", "invitation", "group", "client", "record", "connection")
                   for i in missing[k]}
        if targets:
            rows: Any = (AuditEvent.select(AuditEvent.target_type, AuditEvent.target_id, AuditEvent.detail)
                         .where((AuditEvent.account_id == self.account.id) & AuditEvent.target_id.in_(list(targets))
                                & AuditEvent.action.in_(NAMING_ACTIONS))
                         .order_by(AuditEvent.id.desc()).tuples())
            for target_type, target_id, detail in rows:
                kind = _TARGETS.get(target_type, "")
                name = str((detail or {}).get("name") or (detail or {}).get("user_name") or "")
                email = str((detail or {}).get("email") or "")
                if kind in missing and target_id not in self.found[kind] and (name or email):
                    self.found[kind][target_id] = Party(_KINDS[kind], name, email,
                                                        f"{target_type.replace('_', ' ')} {target_id}",
                                                        N_("no longer here"))
        if missing["user"]:
            labels: Any = (AuditEvent.select(AuditEvent.actor_id, AuditEvent.actor_label).distinct()
                           .where((AuditEvent.account_id == self.account.id) & (AuditEvent.actor_type == "user")
                                  & AuditEvent.actor_id.in_(list(missing["user"]))).tuples())
            for user_id, label in labels:
                self.found["user"].setdefault(user_id, Party("Person", "", label, f"user {user_id}",
                                                             N_("no longer a member")))

    def get(self, kind: str, id_: str) -> Party | None:
        return self.found.get(kind, {}).get(id_)

    def actor(self, e: AuditEvent) -> Party:
        if e.actor_type == "user":
            found = self.get("user", e.actor_id)
            if found is not None:
                return found
            # no longer a member here: what the trail recorded then, not the person's user today
            return Party("Person", "", e.actor_label, f"user {e.actor_id}", N_("no longer a member"))
        if e.actor_type == "scim_token":
            return self.get("token", e.actor_id) or Party("SCIM token", e.actor_label or "SCIM token",
                                                          ids=f"SCIM token {e.actor_id}", note=N_("deleted"))
        if e.actor_type == "cli":
            return Party(N_("Command line"), Text("Command line (%(label)s)", label=e.actor_label)
                         if e.actor_label not in ("", "cli") else N_("Command line"))
        if e.actor_type == "system":
            return Party(N_("System"), "Roster" + (f" ({e.actor_label})" if e.actor_label not in ("", "system")
                                                else ""))
        return Party(e.actor_type, e.actor_label or e.actor_type, ids=e.actor_id)

    def target(self, e: AuditEvent) -> Party | None:
        if not e.target_type:
            return None
        if e.target_type == "account":
            if e.target_id == self.account.id:
                return Party("Account", self.account.name, ids=f"account {self.account.id}")
            return Party("Account", "Account", ids=f"account {e.target_id}")
        kind = _TARGETS.get(e.target_type, e.target_type)
        found = self.get(kind, e.target_id)
        if found is not None:
            return found
        detail = e.detail or {}
        # gone since: the event's own words name it
        name = str(detail.get("name") or detail.get("user_name") or "")
        email = str(detail.get("email") or "")
        words = _KINDS.get(kind, e.target_type.replace("_", " ").capitalize())
        note = "" if e.target_type == "session" else N_("no longer here")
        return Party(words, name, email, f"{e.target_type.replace('_', ' ')} {e.target_id}", note)

    def detail(self, e: AuditEvent) -> list[Detail]:
        changes = e.action.endswith(_CHANGE_SUFFIXES)
        shown: list[Detail] = []
        for key, value in sorted((e.detail or {}).items(), key=_first_things_first):
            if key in _ID_KEYS:
                ids = _ids(value)
                parties = [self.get(_ID_KEYS[key], i) for i in ids]
                if isinstance(value, str) and parties == [None]:
                    continue  # one id nothing names any more: the event's target says who it was
                words = [p.text if p is not None else "unknown (no longer here)" for p in parties]
                if words or changes:
                    shown.append(Detail(_label(key), ", ".join(words) or "none", " · ".join(ids)))
                continue
            if value is None or value == [] or value == "":
                if key in _NONE_MEANS:
                    shown.append(Detail(_label(key), _NONE_MEANS[key]))
                elif changes:
                    shown.append(Detail(_label(key), "none"))
                continue
            shown.append(Detail(_label(key), _word(key, value)))
        return shown


def describe(account: Account, events: Iterable[AuditEvent]) -> list[Entry]:
    """``events`` of ``account`` in words, in the same order (a handful of queries, whatever their number)."""
    rows = list(events)
    names = _Names(account, rows)
    return [Entry(e.id, e.at, e.action, action_words(e.action), names.actor(e), names.target(e), names.detail(e),
                  dict(e.detail or {}), e.request_id) for e in rows]
