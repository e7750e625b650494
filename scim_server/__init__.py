"""SCIM 2.0 service provider (RFC 7643/7644), the app factory and the CLI."""
