"""The SCIM 2.0 service provider (RFC 7643, RFC 7644) at /scim/v2, one blueprint."""

from __future__ import annotations

from flask import Blueprint, Response, request
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import BaseConverter

from . import routing
from .auth import authenticate
from .bulk import bp as bulk_bp
from .discovery import bp as discovery_bp
from .errors import to_response
from .groups import GROUPS
from .groups import bp as groups_bp
from .listing import bp as listing_bp
from .listing import register
from .me import bp as me_bp
from .payload import read
from .user_listing import USERS
from .users import bp as users_bp


class ResourceId(BaseConverter):
    """A resource id in a path: never one with U+0000, which PostgreSQL cannot even compare (so: 404, like SQLite)."""

    regex = "[^/\x00]+"


bp = Blueprint("scim", __name__, url_prefix=routing.PREFIX)


@bp.record_once
def _converters(state: BlueprintSetupState) -> None:
    # runs before the nested blueprints add their rules: /Users/<id:record_id> needs it then
    state.app.url_map.converters["id"] = ResourceId


bp.before_request(authenticate)


@bp.before_request
def _read_body() -> None:
    """Every body is read and checked (payload.py) before a view, whichever reads it, sees it."""
    if request.method in ("POST", "PUT", "PATCH"):
        read()


# the resource types lists and searches serve; /.search goes through them in this order
register(USERS)
register(GROUPS)

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
    if not request.path.startswith(routing.PREFIX):
        return exc
    response = to_response(exc)
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    return response
