"""Forms of the profile pages; every one carries a CSRF token (Flask-WTF)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from models import profile


class GeneralForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    given_name = StringField("First name", validators=[DataRequired(message="Enter your first name."),
                                                       Length(max=profile.NAME_MAX)])
    family_name = StringField("Last name", validators=[Length(max=profile.NAME_MAX)])
    display_name = StringField("Display name (optional)", validators=[Length(max=profile.NAME_MAX)])
    timezone = SelectField("Time zone")
    date_format = SelectField(
        "Date format", choices=[SelectChoice(v, text) for v, text in profile.DATE_FORMATS.items()])
    locale = SelectField("Language", choices=[SelectChoice(v, label) for v, label in profile.LOCALES.items()])
    news_opt_in = BooleanField("Send me product news")
    notify_security = BooleanField(profile.EMAIL_NOTIFICATIONS["security"])
    notify_memberships = BooleanField(profile.EMAIL_NOTIFICATIONS["memberships"])
    notify_invitations = BooleanField(profile.EMAIL_NOTIFICATIONS["invitations"])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        # grouped by region, so a long list stays easy to scan (and to type into)
        self.timezone.choices = [SelectChoice(name, name.replace("_", " "), optgroup=name.split("/", 1)[0]
                                              if "/" in name else None) for name in profile.timezones()]

    def notifications(self) -> dict[str, bool]:
        return {kind: bool(getattr(self, f"notify_{kind}").data) for kind in profile.EMAIL_NOTIFICATIONS}


class PasswordForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    current_password = PasswordField("Current password", validators=[DataRequired(
        message="Enter your current password."), Length(max=1024)])
    new_password = PasswordField("New password", validators=[DataRequired(message="Enter a new password."),
                                                             Length(max=1024)])
    confirm = PasswordField("Repeat the new password", validators=[DataRequired(
        message="Repeat the new password."), EqualTo("new_password", message="The two passwords differ.")])


class TotpConfirmForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    code = StringField("Code from the app", validators=[DataRequired(message="Enter the 6-digit code."),
                                                         Length(max=16)])


class NicknameForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    nickname = StringField("Name", validators=[DataRequired(message="Give the key a name."), Length(max=100)])


class ConfirmForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    """A button that changes something: the token is all it carries."""


class DeleteUserForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    password = PasswordField("Your password", validators=[DataRequired(message="Enter your password."),
                                                          Length(max=1024)])
    confirm = BooleanField("I understand that my user, my access to every account and my history are deleted "
                           "for good", validators=[DataRequired(message="Tick the box to confirm.")])
