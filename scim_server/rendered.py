"""Rendered SCIM documents kept per resource version (DESIGN.md §3 "Speed").

A resource's JSON depends only on its row, named by (id, ``meta.version``),
plus what the key adds (e.g. ``active``, which is the membership's, and the
resource's location). Every change raises the version, so a new version is a
new key and an old document is never served again; the cache is per process,
bounded (least recently used goes first), and filled only from committed
data (never inside a transaction, which may still roll back).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from models.database import db

MAX_ENTRIES = 10_000
"""Documents kept per process: a few KB each, so some tens of MB at most."""


class DocumentCache:
    """A thread-safe LRU map of key → rendered document.

    Bounded by entries, and by ``max_weight`` in all when given (``weigh`` of
    an entry: e.g. the bytes of a group of 50,000 members).
    """

    def __init__(self, size: int = MAX_ENTRIES, max_weight: int | None = None,
                 weigh: Callable[[Any], int] = len) -> None:
        self.size = size
        self.max_weight = max_weight
        self._weigh = weigh
        self._weight = 0
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: Hashable, entry: Any) -> None:
        """Keep ``entry`` unless a transaction is open: what it read may yet roll back."""
        if db.in_transaction():
            return
        weight = self._weigh(entry) if self.max_weight is not None else 0
        if self.max_weight is not None and weight > self.max_weight:
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None and self.max_weight is not None:
                self._weight -= self._weigh(previous)
            self._entries[key] = entry
            self._weight += weight
            while len(self._entries) > self.size or (self.max_weight is not None and self._weight > self.max_weight):
                _, dropped = self._entries.popitem(last=False)
                if self.max_weight is not None:
                    self._weight -= self._weigh(dropped)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._weight = 0

    def __len__(self) -> int:
        return len(self._entries)


users = DocumentCache()
"""SCIM Users by (record id, version, active, location)."""

groups = DocumentCache(size=1_000, max_weight=64 * 1024 * 1024)
"""SCIM Groups as response bytes by (group id, version, location, attributes, excludedAttributes); 64 MB in all."""

group_members = DocumentCache(size=1_000, max_weight=200_000)
"""A group's SCIM members by (group id, version): every change of them gives the group a new version;
200,000 members in all, the least recently used group going first."""
