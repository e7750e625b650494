"""scim2-tester against the real app, in process, on each database: every check passes, none disappears."""

from __future__ import annotations

import pytest

from conformance import scim2_tester_check


def test_scim2_tester(app):
    results = scim2_tester_check.run(app)
    summary = "\n".join(scim2_tester_check.report_lines(results))
    if scim2_tester_check.failures(results):
        pytest.fail(summary, pytrace=False)
    print(summary)
