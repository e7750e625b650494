"""The admin console's forms: server-side validation, CSRF on every one that changes something."""

from __future__ import annotations

from collections.abc import Iterable

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, Optional


def choices(pairs: Iterable[tuple[str, str]]) -> list[SelectChoice]:
    """(value, label) pairs as the choices of a select, radio or checkbox field."""
    return [SelectChoice(value, label) for value, label in pairs]


ROLE_CHOICES = [("user", "User"), ("admin", "Admin")]
PRESET_CHOICES = [("basics", "Basics"), ("support", "Support"), ("purchasing", "Purchasing"), ("all", "All")]
NAME = [DataRequired(message="This field is required."), Length(max=200)]
EMAIL = [DataRequired(message="An email address is required."), Length(max=320),
         Email(message="Enter a valid email address.", check_deliverability=False)]


class WizardForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    """Add user: General (name, email, role) → Groups → Summary; what was entered travels in the form."""

    step = HiddenField(default="general")
    given_name = StringField("First name", validators=NAME)
    family_name = StringField("Last name", validators=NAME)
    email = StringField("Email (the person's login)", validators=EMAIL)
    role = SelectField("Role", choices=choices(ROLE_CHOICES), default="user")
    preset = SelectField("Privileges", choices=choices(PRESET_CHOICES), default="basics")
    groups = SelectMultipleField("Groups", choices=[])

    GENERAL = ("given_name", "family_name", "email", "role", "preset")


class BulkInviteForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    """R5: many emails, one role, groups, preset and sub-account scope."""

    emails = TextAreaField("Email addresses (one per line, or separated by commas)",
                           validators=[DataRequired(message="Enter at least one email address."),
                                       Length(max=200_000)])
    role = SelectField("Role", choices=choices(ROLE_CHOICES), default="user")
    preset = SelectField("Privileges", choices=choices(PRESET_CHOICES), default="basics")
    groups = SelectMultipleField("Groups", choices=[])
    sub_accounts = SelectMultipleField("Sub-accounts (none chosen: all of them)", choices=[])

    def email_list(self) -> list[str]:
        raw = (self.emails.data or "").replace(",", "\n").replace(";", "\n").split()
        return [e for e in (r.strip() for r in raw) if e]


class CreateUserForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    """R8: a member with a temporary password, mailed to them, changed at the first sign-in."""

    given_name = StringField("First name", validators=NAME)
    family_name = StringField("Last name", validators=NAME)
    email = StringField("Email (the person's login)", validators=EMAIL)
    role = SelectField("Role", choices=choices(ROLE_CHOICES), default="user")
    preset = SelectField("Privileges", choices=choices(PRESET_CHOICES), default="basics")
    groups = SelectMultipleField("Groups", choices=[])


class MemberForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    """A member's role, privileges and groups."""

    role = SelectField("Role", choices=choices(ROLE_CHOICES))
    preset = SelectField("Privileges", choices=choices([("", "Keep the current ones"), *PRESET_CHOICES]), default="")
    groups = SelectMultipleField("Groups", choices=[])


class InvitationForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    """R4: a pending invitation's email and name, and the invited membership's role, privileges and groups."""

    email = StringField("Email", validators=EMAIL)
    given_name = StringField("First name", validators=[Length(max=200)])
    family_name = StringField("Last name", validators=[Length(max=200)])
    send_new_link = BooleanField("If the email changes, send a new link to the new address (the old link "
                                 "stops working)", default=True)
    role = SelectField("Role", choices=choices(ROLE_CHOICES))
    preset = SelectField("Privileges", choices=choices([("", "Keep the current ones"), *PRESET_CHOICES]), default="")
    groups = SelectMultipleField("Groups", choices=[])


class GroupForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    display_name = StringField("Group name", validators=[DataRequired(message="A group name is required."),
                                                        Length(max=256)])


class GroupMemberForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    email = StringField("Member's email", validators=EMAIL)


class PolicyForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    mfa_required = BooleanField("Require a second factor (authenticator app or security key) to enter this account")
    invitation_ttl_days = IntegerField("Invitation validity (days)", validators=[
        InputRequired(message="Enter a number of days."),
        NumberRange(min=1, max=90, message="Enter a whole number of days from 1 to 90.")])
    allowed_email_domains = StringField("Allowed email domains (separated by spaces or commas; empty: any)",
                                        validators=[Length(max=4000)])

    def domains(self) -> list[str]:
        return [d for d in (self.allowed_email_domains.data or "").replace(",", " ").split() if d]


class TokenForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    description = StringField("Description (e.g. Okta, Entra ID)", validators=[Length(max=200)])


class ClientForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    name = StringField("Application name", validators=[DataRequired(message="A name is required."),
                                                      Length(max=200)])
    redirect_uris = TextAreaField("Redirect URIs (one per line)",
                                  validators=[DataRequired(message="At least one redirect URI is required.")])
    kind = RadioField("Client type", choices=choices([("confidential", "Confidential (a server; gets a secret)"),
                                                      ("public", "Public (a browser or mobile app; uses PKCE)")]),
                      default="confidential")
    backchannel_logout_uri = StringField("Back-channel logout URI (optional)", validators=[Optional(),
                                                                                         Length(max=2048)])

    def uris(self) -> list[str]:
        return [u.strip() for u in (self.redirect_uris.data or "").split() if u.strip()]


class ClientEditForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    """An application's name and addresses after creation; its type and secret have their own actions."""

    name = StringField("Application name", validators=[DataRequired(message="A name is required."),
                                                      Length(max=200)])
    redirect_uris = TextAreaField("Redirect URIs (one per line)",
                                  validators=[DataRequired(message="At least one redirect URI is required.")])
    post_logout_redirect_uris = TextAreaField("Post-logout redirect URIs (one per line, optional)")
    backchannel_logout_uri = StringField("Back-channel logout URI (optional)", validators=[Optional(),
                                                                                         Length(max=2048)])

    @staticmethod
    def lines(text: str | None) -> list[str]:
        return [u.strip() for u in (text or "").split() if u.strip()]


class AuditFilterForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    """A GET form: it changes nothing, so it needs no CSRF token."""

    class Meta:
        csrf = False

    actor = StringField("Actor (email or id)", validators=[Optional(), Length(max=320)])
    action = SelectField("Action", choices=[], validators=[Optional()])
    since = DateField("From", validators=[Optional()])
    until = DateField("To (inclusive)", validators=[Optional()])
