"""Server-side forms: validation with field errors, CSRF tokens on every one (Flask-WTF)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, RadioField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from models.errors import RosterError

from .i18n import translated


def field_error(form: FlaskForm, error: RosterError, default: str | None = None) -> None:
    """Show a domain refusal next to the field it names, else next to ``default``, else above the form.

    The message is translated when the catalogue has it (the domain's fixed messages and templates are extracted).
    """
    message = translated(error.message)
    target = getattr(form, error.field or "", None)
    if target is None or not hasattr(target, "errors"):
        target = getattr(form, default) if default else None
    if target is None:
        form.form_errors.append(message)
    else:
        target.errors = [*target.errors, message]


class RegistrationForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    """Accepting an invitation as a new person (R2): name, password, terms."""

    given_name = StringField(_l("First name"), validators=[DataRequired(), Length(max=200)])
    family_name = StringField(_l("Last name"), validators=[DataRequired(), Length(max=200)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])
    confirm = PasswordField(_l("Repeat the password"), validators=[DataRequired(), EqualTo("password",
                            message=_l("The two passwords differ."))])
    accept_terms = BooleanField(_l("I accept the terms of use"), validators=[DataRequired(
        message=_l("Accept the terms of use to register."))])


class JoinForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    """Accepting an invitation as a person who already has a user: one click."""


class LoginForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    email = StringField(_l("Email"), validators=[DataRequired(), Length(max=320)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])


class EmailForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    """The sign-in's first step (F1): the email alone, which says whether the person's company signs them in."""

    email = StringField(_l("Email"), validators=[DataRequired(), Length(max=320)])


class CodeForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    """A code from an authenticator app, or a recovery code."""

    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=64)])


class FirstLoginForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    """R8: a person created with a temporary password accepts the terms and chooses their own."""

    new_password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=1024)])
    confirm = PasswordField(_l("Repeat the new password"), validators=[DataRequired(), EqualTo(
        "new_password", message=_l("The two passwords differ."))])
    accept_terms = BooleanField(_l("I accept the terms of use"), validators=[DataRequired(
        message=_l("Accept the terms of use to continue."))])


class TermsForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    """R8 for a person whose operator set their real password: the terms only."""

    accept_terms = BooleanField(_l("I accept the terms of use"), validators=[DataRequired(
        message=_l("Accept the terms of use to continue."))])


class ForgotPasswordForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    email = StringField(_l("Email"), validators=[DataRequired(), Length(max=320)])


class ResetPasswordForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=1024)])
    confirm = PasswordField(_l("Repeat the new password"), validators=[DataRequired(), EqualTo(
        "password", message=_l("The two passwords differ."))])


class AccountChoiceForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    account = RadioField(_l("Account"), validators=[DataRequired(message=_l("Choose an account."))], choices=[])
