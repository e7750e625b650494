"""Server-side forms: validation with field errors, CSRF tokens on every one (Flask-WTF)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


class RegistrationForm(FlaskForm):
    """Accepting an invitation as a new person (R2): name, password, terms."""

    given_name = StringField("First name", validators=[DataRequired(), Length(max=200)])
    family_name = StringField("Last name", validators=[DataRequired(), Length(max=200)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    confirm = PasswordField("Repeat the password", validators=[DataRequired(), EqualTo("password",
                            message="The two passwords differ.")])
    accept_terms = BooleanField("I accept the terms of use", validators=[DataRequired(
        message="Accept the terms of use to register.")])


class JoinForm(FlaskForm):
    """Accepting an invitation as a person who already has a user: one click."""
