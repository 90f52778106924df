"""Every model, imported in one place so the metadata is complete (Alembic, tests)."""

from forkable.accounts.models import AccountToken, ApiKey, User, UserSession
from forkable.admin.models import AuditEntry
from forkable.db.base import Base, SiteRow
from forkable.generations.models import Generation
from forkable.ledger.models import LedgerEntry, TokenAccount
from forkable.mail.models import OutboxMail
from forkable.monitoring.models import AlertState
from forkable.payments.models import Purchase, StripeEvent
from forkable.storage.database import MediaObject

__all__ = [
    "AccountToken",
    "AlertState",
    "ApiKey",
    "AuditEntry",
    "Base",
    "Generation",
    "LedgerEntry",
    "MediaObject",
    "OutboxMail",
    "Purchase",
    "SiteRow",
    "StripeEvent",
    "TokenAccount",
    "User",
    "UserSession",
]
