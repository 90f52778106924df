"""Backups: one archive of the database and the media it references, and loading it back."""

from forkable.backup.archive import ArchiveError, Manifest
from forkable.backup.restore import RestoreRefused, RestoreSummary, restore_archive
from forkable.backup.take import BackupError, BackupSummary, take_backup

__all__ = [
    "ArchiveError",
    "BackupError",
    "BackupSummary",
    "Manifest",
    "RestoreRefused",
    "RestoreSummary",
    "restore_archive",
    "take_backup",
]
