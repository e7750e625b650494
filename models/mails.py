"""The mails the domain sends about memberships, as outbox rows (models.outbox); each says what happened and what to do.

No secret goes into a mail except the one it exists to deliver (a link, a
temporary password), and no mail is logged with its body.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from . import outbox
from .deployment import Deployment
from .tenancy import Account


def invited(account: Account, email: str, link: str, expires_at: dt.datetime, deployment: Deployment) -> dict[str, Any]:
    product = deployment.product_name
    return outbox.mail(
        email,
        f"You are invited to {account.name} on {product}",
        f"You have been invited to join {account.name} on {product}.\n\n"
        f"Register and join: {link}\n\nThis link is valid until {expires_at:%Y-%m-%d %H:%M} UTC.\n",
        template="invitation",
        account_id=account.id,
    )


def added(account: Account, email: str, deployment: Deployment) -> dict[str, Any]:
    product = deployment.product_name
    return outbox.mail(
        email,
        f"You now have access to {account.name} on {product}",
        f"You have been added to {account.name}. Sign in at {deployment.links.home()} to use it.\n",
        template="added",
        account_id=account.id,
    )


def temporary_password(account: Account, email: str, password: str, deployment: Deployment) -> dict[str, Any]:
    """R8: a person created with a temporary password, to be changed at the first sign-in."""
    product = deployment.product_name
    return outbox.mail(
        email,
        f"Your {product} account for {account.name}",
        f"An account was created for you in {account.name}.\n\nSign in at {deployment.links.home()} "
        f"with {email} and this temporary password: {password}\n\n"
        "You will choose your own password at the first sign-in.\n",
        template="temporary_password",
        account_id=account.id,
    )
