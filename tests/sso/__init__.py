"""Enterprise single sign-on (DESIGN.md §7) through the real app, against real upstream IdPs (tests/idp)."""
