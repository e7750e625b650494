"""The console's forms for single sign-on connections (DESIGN.md §7): add (OIDC, SAML) and edit.

Server-side validation is only about shape (lengths, required fields); the
rules (URLs, metadata, mapping, groups) are models.connections', whose
refusals :func:`show_refusal` puts next to the field they name.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length

from models.connections import MAPPED, OIDC_CLAIMS, SAML_ATTRIBUTES, Connection
from models.errors import RosterError

from .console_forms import ROLE_CHOICES, choices
from .i18n import translated

REQUIRED = _l("This field is required.")
# the domain's field names that are not the form's
_FIELDS = {"scope": "scopes", "groups": "default_groups", "metadata": "metadata_xml", "claim_mapping": None}
MAPPING_LABELS = {"subject": _l("Subject (the person's lasting id)"), "email": _l("Email"),
                  "given_name": _l("First name"), "family_name": _l("Last name"), "groups": _l("Groups")}


def show_refusal(form: FlaskForm, error: RosterError) -> None:
    """The domain's refusal next to the field it names (above the form for the mapping, which has five)."""
    name = _FIELDS.get(error.field or "", error.field)
    target = getattr(form, name, None) if name else None
    message = translated(error.message)
    if target is None or not hasattr(target, "errors"):
        form.form_errors.append(message)
    else:
        target.errors = [*target.errors, message]


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").replace(",", "\n").split() if line.strip()]


class OidcNewForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    name = StringField(_l("Name (shown to your admins; default: the IdP's host name)"), validators=[Length(max=200)])
    issuer = StringField(_l("Issuer URL"), validators=[DataRequired(message=REQUIRED), Length(max=2048)])
    client_id = StringField(_l("Client ID"), validators=[DataRequired(message=REQUIRED), Length(max=512)])
    client_secret = PasswordField(_l("Client secret"), validators=[DataRequired(message=REQUIRED),
                                                                   Length(max=4096)])


class SamlNewForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    name = StringField(_l("Name (shown to your admins; default: the IdP's host name)"), validators=[Length(max=200)])
    metadata_xml = TextAreaField(_l("IdP metadata XML (paste it here, or give its URL below)"),
                                 validators=[Length(max=1_000_000)])
    metadata_url = StringField(_l("IdP metadata URL"), validators=[Length(max=2048)])


class ConnectionForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    """What both kinds share: the name, the mapping and the account's policy for the connection."""

    name = StringField(_l("Name"), validators=[Length(max=200)])
    enabled = BooleanField(_l("Enabled: send the account's people to this IdP"))
    sso_required = BooleanField(_l("SSO required: members in the account's verified domains cannot use a password "
                                   "for this account"))
    jit = BooleanField(_l("Just-in-time membership: add a person the IdP vouches for at their first sign-in"))
    default_role = SelectField(_l("Role given at the first sign-in"), choices=choices(ROLE_CHOICES), default="user")
    default_groups = SelectMultipleField(_l("Groups given at the first sign-in"), choices=[])
    trust_upstream_mfa = BooleanField(_l("Trust the IdP's second factor for this account's MFA policy"))
    claim_subject = StringField(MAPPING_LABELS["subject"], validators=[Length(max=256)])
    claim_email = StringField(MAPPING_LABELS["email"], validators=[Length(max=256)])
    claim_given_name = StringField(MAPPING_LABELS["given_name"], validators=[Length(max=256)])
    claim_family_name = StringField(MAPPING_LABELS["family_name"], validators=[Length(max=256)])
    claim_groups = StringField(MAPPING_LABELS["groups"], validators=[Length(max=256)])
    # "1" once the admin has read the SSO-required warning and confirms
    confirmed = HiddenField()

    POLICY = ("enabled", "sso_required", "jit", "default_role", "default_groups", "trust_upstream_mfa")

    def mapping(self) -> dict[str, str]:
        return {key: (getattr(self, f"claim_{key}").data or "").strip() for key in MAPPED}

    def policy(self) -> dict[str, Any]:
        return {name: getattr(self, name).data for name in self.POLICY}

    def mapping_fields(self) -> list[Any]:
        return [getattr(self, f"claim_{key}") for key in MAPPED]


class OidcForm(ConnectionForm):
    issuer = StringField(_l("Issuer URL"), validators=[DataRequired(message=REQUIRED), Length(max=2048)])
    client_id = StringField(_l("Client ID"), validators=[DataRequired(message=REQUIRED), Length(max=512)])
    client_secret = PasswordField(_l("Client secret (leave it empty to keep the current one)"),
                                  validators=[Length(max=4096)])
    scopes = StringField(_l("Scopes (separated by spaces; openid is always asked)"), validators=[Length(max=2000)])

    def changes(self) -> dict[str, Any]:
        return {"name": self.name.data or "", "issuer": self.issuer.data or "", "client_id": self.client_id.data or "",
                "client_secret": self.client_secret.data or "", "scopes": _lines(self.scopes.data),
                "claim_mapping": self.mapping(), **self.policy()}


class SamlForm(ConnectionForm):
    metadata_xml = TextAreaField(_l("New IdP metadata XML (leave it empty to keep the current one)"),
                                 validators=[Length(max=1_000_000)])
    metadata_url = StringField(_l("IdP metadata URL (optional)"), validators=[Length(max=2048)])
    refetch = BooleanField(_l("Fetch the metadata from this URL again when saving"))
    mfa_contexts = TextAreaField(_l("AuthnContextClassRefs that count as a second factor (one per line)"),
                                 validators=[Length(max=4000)])

    def changes(self) -> dict[str, Any]:
        return {"name": self.name.data or "", "metadata_url": (self.metadata_url.data or "").strip(),
                "mfa_contexts": _lines(self.mfa_contexts.data), "claim_mapping": self.mapping(), **self.policy()}


def edit_form(connection: Connection, group_choices: list[tuple[str, str]], formdata: Any = None) -> ConnectionForm:
    """The edit form of ``connection``: as posted when ``formdata`` is given, else filled from the connection."""
    kind = OidcForm if connection.kind == "oidc" else SamlForm
    if formdata is not None:
        form = kind(formdata=formdata)
    else:
        mapping = dict(connection.claim_mapping or {})
        values: dict[str, Any] = {f"claim_{key}": mapping.get(key, "") for key in MAPPED}
        values |= {"name": connection.name, "enabled": connection.enabled, "sso_required": connection.sso_required,
                   "jit": connection.jit, "default_role": connection.default_role,
                   "default_groups": list(connection.default_groups or []),
                   "trust_upstream_mfa": connection.trust_upstream_mfa}
        if connection.kind == "oidc":
            values |= {"issuer": connection.issuer, "client_id": connection.client_id,
                       "scopes": " ".join(connection.scopes or [])}
        else:
            values |= {"metadata_url": connection.idp_metadata_url,
                       "mfa_contexts": "\n".join(connection.mfa_contexts or [])}
        form = kind(formdata=None, **values)
    form.default_groups.choices = choices(group_choices)
    return form


def mapping_default(connection: Connection, key: str) -> str:
    """What Roster reads when the mapping field is left empty: the placeholder of the field."""
    if connection.kind == "oidc":
        return OIDC_CLAIMS[key]
    return "NameID" if key == "subject" else ", ".join(SAML_ATTRIBUTES.get(key, ())[:2])
