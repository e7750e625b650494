"""The mails the domain sends about memberships, as outbox rows (models.outbox); each says what happened and what to do.

A person's notices about changes to their user or memberships (added to an
account, role changed …) are models.notifications'.

No secret goes into a mail except the one it exists to deliver (a link, a
temporary password), and no mail is logged with its body.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from . import i18n, outbox
from .deployment import Deployment
from .i18n import N_
from .tenancy import Account, User


def _reading(reader: User | None) -> tuple[Callable[[str], str], Callable[[dt.datetime], str]]:
    """How a mail speaks to ``reader``: their language and their time zone and date format (English, UTC when
    Roster does not know them yet)."""
    gettext = i18n.translations(reader.locale if reader else None).gettext

    def when(value: dt.datetime) -> str:
        return i18n.format_time(value, timezone=reader.timezone if reader else None,
                                date_format=reader.date_format if reader else None)

    return gettext, when


def invited(account: Account, email: str, link: str, expires_at: dt.datetime, deployment: Deployment,
            reader: User | None = None) -> dict[str, Any]:
    """The invitation, in the language of ``reader`` (the invited person's user, when the caller has it): a new
    person's pending user reads English, never the inviting admin's language."""
    gettext, when = _reading(reader)
    values = {"account": account.name, "product": deployment.product_name, "link": link, "when": when(expires_at)}
    lines = (N_("You have been invited to join {account} on {product}."), N_("Register and join: {link}"),
             N_("This link is valid until {when}."))
    return outbox.mail(
        email,
        gettext(N_("You are invited to {account} on {product}")).format(**values),
        "\n\n".join(gettext(line).format(**values) for line in lines) + "\n",
        template="invitation",
        account_id=account.id,
    )


def temporary_password(account: Account, email: str, password: str, deployment: Deployment,
                       reader: User | None = None) -> dict[str, Any]:
    """R8: a person created with a temporary password, to be changed at the first sign-in."""
    gettext, _when = _reading(reader)
    values = {"account": account.name, "product": deployment.product_name, "home": deployment.links.home(),
              "email": email, "password": password}
    lines = (N_("An account was created for you in {account}."),
             N_("Sign in at {home} with {email} and this temporary password: {password}"),
             N_("You will choose your own password at the first sign-in."))
    return outbox.mail(
        email,
        gettext(N_("Your {product} account for {account}")).format(**values),
        "\n\n".join(gettext(line).format(**values) for line in lines) + "\n",
        template="temporary_password",
        account_id=account.id,
    )
