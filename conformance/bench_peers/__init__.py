"""The peers conformance/bench_scim.py measures Roster against: a Flask hello world and the scim2-server reference."""
