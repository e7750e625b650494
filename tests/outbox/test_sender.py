"""The outbox sender: mail by log, file and SMTP; dispatch by kind; retries; one delivery per message."""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import email.utils
import json
import logging
import mailbox
import os
import signal
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from models import OutboxMessage, invitations, members, outbox
from models.database import bind, db, transaction
from models.deployment import Deployment
from scim_server.app import DEFAULTS
from scim_server.logs import JsonFormatter
from scim_server.outbox import runner, transports
from tests.conftest import SECRET_KEY, dispose

PARALLEL_MESSAGES = 100


def make_config(**overrides: Any) -> dict[str, Any]:
    return {**DEFAULTS, "SECRET_KEY": SECRET_KEY, "BASE_URL": "http://roster.test",
            "MAIL_FROM": "Roster <no-reply@roster.test>", **overrides}


def queue(count: int = 1, *, kind: str = "mail", body: str = "Body {i}\n") -> list[int]:
    with transaction():
        outbox.enqueue(*[
            {**outbox.mail(f"person{i}@example.com", f"Subject {i}", body.format(i=i)), "kind": kind}
            for i in range(count)
        ])
    return [m.id for m in OutboxMessage.select(OutboxMessage.id).order_by(OutboxMessage.id)]


def statuses() -> list[str]:
    return [m.status for m in OutboxMessage.select().order_by(OutboxMessage.id)]


# ----------------------------------------------------------------- a real SMTP server, just enough of it


class SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), SmtpHandler)
        self.port = self.server_address[1]
        self.messages: list[dict[str, Any]] = []
        self.logins: list[tuple[str, str]] = []
        self.connections = 0
        self.refuse: set[str] = set()


class SmtpHandler(socketserver.StreamRequestHandler):
    """RFC 5321 as far as smtplib needs: EHLO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    server: SmtpServer

    def reply(self, *lines: str) -> None:
        for n, line in enumerate(lines):
            separator = " " if n == len(lines) - 1 else "-"
            self.wfile.write(f"{line[:3]}{separator}{line[4:]}\r\n".encode())

    def handle(self) -> None:
        self.server.connections += 1
        self.reply("220 smtp.test ESMTP")
        sender, recipients = "", list[str]()
        while line := self.rfile.readline():
            command = line.decode().rstrip("\r\n")
            verb, _, argument = command.partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                self.reply("250 smtp.test", "250 AUTH PLAIN", "250 8BITMIME")  # no STARTTLS: no certificate here
            elif verb == "HELO":
                self.reply("250 smtp.test")
            elif verb == "AUTH":
                _, user, password = base64.b64decode(argument.split(" ", 1)[1]).decode().split("\0")
                self.server.logins.append((user, password))
                self.reply("235 2.7.0 accepted")
            elif verb == "MAIL":
                sender, recipients = argument.split(":", 1)[1].split()[0].strip("<>"), []
                self.reply("250 2.1.0 ok")
            elif verb == "RCPT":
                recipient = argument.split(":", 1)[1].strip().strip("<>")
                if recipient in self.server.refuse:
                    self.reply("550 5.1.1 no such user")
                else:
                    recipients.append(recipient)
                    self.reply("250 2.1.5 ok")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                data = []
                while (chunk := self.rfile.readline()) != b".\r\n":
                    data.append(chunk[1:] if chunk.startswith(b".") else chunk)  # RFC 5321 §4.5.2
                self.server.messages.append({"from": sender, "to": recipients, "data": b"".join(data)})
                self.reply("250 2.0.0 queued")
            elif verb in ("RSET", "NOOP"):
                self.reply("250 2.0.0 ok")
            elif verb == "QUIT":
                self.reply("221 2.0.0 bye")
                return
            else:
                self.reply("502 5.5.1 not implemented")


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def closed_port() -> int:
    """A port nobody listens on: connecting is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------- backends


def test_file_backend_appends_a_parseable_mbox(database, tmp_path):
    path = tmp_path / "mail" / "outbox.mbox"
    queue(3, body="Hello {i}\nFrom here on, a line that mbox must quote.\n.a line with a leading dot\n")

    assert runner.run(make_config(MAIL_BACKEND="file", MAIL_FILE=str(path)), once=True) == 3

    box = mailbox.mbox(str(path), create=False)
    try:
        mails = list(box)
    finally:
        box.close()
    assert [(m["To"], m["Subject"]) for m in mails] == [(f"person{i}@example.com", f"Subject {i}") for i in range(3)]
    assert all(m["From"] == "Roster <no-reply@roster.test>" for m in mails)
    assert len({m["Message-ID"] for m in mails}) == 3
    assert mails[0].get_from().startswith("no-reply@roster.test ")
    body = mails[0].get_payload(decode=True).decode()
    assert body.startswith("Hello 0\n>From here on")
    assert ".a line with a leading dot" in body
    assert statuses() == ["sent"] * 3


def test_the_file_backend_appends_to_what_is_there(database, tmp_path):
    path = tmp_path / "outbox.mbox"
    config = make_config(MAIL_BACKEND="file", MAIL_FILE=str(path))
    queue(1)
    runner.run(config, once=True)
    queue(1)  # the second call queues another "person0"

    runner.run(config, once=True)

    box = mailbox.mbox(str(path), create=False)
    assert len(box) == 2
    box.close()


def test_smtp_backend_delivers_to_a_real_server(database, smtp_server, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "smtp-password-never-logged"
    queue(3)
    config = make_config(MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_server.port),
                         SMTP_TLS="none", SMTP_USER="mailer", SMTP_PASSWORD=secret)

    assert runner.run(config, once=True) == 3

    assert smtp_server.logins == [("mailer", secret)]
    assert smtp_server.connections == 1, "one connection per batch, not one per mail"
    assert [m["to"] for m in smtp_server.messages] == [[f"person{i}@example.com"] for i in range(3)]
    assert {m["from"] for m in smtp_server.messages} == {"no-reply@roster.test"}
    received = email.message_from_bytes(smtp_server.messages[1]["data"], policy=email.policy.default)
    assert (received["To"], received["Subject"]) == ("person1@example.com", "Subject 1")
    assert received.get_content().replace("\r\n", "\n") == "Body 1\n"
    assert received["Message-ID"] == transports.message_id(OutboxMessage.select().order_by(OutboxMessage.id)
                                                              [1], config)
    assert statuses() == ["sent"] * 3
    assert secret not in caplog.text


def test_smtp_failure_leaves_the_message_pending_for_a_retry(database, frozen_clock, closed_port, smtp_server):
    [message_id] = queue(1)
    config = make_config(MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=closed_port, SMTP_TLS="none")

    assert runner.run(config, once=True) == 0

    failed = OutboxMessage.get_by_id(message_id)
    assert (failed.status, failed.attempts, failed.sent_at) == ("pending", 1, None)
    assert failed.next_attempt_at == frozen_clock.current + outbox.BACKOFF_BASE
    assert failed.next_attempt_at > frozen_clock.current
    assert "ConnectionRefusedError" in failed.last_error

    config["SMTP_PORT"] = smtp_server.port  # the server is back
    assert runner.run(config, once=True) == 0, "retried before its backoff ended"
    frozen_clock.advance(seconds=outbox.BACKOFF_BASE.total_seconds())
    assert runner.run(config, once=True) == 1
    assert OutboxMessage.get_by_id(message_id).status == "sent"
    assert len(smtp_server.messages) == 1


def test_a_refused_recipient_fails_only_its_own_message(database, smtp_server):
    queue(3)
    smtp_server.refuse = {"person1@example.com"}
    config = make_config(MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port, SMTP_TLS="none")

    assert runner.run(config, once=True) == 2

    assert statuses() == ["sent", "pending", "sent"]
    refused = OutboxMessage.select().order_by(OutboxMessage.id)[1]
    assert refused.attempts == 1 and "SMTPRecipientsRefused" in refused.last_error
    assert [m["to"] for m in smtp_server.messages] == [["person0@example.com"], ["person2@example.com"]]


def test_starttls_never_falls_back_to_plaintext(database, smtp_server):
    queue(1)
    config = make_config(MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port,
                         SMTP_TLS="starttls", SMTP_USER="mailer", SMTP_PASSWORD="secret")

    assert runner.run(config, once=True) == 0

    [message] = OutboxMessage.select()
    assert (message.status, message.attempts) == ("pending", 1)
    assert "STARTTLS" in message.last_error
    assert smtp_server.logins == [] and smtp_server.messages == []


def test_log_backend_logs_one_line_per_mail_and_never_the_body(database, account, cli_actor, caplog, deployment):
    added = members.add_user(account, "temp@acme.example", temporary_password=True, by=cli_actor,
                             deployment=deployment)
    invited = invitations.invite(account, "new@acme.example", by=cli_actor, deployment=deployment)
    assert added.temporary_password and invited.link
    bodies = [m.body for m in OutboxMessage.select()]
    assert any(added.temporary_password in b for b in bodies) and any(invited.link in b for b in bodies)
    # from here on, even at DEBUG (peewee's query log included), nothing may show a body
    caplog.set_level(logging.DEBUG)

    assert runner.run(make_config(MAIL_BACKEND="log"), once=True) == 2

    mail_lines = [r for r in caplog.records if r.name == "roster.mail"]
    assert len(mail_lines) == 2
    formatted = [JsonFormatter().format(r) for r in caplog.records]
    for secret in (added.temporary_password, invited.link, invited.link.rsplit("/", 1)[1]):
        assert secret not in caplog.text
        assert not any(secret in line for line in formatted)
    entries = [json.loads(JsonFormatter().format(r)) for r in mail_lines]
    assert {e["to"] for e in entries} == {"temp@acme.example", "new@acme.example"}
    assert all(e["subject"] and e["message_id"].startswith("<roster.") for e in entries)
    assert statuses() == ["sent", "sent"]


# ----------------------------------------------------------------- dispatch by kind


def test_an_unknown_kind_is_failed_then_delivered_once_a_transport_is_registered(database, frozen_clock,
                                                                                  monkeypatch):
    monkeypatch.delitem(transports.TRANSPORTS, "backchannel_logout", raising=False)
    with transaction():
        outbox.enqueue({"kind": "backchannel_logout", "recipient": "https://rp.example/logout",
                        "payload": {"logout_token": "header.claims.signature"}})

    assert runner.run(make_config(), once=True) == 0

    [message] = OutboxMessage.select()
    assert (message.status, message.attempts) == ("pending", 1)
    assert "no transport registered" in message.last_error and "backchannel_logout" in message.last_error

    calls: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setitem(transports.TRANSPORTS, "backchannel_logout",
                        lambda m, config, deployment: calls.append((m.recipient, m.payload)))
    frozen_clock.advance(seconds=outbox.BACKOFF_BASE.total_seconds())

    assert runner.run(make_config(), once=True) == 1
    assert calls == [("https://rp.example/logout", {"logout_token": "header.claims.signature"})]
    assert statuses() == ["sent"]


def test_register_adds_a_transport(monkeypatch):
    monkeypatch.setattr(transports, "TRANSPORTS", dict(transports.TRANSPORTS))

    def transport(message: OutboxMessage, config: dict[str, Any], deployment: Deployment) -> None: ...

    transports.register("backchannel_logout", transport)

    assert transports.TRANSPORTS["backchannel_logout"] is transport
    assert transports.TRANSPORTS["mail"] is transports.send_mail


def test_a_failing_transport_does_not_stop_the_batch(database, monkeypatch):
    def flaky(message: OutboxMessage, config: dict[str, Any], deployment: Deployment) -> None:
        if message.recipient == "person1@example.com":
            raise RuntimeError("the relying party answered 503")

    monkeypatch.setitem(transports.TRANSPORTS, "test_kind", flaky)
    queue(3, kind="test_kind")

    assert runner.run(make_config(), once=True) == 2
    assert statuses() == ["sent", "pending", "sent"]


# ----------------------------------------------------------------- several senders, one delivery


def _in_threads(count: int, work) -> list[Any]:
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        db.connect(reuse_if_open=True)
        try:
            barrier.wait()
            results[index] = work(index)
        except BaseException as exc:  # reported by the assertions, not lost in the thread
            results[index] = exc
        finally:
            db.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def _mbox_recipients(path: str) -> list[str]:
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    assert sum(1 for line in lines if line.startswith(b"From ")) == PARALLEL_MESSAGES
    return [line.split(b": ", 1)[1].decode() for line in lines if line.startswith(b"To: ")]


def test_two_senders_in_parallel_deliver_each_message_once(database, tmp_path):
    path = str(tmp_path / "outbox.mbox")
    config = make_config(MAIL_BACKEND="file", MAIL_FILE=path)
    queue(PARALLEL_MESSAGES)

    def sender(index: int) -> int:
        delivered = 0
        while count := runner.deliver_due(config, limit=5, worker=f"sender-{index}"):
            delivered += count
        return delivered

    results = _in_threads(2, sender)

    assert sum(results) == PARALLEL_MESSAGES, results
    recipients = _mbox_recipients(path)
    assert sorted(recipients) == sorted(f"person{i}@example.com" for i in range(PARALLEL_MESSAGES))
    assert statuses() == ["sent"] * PARALLEL_MESSAGES
    assert {m.attempts for m in OutboxMessage.select()} == {1}


def test_two_runs_in_parallel_deliver_each_message_once(database, tmp_path):
    path = str(tmp_path / "outbox.mbox")
    config = make_config(MAIL_BACKEND="file", MAIL_FILE=path)
    queue(PARALLEL_MESSAGES)

    results = _in_threads(2, lambda index: runner.run(config, once=True))

    assert sum(results) == PARALLEL_MESSAGES, results
    assert len(set(_mbox_recipients(path))) == PARALLEL_MESSAGES


# ----------------------------------------------------------------- the process


def test_run_binds_the_database_itself_when_nothing_is_bound(database_url, tmp_path):
    bind(None)
    path = tmp_path / "outbox.mbox"
    try:
        config = make_config(DATABASE_URL=database_url, MAIL_BACKEND="file", MAIL_FILE=str(path))
        assert runner.run(config, once=True) == 0
        assert db.obj is not None
        assert db.is_closed(), "run closes the connection it opened"
    finally:
        if db.obj is not None:
            dispose(db.obj)


def test_run_loops_until_sigterm_and_restores_the_handlers(database, tmp_path):
    path = str(tmp_path / "outbox.mbox")
    config = make_config(MAIL_BACKEND="file", MAIL_FILE=path)
    queue(3)
    before = signal.getsignal(signal.SIGTERM)

    def later() -> None:
        # while run() idles, a new message arrives; once it is sent, ask the process to stop
        db.connect(reuse_if_open=True)
        try:
            time.sleep(0.3)
            with transaction():
                outbox.enqueue(outbox.mail("late@example.com", "Late", "Late body"))
            deadline = time.monotonic() + 10
            while outbox.pending_count() and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            db.close()
            os.kill(os.getpid(), signal.SIGTERM)

    helper = threading.Thread(target=later)
    helper.start()
    started = time.monotonic()
    delivered = runner.run(config, interval=0.05)
    helper.join(10)

    assert delivered == 4
    assert time.monotonic() - started < 10
    assert signal.getsignal(signal.SIGTERM) == before
    assert statuses() == ["sent"] * 4


def test_a_signal_stops_the_run_after_the_current_message(database, frozen_clock, monkeypatch):
    sent: list[str] = []

    def transport(message: OutboxMessage, config: dict[str, Any], deployment: Deployment) -> None:
        sent.append(message.recipient)
        if len(sent) == 2:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setitem(transports.TRANSPORTS, "test_kind", transport)
    queue(5, kind="test_kind")

    assert runner.run(make_config(), once=True) == 2

    assert statuses() == ["sent", "sent", "pending", "pending", "pending"]
    # the rest were claimed by the stopped sender: another takes them when its lease ends
    assert outbox.claim() == []
    frozen_clock.advance(seconds=outbox.LEASE.total_seconds() + 1)
    assert len(outbox.claim()) == 3


def test_a_message_whose_lease_is_nearly_over_is_left_for_the_next_claim(database, frozen_clock, monkeypatch):
    def slow(message: OutboxMessage, config: dict[str, Any], deployment: Deployment) -> None:
        frozen_clock.advance(seconds=outbox.LEASE.total_seconds() - 10)  # the first send took most of the lease

    monkeypatch.setitem(transports.TRANSPORTS, "test_kind", slow)
    queue(2, kind="test_kind")

    assert runner.deliver_due(make_config()) == 1
    assert statuses() == ["sent", "pending"]


@pytest.mark.parametrize("overrides, complaint", [
    ({"MAIL_BACKEND": "carrier-pigeon"}, "MAIL_BACKEND"),
    ({"MAIL_BACKEND": "smtp", "SMTP_TLS": "maybe"}, "SMTP_TLS"),
])
def test_run_refuses_a_configuration_that_cannot_deliver(overrides, complaint):
    with pytest.raises(ValueError, match=complaint):
        runner.run(make_config(**overrides), once=True)


def test_the_mail_carries_stable_headers(database, frozen_clock):
    [message_id] = queue(1)
    message = OutboxMessage.get_by_id(message_id)

    created = frozen_clock.current
    first = transports.build_mail(message, make_config())
    frozen_clock.advance(hours=1)
    again = transports.build_mail(message, make_config())

    assert first["Message-ID"] == again["Message-ID"]
    assert first["Message-ID"].endswith("@roster.test>")
    assert first["Date"] == again["Date"]
    assert email.utils.parsedate_to_datetime(first["Date"]) == created.replace(tzinfo=dt.UTC)
    assert first["Auto-Submitted"] == "auto-generated"
