"""Real upstream identity providers that Roster's single sign-on tests sign in through."""
