from models import invitations, members, Actor


def test_invite_and_accept(account, admin, cli_actor):
    res = invitations.invite(account, "new@acme.example", given_name="N", family_name="P", by=Actor.for_user(admin[1]))
    assert res.outcome == "invited"
    token = res.link.rsplit("/", 1)[1]
    m = invitations.accept(token, password="another good passphrase", accept_terms=True)
    assert m.status == "active"
