"""Domain errors. Each protocol maps these to its own wire format in one place."""

from __future__ import annotations


class RosterError(Exception):
    """Base of every refusal the domain makes; ``str()`` is a message for a person."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None, reason: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.reason = reason or self.code


class NotFoundError(RosterError):
    code = "not_found"


class ConflictError(RosterError):
    code = "conflict"


class PolicyViolationError(RosterError):
    """A rule of DESIGN.md §2 refuses the change (e.g. R1, the last admin)."""

    code = "policy_violation"


class InvalidInputError(RosterError):
    code = "invalid_input"


class ForbiddenError(RosterError):
    code = "forbidden"


class PreconditionFailedError(RosterError):
    """The writer read another version of the resource than the one there now (optimistic concurrency)."""

    code = "precondition_failed"
