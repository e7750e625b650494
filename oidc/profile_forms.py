"""Forms of the profile pages; every one carries a CSRF token (Flask-WTF)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from models import profile


class GeneralForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    given_name = StringField(_l("First name"), validators=[DataRequired(message=_l("Enter your first name.")),
                                                           Length(max=profile.NAME_MAX)])
    family_name = StringField(_l("Last name"), validators=[Length(max=profile.NAME_MAX)])
    display_name = StringField(_l("Display name (optional)"), validators=[Length(max=profile.NAME_MAX)])
    timezone = SelectField(_l("Time zone"))
    date_format = SelectField(
        _l("Date format"), choices=[SelectChoice(v, text) for v, text in profile.DATE_FORMATS.items()])
    # each language by its own name, as every site's language list shows it
    locale = SelectField(_l("Language"), choices=[SelectChoice(v, label) for v, label in profile.LOCALES.items()])
    news_opt_in = BooleanField(_l("Send me product news"))
    notify_security = BooleanField(_l(profile.EMAIL_NOTIFICATIONS["security"]))
    notify_memberships = BooleanField(_l(profile.EMAIL_NOTIFICATIONS["memberships"]))
    notify_invitations = BooleanField(_l(profile.EMAIL_NOTIFICATIONS["invitations"]))

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        # grouped by region, so a long list stays easy to scan (and to type into)
        self.timezone.choices = [SelectChoice(name, name.replace("_", " "), optgroup=name.split("/", 1)[0]
                                              if "/" in name else None) for name in profile.timezones()]

    def notifications(self) -> dict[str, bool]:
        return {kind: bool(getattr(self, f"notify_{kind}").data) for kind in profile.EMAIL_NOTIFICATIONS}


class PasswordForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    current_password = PasswordField(_l("Current password"), validators=[DataRequired(
        message=_l("Enter your current password.")), Length(max=1024)])
    new_password = PasswordField(_l("New password"), validators=[DataRequired(message=_l("Enter a new password.")),
                                                                 Length(max=1024)])
    confirm = PasswordField(_l("Repeat the new password"), validators=[DataRequired(
        message=_l("Repeat the new password.")), EqualTo("new_password", message=_l("The two passwords differ."))])


class TotpConfirmForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    code = StringField(_l("Code from the app"), validators=[DataRequired(message=_l("Enter the 6-digit code.")),
                                                             Length(max=16)])


class NicknameForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    nickname = StringField(_l("Name"), validators=[DataRequired(message=_l("Give the key a name.")),
                                                   Length(max=100)])


class ConfirmForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    """A button that changes something: the token is all it carries."""


class DeleteUserForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    password = PasswordField(_l("Your password"), validators=[DataRequired(message=_l("Enter your password.")),
                                                              Length(max=1024)])
    confirm = BooleanField(_l("I understand that my user, my access to every account and my history are deleted "
                              "for good"), validators=[DataRequired(message=_l("Tick the box to confirm."))])
