"""The terms of use a person accepts when registering (R2) and at their first sign-in (R8).

The forms that ask for them link to the operator's terms (``ROSTER_TERMS_URL``);
until the operator sets it, to a placeholder page Roster serves at /terms.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, redirect, render_template, url_for

from models.deployment import Deployment

bp = Blueprint("terms", __name__, template_folder="templates")


@bp.app_template_global()
def terms_url() -> str:
    """Where the terms of use are read: the operator's address, else Roster's placeholder page."""
    return Deployment.of(current_app).settings.terms_url or url_for("terms.terms")


@bp.get("/terms")
def terms() -> Any:
    """The placeholder terms; once the operator has their own, a bookmark of this page leads there."""
    operator_terms = Deployment.of(current_app).settings.terms_url
    if operator_terms:
        return redirect(operator_terms)
    return render_template("terms.html", product=Deployment.of(current_app).product_name)
