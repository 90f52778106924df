"""Noticing new, changed and removed site folders while a multi-site server runs.

A fork into the folder of a running server goes live without a restart. Polling (not inotify)
because it works the same on every file system, container and OS, and a folder of sites is
small: a scan is a few `stat` calls per site.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from forkable.manifest import ManifestError, SiteSource, load_site, site_folders
from forkable.manifest.loader import Catalog, duplicate_problems
from forkable.sites import Site, SiteRegistry

logger = logging.getLogger(__name__)

Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(folder: Path) -> Fingerprint:
    """Names, sizes and modification times of a site's manifest and assets."""
    entries: list[tuple[str, int, int]] = []
    for path in sorted([folder / "site.toml", *folder.glob("assets/**/*")]):
        try:
            stat = path.stat()
        except OSError:
            continue
        if path.is_file():
            entries.append((str(path.relative_to(folder)), stat.st_size, stat.st_mtime_ns))
    return tuple(entries)


@dataclass
class ScanResult:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    broken: dict[str, str] = field(default_factory=dict)  # folder -> first problem

    @property
    def anything(self) -> bool:
        return bool(self.added or self.changed or self.removed)


class SiteWatcher:
    """Rescans ``root`` and swaps the registry's sites when folders change.

    A folder whose manifest is broken is reported and skipped: the other sites keep serving,
    and a site that was already live keeps its last good version.
    """

    def __init__(
        self,
        root: Path,
        registry: SiteRegistry,
        catalog: Catalog,
        *,
        on_change: Callable[[list[Site]], None] | None = None,
        interval: float = 1.0,
    ) -> None:
        self.root = root
        self.registry = registry
        self.catalog = catalog
        self.on_change = on_change
        self.interval = interval
        self._prints: dict[Path, Fingerprint] = {}
        self._sources: dict[Path, SiteSource] = {}
        self._reported: dict[Path, Fingerprint] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        for site in registry:
            self._sources[site.folder] = _source_of(site)
            self._prints[site.folder] = fingerprint(site.folder)

    def scan(self) -> ScanResult:
        """One pass: load what changed, then swap the registry if anything did."""
        result = ScanResult()
        folders = set(site_folders(self.root)) if self.root.is_dir() else set()
        folders = {folder.resolve() for folder in folders}
        for folder in list(self._sources):
            if folder not in folders:
                del self._sources[folder]
                self._prints.pop(folder, None)
                result.removed.append(folder.name)
        for folder in sorted(folders):
            current = fingerprint(folder)
            if self._prints.get(folder) == current:
                continue
            self._prints[folder] = current
            try:
                source = load_site(folder, self.catalog)
            except ManifestError as exc:
                result.broken[folder.name] = str(exc.problems[0])
                self._report(folder, current, exc)
                continue
            (result.changed if folder in self._sources else result.added).append(folder.name)
            self._sources[folder] = source
        if result.anything:
            self._apply(result)
        return result

    def _apply(self, result: ScanResult) -> None:
        live = {site.folder for site in self.registry}
        # Live sites first: on an id or domain clash, the newcomer is the one refused.
        sources = sorted(
            self._sources.values(), key=lambda s: (s.folder not in live, str(s.folder))
        )
        clashes = duplicate_problems(sources)
        if clashes:
            # Keep serving what we had; the newcomer is looked at again once its folder changes.
            for problem in clashes:
                logger.error("site folder refused: %s", problem)
                self._sources = {
                    folder: src
                    for folder, src in self._sources.items()
                    if src.manifest_path != problem.file
                }
            sources = sorted(self._sources.values(), key=lambda s: str(s.folder))
        sites = [Site.from_source(source) for source in sources]
        self.registry.replace(sites)
        if self.on_change is not None:
            self.on_change(sites)
        logger.info(
            "sites reloaded: added %s, changed %s, removed %s",
            result.added or "-",
            result.changed or "-",
            result.removed or "-",
        )

    def _report(self, folder: Path, current: Fingerprint, exc: ManifestError) -> None:
        if self._reported.get(folder) == current:
            return
        self._reported[folder] = current
        for problem in exc.problems:
            logger.error("site folder %s not loaded: %s", folder.name, problem)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="forkable-sites", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.scan()
            except Exception:
                logger.exception("scanning site folders failed")


def _source_of(site: Site) -> SiteSource:
    from forkable.manifest.locate import LineIndex

    text = (site.folder / "site.toml").read_text(encoding="utf-8")
    return SiteSource(folder=site.folder, manifest=site.manifest, line_index=LineIndex(text))
