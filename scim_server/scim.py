"""The SCIM 2.0 service provider (RFC 7643, RFC 7644) at /scim/v2, one blueprint."""

from __future__ import annotations

from flask import Blueprint, Response

from .auth import authenticate
from .discovery import bp as discovery_bp
from .errors import to_response
from .listing import bp as listing_bp
from .users import bp as users_bp

bp = Blueprint("scim", __name__, url_prefix="/scim/v2")
bp.before_request(authenticate)
bp.register_blueprint(users_bp)
bp.register_blueprint(listing_bp)
bp.register_blueprint(discovery_bp)


@bp.errorhandler(Exception)
def _error(exc: Exception) -> Response:
    return to_response(exc)
