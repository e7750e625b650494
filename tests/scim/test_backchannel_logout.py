"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0, R11): deprovisioning queues a logout
token for each affected client, the outbox sender POSTs it signed, and failures are retried with backoff."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from models import OAuthToken, OutboxMessage, Session, clients, clock, keys, members, outbox, sessions
from models.database import transaction
from models.logout_tokens import EVENT, logout_token
from models.secrets import token_hash
from scim_server.app import DEFAULTS
from scim_server.outbox import runner
from tests.conftest import SECRET_KEY

ISSUER = "http://roster.test"
LOGOUT_URI = "https://app.example/backchannel-logout"


def make_config(**overrides: Any) -> dict[str, Any]:
    return {**DEFAULTS, "SECRET_KEY": SECRET_KEY, "BASE_URL": ISSUER + "/", **overrides}


@pytest.fixture
def member(account, admin, cli_actor, deployment):
    added = members.add_user(account, "member@acme.example", given_name="Mo", by=cli_actor, deployment=deployment)
    OutboxMessage.delete().execute()  # the welcome mails: only logout calls are counted below
    return added


def sign_in(user, account, client) -> Session:
    """A session in ``account``'s context and a token ``client`` got from it, as the OIDC provider writes them."""
    session = Session.create(user=user.id, account=account.id, token_hash=token_hash(f"s-{client.client_id}"))
    OAuthToken.create(client=client.client_id, user=user.id, account=account.id, session=session.id,
                      family_id="family", access_token_hash=token_hash(f"a-{client.client_id}"),
                      refresh_token_hash=token_hash(f"r-{client.client_id}"),
                      access_expires_at=clock.now() + dt.timedelta(hours=1))
    return session


def logout_client(account, cli_actor, uri: str | None = LOGOUT_URI):
    client, _ = clients.create_client(account, redirect_uris=["https://app.example/cb"], backchannel_logout_uri=uri,
                                      by=cli_actor)
    return client


def queued() -> list[OutboxMessage]:
    return list(OutboxMessage.select().where(OutboxMessage.kind == "backchannel_logout").order_by(OutboxMessage.id))


def posted_token(request) -> str:
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = parse_qs(request.text)
    assert list(form) == ["logout_token"]
    [token] = form["logout_token"]
    return token


def verify(token: str) -> jwt.Token:
    """Verify as a relying party would: the published JWK Set, RS256 only."""
    return jwt.decode(token, KeySet.import_key_set(keys.published_jwks()), algorithms=["RS256"])  # type: ignore[arg-type]


# ----------------------------------------------------------------- queueing


@pytest.mark.parametrize("change", ["deactivate", "remove"])
def test_deprovisioning_queues_a_logout_for_the_client(account, member, cli_actor, change):
    client = logout_client(account, cli_actor)
    session = sign_in(member.user, account, client)

    getattr(members, change)(member.membership, by=cli_actor)

    [message] = queued()
    assert message.recipient == LOGOUT_URI
    assert message.payload == {"client_id": client.client_id, "sub": member.user.id, "sid": session.id}


def test_a_client_without_a_backchannel_uri_gets_nothing(account, member, cli_actor, requests_mock):
    client = logout_client(account, cli_actor, uri=None)
    sign_in(member.user, account, client)

    members.deactivate(member.membership, by=cli_actor)

    assert queued() == []
    assert OAuthToken.get().revoked_at is not None
    runner.deliver_due(make_config())  # whatever else deprovisioning queued (a mail) goes to the log
    assert not requests_mock.called


# ----------------------------------------------------------------- delivery


def test_the_sender_posts_a_signed_logout_token(account, member, cli_actor, requests_mock, deployment):
    client = logout_client(account, cli_actor)
    session = sign_in(member.user, account, client)
    requests_mock.post(LOGOUT_URI, status_code=200)
    members.deactivate(member.membership, by=cli_actor)

    assert runner.deliver_due(make_config()) == 2  # the logout call and the member's deactivation notice

    [message] = queued()
    assert message.status == "sent"
    [request] = requests_mock.request_history
    assert (request.method, request.url) == ("POST", LOGOUT_URI)
    verified = verify(posted_token(request))
    assert verified.header == {"alg": "RS256", "kid": keys.active_key("RS256", deployment.secrets).kid,
                               "typ": "logout+jwt"}
    claims = verified.claims
    assert claims["iss"] == ISSUER
    assert claims["aud"] == client.client_id
    assert claims["sub"] == member.user.id
    assert claims["sid"] == session.id
    assert claims["events"] == {"http://schemas.openid.net/event/backchannel-logout": {}}
    assert "nonce" not in claims
    assert claims["exp"] - claims["iat"] == 120 and abs(claims["iat"] - time.time()) < 60
    assert len(claims["jti"]) >= 16
    JWTClaimsRegistry(iss={"essential": True, "value": ISSUER}, aud={"essential": True, "value": client.client_id},
                      sub={"essential": True}, events={"essential": True}, jti={"essential": True},
                      iat={"essential": True}).validate(claims)


def test_each_token_is_fresh_with_its_own_jti(database, deployment):
    first = jwt.decode(logout_token(issuer=ISSUER, client_id="c", sub="u", sid=None, secrets=deployment.secrets),
                       KeySet.import_key_set(keys.published_jwks()), algorithms=["RS256"])  # type: ignore[arg-type]
    second = jwt.decode(logout_token(issuer=ISSUER, client_id="c", sub=None, sid="s", secrets=deployment.secrets),
                        KeySet.import_key_set(keys.published_jwks()), algorithms=["RS256"])  # type: ignore[arg-type]

    assert first.claims["jti"] != second.claims["jti"]
    assert "sid" not in first.claims and first.claims["sub"] == "u"
    assert "sub" not in second.claims and second.claims["sid"] == "s"
    assert first.claims["events"] == second.claims["events"] == {EVENT: {}}


def test_a_logout_token_needs_a_sub_or_a_sid(database, deployment):
    with pytest.raises(ValueError, match="sub or a sid"):
        logout_token(issuer=ISSUER, client_id="c", sub=None, sid=None, secrets=deployment.secrets)


def test_a_2xx_other_than_200_counts_as_delivered(account, member, cli_actor, requests_mock):
    sign_in(member.user, account, logout_client(account, cli_actor))
    requests_mock.post(LOGOUT_URI, status_code=204)
    members.deactivate(member.membership, by=cli_actor)

    assert runner.deliver_due(make_config()) == 2  # the logout call and the member's deactivation notice
    assert [m.status for m in queued()] == ["sent"]


@pytest.mark.parametrize("failure", [
    {"status_code": 500},
    {"status_code": 400, "json": {"error": "invalid_request"}},
    {"status_code": 302, "headers": {"Location": "https://app.example/login"}},
    {"exc": requests.exceptions.ConnectionError("connection refused")},
    {"exc": requests.exceptions.ReadTimeout("read timed out")},
], ids=["500", "400", "redirect", "connection-error", "timeout"])
def test_a_failure_stays_queued_with_backoff_and_a_later_success_marks_it_sent(
        account, member, cli_actor, requests_mock, frozen_clock, caplog, failure):
    caplog.set_level(logging.DEBUG)
    sign_in(member.user, account, logout_client(account, cli_actor))
    requests_mock.post(LOGOUT_URI, [failure, {"status_code": 200}])
    members.deactivate(member.membership, by=cli_actor)
    failed_at = clock.now()

    assert runner.deliver_due(make_config()) == 1  # the member's deactivation notice, not the logout call

    [message] = queued()
    assert (message.status, message.attempts) == ("pending", 1)
    assert message.next_attempt_at == failed_at + outbox.BACKOFF_BASE
    assert LOGOUT_URI in message.last_error
    assert requests_mock.call_count == 1

    # not due yet: nothing is sent before the backoff ends
    frozen_clock.advance(seconds=outbox.BACKOFF_BASE.total_seconds() - 1)
    assert runner.deliver_due(make_config()) == 0
    assert requests_mock.call_count == 1

    frozen_clock.advance(seconds=1)
    assert runner.deliver_due(make_config()) == 1

    [message] = queued()
    assert (message.status, message.attempts) == ("sent", 2)
    assert requests_mock.call_count == 2
    retried = verify(posted_token(requests_mock.last_request))
    assert retried.claims["iat"] == int(clock.now().replace(tzinfo=dt.UTC).timestamp())
    # a token never reaches a log line (not even peewee's DEBUG statements) or the stored error
    first = posted_token(requests_mock.request_history[0])
    second = posted_token(requests_mock.last_request)
    for text in [r.getMessage() for r in caplog.records] + [str(r.__dict__) for r in caplog.records]:
        assert first not in text and second not in text and retried.claims["jti"] not in text
    assert "eyJ" not in (message.last_error or "")  # every JWT starts with it


def test_a_failure_reports_the_status_in_the_stored_error(account, member, cli_actor, requests_mock):
    sign_in(member.user, account, logout_client(account, cli_actor))
    requests_mock.post(LOGOUT_URI, status_code=503)
    members.deactivate(member.membership, by=cli_actor)

    runner.deliver_due(make_config())

    [message] = queued()
    assert "HTTP 503" in message.last_error


def test_each_affected_client_gets_its_own_token(account, member, cli_actor, requests_mock):
    other_uri = "https://other.example/logout"
    first = logout_client(account, cli_actor)
    second = logout_client(account, cli_actor, uri=other_uri)
    sign_in(member.user, account, first)
    sign_in(member.user, account, second)
    requests_mock.post(LOGOUT_URI, status_code=200)
    requests_mock.post(other_uri, status_code=200)

    with transaction():
        sessions.end_access(member.user.id, account.id, "test")

    assert runner.deliver_due(make_config()) == 2
    audiences = {r.url: verify(posted_token(r)).claims["aud"] for r in requests_mock.request_history}
    assert audiences == {LOGOUT_URI: first.client_id, other_uri: second.client_id}
