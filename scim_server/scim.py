"""The SCIM 2.0 service provider (RFC 7643, RFC 7644) at /scim/v2, one blueprint."""

from __future__ import annotations

from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from .auth import authenticate
from .bulk import bp as bulk_bp
from .discovery import bp as discovery_bp
from .errors import to_response
from .groups import bp as groups_bp
from .listing import bp as listing_bp
from .me import bp as me_bp
from .users import bp as users_bp

bp = Blueprint("scim", __name__, url_prefix="/scim/v2")
bp.before_request(authenticate)
bp.register_blueprint(users_bp)
bp.register_blueprint(groups_bp)
bp.register_blueprint(listing_bp)
bp.register_blueprint(discovery_bp)
bp.register_blueprint(bulk_bp)
bp.register_blueprint(me_bp)


@bp.errorhandler(Exception)
def _error(exc: Exception) -> Response:
    return to_response(exc)


@bp.app_errorhandler(HTTPException)
def _routing_error(exc: HTTPException) -> Response | HTTPException:
    """Unknown paths, wrong methods and oversized bodies under /scim/v2 are SCIM Errors too."""
    if not request.path.startswith(bp.url_prefix or "/scim/v2"):
        return exc
    response = to_response(exc)
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    return response
