"""The audit log's table, named here as its migration defines it.

The audit model lives in `forkable.admin`, a layer above this one; an erasure writes its own
audit row and scrubs the user's from the same transaction, so it names the table in Core.
"""

from __future__ import annotations

from sqlalchemy import column, table

audit_log = table(
    "audit_log",
    column("id"),
    column("site_id"),
    column("actor_user_id"),
    column("actor"),
    column("action"),
    column("target_type"),
    column("target_id"),
    column("details"),
    column("ip"),
    column("created_at"),
)
