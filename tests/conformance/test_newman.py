"""Microsoft's SCIM reference collection (newman) against a live server: only README.md's expected failures fail."""

from __future__ import annotations

import pytest

from conformance import newman_check
from tests.conformance.conftest import require, require_node

pytestmark = pytest.mark.e2e


def test_expected_failures_each_have_a_reason():
    expected = newman_check.expected_failures()
    assert expected, "conformance/README.md lists no expected failure: is its table still there?"
    assert all(len(reason) > 20 for reason in expected.values()), expected


def test_microsoft_scim_collection(live_server, tmp_path):
    require_node()
    require("newman", newman_check.NEWMAN.exists(), "run 'npm ci --prefix conformance'")
    report, console = newman_check.run_newman(live_server.base_url, live_server.token, tmp_path)
    found, expected = newman_check.outcomes(report), newman_check.expected_failures()
    summary = "\n".join(newman_check.report_lines(found, expected))
    unexpected, stale = newman_check.summarise(found, expected)
    ran = sum(not o.assertion.startswith("(") for o in found)
    assert ran == report["_declared_assertions"], f"newman ran {ran} assertions:\n{console}"
    if unexpected or stale:
        pytest.fail(summary, pytrace=False)
    print(summary)
