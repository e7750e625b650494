"""/Bulk (RFC 7644 §3.7): many operations in one request, each run through the storage port a single request uses.

Each operation's method and path are matched against the app's routes (so an
unknown path is 404 and a wrong method 405, as for a single request), then run
by the /Users or /Groups store (:mod:`.storage`) for the outer request's
account and actor. Every operation is its own transaction (a bulk job is not
atomic, §3.7), so R1, R2, R6, R11, uniqueness and ETags (``version`` → the
expected version) apply exactly as they do to a single request.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any, cast

import pydantic
from flask import Blueprint, Response, current_app, g, request
from scim2_models import (
    BulkOperation,
    BulkRequest,
    BulkResponse,
    ConflictException,
    Context,
    Error,
    InvalidValueException,
    PayloadTooLargeException,
    ResourceType,
    SCIMException,
    ScimProvider,
)
from scim2_models import Group as GroupModel
from werkzeug.exceptions import NotFound

from models.deployment import Deployment

from . import documents, patch
from .errors import scim_response, to_error, validation_error
from .mapping import UserModel
from .payload import json_body
from .policy import TOLERANT
from .preconditions import etag, expected_versions
from .routing import PREFIX, canonical_path
from .storage import GroupStore, UserStore

MAX_OPERATIONS = 1000
MAX_PAYLOAD_SIZE = 1_048_576  # bytes; no larger than the app's MAX_CONTENT_LENGTH

bp = Blueprint("bulk", __name__)


def _provider(*resources: Any) -> ScimProvider:
    """The resources as a ScimProvider knows them: bare models and extensions, bound by resource types."""
    # User[EnterpriseUser] is a subclass of User that scim2-models built to carry the extension
    bare = [r.__bases__[0] if "__scim_extension_metadata__" in r.__dict__ else r for r in resources]
    extensions = [e for r in resources for e in r.get_extension_models().values()]
    return ScimProvider(models=[*bare, *extensions], resource_types=[ResourceType.from_resource(r) for r in resources],
                        policy=TOLERANT)


# Each operation is read as the resource type its path targets, under the policy the views validate with.
PROVIDER = _provider(UserModel, GroupModel)
BulkMessage = BulkRequest[UserModel | GroupModel]
Result = BulkOperation[UserModel]

BULK_ID = "bulkId:"
_QUOTED_REFERENCE = re.compile(r'"bulkId:([^"]+)"')  # inside a PATCH path filter: members[value eq "bulkId:u1"]


@dataclasses.dataclass
class Operation:
    """One operation of the request: as validated by scim2-models, with its data as sent."""

    parsed: Any
    data: Any
    references: frozenset[str]

    @property
    def failed(self) -> bool:
        return self.parsed.status is not None


@dataclasses.dataclass(frozen=True)
class Created:
    """What a POST with a bulkId created: its id replaces ``bulkId:…`` in later operations."""

    id: str
    location: str


def _attribute(payload: dict[str, Any], name: str) -> Any:
    # SCIM attribute names are case-insensitive (RFC 7643 §2.1)
    return next((v for k, v in payload.items() if isinstance(k, str) and k.lower() == name.lower()), None)


def _payload() -> dict[str, Any]:
    """The request body as a JSON object (payload.py); 413 above maxPayloadSize (RFC 7644 §3.7.4)."""
    too_large = PayloadTooLargeException(
        detail=f"The size of the bulk request exceeds maxPayloadSize ({MAX_PAYLOAD_SIZE} bytes).")
    if (request.content_length or 0) > MAX_PAYLOAD_SIZE:
        raise too_large
    payload = json_body()
    if len(request.get_data()) > MAX_PAYLOAD_SIZE:
        raise too_large
    return cast(dict[str, Any], payload)


def _canonical(path: Any) -> Any:
    """``/users/ID/`` as ``/Users/ID``, like a single request's path."""
    if not isinstance(path, str):
        return path
    return canonical_path(PREFIX + "/" + path.lstrip("/"))[len(PREFIX):]


def _prepared(operation: Any) -> Any:
    """The operation as scim2-models validates it: canonical path, and a User PATCH as the view reads it."""
    if not isinstance(operation, dict):
        return operation
    prepared = {k: v for k, v in operation.items() if not (isinstance(k, str) and k.lower() in ("path", "data"))}
    path = prepared["path"] = _canonical(_attribute(operation, "path"))
    data = _attribute(operation, "data")
    method = _attribute(operation, "method")
    if isinstance(path, str) and path.startswith("/Users/") and str(method).upper() == "PATCH":
        data = patch.normalize(data)
    if data is not None:
        prepared["data"] = data
    return prepared


def parse(payload: dict[str, Any]) -> tuple[list[Operation], int | None]:
    """The operations and failOnErrors; 413 above maxOperations, 400 for a malformed envelope.

    An operation scim2-models cannot validate is kept as its failed result (RFC 7644 §3.7.3).
    """
    raw = _attribute(payload, "Operations")
    if isinstance(raw, list) and len(raw) > MAX_OPERATIONS:
        raise PayloadTooLargeException(
            detail=f"The bulk request has {len(raw)} operations; maxOperations is {MAX_OPERATIONS}.")
    prepared = [_prepared(operation) for operation in raw] if isinstance(raw, list) else raw
    envelope = {k: v for k, v in payload.items() if not (isinstance(k, str) and k.lower() == "operations")}
    try:
        message = BulkMessage.model_validate({**envelope, "Operations": prepared}, scim_ctx=Context.BULK_REQUEST,
                                             scim_provider=PROVIDER)
    except pydantic.ValidationError as exc:
        raise validation_error(exc) from None
    if message.fail_on_errors is not None and message.fail_on_errors < 1:
        raise InvalidValueException(detail="failOnErrors must be a positive integer.")
    operations = []
    for parsed, sent in zip(message.operations or [], raw, strict=True):
        data = _attribute(sent, "data") if isinstance(sent, dict) else None
        operations.append(Operation(parsed, data, frozenset(_references(parsed.path, data))))
    return operations, message.fail_on_errors


def _references(path: str | None, data: Any) -> Iterator[str]:
    """Every bulkId an operation refers to, in its path or anywhere in its data (RFC 7644 §3.7.2)."""
    for segment in (path or "").split("/"):
        if segment.startswith(BULK_ID):
            yield segment[len(BULK_ID):]
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str) and BULK_ID in value:
            if value.startswith(BULK_ID):
                yield value[len(BULK_ID):]
            else:
                yield from _QUOTED_REFERENCE.findall(value)


def _resolve(value: Any, created: dict[str, Created], key: str = "") -> Any:
    """``value`` with each ``bulkId:…`` replaced by the id (a ``$ref``: the location) of what it names."""
    if isinstance(value, dict):
        return {k: _resolve(v, created, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, created) for v in value]
    if isinstance(value, str) and value.startswith(BULK_ID) and value[len(BULK_ID):] in created:
        target = created[value[len(BULK_ID):]]
        return target.location if key == "$ref" else target.id
    if isinstance(value, str) and BULK_ID in value:
        return _QUOTED_REFERENCE.sub(
            lambda m: f'"{created[m[1]].id}"' if m[1] in created else m[0], value)
    return value


def _resolve_path(path: str, created: dict[str, Created]) -> str:
    return "/".join(created[s[len(BULK_ID):]].id if s.startswith(BULK_ID) else s for s in path.split("/"))


def _location(path: str) -> str:
    return request.root_url.rstrip("/") + PREFIX + path


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What an operation did: a single request's status, ``Location`` and ETag."""

    status: int
    location: str | None = None
    version: str | None = None


def _stores() -> tuple[UserStore, GroupStore]:
    deployment = Deployment.of(current_app)
    return (UserStore(g.account, g.actor, documents.user_location, deployment),
            GroupStore(g.account, g.actor, deployment))


def dispatch(method: str, path: str, data: Any, version: str | None) -> Outcome:
    """Run one operation as a single ``method`` on ``path`` would, through the storage port.

    The path is matched by the app's own routes (404 for a path no write of
    /Users or /Groups has, 405 for a method its resource does not take).
    """
    adapter = current_app.url_map.bind("bulk.invalid")
    endpoint, arguments = adapter.match(PREFIX + path, method)
    users, groups = _stores()
    expected = expected_versions(version)
    if endpoint == "scim.users.create_user":
        user = users.create(data)
        return Outcome(201, documents.user_location(user.id), etag(user.version))
    if endpoint == "scim.groups.create_group":
        group = groups.create(data)
        return Outcome(201, documents.group_location(group.id), etag(group.version))
    if endpoint in ("scim.users.replace_user", "scim.users.patch_user"):
        change = users.replace if method == "PUT" else users.patch
        return Outcome(200, version=etag(change(arguments["record_id"], data, expected).version))
    if endpoint in ("scim.groups.replace_group", "scim.groups.patch_group_view"):
        rewrite = groups.replace if method == "PUT" else groups.patch
        return Outcome(200, version=etag(rewrite(arguments["group_id"], data, expected).version))
    if endpoint == "scim.users.delete_user":
        users.delete(arguments["record_id"], expected)
        return Outcome(204)
    if endpoint == "scim.groups.delete_group":
        groups.delete(arguments["group_id"], expected)
        return Outcome(204)
    raise NotFound()


def _failure(operation: Operation, exc: SCIMException) -> Any:
    return _result(operation, exc.status, response=exc.to_error())


def _result(operation: Operation, status: int, *, location: str | None = None, version: str | None = None,
            response: Error | None = None) -> Any:
    parsed = operation.parsed
    if location is None and parsed.path and parsed.method != BulkOperation.Method.post:
        location = _location(parsed.path)  # RFC 7644 §3.7: required except for a failed POST
    return Result(method=parsed.method, bulk_id=parsed.bulk_id, location=location, version=version, status=status,
                  response=response)


def execute(operation: Operation, created: dict[str, Created]) -> Any:
    """Run a valid operation whose references are all resolved; its result."""
    parsed = operation.parsed
    path = _resolve_path(parsed.path, created)
    error: Error | None = None
    try:
        outcome = dispatch(str(parsed.method), path, _resolve(operation.data, created), parsed.version)
    except Exception as exc:  # every refusal becomes this operation's result, as a single request's error
        error = to_error(exc)
        outcome = Outcome(int(error.status or 500))
    metrics = current_app.extensions.get("roster_metrics")  # present when metrics are on
    if metrics is not None:
        metrics.count_bulk_operation(str(parsed.method), path, outcome.status)
    if outcome.status >= 400:
        return _result(operation, outcome.status, location=_location(path) if parsed.method != "POST" else None,
                       response=error)
    location = outcome.location or _location(path)
    if parsed.method == BulkOperation.Method.post and parsed.bulk_id:
        created[parsed.bulk_id] = Created(location.rstrip("/").rsplit("/", 1)[-1], location)
    return _result(operation, outcome.status, location=location, version=outcome.version)


def run(operations: list[Operation], fail_on_errors: int | None) -> list[Any]:
    """Results in the order the operations ran (RFC 7644 §3.7.3).

    An operation waits for the POSTs whose bulkIds it refers to, even later
    ones; one that refers to a bulkId that failed, that no POST declares, or
    that waits in a cycle fails with 409 (RFC 7644 §3.7.2). After
    ``failOnErrors`` errors the job stops and reports what it did.
    """
    declared: dict[str, int] = {}
    for index, operation in enumerate(operations):
        bulk_id = operation.parsed.bulk_id
        if operation.parsed.method == BulkOperation.Method.post and bulk_id and bulk_id not in declared:
            declared[bulk_id] = index
    created: dict[str, Created] = {}
    failed: set[str] = set()
    pending = list(range(len(operations)))
    results: list[Any] = []
    errors = 0
    while pending and (fail_on_errors is None or errors < fail_on_errors):
        index, result = _next(operations, pending, declared, created, failed)
        pending.remove(index)
        results.append(result)
        if not 200 <= int(result.status) < 300:
            errors += 1
            if operations[index].parsed.bulk_id and declared.get(operations[index].parsed.bulk_id) == index:
                failed.add(operations[index].parsed.bulk_id)
    return results


def _next(operations: list[Operation], pending: list[int], declared: dict[str, int], created: dict[str, Created],
          failed: set[str]) -> tuple[int, Any]:
    """The first pending operation that can run or is bound to fail, with its result."""
    for index in pending:
        operation = operations[index]
        if operation.failed:
            return index, operation.parsed
        bulk_id = operation.parsed.bulk_id
        if operation.parsed.method == BulkOperation.Method.post and bulk_id and declared.get(bulk_id) != index:
            return index, _failure(operation, InvalidValueException(
                detail=f'bulkId "{bulk_id}" is already used by another operation of this request.'))
        unknown = sorted(r for r in operation.references if r in failed or r not in declared)
        if unknown:
            return index, _failure(operation, ConflictException(
                detail=f'bulkId "{unknown[0]}" names no resource: its POST failed or is not in this request.'))
        if operation.references <= created.keys():
            return index, execute(operation, created)
    # everything left waits on something that waits: a circular reference
    index = pending[0]
    return index, _failure(operations[index], ConflictException(
        detail="The bulkId references of this operation are circular: they cannot be resolved."))


@bp.post("/Bulk")
def bulk() -> Response:
    """RFC 7644 §3.7: 200 with a BulkResponse whose results say how each operation went."""
    operations, fail_on_errors = parse(_payload())
    results = run(operations, fail_on_errors)
    document = BulkResponse[UserModel](Operations=results)
    return scim_response(document.model_dump(scim_ctx=Context.BULK_RESPONSE))
