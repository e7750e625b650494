# The two commands of README.md: `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
ADMIN_EMAIL ?= admin@example.com

.PHONY: serve test install install-test saml-packages translations compile-translations system-packages node-packages lint typecheck pytest clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python saml-packages
	$(BIN)/pip install --quiet -e .
	$(MAKE) compile-translations

# Debian's xmlsec1, which pysaml2 runs to check the signatures of SAML connections (oidc/upstream_saml.py);
# without it Roster serves everything but SAML sign-ins. Needs root; skipped when present.
saml-packages:
	@if [ ! -x /usr/bin/xmlsec1 ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xmlsec1 >/dev/null; \
	  else \
	    echo "Missing for SAML sign-ins: run 'sudo apt-get install xmlsec1'" >&2; \
	  fi; \
	fi

install-test: $(BIN)/python system-packages node-packages
	$(BIN)/pip install --quiet -e '.[test]'
	$(MAKE) compile-translations

# The catalogues (models/i18n.py): the .po files are committed, the .mo files built here
TRANSLATIONS := models/translations
compile-translations:
	$(BIN)/pybabel --quiet compile --domain messages --directory $(TRANSLATIONS)

# After changing a text: extract every marked string (babel.cfg) and merge it into each language's .po,
# whose new entries then need translating (tests/oidc/test_i18n.py names the missing ones)
BABEL_KEYWORDS := -k _l -k lazy_gettext -k InvalidInputError -k NotFoundError -k ConflictError \
	-k PolicyViolationError -k ForbiddenError -k RosterError -k Text
translations: install-test
	@mkdir -p build
	$(BIN)/pybabel --quiet extract --mapping-file babel.cfg $(BABEL_KEYWORDS) --add-location file --sort-by-file \
		--output-file build/messages.pot .
	$(BIN)/pybabel --quiet update --domain messages --input-file build/messages.pot --output-dir $(TRANSLATIONS) \
		--width 120 --no-fuzzy-matching --ignore-obsolete
	$(MAKE) compile-translations

# Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium;
# it never downloads a browser of its own) and Debian's nginx, the reverse proxy
# of tests/scim/test_proxy_e2e.py, and Debian's PostgreSQL binaries (initdb, pg_ctl) for the server
# tests/scim/test_database_outage.py makes, stops and starts on its own, and Debian's xmlsec1, which pysaml2
# runs to check SAML signatures (SSO, and the test IdP of tests/idp). Needs root; skipped when present.
system-packages:
	@missing=""; \
	if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then missing=" chromium chromium-driver"; fi; \
	if [ ! -x /usr/sbin/nginx ]; then missing="$$missing nginx"; fi; \
	if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then missing="$$missing postgresql"; fi; \
	if [ ! -x /usr/bin/xmlsec1 ]; then missing="$$missing xmlsec1"; fi; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "Missing for the browser, proxy and database-outage tests: run 'sudo apt-get install$$missing'" >&2; \
	  fi; \
	fi

# newman and chai for the conformance suites, pinned by conformance/package-lock.json; never global
node-packages:
	@if command -v npm >/dev/null; then npm ci --prefix conformance --no-audit --no-fund --silent; \
	else echo "npm is missing: the newman and Okta conformance tests cannot run (they fail under CI)" >&2; fi

# links and the OpenID issuer name the address served, unless ROSTER_BASE_URL says otherwise
serve: export ROSTER_BASE_URL ?= http://$(HOST):$(PORT)
serve: install
	$(BIN)/roster init --admin-email $(ADMIN_EMAIL)
	@echo
	@echo "Roster is starting on http://$(HOST):$(PORT) — open the admin link above to set your password."
	@echo "Point Okta or Entra ID at the SCIM base URL above with the token printed once above."
	$(BIN)/roster serve --host $(HOST) --port $(PORT)

lint: install-test
	$(BIN)/ruff check $(wildcard models scim_server oidc tests conformance)

typecheck: install-test
	$(BIN)/mypy

# PostgreSQL runs the same tests as SQLite when TEST_DATABASE_URL is set (CI
# always sets it); locally the server on 127.0.0.1:5432 is used when it answers.
pytest: install-test
	@if [ -z "$$TEST_DATABASE_URL" ] && command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; then \
	  export TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test; \
	fi; \
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info conformance/node_modules
