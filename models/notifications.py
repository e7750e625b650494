"""Mails that tell a person what happened to their user or their memberships (issue 13), through the outbox.

The catalogue says, per event, which of the person's notification settings
(models.profile.EMAIL_NOTIFICATIONS) governs it, and its subject and
sentences. :func:`notify` queues one in the transaction of the change, as
a single INSERT … SELECT from the person's row: their address, language,
time zone and date format, and whether they want this kind of mail, are
read as the change happens, so a person deleted before delivery still gets
the mail about it, and a person who turned the kind off gets no row at all.
The outbox sender renders the text (:func:`render`) in their language.

No mail carries a secret: the placeholders are names, times, places and
links to pages, never a token, a code or a password.

Who is told what: a change by the person, an admin (console), the operator
(CLI) or the account's directory (SCIM: a user deactivated, reactivated or
deleted) tells the person. Group membership pushed by a SCIM client in a
group PUT/PATCH does not: one push can move thousands of people, mirroring
a directory whose own tools tell them (models.groups tells the console's
and the CLI's group changes). Memberships still ``invited`` get none of
these: the invitee hears from their invitation.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

import peewee

from . import clock, i18n
from .audit import Actor
from .database import is_postgres
from .deployment import Deployment
from .i18n import N_
from .ops import OutboxMessage
from .prepared import Prepared
from .tenancy import Account, Membership, User
from .user_agents import describe

KIND = "notification"  # the outbox kind (scim_server.outbox.transports renders and mails it)
SECURITY, MEMBERSHIPS = "security", "memberships"  # keys of models.profile.EMAIL_NOTIFICATIONS


@dataclasses.dataclass(frozen=True)
class Notice:
    """One event's mail: the setting that turns it off, its subject and the sentence that says what happened."""

    setting: str
    subject: str
    happened: str
    advice: str = ""


_CHECK_SECURITY = N_("If this was not you, reset your password at once at {forgot} and review where you are "
                     "signed in at {sessions}.")
_ASK_ADMIN = N_("If you did not expect this, contact an admin of {account}.")

CATALOGUE: dict[str, Notice] = {
    "password_changed": Notice(SECURITY, N_("Your {product} password was changed"),
                               N_("The password of your {product} user {email} was changed on {when}.")),
    "password_reset": Notice(SECURITY, N_("Your {product} password was reset"),
                             N_("The password of your {product} user {email} was reset on {when} with a link mailed "
                                "to this address, and you were signed out everywhere.")),
    "totp_added": Notice(SECURITY, N_("An authenticator app was added to your {product} user"),
                         N_("An authenticator app was added as a second factor to your {product} user {email} on "
                            "{when}.")),
    "totp_removed": Notice(SECURITY, N_("An authenticator app was removed from your {product} user"),
                           N_("An authenticator app was removed from the second factors of your {product} user "
                              "{email} on {when}.")),
    "passkey_added": Notice(SECURITY, N_("A security key or passkey was added to your {product} user"),
                            N_("The security key or passkey “{key}” was added as a second factor to your {product} "
                               "user {email} on {when}.")),
    "passkey_removed": Notice(SECURITY, N_("A security key or passkey was removed from your {product} user"),
                              N_("The security key or passkey “{key}” was removed from the second factors of your "
                                 "{product} user {email} on {when}.")),
    "recovery_codes_regenerated": Notice(SECURITY, N_("New recovery codes for your {product} user"),
                                         N_("New recovery codes were made for your {product} user {email} on "
                                            "{when}; the earlier ones no longer work.")),
    "new_signin": Notice(SECURITY, N_("New sign-in to {product} from {device}"),
                         N_("Someone signed in to your {product} user {email} on {when} from a browser or device "
                            "not used with it before: {device}, IP address {ip}.")),
    "user_deleted": Notice(SECURITY, N_("Your {product} user was deleted"),
                           N_("Your {product} user {email} was deleted on {when}, with its place in every account."),
                           N_("If you did not ask for this, contact an admin of your accounts at once.")),
    "added": Notice(MEMBERSHIPS, N_("You now have access to {account} on {product}"),
                    N_("You were added to {account} on {when}. Sign in at {home} to use it.")),
    "role_changed": Notice(MEMBERSHIPS, N_("Your role in {account} changed"),
                           N_("Your role in {account} is {role} since {when}, with these modules: {modules}.")),
    "groups_changed": Notice(MEMBERSHIPS, N_("Your groups in {account} changed"),
                             N_("Your groups in {account} changed on {when}.")),
    "deactivated": Notice(MEMBERSHIPS, N_("Your access to {account} was deactivated"),
                          N_("Your access to {account} on {product} was deactivated on {when}. You keep your "
                             "{product} user and your other accounts.")),
    "reactivated": Notice(MEMBERSHIPS, N_("Your access to {account} is back"),
                          N_("Your access to {account} on {product} was reactivated on {when}. Sign in at {home} to "
                             "use it.")),
    "removed": Notice(MEMBERSHIPS, N_("You were removed from {account}"),
                      N_("You were removed from {account} on {product} on {when}. You keep your {product} user and "
                         "your other accounts.")),
    "left": Notice(MEMBERSHIPS, N_("You left {account}"),
                   N_("You left {account} on {product} on {when}. You keep your {product} user and your other "
                      "accounts."), _CHECK_SECURITY),
}

# who made a change, when it was not the person themself
_BY = {
    "user": N_("This change was made by {actor}."),
    "scim_token": N_("This change came from the user directory of {account} (SCIM provisioning)."),
    "cli": N_("This change was made by an operator of {product}."),
    "system": N_("This change was made by an operator of {product}."),
}
_FOOTER = {
    SECURITY: N_("You get this mail because security alerts are on in your {product} profile. You can turn them "
                 "off there: {settings}"),
    MEMBERSHIPS: N_("You get this mail because account change notices are on in your {product} profile. You can "
                    "turn them off there: {settings}"),
}
_LAST = N_("This is the last mail {product} sends you about this user.")
# lines under what happened, each shown when its value is there
_DETAILS = {
    "groups_added": N_("Added to: {groups_added}."),
    "groups_removed": N_("Removed from: {groups_removed}."),
}
_ROLES = {"admin": N_("admin"), "user": N_("user")}
_NONE = N_("none")


# ----------------------------------------------------------------- queueing


def notify(event: str, user_id: str, *, account_id: str | None = None, by: Actor | None = None,
           **params: str | list[str]) -> None:
    """Queue ``event``'s mail to the person ``user_id`` (one INSERT), unless their setting for it is off.

    Call inside the transaction of the change and before the person's row
    goes (a deleted user). ``account_id`` names the account a membership
    event is about; ``by``, who made the change (said in the mail unless it
    was the person). A person who never registered gets nothing.
    """
    notice = CATALOGUE[event]
    statement = _statement(notice.setting, account_id is not None)
    values = [event, _params(user_id, by, params), clock.now(), user_id]
    if account_id is not None:
        values.append(account_id)
    statement.execute(*values)


def notify_many(event: str, *, account_id: str, by: Actor | None = None, user_ids: Sequence[str] = (),
                membership_ids: Sequence[str] = (), **params: str | list[str]) -> None:
    """:func:`notify` for many people of one account at once (by user or by membership), in one INSERT.

    Memberships still ``invited`` are left out: the invitee gets the invitation mail, not these.
    """
    if not user_ids and not membership_ids:
        return
    people = User.id.in_(list(user_ids)) if user_ids else User.id.in_(
        Membership.select(Membership.user).where(Membership.id.in_(list(membership_ids))
                                                 & (Membership.status != "invited")))
    query = _capture(CATALOGUE[event].setting, event, _params(None, by, params), clock.now(), people, account_id)
    query.execute()


def _params(user_id: str | None, by: Actor | None, params: dict[str, Any]) -> str:
    values = dict(params)
    if by is not None and (by.user_id is None or by.user_id != user_id):
        values["by"] = by.type
        if by.type == "user":
            values["actor"] = by.label
    return json.dumps(values, sort_keys=True, separators=(",", ":"))


def _text(value: Any) -> peewee.Node:
    # psycopg binds a str as "unknown": the JSON functions below need to know it is text
    return peewee.Cast(value, "TEXT")


def _json_object(pairs: list[tuple[str, Any]]) -> peewee.Node:
    args: list[Any] = []
    for key, value in pairs:
        args += [peewee.SQL(f"'{key}'"), value]
    if is_postgres():
        return peewee.Cast(peewee.fn.json_build_object(*args), "TEXT")
    return peewee.fn.json_object(*args)


def _wants(setting: str) -> peewee.Expression:
    """The person's setting for ``setting`` is on (a kind never set is on, as models.profile.notification_settings)."""
    if is_postgres():
        stored = peewee.NodeList((peewee.Cast(User.email_notifications, "jsonb"), peewee.SQL(f"->> '{setting}'")),
                                 parens=True)
        return peewee.fn.COALESCE(stored, peewee.SQL("'true'")) != peewee.SQL("'false'")
    extracted = peewee.fn.json_extract(User.email_notifications, peewee.SQL(f"'$.{setting}'"))
    return peewee.fn.COALESCE(extracted, peewee.SQL("1")) != peewee.SQL("0")


def _capture(setting: str, event: Any, params: Any, now: Any, people: Any, account_id: Any | None) -> Any:
    """INSERT INTO outbox … SELECT the person's address and settings (and the account's name) … WHERE they want it."""
    params_json = peewee.Cast(_text(params), "json") if is_postgres() else peewee.fn.json(_text(params))
    pairs = [("template", _text(event)), ("params", params_json), ("locale", User.locale),
             ("timezone", User.timezone), ("date_format", User.date_format), ("given_name", User.given_name),
             ("display_name", User.display_name)]
    if account_id is not None:
        pairs.append(("account", Account.name))
    moment = peewee.Value(now, converter=False)
    # subject and body stay empty: the sender renders them (render)
    query = User.select(peewee.SQL(f"'{KIND}'"), User.email, peewee.SQL("''"), peewee.SQL("''"),
                        _json_object(pairs), peewee.SQL("'pending'"), peewee.SQL("0"), moment, moment)
    if account_id is not None:
        query = query.join(Account, on=(Account.id == _text(account_id)))
    query = query.where(people & (User.status != "pending") & _wants(setting))
    fields = [OutboxMessage.kind, OutboxMessage.recipient, OutboxMessage.subject, OutboxMessage.body,
              OutboxMessage.payload, OutboxMessage.status, OutboxMessage.attempts, OutboxMessage.created_at,
              OutboxMessage.next_attempt_at]
    return OutboxMessage.insert_from(query, fields)


_STATEMENTS: dict[tuple[str, bool], Prepared] = {}


def _statement(setting: str, with_account: bool) -> Prepared:
    """The single-person INSERT for ``setting``, built once (models.prepared): SCIM deactivations run it."""
    statement = _STATEMENTS.get((setting, with_account))
    if statement is None:
        if with_account:
            statement = Prepared(lambda event, params, now, user_id, account_id: _capture(
                setting, event, params, now, User.id == _text(user_id), account_id))
        else:
            statement = Prepared(lambda event, params, now, user_id: _capture(
                setting, event, params, now, User.id == _text(user_id), None))
        _STATEMENTS[(setting, with_account)] = statement
    return statement


# ----------------------------------------------------------------- rendering


def render(message: OutboxMessage, deployment: Deployment) -> tuple[str, str]:
    """The subject and body of a queued notification, in the language and time format captured with it."""
    payload: dict[str, Any] = message.payload or {}
    notice = CATALOGUE[payload["template"]]
    params: dict[str, Any] = dict(payload.get("params") or {})
    translation = i18n.translations(payload.get("locale"))
    gettext = translation.gettext
    links = deployment.links
    values: dict[str, Any] = {
        "product": deployment.product_name,
        "account": payload.get("account") or "",
        "email": message.recipient,
        "when": i18n.format_time(message.created_at, timezone=payload.get("timezone"),
                                 date_format=payload.get("date_format")),
        "home": links.home(),
        "forgot": links.forgot_password(),
        "sessions": links.profile("sessions"),
        "settings": links.profile(),
        **{k: v for k, v in params.items() if isinstance(v, str)},
    }
    if "user_agent" in params:
        values["device"] = describe(params["user_agent"], gettext)
    if "role" in params:
        values["role"] = gettext(_ROLES.get(params["role"], params["role"]))
    for key in ("modules", "groups_added", "groups_removed"):
        if key in params:
            words = [str(v).replace("_", " ") if key == "modules" else str(v) for v in params[key]]
            values[key] = ", ".join(words) if words else gettext(_NONE)
    name = payload.get("display_name") or payload.get("given_name")
    greeting = gettext("Hello {name},").format(name=name) if name else gettext("Hello,")
    happened = [gettext(notice.happened).format(**values)]
    happened += [gettext(line).format(**values) for key, line in _DETAILS.items() if params.get(key)]
    paragraphs = [greeting, "\n".join(happened)]
    if params.get("by") in _BY:
        paragraphs.append(gettext(_BY[params["by"]]).format(**values))
    advice = notice.advice or (_CHECK_SECURITY if notice.setting == SECURITY else _ASK_ADMIN)
    paragraphs.append(gettext(advice).format(**values))
    footer = _LAST if payload["template"] == "user_deleted" else _FOOTER[notice.setting]
    paragraphs.append(gettext(footer).format(**values))
    return gettext(notice.subject).format(**values), "\n\n".join(paragraphs) + "\n"
