"""A live server's processes as Linux shows them in /proc, for the tests that start `roster serve`."""

from __future__ import annotations

from pathlib import Path


def children(pid: int) -> set[int]:
    """The process ids whose parent is ``pid``."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        found.update(int(c) for c in (task / "children").read_text().split())
    return found


def command_line(pid: int) -> str:
    """The command line of ``pid``, or "" once it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""
