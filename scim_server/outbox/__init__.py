"""The outbox sender: delivers what the domain queued, by kind, with retries.

``transports`` says how each kind of message is delivered (mail by log, mbox
file or SMTP; back-channel logout calls); ``runner`` claims due messages,
hands each to its transport and records the outcome, once or in a loop until
SIGTERM (`roster outbox send`, which `roster serve` runs for you).
"""

from .runner import deliver_due, run
from .transports import register

__all__ = ["deliver_due", "register", "run"]
