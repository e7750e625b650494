"""The real upstream IdPs every SSO test module signs in through (tests/idp)."""

from tests.idp.oidc_idp import oidc_idp  # noqa: F401 - a fixture
from tests.idp.saml_idp_fixture import saml_idp  # noqa: F401 - a fixture
