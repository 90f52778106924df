"""The archive format: one `.tar.gz` with a manifest that lists every member's SHA-256.

Layout::

    manifest.json           format, forkable version, schema revision, engine, created time,
                            every member (path, size, sha256, content type) and missing media
    database/forkable.sqlite3   SQLite: a copy made with the online backup API
    database/forkable.pgdump    PostgreSQL: `pg_dump --format=custom`
    media/<key>             every media object a generation row references

The manifest is the first member, so a reader learns what to expect before the bytes come.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "forkable-backup/1"
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database/forkable.sqlite3"
POSTGRES_MEMBER = "database/forkable.pgdump"


class ArchiveError(Exception):
    """The archive is unreadable, truncated or altered; the message is one line."""


@dataclass(frozen=True)
class Member:
    path: str
    size: int
    sha256: str
    content_type: str | None = None


@dataclass(frozen=True)
class MissingObject:
    """A key the dumped rows name whose object was gone from the store when copied."""

    key: str
    reason: str


@dataclass
class Manifest:
    forkable_version: str
    revision: str | None
    engine: str
    created_at: str
    media_store: str
    members: list[Member] = field(default_factory=list)
    missing: list[MissingObject] = field(default_factory=list)
    format: str = FORMAT

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        try:
            data: dict[str, Any] = json.loads(raw)
            if data.get("format") != FORMAT:
                raise ArchiveError(f"not a forkable backup (format {data.get('format')!r})")
            return cls(
                forkable_version=str(data["forkable_version"]),
                revision=data["revision"],
                engine=str(data["engine"]),
                created_at=str(data["created_at"]),
                media_store=str(data["media_store"]),
                members=[Member(**member) for member in data["members"]],
                missing=[MissingObject(**missing) for missing in data["missing"]],
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ArchiveError(f"the manifest is not valid: {exc}") from None

    @property
    def database_member(self) -> str:
        return SQLITE_MEMBER if self.engine == "sqlite" else POSTGRES_MEMBER

    @property
    def media_members(self) -> list[Member]:
        return [member for member in self.members if member.path.startswith("media/")]

    @property
    def total_bytes(self) -> int:
        return sum(member.size for member in self.members)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def read_verified(path: Path, into: Path) -> Manifest:
    """Unpack ``path`` into the folder ``into`` and check every member against the manifest.

    Raises ArchiveError on a truncated or altered archive, an unexpected or absent member,
    or a member whose size or SHA-256 differs; callers load nothing until this returns.
    """
    try:
        with tarfile.open(path, "r:gz") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST:
                raise ArchiveError(f"{path}: no {MANIFEST} at the start; not a forkable backup")
            handle = tar.extractfile(first)
            if handle is None:
                raise ArchiveError(f"{path}: {MANIFEST} is not a file")
            manifest = Manifest.from_json(handle.read())
            expected = {member.path: member for member in manifest.members}
            seen: set[str] = set()
            for info in tar:
                if info is first:
                    continue  # iterating a TarFile starts again from its first member
                if not info.isfile():
                    raise ArchiveError(f"{path}: unexpected member {info.name!r}")
                member = expected.get(info.name)
                if member is None or info.name in seen:
                    raise ArchiveError(f"{path}: member {info.name!r} is not in the manifest")
                seen.add(info.name)
                # The name is checked against the manifest, and every manifest path was made by
                # us from a checked media key, so it cannot leave ``into``.
                tar.extract(info, into, filter="data")
                unpacked = into / info.name
                if unpacked.stat().st_size != member.size or sha256_of(unpacked) != member.sha256:
                    raise ArchiveError(f"{path}: member {info.name!r} does not match its checksum")
    except (tarfile.TarError, EOFError, OSError, UnicodeDecodeError) as exc:
        raise ArchiveError(f"{path}: cannot read the archive ({_one_line(exc)})") from None
    absent = sorted(set(expected) - seen)
    if absent:
        raise ArchiveError(f"{path}: {len(absent)} member(s) missing, first {absent[0]!r}")
    if manifest.database_member not in seen:
        raise ArchiveError(f"{path}: the archive holds no database")
    return manifest


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())
