"""OpenID Connect provider, MFA, and every page a person sees."""
