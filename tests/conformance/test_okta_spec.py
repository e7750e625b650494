"""Okta's SCIM 2.0 spec test (Runscope export) replayed against a live server: every check passes."""

from __future__ import annotations

import pytest

from conformance import okta_runscope
from tests.conformance.conftest import require, require_node

pytestmark = pytest.mark.e2e


def test_okta_scim_spec(live_server):
    require_node()
    require("chai", (okta_runscope.HERE / "node_modules" / "chai").exists(), "run 'npm ci --prefix conformance'")
    checks, problems = okta_runscope.replay(live_server.base_url, live_server.token)
    declared = okta_runscope.declared_checks(okta_runscope.load())
    summary = "\n".join(okta_runscope.report_lines(checks, problems, declared))
    if problems or len(checks) != declared or not all(check.passed for check in checks):
        pytest.fail(summary, pytrace=False)
    print(summary)
