"""Structured logs: one JSON object per line, each with the request id."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from typing import TextIO

from models import audit

# Anything that looks like a credential is masked before a line is written.
_SECRET = re.compile(
    r"(?i)(bearer\s+|rst_|password[\"'=:\s]+|secret[\"'=:\s]+|token[\"'=:\s]+)([^\s\"'&,}]+)"
)


def redact(text: str) -> str:
    return _SECRET.sub(lambda m: m.group(1) + "[redacted]", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", None) or audit.request_id.get() or None,
        }
        for key, value in getattr(record, "fields", {}).items():
            entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def configure(level: str = "INFO", stream: TextIO | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # peewee's DEBUG lines carry every SQL parameter: mail bodies with links,
    # temporary passwords, hashes. They never reach the log, whatever the level.
    logging.getLogger("peewee").setLevel(logging.INFO)
