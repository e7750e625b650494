"""The admin console's forms: server-side validation, CSRF on every one that changes something."""

from __future__ import annotations

from collections.abc import Iterable

from flask_babel import lazy_gettext as _l
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

from models import console_queries
from models.tenancy import Account


def choices(pairs: Iterable[tuple[str, str]]) -> list[SelectChoice]:
    """(value, label) pairs as the choices of a select, radio or checkbox field."""
    return [SelectChoice(value, label) for value, label in pairs]


def sub_account_choices(account: Account) -> list[SelectChoice]:
    """The sub-accounts a membership's access can be limited to (R7): none for an account without any,
    whose forms then show no scope field, there being nothing to choose."""
    return choices((a.id, a.name) for a in console_queries.sub_accounts(account))


ROLE_CHOICES = [("user", _l("User")), ("admin", _l("Admin"))]
PRESET_CHOICES = [("basics", _l("Basics")), ("support", _l("Support")), ("purchasing", _l("Purchasing")),
                  ("all", _l("All"))]
# the modules the user role may be given one by one (admins have every module), in the order of
# models.permissions.MODULES (a test keeps them in step); spelled out so they can be translated
MODULE_CHOICES = [("dashboard", _l("Dashboard")), ("products", _l("Products")), ("orders", _l("Orders")),
                  ("subscriptions", _l("Subscriptions")), ("billing", _l("Billing")), ("reports", _l("Reports")),
                  ("support", _l("Support"))]
SCOPE_LABEL = _l("Sub-accounts (none chosen: all of them)")
NAME = [DataRequired(message=_l("This field is required.")), Length(max=200)]
EMAIL = [DataRequired(message=_l("An email address is required.")), Length(max=320),
         Email(message=_l("Enter a valid email address."), check_deliverability=False)]


class AccessForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    """What every way in asks, in one order: role, privileges, sub-account scope, groups."""

    role = SelectField(_l("Role"), choices=choices(ROLE_CHOICES), default="user")
    preset = SelectField(_l("Privileges"), choices=choices(PRESET_CHOICES), default="basics")
    sub_accounts = SelectMultipleField(SCOPE_LABEL, choices=[])
    groups = SelectMultipleField(_l("Groups"), choices=[])


class WizardForm(AccessForm):
    """Add user: General (name, email, role) → Groups → Summary; what was entered travels in the form."""

    step = HiddenField(default="general")
    given_name = StringField(_l("First name"), validators=NAME)
    family_name = StringField(_l("Last name"), validators=NAME)
    email = StringField(_l("Email (the person's login)"), validators=EMAIL)

    GENERAL = ("given_name", "family_name", "email", "role", "preset", "sub_accounts")


class BulkInviteForm(AccessForm):
    """R5: many emails, one role, groups, preset and sub-account scope."""

    emails = TextAreaField(_l("Email addresses (one per line, or separated by commas)"),
                           validators=[DataRequired(message=_l("Enter at least one email address.")),
                                       Length(max=200_000)])

    def email_list(self) -> list[str]:
        raw = (self.emails.data or "").replace(",", "\n").replace(";", "\n").split()
        return [e for e in (r.strip() for r in raw) if e]


class CreateUserForm(AccessForm):
    """R8: a member with a temporary password, mailed to them, changed at the first sign-in."""

    given_name = StringField(_l("First name"), validators=NAME)
    family_name = StringField(_l("Last name"), validators=NAME)
    email = StringField(_l("Email (the person's login)"), validators=EMAIL)


class MemberForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    """A member's role, privileges (a preset, or modules ticked one by one), sub-account scope and groups."""

    role = SelectField(_l("Role"), choices=choices(ROLE_CHOICES))
    preset = SelectField(_l("Privileges"), choices=choices([("", _l("The modules ticked below")), *PRESET_CHOICES]),
                         default="")
    modules = SelectMultipleField(_l("Modules of the user role"), choices=choices(MODULE_CHOICES))
    sub_accounts = SelectMultipleField(SCOPE_LABEL, choices=[])
    groups = SelectMultipleField(_l("Groups"), choices=[])

    ACCESS = ("role", "preset", "modules", "sub_accounts")


class InvitationForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    """R4: a pending invitation's email and name, and the invited membership's role, privileges and groups."""

    email = StringField(_l("Email"), validators=EMAIL)
    given_name = StringField(_l("First name"), validators=[Length(max=200)])
    family_name = StringField(_l("Last name"), validators=[Length(max=200)])
    send_new_link = BooleanField(_l("If the email changes, send a new link to the new address (the old link "
                                 "stops working)"), default=True)
    role = SelectField(_l("Role"), choices=choices(ROLE_CHOICES))
    preset = SelectField(_l("Privileges"), choices=choices([("", _l("Keep the current ones")), *PRESET_CHOICES]),
                         default="")
    sub_accounts = SelectMultipleField(SCOPE_LABEL, choices=[])
    groups = SelectMultipleField(_l("Groups"), choices=[])


class GroupForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    display_name = StringField(_l("Group name"), validators=[DataRequired(message=_l("A group name is required.")),
                                                        Length(max=256)])


class GroupMemberForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    email = StringField(_l("Member's email"), validators=EMAIL)


class PolicyForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    mfa_required = BooleanField(_l("Require a second factor (authenticator app or security key) to enter this account"))
    invitation_ttl_days = IntegerField(_l("Invitation validity (days)"), validators=[
        InputRequired(message=_l("Enter a number of days.")),
        NumberRange(min=1, max=90, message=_l("Enter a whole number of days from 1 to 90."))])
    allowed_email_domains = StringField(_l("Allowed email domains (separated by spaces or commas; empty: any)"),
                                        validators=[Length(max=4000)])

    def domains(self) -> list[str]:
        return [d for d in (self.allowed_email_domains.data or "").replace(",", " ").split() if d]


class TokenForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    description = StringField(_l("Description (e.g. Okta, Entra ID)"), validators=[Length(max=200)])


class ClientForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    name = StringField(_l("Application name"), validators=[DataRequired(message=_l("A name is required.")),
                                                      Length(max=200)])
    redirect_uris = TextAreaField(_l("Redirect URIs (one per line)"),
                                  validators=[DataRequired(message=_l("At least one redirect URI is required."))])
    kind = RadioField(_l("Client type"), choices=choices([
        ("confidential", _l("Confidential (a server; gets a secret)")),
        ("public", _l("Public (a browser or mobile app; uses PKCE)"))]),
                      default="confidential")
    backchannel_logout_uri = StringField(_l("Back-channel logout URI (optional)"), validators=[Optional(),
                                                                                         Length(max=2048)])

    def uris(self) -> list[str]:
        return [u.strip() for u in (self.redirect_uris.data or "").split() if u.strip()]


class ClientEditForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    """An application's name and addresses after creation; its type and secret have their own actions."""

    name = StringField(_l("Application name"), validators=[DataRequired(message=_l("A name is required.")),
                                                      Length(max=200)])
    redirect_uris = TextAreaField(_l("Redirect URIs (one per line)"),
                                  validators=[DataRequired(message=_l("At least one redirect URI is required."))])
    post_logout_redirect_uris = TextAreaField(_l("Post-logout redirect URIs (one per line, optional)"))
    backchannel_logout_uri = StringField(_l("Back-channel logout URI (optional)"), validators=[Optional(),
                                                                                         Length(max=2048)])

    @staticmethod
    def lines(text: str | None) -> list[str]:
        return [u.strip() for u in (text or "").split() if u.strip()]


class AuditFilterForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    """A GET form: it changes nothing, so it needs no CSRF token."""

    class Meta:
        csrf = False

    actor = StringField(_l("Actor (email or id)"), validators=[Optional(), Length(max=320)])
    action = SelectField(_l("Action"), choices=[], validators=[Optional()])
    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("To (inclusive)"), validators=[Optional()])
