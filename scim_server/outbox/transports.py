"""The transports of the outbox: how a message of each kind is delivered, registered by kind.

Mail goes to SMTP, to an mbox file, or (the development default) to one log
line per mail that never contains the body: bodies carry invitation links and
temporary passwords.

Back-channel logout (OpenID Connect Back-Channel Logout 1.0 §2.5) POSTs a
freshly signed logout token to the client's ``backchannel_logout_uri``; a
token is never logged, and a refusal or a network error is retried like mail.

A transport raises to say "not delivered": the runner then marks the message
failed, to be retried with backoff.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import fcntl
import io
import logging
import os
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from email.generator import BytesGenerator
from email.message import EmailMessage
from typing import Any

import requests

from models import notifications
from models.deployment import Deployment
from models.logout_tokens import logout_token
from models.ops import OutboxMessage

log = logging.getLogger("roster.outbox")
mail_log = logging.getLogger("roster.mail")

Transport = Callable[[OutboxMessage, dict[str, Any], Deployment], None]

DEFAULT_FROM = "Roster <no-reply@localhost>"
MAIL_BACKENDS = ("log", "file", "smtp")
SMTP_TLS_MODES = ("starttls", "ssl", "none")
SMTP_TIMEOUT = 30.0


# ----------------------------------------------------------------- mail


def message_id(message: OutboxMessage, config: dict[str, Any]) -> str:
    """A Message-ID fixed per outbox row, so a retried mail is recognisably the same mail (RFC 5322 §3.6.4)."""
    domain = email.utils.parseaddr(config.get("MAIL_FROM") or DEFAULT_FROM)[1].rpartition("@")[2] or "localhost"
    return f"<roster.{message.id}.{message.created_at:%Y%m%d%H%M%S%f}@{domain}>"


def build_mail(message: OutboxMessage, config: dict[str, Any]) -> EmailMessage:
    """The RFC 5322 message for an outbox row of kind ``mail``."""
    mail = EmailMessage()
    mail["From"] = config.get("MAIL_FROM") or DEFAULT_FROM
    mail["To"] = message.recipient
    mail["Subject"] = message.subject
    # the time the change was made, not the attempt: retries stay identical
    mail["Date"] = email.utils.format_datetime(message.created_at.replace(tzinfo=dt.UTC))
    mail["Message-ID"] = message_id(message, config)
    # RFC 3834: keeps out-of-office replies away from a no-reply sender
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(message.body)
    return mail


def _send_log(mail: EmailMessage, message: OutboxMessage, config: dict[str, Any]) -> None:
    mail_log.info(
        "mail to %s: %s", message.recipient, message.subject,
        extra={"fields": {"outbox_id": message.id, "to": message.recipient, "subject": message.subject,
                          "message_id": mail["Message-ID"], "template": (message.payload or {}).get("template")}},
    )


def _send_file(mail: EmailMessage, message: OutboxMessage, config: dict[str, Any]) -> None:
    path = config.get("MAIL_FILE") or "data/outbox.mbox"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    sender = email.utils.parseaddr(str(mail["From"]))[1] or "MAILER-DAEMON"
    entry = io.BytesIO()
    entry.write(f"From {sender} {time.asctime(message.created_at.timetuple())}\n".encode())
    # mangle_from_ quotes body lines starting "From " (mboxo), as mailbox.mbox does
    BytesGenerator(entry, mangle_from_=True, policy=mail.policy.clone(linesep="\n")).flatten(mail)
    entry.write(b"\n")
    with open(path, "ab") as f:
        # flock, not lockf: it also excludes other threads of this process
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            f.write(entry.getvalue())
            f.flush()
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class _SmtpConnection(threading.local):
    """One connection per sender thread for the length of a batch, instead of one per mail."""

    client: smtplib.SMTP | None = None
    key: tuple[Any, ...] = ()


_smtp = _SmtpConnection()


def _smtp_settings(config: dict[str, Any]) -> tuple[str, int, str, str | None, str | None]:
    mode = str(config.get("SMTP_TLS") or "starttls").lower()
    if mode not in SMTP_TLS_MODES:
        raise ValueError(f"SMTP_TLS must be one of {', '.join(SMTP_TLS_MODES)}, not {mode!r}")
    port = int(config.get("SMTP_PORT") or (465 if mode == "ssl" else 587))
    return (str(config.get("SMTP_HOST") or "localhost"), port, mode, config.get("SMTP_USER") or None,
            config.get("SMTP_PASSWORD") or None)


def _open_smtp(config: dict[str, Any]) -> smtplib.SMTP:
    host, port, mode, user, password = _smtp_settings(config)
    timeout = float(config.get("SMTP_TIMEOUT") or SMTP_TIMEOUT)
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if mode == "ssl":
        client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
    try:
        if mode == "starttls":
            # raises if the server does not offer STARTTLS: never fall back to plaintext
            client.starttls(context=context)
        if user:
            client.login(user, password or "")
    except BaseException:
        client.close()
        raise
    return client


def _send_smtp(mail: EmailMessage, message: OutboxMessage, config: dict[str, Any]) -> None:
    key = _smtp_settings(config)
    if _smtp.client is None or _smtp.key != key:
        close_connections()
        _smtp.client, _smtp.key = _open_smtp(config), key
    try:
        refused = _smtp.client.send_message(mail)
    except BaseException:
        # the session may be mid-transaction or dead: the next mail starts afresh
        close_connections()
        raise
    if refused:
        raise smtplib.SMTPRecipientsRefused(refused)


def close_connections() -> None:
    """Say goodbye to this thread's SMTP server, if a batch left a connection open."""
    client, _smtp.client = _smtp.client, None
    if client is None:
        return
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


_MAIL_SENDERS: dict[str, Callable[[EmailMessage, OutboxMessage, dict[str, Any]], None]] = {
    "log": _send_log,
    "file": _send_file,
    "smtp": _send_smtp,
}


def send_mail(message: OutboxMessage, config: dict[str, Any], deployment: Deployment) -> None:
    """The transport of kind ``mail``: to the backend MAIL_BACKEND names (log, file or smtp)."""
    backend = str(config.get("MAIL_BACKEND") or "log").lower()
    if backend not in _MAIL_SENDERS:
        raise ValueError(f"MAIL_BACKEND must be one of {', '.join(MAIL_BACKENDS)}, not {backend!r}")
    _MAIL_SENDERS[backend](build_mail(message, config), message, config)


def send_notification(message: OutboxMessage, config: dict[str, Any], deployment: Deployment) -> None:
    """The transport of kind ``notification``: rendered now, in the language the person had then, and mailed."""
    subject, body = notifications.render(message, deployment)
    rendered = OutboxMessage(**{**message.__data__, "subject": subject, "body": body})  # never saved
    send_mail(rendered, config, deployment)


# ----------------------------------------------------------------- back-channel logout

BACKCHANNEL_TIMEOUT = (3.05, 5.0)  # (connect, read) seconds: a slow client delays only its own retry


class BackchannelLogoutError(Exception):
    """The client did not confirm the logout; the outbox retries it with backoff."""


def send_backchannel_logout(message: OutboxMessage, config: dict[str, Any], deployment: Deployment) -> None:
    """The transport of kind ``backchannel_logout``: POST ``logout_token`` to the client (§2.5).

    Only a 2xx answer counts as delivered (§2.8: 200, or the 204 some
    frameworks substitute); redirects are not followed, since the token is
    for the registered URI alone. The issuer is BASE_URL, as in discovery.
    """
    payload = message.payload or {}
    token = logout_token(issuer=deployment.settings.issuer, client_id=payload["client_id"], sub=payload.get("sub"),
                         sid=payload.get("sid"), secrets=deployment.secrets)
    try:
        response = requests.post(message.recipient, data={"logout_token": token}, timeout=BACKCHANNEL_TIMEOUT,
                                 allow_redirects=False)
    except requests.RequestException as exc:
        # requests names the URL and the network failure, never the body the token travels in
        raise BackchannelLogoutError(f"posting to {message.recipient} failed: {type(exc).__name__}: {exc}") from exc
    if not 200 <= response.status_code < 300:
        raise BackchannelLogoutError(f"{message.recipient} answered HTTP {response.status_code}")
    log.info("back-channel logout delivered to %s", message.recipient,
             extra={"fields": {"outbox_id": message.id, "client_id": payload["client_id"],
                               "status": response.status_code}})


# ----------------------------------------------------------------- dispatch

TRANSPORTS: dict[str, Transport] = {"mail": send_mail, notifications.KIND: send_notification,
                                    "backchannel_logout": send_backchannel_logout}


def register(kind: str, transport: Transport) -> None:
    """Deliver outbox messages of ``kind`` with ``transport`` (replacing the built-in one, if any)."""
    TRANSPORTS[kind] = transport


def check_config(config: dict[str, Any]) -> None:
    """Refuse a mail configuration that could never deliver, before any message is claimed."""
    backend = str(config.get("MAIL_BACKEND") or "log").lower()
    if backend not in MAIL_BACKENDS:
        raise ValueError(f"MAIL_BACKEND must be one of {', '.join(MAIL_BACKENDS)}, not {backend!r}")
    if backend == "smtp":
        _smtp_settings(config)

