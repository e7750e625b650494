"""The one speed trick of oidc/upstream_saml.py: xmlsec1 runs once per response checked, not three times."""

from __future__ import annotations

import subprocess

import pytest
import saml2.sigver

from tests.sso.support import email_step, post_answer, saml_answer, saml_connection, verified_domain


@pytest.fixture
def xmlsec_runs(monkeypatch):
    """The xmlsec1 commands pysaml2 starts, as it starts them."""
    runs: list[list[str]] = []
    real = subprocess.Popen

    def counting(args, *rest, **kwargs):
        if args and str(args[0]).endswith("xmlsec1"):
            runs.append([str(a) for a in args])
        return real(args, *rest, **kwargs)

    monkeypatch.setattr(saml2.sigver, "Popen", counting)
    return runs


def test_a_signed_response_costs_one_xmlsec1_run(client, account, saml_idp, xmlsec_runs):
    verified_domain(account, "corp.example")
    saml_connection(account, saml_idp, client)
    answer = saml_answer(client, saml_idp, email_step(client, client.get("/login"), "s@corp.example"),
                         "s@corp.example")
    post_answer(client, answer)  # the first response also learns the version, once per process
    xmlsec_runs.clear()
    second = saml_answer(client, saml_idp, email_step(client, client.get("/login"), "t@corp.example"),
                         "t@corp.example")
    assert post_answer(client, second).status_code == 303
    assert [run[1] for run in xmlsec_runs] == ["--verify"], xmlsec_runs
