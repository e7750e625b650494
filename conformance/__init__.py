"""External SCIM conformance suites run against the real Roster app; never shipped."""
