"""The ``roster`` command: operate a Roster installation from a shell.

Each command turns its arguments into one call of a domain function in
``models/`` (the same one a SCIM request or a console click makes) and prints
the result. Configuration is the app's (``DATABASE_URL``, ``ROSTER_*``; see
README.md); audit events name the CLI as actor and carry one request id per
invocation.

Exit status: 0 on success, 1 when the domain refuses (the reason goes to
stderr), 2 for a usage error. Commands that print data take ``--json``; the
keys are in each command's docstring and only ever grow.
"""

from .root import cli, main

__all__ = ["cli", "main"]
