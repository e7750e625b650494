"""The scim2-server reference (PyPI, in memory) as a WSGI app for gunicorn, seeded at start.

    BENCH_SEED_USERS=10000 BENCH_SEED_GROUP_MEMBERS=5000 \\
        gunicorn --workers 2 conformance.bench_peers.scim2_server_app:app

scim2-server's own ``scim2-server`` command serves one process with
wsgiref; conformance/bench_scim.py serves it the way Roster is served
(gunicorn, sync workers) instead. Its store is in memory, so each gunicorn
worker has its own: every worker seeds the same data at start, with the same
ids (:func:`user_id`), so a read finds its resource whichever worker answers.
Writes land in the worker that took them, which is fine for what the
benchmark does with them (POST new users, PATCH distinct users, add members
that are not in the group yet).

Environment: ``BENCH_SEED_USERS`` users named ``user{i:06d}@bench.example``;
``BENCH_SEED_GROUP_MEMBERS`` of them (the first ones) in the group named
``bench-group`` with id :data:`GROUP_ID`; ``SCIM2_SERVER_SECRET``, shared by
the workers (cursors).
"""

from __future__ import annotations

import os
import time
from typing import Any

from scim2_models import Context, ScimProvider
from scim2_server.applications.wsgi import WSGIApplication
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.utils import (
    load_default_resource_types,
    load_default_schemas,
    load_default_service_provider_config,
)

from conformance.bench_peers.data import GROUP_ID, user_document, user_id


class _SeededStorage(InMemoryStorage):
    """Gives seeded resources the ids the benchmark expects, and others a random one."""

    def __init__(self) -> None:
        super().__init__()
        self.next_id: str | None = None

    def generate_id(self, resource_type: Any, resource: Any) -> str:
        if self.next_id is not None:
            chosen, self.next_id = self.next_id, None
            return chosen
        return super().generate_id(resource_type, resource)


def _seed(storage: _SeededStorage, provider: ScimProvider, service: ScimService, users: int, members: int) -> None:
    with provider:
        user_model = provider.model_for_endpoint("/Users")
        group_model = provider.model_for_endpoint("/Groups")
        assert user_model is not None and group_model is not None
        user_type, group_type = service.get_resource_type("User"), service.get_resource_type("Group")
        for index in range(users):
            resource = user_model.model_validate(user_document(index), scim_ctx=Context.RESOURCE_CREATION_REQUEST)
            storage.next_id = user_id(index)
            storage.create(user_type, resource)  # type: ignore[arg-type]
        if members:
            group = group_model.model_validate({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "bench-group",
                "members": [{"value": user_id(i), "type": "User"} for i in range(min(members, users))],
            }, scim_ctx=Context.RESOURCE_CREATION_REQUEST)
            storage.next_id = GROUP_ID
            storage.create(group_type, group)  # type: ignore[arg-type]


def create_app() -> WSGIApplication:
    provider = ScimProvider.from_discovery(load_default_schemas().values(), load_default_resource_types().values(),
                                           config=load_default_service_provider_config())
    service = ScimService(provider, secret=os.environ.get("SCIM2_SERVER_SECRET") or "bench-scim2-server-secret")
    storage = _SeededStorage()
    started = time.perf_counter()
    _seed(storage, provider, service, int(os.environ.get("BENCH_SEED_USERS") or 0),
          int(os.environ.get("BENCH_SEED_GROUP_MEMBERS") or 0))
    print(f"scim2-server worker {os.getpid()} seeded in {time.perf_counter() - started:.1f} s", flush=True)
    return WSGIApplication(storage, provider, service=service)


app = create_app()
