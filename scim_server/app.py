"""The composition root: configuration, database, blueprints."""

from __future__ import annotations

import logging
import os
import secrets
from typing import Any

from flask import Flask, request

from models import rate_limits
from models.database import bind, end_request, open_database
from models.deployment import Deployment
from models.settings import Settings
from oidc.links import PageLinks

log = logging.getLogger("roster.http")

DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": None,
    "SECRET_KEY": None,
    "BASE_URL": "http://127.0.0.1:8000",
    "LOG_LEVEL": "INFO",
    "MAIL_BACKEND": "log",
    "MAIL_FILE": "data/outbox.mbox",
    "MAIL_FROM": "Roster <no-reply@localhost>",
    "SMTP_HOST": "localhost",
    "SMTP_PORT": 587,
    "SMTP_USER": None,
    "SMTP_PASSWORD": None,
    "SMTP_TLS": "starttls",
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    "METRICS": None,  # "1": /metrics on (scim_server/metrics.py)
    "METRICS_TOKEN": None,  # /metrics on, for this bearer token only
    # requests per minute per SCIM token and per OAuth client (models.rate_limits); 0: no limit
    "SCIM_RATE_LIMIT": 6000,
    "OAUTH_RATE_LIMIT": 6000,
    # the proxies whose X-Forwarded-* headers count; gunicorn's setting and default (client_address.py)
    "FORWARDED_ALLOW_IPS": "127.0.0.1,::1",
    "TERMS_URL": None,  # the operator's terms of use; unset: Roster's placeholder at /terms (oidc/terms.py)
    "DNS_NAMESERVERS": None,  # the resolvers that verify domains (models/settings.py); unset: the system's
    "DNS_TIMEOUT": 3,  # seconds a domain verification waits for DNS
}

# environment variable → setting; documented in README.md
ENVIRONMENT = {
    "DATABASE_URL": "DATABASE_URL",
    "ROSTER_SECRET_KEY": "SECRET_KEY",
    "ROSTER_BASE_URL": "BASE_URL",
    "ROSTER_LOG_LEVEL": "LOG_LEVEL",
    "ROSTER_MAIL_BACKEND": "MAIL_BACKEND",
    "ROSTER_MAIL_FILE": "MAIL_FILE",
    "ROSTER_MAIL_FROM": "MAIL_FROM",
    "ROSTER_SMTP_HOST": "SMTP_HOST",
    "ROSTER_SMTP_PORT": "SMTP_PORT",
    "ROSTER_SMTP_USER": "SMTP_USER",
    "ROSTER_SMTP_PASSWORD": "SMTP_PASSWORD",
    "ROSTER_SMTP_TLS": "SMTP_TLS",
    "ROSTER_METRICS": "METRICS",
    "ROSTER_METRICS_TOKEN": "METRICS_TOKEN",
    "ROSTER_SCIM_RATE_LIMIT": "SCIM_RATE_LIMIT",
    "ROSTER_OAUTH_RATE_LIMIT": "OAUTH_RATE_LIMIT",
    "ROSTER_ARGON2_MEMORY_KIB": "ARGON2_MEMORY_KIB",
    "ROSTER_ARGON2_TIME_COST": "ARGON2_TIME_COST",
    "ROSTER_ARGON2_PARALLELISM": "ARGON2_PARALLELISM",
    "FORWARDED_ALLOW_IPS": "FORWARDED_ALLOW_IPS",
    "ROSTER_TERMS_URL": "TERMS_URL",
    "ROSTER_DNS_NAMESERVERS": "DNS_NAMESERVERS",
    "ROSTER_DNS_TIMEOUT": "DNS_TIMEOUT",
}


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults, then the environment, then ``overrides``."""
    config = dict(DEFAULTS)
    for variable, key in ENVIRONMENT.items():
        if os.environ.get(variable):
            config[key] = os.environ[variable]
    config.update(overrides or {})
    if not config["SECRET_KEY"]:
        config["SECRET_KEY"] = _development_secret(config)
    return config


def _development_secret(config: dict[str, Any]) -> str:
    """Without ROSTER_SECRET_KEY, a random key kept beside the SQLite data, made once."""
    path = os.path.join(os.environ.get("ROSTER_DATA_DIR", "data"), "secret_key")
    if os.path.exists(path):
        with open(path) as f:
            return f.read().strip()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key


def metrics_enabled(config: dict[str, Any]) -> bool:
    """Metrics are off unless ROSTER_METRICS=1 or a ROSTER_METRICS_TOKEN protects them."""
    return str(config.get("METRICS") or "").strip().lower() in ("1", "true", "yes") or bool(config.get("METRICS_TOKEN"))


def deployment_of(config: dict[str, Any]) -> Deployment:
    """What the domain is handed about this deployment; ValueError names a setting out of range."""
    # the argon2 cost's defaults are the domain's (models/settings.py): only what was set is passed
    argon2 = {key.lower(): config[key] for key in ("ARGON2_MEMORY_KIB", "ARGON2_TIME_COST", "ARGON2_PARALLELISM")
              if config.get(key) not in (None, "")}
    base_url = str(config["BASE_URL"])
    return Deployment(Settings(secret_key=str(config["SECRET_KEY"]), base_url=base_url,
                               terms_url=str(config.get("TERMS_URL") or "").strip(),
                               dns_nameservers=str(config.get("DNS_NAMESERVERS") or ""),
                               dns_timeout=config.get("DNS_TIMEOUT") or 3, **argon2), PageLinks(base_url))


def configure_domain(config: dict[str, Any]) -> Deployment:
    """Bind the database and build the deployment the domain is handed (shared by the app, the CLI, the outbox)."""
    deployment = deployment_of(config)
    bind(open_database(config["DATABASE_URL"]))
    return deployment


# every page checks the CSRF token of a state-changing request, but for the blueprints (and those nested
# in them) of the APIs: a bearer token or client credentials carry no cookie to forge with, and the OAuth
# blueprint's two browser endpoints (authorization consent, sign-out) check it in their own forms
# federation: its one POST is a SAML IdP's, protected by the signed response, its RelayState and the browser cookie
CSRF_EXEMPT = frozenset({"health", "scim", "oidc_discovery", "oauth", "federation"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})  # RFC 9110 §9.2.1: no state changes


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=False)
    app.config.update(load_config(config))
    app.config.update(
        SECRET_KEY=app.config["SECRET_KEY"],
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Secure everywhere but a plain-http development address
        SESSION_COOKIE_SECURE=str(app.config["BASE_URL"]).startswith("https://"),
    )
    configure_domain(app.config).install(app)
    # this process's share of the deployment's request budgets, counted here and written now and then
    app.extensions["roster_rate_limits"] = rate_limits.Budgets.per_minute(app.config["SCIM_RATE_LIMIT"],
                                                                          app.config["OAUTH_RATE_LIMIT"])

    @app.teardown_request
    def _close(exc: BaseException | None) -> None:
        end_request(exc)  # SQLite keeps the connection, never a transaction

    _register_blueprints(app)
    _wrap_wsgi(app)
    return app


def _register_blueprints(app: Flask) -> None:
    """The APIs and the pages, then what wraps them all: error pages, CSRF, the 503 page, sessions."""
    from flask_wtf.csrf import CSRFProtect

    from oidc import (
        console,
        discovery,
        endpoints,
        federation,
        pages,
        profile,
        provider,
        signin_webauthn,
        unavailable,
        web_session,
    )
    from oidc import errors as oidc_errors
    from oidc import i18n as oidc_i18n
    from oidc import terms as oidc_terms

    from . import health, scim

    oidc_i18n.init_app(app)  # the pages' language (Flask-Babel) and their time filter
    app.register_blueprint(health.bp)
    app.register_blueprint(scim.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(oidc_terms.bp)  # /terms, and the link to the terms every form that asks to accept them shows
    app.register_blueprint(discovery.bp)
    app.register_blueprint(endpoints.bp)
    app.register_blueprint(signin_webauthn.bp)  # the sign-in pages, with their WebAuthn routes
    app.register_blueprint(federation.bp)  # signing in through an account's own IdP (OIDC, SAML)
    app.register_blueprint(profile.bp)  # the self-service profile pages
    app.register_blueprint(console.bp)  # the admin console pages
    app.extensions["roster_oauth"] = provider.create_server(app)
    oidc_errors.init_app(app)  # after every blueprint: it reads them, and wraps SCIM's error handler
    # after the input check, which must see a request before anything reads its form
    csrf = CSRFProtect(app)
    for name, blueprint in app.blueprints.items():
        if name.split(".")[0] in CSRF_EXEMPT:
            csrf.exempt(blueprint)
    # flask-wtf's own hook looks the blueprint and view up on every request; a safe method never needs
    # the check, so a GET (most of what SCIM and OAuth serve) skips even that lookup
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False

    @app.before_request
    def _csrf() -> None:
        if request.method not in _SAFE_METHODS:
            csrf.protect(apply_exemptions=True)
    unavailable.init_app(app)  # 503 while the database is away, as OAuth JSON or a page (SCIM answers its own)
    app.context_processor(web_session.template_context)
    app.session_interface = web_session.LazySessions()


def _wrap_wsgi(app: Flask) -> None:
    """The WSGI layers around the app, innermost first: canonical SCIM paths, the request log, the client address."""
    from oidc import signin

    from .client_address import ClientAddress, TrustedProxies
    from .request_log import RequestLog
    from .routing import CanonicalScimPaths

    # outermost, so the path it logs is the canonical one CanonicalScimPaths set
    observe = None
    if metrics_enabled(app.config):
        from . import metrics  # imported only now: prometheus-client must see `roster serve`'s directory first

        observe = metrics.init_app(app, signin.attempted).observe
    app.wsgi_app = RequestLog(CanonicalScimPaths(app.wsgi_app), observe)  # type: ignore[method-assign]
    # outside the log too: every layer sees the client behind the trusted proxies, not the proxy
    trusted = TrustedProxies(app.config["FORWARDED_ALLOW_IPS"])
    app.wsgi_app = ClientAddress(app.wsgi_app, trusted)  # type: ignore[method-assign]
