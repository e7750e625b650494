"""/Users (RFC 7644 §3.3–§3.6): parse → one call into the storage port → serialise."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, request

from models.deployment import Deployment

from .documents import user_location, user_response
from .payload import json_body
from .preconditions import NotModified, check_read, etag, expected_versions
from .storage import UserStore

bp = Blueprint("users", __name__)


def store() -> UserStore:
    """The account's Users, changed by the request's actor."""
    return UserStore(g.account, g.actor, user_location, Deployment.of(current_app))


@bp.get("/Users/<id:record_id>")
def get_user(record_id: str) -> Response:
    user = store().get(record_id)
    try:
        check_read(user.version, request.headers.get("If-None-Match"))
    except NotModified:
        return Response(status=304, headers={"ETag": etag(user.version)})
    return user_response(user)


@bp.post("/Users")
def create_user() -> Response:
    return user_response(store().create(json_body()), 201)


@bp.put("/Users/<id:record_id>")
def replace_user(record_id: str) -> Response:
    return user_response(store().replace(record_id, json_body(), expected_versions(request.headers.get("If-Match"))))


@bp.patch("/Users/<id:record_id>")
def patch_user(record_id: str) -> Response:
    return user_response(store().patch(record_id, json_body(), expected_versions(request.headers.get("If-Match"))))


@bp.delete("/Users/<id:record_id>")
def delete_user(record_id: str) -> Response:
    store().delete(record_id, expected_versions(request.headers.get("If-Match")))
    return Response(status=204)
