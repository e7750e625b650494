"""gunicorn's logger for `roster serve`: its own lines as JSON, and no access line.

roster.http already writes one JSON line per request, with the request id;
gunicorn's access line would say the same again and cost each request a
second formatted record.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger


class RequestLogOnly(Logger):  # type: ignore[misc]  # gunicorn has no type hints
    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        return None
