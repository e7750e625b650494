"""Audit events and the outbox: written in the same transaction as the change."""

from __future__ import annotations

import peewee as pw

from . import clock
from .database import BaseModel
from .fields import JSONField

OUTBOX_KINDS = ("mail", "notification", "backchannel_logout")  # notification: models.notifications


class AuditEvent(BaseModel):
    id = pw.BigAutoField()
    at = pw.DateTimeField(default=clock.now, index=True)
    actor_type = pw.CharField(max_length=20)
    actor_id = pw.CharField(max_length=64, default="")
    actor_label = pw.CharField(max_length=320, default="")
    # plain ids, not foreign keys: the trail outlives what it describes
    account_id = pw.CharField(max_length=32, null=True, index=True)
    action = pw.CharField(max_length=64, index=True)
    target_type = pw.CharField(max_length=32, default="")
    target_id = pw.CharField(max_length=64, default="")
    detail = JSONField(default=dict)
    request_id = pw.CharField(max_length=64, default="")


class OutboxMessage(BaseModel):
    id = pw.BigAutoField()
    kind = pw.CharField(max_length=32)
    recipient = pw.CharField(max_length=2048)
    subject = pw.CharField(max_length=400, default="")
    body = pw.TextField(default="")
    payload = JSONField(default=dict)
    created_at = pw.DateTimeField(default=clock.now)
    status = pw.CharField(max_length=16, default="pending")
    attempts = pw.IntegerField(default=0)
    next_attempt_at = pw.DateTimeField(default=clock.now)
    # a sender claims a message by writing its name and a lease; an expired
    # lease (the sender died) makes the message claimable again
    claimed_by = pw.CharField(max_length=128, null=True)
    lease_until = pw.DateTimeField(null=True)
    last_error = pw.TextField(null=True)
    sent_at = pw.DateTimeField(null=True)

    class Meta:
        indexes = ((("status", "next_attempt_at"), False),)


TABLES = [AuditEvent, OutboxMessage]
