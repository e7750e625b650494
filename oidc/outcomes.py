"""How a page action ends: what happened, flashed, then the page it came from (POST → redirect → GET).

A refusal by the domain (a RosterError: the last admin, an invitation
already used, a key not found) ends the same way, with its message: views
run the change inside :func:`refusal_goes_back` instead of each catching it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from flask import abort, flash, redirect, url_for
from werkzeug.wrappers import Response

from models.errors import RosterError

from .i18n import translated


def back(endpoint: str, message: str, category: str = "message", **values: Any) -> Response:
    """Flash ``message`` (``error`` shows as an alert) and redirect to ``endpoint`` with ``values``."""
    flash(message, category)
    return redirect(url_for(endpoint, **values))


@contextlib.contextmanager
def refusal_goes_back(endpoint: str, *, refused: type[RosterError] = RosterError, **values: Any) -> Iterator[None]:
    """Run a domain change; if the domain refuses it with ``refused``, flash why and go back to ``endpoint``.

    Why is the domain's message, translated when the catalogue has it (its messages and templates are extracted).

    The redirect leaves the view at once (``abort`` with a response: Flask
    answers it as it is, after_request hooks and the flashed message included).
    """
    try:
        yield
    except refused as exc:
        abort(back(endpoint, translated(exc.message), "error", **values))
