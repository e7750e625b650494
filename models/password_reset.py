"""Password reset by a mailed link: single use, short-lived, stored hashed; ends every session (R11's spirit).

Asking never says whether the address belongs to someone, and requests
are throttled per address so the form cannot be used to flood a mailbox.
"""

from __future__ import annotations

import datetime as dt

from . import audit, clock, i18n, notifications, outbox, passwords, sso, throttle
from .audit import Actor
from .database import transaction
from .deployment import Deployment
from .errors import InvalidInputError, PolicyViolationError
from .i18n import N_
from .passwords import Hasher
from .secrets import new_token, token_hash
from .security import PasswordResetToken
from .sessions import end_access
from .tenancy import User

LIFETIME = dt.timedelta(hours=1)
# at most this many mails per address per window; further requests are quietly dropped
MAX_MAILS = 3


def request_reset(email: str, deployment: Deployment) -> None:
    """Mail a reset link if ``email`` is an active person's; silent either way."""
    email_key = email.strip().lower()
    key = f"reset:{email_key}"
    if throttle.locked_until(key) is not None:
        return
    throttle.fail(key, max_failures=MAX_MAILS)
    user = User.get_or_none((User.email_key == email_key) & (User.status == "active"))
    if user is None:
        return
    if _sso_only(user):
        return
    raw = new_token()
    with transaction():
        PasswordResetToken.create(token_hash=token_hash(raw), user=user.id, expires_at=clock.now() + LIFETIME)
        link = deployment.links.password_reset(raw)
        gettext = i18n.translations(user.locale).gettext  # in the person's language
        values = {"product": deployment.product_name, "email": user.email, "link": link}
        lines = (N_("Someone asked to reset the password of {email} on {product}."),
                 N_("Choose a new password: {link}"),
                 N_("The link works once, for one hour. If you did not ask for it, ignore this mail: your password "
                    "stays as it is."))
        outbox.enqueue(outbox.mail(
            user.email, gettext(N_("Reset your {product} password")).format(**values),
            "\n\n".join(gettext(line).format(**values) for line in lines) + "\n",
            template="password_reset"))
        audit.record(Actor.for_user(user), "password.reset_requested", account_id=None, target_type="user",
                     target_id=user.id)


def _sso_only(user: User) -> bool:
    """F4: a member of an account that requires SSO for their domain gets no password, so no reset either
    (the page says the same thing to everyone; the audit trail says why no mail went)."""
    connection = sso.password_refused(user)
    if connection is None:
        return False
    with transaction():
        audit.record(Actor.for_user(user), "password.reset_refused", account_id=connection.account_id,
                     target_type="user", target_id=user.id, reason="sso_required", connection_id=connection.id)
    return True


def find(raw: str) -> User | None:
    """The person a usable link belongs to, or None (unknown, used or expired)."""
    row = PasswordResetToken.get_or_none(PasswordResetToken.token_hash == token_hash(raw))
    if row is None or row.used_at is not None or row.expires_at <= clock.now():
        return None
    return User.get_or_none((User.id == row.user_id) & (User.status == "active"))


def reset(raw: str, new_password: str, hasher: Hasher) -> User:
    """Set the new password, use up the link, end every session and token of the person."""
    user = find(raw)
    if user is None:
        raise InvalidInputError("This reset link is not valid any more; ask for a new one.", field="password",
                                reason="invalid_link")
    if _sso_only(user):
        raise PolicyViolationError("Your company signs you in through its own sign-in page: a Roster password "
                                   "is not used for you.", field="password", reason="sso_required")
    passwords.check_policy(new_password, email=user.email)
    with transaction():
        used = (PasswordResetToken.update(used_at=clock.now())
                .where((PasswordResetToken.token_hash == token_hash(raw)) & PasswordResetToken.used_at.is_null())
                .execute())
        if used != 1:
            raise InvalidInputError("This reset link has been used already; ask for a new one.", field="password",
                                    reason="invalid_link")
        now = clock.now()
        User.update(password_hash=hasher.hash(new_password), must_change_password=False,
                    updated_at=now).where(User.id == user.id).execute()
        end_access(user.id, None, "password_reset")
        audit.record(Actor.for_user(user), "password.reset", account_id=None, target_type="user", target_id=user.id)
        notifications.notify("password_reset", user.id)
    return User.get_by_id(user.id)
