"""The export of one user's data: a zip streamed chunk by chunk.

`account.json` holds the profile, the balance, the ledger entries, the purchases and the
generations; `photos/` and `results/` hold the files still stored. The rows are read first
(they are small); the media are then read from the store one object at a time and written
into the zip as they come, so a user with hundreds of images never has them all in memory:
zipfile writes to a sink that only counts `tell()`, and each chunk leaves as soon as it is
written. A file the store no longer has (expired, deleted, or unreachable at that moment)
is listed in `account.json` with why, never a reason to fail the whole export.
"""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import select

from forkable.account_data.erase import UnknownUser
from forkable.accounts.models import User
from forkable.db import Database
from forkable.generations.models import Generation
from forkable.ledger.book import get_balance
from forkable.ledger.models import LedgerEntry
from forkable.payments.models import Purchase
from forkable.storage import MediaStore, MissingMedia

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1


@dataclass(frozen=True)
class _File:
    generation_id: str
    kind: str  # "photo" or "result"
    key: str
    name: str  # the path inside the zip


@dataclass
class ExportPlan:
    """What one export will contain: the JSON facts and the media to fetch."""

    site_id: str
    user_id: int
    account: dict[str, Any]
    files: list[_File] = field(default_factory=list)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def plan_export(database: Database, *, site_id: str, user_id: int) -> ExportPlan:
    """Read every row of the user's data; UnknownUser for a missing or erased user."""
    with database.session() as session:
        user = session.scalar(
            select(User).where(
                User.id == user_id, User.site_id == site_id, User.deleted_at.is_(None)
            )
        )
        if user is None:
            raise UnknownUser(user_id)
        balance = get_balance(session, user.id)
        entries = list(
            session.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.site_id == site_id, LedgerEntry.user_id == user.id)
                .order_by(LedgerEntry.id)
            )
        )
        purchases = list(
            session.scalars(
                select(Purchase)
                .where(Purchase.site_id == site_id, Purchase.user_id == user.id)
                .order_by(Purchase.created_at, Purchase.id)
            )
        )
        generations = list(
            session.scalars(
                select(Generation)
                .where(Generation.site_id == site_id, Generation.user_id == user.id)
                .order_by(Generation.created_at, Generation.id)
            )
        )
    plan = ExportPlan(site_id=site_id, user_id=user.id, account={})
    plan.account = {
        "format": FORMAT_VERSION,
        "site": site_id,
        "profile": {
            "id": user.id,
            "email": user.email,
            "created_at": _iso(user.created_at),
            "email_verified_at": _iso(user.email_verified_at),
            "is_admin": user.is_admin,
        },
        "balance": {
            "balance": balance.balance,
            "held": balance.held,
            "available": balance.available,
        },
        "ledger": [
            {
                "id": entry.id,
                "created_at": _iso(entry.created_at),
                "kind": entry.kind,
                "amount": entry.amount,
                "held_delta": entry.held_delta,
                "balance_after": entry.balance_after,
                "held_after": entry.held_after,
                "ref": entry.ref,
                "reason": entry.reason,
            }
            for entry in entries
        ],
        "purchases": [
            {
                "id": purchase.id,
                "created_at": _iso(purchase.created_at),
                "paid_at": _iso(purchase.paid_at),
                "pack_id": purchase.pack_id,
                "pack_name": purchase.pack_name,
                "tokens": purchase.tokens,
                "amount_cents": purchase.amount_cents,
                "currency": purchase.currency,
                "provider": purchase.provider,
                "status": purchase.status,
            }
            for purchase in purchases
        ],
        "generations": [_generation(plan, generation) for generation in generations],
    }
    return plan


def _generation(plan: ExportPlan, generation: Generation) -> dict[str, Any]:
    """The JSON of one generation; its stored files are added to the plan's list."""
    files: dict[str, Any] = {}
    for kind, folder, key in (
        ("photo", "photos", generation.input_key),
        ("result", "results", generation.output_key),
    ):
        if key is None:
            # Never made (a failed or unfinished image has no result), deleted by the user,
            # or past the site's retention days.
            files[kind] = {"included": False, "why": _why_missing(generation, kind)}
            continue
        name = f"{folder}/{generation.id}{PurePosixPath(key).suffix}"
        plan.files.append(_File(generation.id, kind, key, name))
        files[kind] = {"included": True, "path": name}
    return {
        "id": generation.id,
        "created_at": _iso(generation.created_at),
        "finished_at": _iso(generation.finished_at),
        "deleted_at": _iso(generation.deleted_at),
        "style": generation.style,
        "status": generation.status,
        "cost": generation.cost,
        "error": generation.error,
        "files": files,
    }


def _why_missing(generation: Generation, kind: str) -> str:
    if generation.deleted_at is not None:
        return "deleted"
    if kind == "result" and generation.status != "succeeded":
        return "not made"
    return "expired"


class _Sink:
    """A write-only file for zipfile: it counts what was written and hands it over in chunks."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._written = 0

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        self._written += len(data)
        return len(data)

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        chunk = b"".join(self._chunks)
        self._chunks.clear()
        return chunk


def stream_export(store: MediaStore, plan: ExportPlan) -> Iterator[bytes]:
    """The zip of ``plan``, chunk by chunk: at most one media object is held at a time."""
    sink = _Sink()
    # No seek() on the sink: zipfile writes each entry's sizes after its data.
    archive = zipfile.ZipFile(sink, mode="w")
    by_generation = {item["id"]: item for item in plan.account["generations"]}
    for item in plan.files:
        try:
            data = store.get(item.key)
        except MissingMedia:
            _mark(by_generation, item, "expired")
            continue
        except Exception:
            # The store failed for this object: say so in account.json and go on.
            logger.exception("export: could not read %s", item.key)
            _mark(by_generation, item, "unavailable")
            continue
        # Photos and PNGs are compressed already: stored as they are, with no CPU spent.
        archive.writestr(_entry(item.name, zipfile.ZIP_STORED), data)
        del data
        yield sink.take()
    account = json.dumps(plan.account, indent=2, ensure_ascii=False).encode()
    archive.writestr(_entry("account.json", zipfile.ZIP_DEFLATED), account)
    archive.close()
    yield sink.take()


def _mark(by_generation: dict[str, dict[str, Any]], item: _File, why: str) -> None:
    by_generation[item.generation_id]["files"][item.kind] = {"included": False, "why": why}


def _entry(name: str, compression: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = compression
    info.external_attr = 0o644 << 16
    return info


def export_filename(site_id: str, day: datetime) -> str:
    return f"{site_id}-export-{day.date().isoformat()}.zip"
