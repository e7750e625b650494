"""Invitations (R2–R5): invite, bulk invite, resend, revoke, edit, accept.

``links`` makes an invitation's link (a signed token) and the mails that carry
it; ``inviting`` invites one email, many, or a directory record's; ``managing``
finds, resends, revokes and edits sent invitations; ``acceptance`` is the
link's page: look the invitation up, register and join.
"""

from .acceptance import REFUSALS, InvitationView, accept, lookup, refusal
from .inviting import CHUNK, OUTCOMES, Invitee, InviteResult, bulk_invite, invite, invite_from_directory
from .links import effective_status, invitation_url
from .managing import edit, find_invitation, link, list_invitations, resend, revoke

__all__ = [
    "CHUNK",
    "OUTCOMES",
    "REFUSALS",
    "InvitationView",
    "InviteResult",
    "Invitee",
    "accept",
    "bulk_invite",
    "edit",
    "effective_status",
    "find_invitation",
    "invitation_url",
    "invite",
    "invite_from_directory",
    "link",
    "list_invitations",
    "lookup",
    "refusal",
    "resend",
    "revoke",
]
