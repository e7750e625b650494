"""``/Me`` (RFC 7644 §3.11): the SCIM User of the person behind an OpenID Connect access token.

The token's account is the tenant and the person's directory record there
is the resource. Only reading is offered: a person's record is the
directory's to change (Okta, Entra ID), so other methods answer 501 as the
RFC allows.
"""

from __future__ import annotations

from flask import Blueprint, Response, g

from .documents import user_response
from .errors import error_response
from .users import store

bp = Blueprint("me", __name__)


@bp.get("/Me")
def me() -> Response:
    membership = g.oauth_grant.membership
    user = store().of_membership(membership) if membership is not None else None
    if user is None:
        return error_response(404, "You have no record in this account's directory: your administrator adds "
                                   "people through the account's identity provider (SCIM).")
    return user_response(user)


@bp.route("/Me", methods=["PUT", "PATCH", "DELETE", "POST"])
def change_me() -> Response:
    return error_response(501, "/Me is read-only here: your directory (or an administrator) changes your record.")
