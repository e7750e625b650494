"""Concurrent sign-ins through one threaded `roster serve`: no request's state reaches another's answer.

One worker process with as many threads as there are people, so every
request shares the registered grants and endpoints of one authlib server.
Each person belongs to their own account and gets several authorization
codes for their own account's application; then everyone's code exchanges,
userinfo and introspection calls start together. An ID token, a userinfo
answer or an introspection that carried another request's person, account
or session (state left on a shared object) fails the test. The ID token
claims that once came from a field set on the registered OpenID extension
gave another person's account here about every run on PostgreSQL, whose
round trips let threads interleave (SQLite's short reads seldom did).
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from conformance.live_server import free_port

from .live import PASSWORD, Browser, Deployment, RelyingParty

pytestmark = pytest.mark.e2e

PEOPLE = 6
CODES = 8  # per person, exchanged one after the other while the others exchange theirs
REDIRECT_URI = "https://rp.example/callback"


@dataclasses.dataclass
class Person:
    email: str
    user_id: str
    account_id: str
    client_id: str
    client_secret: str


def people_in_their_own_accounts(deployment: Deployment) -> list[Person]:
    """PEOPLE people, each the member of a new account with its own application (bound to that account)."""
    from models import Actor, accounts, clients, clock, members
    from models.tenancy import User

    made = []
    with deployment.domain() as handed:
        for n in range(PEOPLE):
            by = Actor.cli("e2e")
            account = accounts.create_account(f"Reseller {n} {secrets.token_hex(3)}", "reseller", by=by)
            email = f"person{n}@threads.example"
            added = members.add_user(account, email, given_name=f"Person{n}", family_name="Threaded",
                                     password=PASSWORD, by=by, via="cli", deployment=handed)
            User.update(must_change_password=False, terms_accepted_at=clock.now()).where(
                User.id == added.user.id).execute()
            row, secret = clients.create_client(account, redirect_uris=[REDIRECT_URI], name=f"App {n}", by=by)
            assert secret is not None
            made.append(Person(email, str(added.user.id), str(account.id), str(row.client_id), secret))
    return made


def sign_in_flows(issuer: str, person: Person, start: threading.Barrier) -> list[dict[str, Any]]:
    """CODES authorization-code flows of one person (one sign-in, one session), exchanged once everyone has theirs."""
    parties = [RelyingParty(issuer, person.client_id, person.client_secret, redirect_uri=REDIRECT_URI)
               for _ in range(CODES)]  # each remembers the PKCE verifier and nonce of its own request
    seen = []
    try:
        with Browser() as browser:
            redirects = [browser.sign_in(rp.authorization_url(), REDIRECT_URI, email=person.email) for rp in parties]
        start.wait()
        for rp, redirected_to in zip(parties, redirects, strict=True):
            tokens = rp.callback(redirected_to)
            info = rp.userinfo(tokens["access_token"])
            assert info.status_code == 200, info.text
            seen.append({"id_token": rp.id_token_claims(tokens["id_token"]), "userinfo": info.json(),
                         "introspection": rp.introspect(tokens["access_token"])})
    except BaseException:
        start.abort()  # the others stop waiting for this one
        raise
    finally:
        for rp in parties:
            rp.close()
    return seen


def test_concurrent_sign_ins_through_threads_each_get_their_own_persons_claims(database_url, tmp_path):
    port = free_port()
    deployment = Deployment(database_url, secrets.token_urlsafe(48), f"http://127.0.0.1:{port}", tmp_path)
    deployment.init(f"Threads {secrets.token_hex(4)}", "admin@threads.example")
    people = people_in_their_own_accounts(deployment)
    start = threading.Barrier(PEOPLE, timeout=120)
    with deployment.serve(port=port, workers=1, threads=PEOPLE), ThreadPoolExecutor(PEOPLE) as pool:
        answers = list(pool.map(lambda person: sign_in_flows(deployment.base_url, person, start), people))

    for person, flows in zip(people, answers, strict=True):
        assert len(flows) == CODES
        sessions = set()
        for seen in flows:
            claims, info, introspected = seen["id_token"], seen["userinfo"], seen["introspection"]
            assert claims["sub"] == info["sub"] == introspected["sub"] == person.user_id
            assert claims["email"] == info["email"] == introspected["username"] == person.email
            # a code's account read from another request gives no account claim (not a member there)
            assert claims.get("account", {}).get("id") == info["account"]["id"] == person.account_id, claims
            assert introspected["account_id"] == person.account_id and introspected["active"] is True
            assert claims["aud"] == introspected["client_id"] == person.client_id
            assert claims["sid"] == introspected["sid"] and claims["amr"] == ["pwd"]
            sessions.add(claims["sid"])
        assert len(sessions) == 1  # one browser, one session: every code carried that sign-in
