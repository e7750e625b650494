"""Introspection and revocation read their client and the token in one statement, and learn what two would."""

from __future__ import annotations

from playhouse.test_utils import count_queries

from models import Actor, groups, members, oauth

from .flow import RelyingParty, introspect, ready_person, sign_in_for_tokens


def _selects(counted) -> int:
    return sum(str(record.msg).lstrip("('\"").startswith("SELECT") for record in counted.get_queries())


def test_the_client_and_the_token_come_from_one_statement_with_what_two_give(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    group = groups.create_group(account, "Support", by=Actor.cli("tests"))
    groups.add_members(group, [members.get_membership(account, person.email).id], by=Actor.cli("tests"))
    rp = RelyingParty.register(account)
    tokens = sign_in_for_tokens(client, rp, person.email)
    for raw in (tokens["access_token"], tokens["refresh_token"]):
        row, grant = oauth.load_with_client(rp.client_id, raw)
        alone = oauth.load(raw)
        assert row is not None and row.client_id == rp.client_id and row.secret_hash
        assert grant is not None and alone is not None
        assert grant.kind == alone.kind and grant.active and alone.active
        read = grant.token.__data__
        assert read == {k: v for k, v in alone.token.__data__.items() if k in read}
        assert set(alone.token.__data__) - set(read) == {"authorization_code_hash", "refresh_token_hash"}
        assert grant.user.id == person.id and grant.user.email == person.email
        assert grant.membership.status == "active" and grant.session.id == alone.session.id
        assert grant.session.amr == alone.session.amr
        # no claims: introspection and revocation need neither the account nor the groups
        assert grant.account is None and grant.groups is None
    row, grant = oauth.load_with_client(rp.client_id, "not-a-token")
    assert row is not None and grant is None
    row, grant = oauth.load_with_client("no-such-client", tokens["access_token"])
    assert row is None and grant is not None  # authlib then refuses the client before asking for the token
    other = RelyingParty.register(account)  # a resource server of the account presents someone else's token
    row, grant = oauth.load_with_client(other.client_id, tokens["access_token"])
    assert row is not None and row.client_id == other.client_id and grant.token.client_id == rp.client_id


def test_introspection_is_one_statement_and_still_checks_the_client(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    rp = RelyingParty.register(account)
    tokens = sign_in_for_tokens(client, rp, person.email)
    with count_queries() as counted:
        assert introspect(client, rp, tokens["access_token"])["active"] is True
    assert _selects(counted) == 1
    wrong = client.post("/oauth/introspect", data={"token": tokens["access_token"]}, auth=(rp.client_id, "wrong"))
    assert wrong.status_code == 401 and "active" not in wrong.get_json()
    unknown = client.post("/oauth/introspect", data={"token": tokens["access_token"]}, auth=("nobody", "x"))
    assert unknown.status_code == 401
    # the same client id, written in the form instead (client_secret_post)
    posted = client.post("/oauth/introspect", data={"token": tokens["access_token"], "client_id": rp.client_id,
                                                    "client_secret": rp.secret})
    assert posted.status_code == 200 and posted.get_json()["active"] is True


def test_revocation_reads_once_and_revokes(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    rp = RelyingParty.register(account)
    tokens = sign_in_for_tokens(client, rp, person.email)
    with count_queries() as counted:
        response = client.post("/oauth/revoke", data={"token": tokens["access_token"]}, auth=rp.auth)
    assert response.status_code == 200
    assert _selects(counted) == 1
    assert introspect(client, rp, tokens["access_token"]) == {"active": False}
