"""The sites a process serves, and which one a request's Host header names."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from forkable.manifest import Manifest, SiteSource

ASSETS_DIR = "assets"
EXAMPLES_DIR = "examples"
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


@dataclass(frozen=True)
class Example:
    """A before/after pair shown on the landing page."""

    name: str
    before: str  # path relative to the site's assets folder
    after: str


@dataclass(frozen=True)
class Site:
    """A site being served: its manifest, its folder, and what was derived from them."""

    manifest: Manifest
    folder: Path
    examples: tuple[Example, ...] = field(default=())

    @property
    def id(self) -> str:
        return self.manifest.site.id

    @property
    def assets_folder(self) -> Path:
        return self.folder / ASSETS_DIR

    @classmethod
    def from_source(cls, source: SiteSource) -> Site:
        return cls(
            manifest=source.manifest,
            folder=source.folder,
            examples=tuple(find_examples(source.folder / ASSETS_DIR / EXAMPLES_DIR)),
        )

    def asset_path(self, relative: str) -> str:
        """A manifest path like ``assets/logo.svg`` as a path under the assets folder."""
        return relative.removeprefix(f"{ASSETS_DIR}/")


def find_examples(folder: Path) -> Iterator[Example]:
    """Pairs ``NAME-before.EXT`` and ``NAME-after.EXT`` in ``assets/examples``, sorted by name."""
    if not folder.is_dir():
        return
    befores: dict[str, Path] = {}
    afters: dict[str, Path] = {}
    for path in folder.iterdir():
        if path.suffix.lower() not in _IMAGE_SUFFIXES:
            continue
        stem = path.stem
        if stem.endswith("-before"):
            befores[stem.removesuffix("-before")] = path
        elif stem.endswith("-after"):
            afters[stem.removesuffix("-after")] = path
    for name in sorted(befores.keys() & afters.keys()):
        yield Example(
            name=name,
            before=f"{EXAMPLES_DIR}/{befores[name].name}",
            after=f"{EXAMPLES_DIR}/{afters[name].name}",
        )


def normalise_host(host: str) -> str:
    """Lowercase, without port or trailing dot; IPv6 literals keep their brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end != -1 else host
    return host.rsplit(":", 1)[0].rstrip(".") if ":" in host else host.rstrip(".")


class SiteRegistry:
    """The sites of one process. With one site it answers every host; with several, by Host."""

    def __init__(
        self, sites: Iterable[Site], *, multi_site: bool | None = None, root: Path | None = None
    ) -> None:
        self._sites: dict[str, Site] = {}
        self._by_host: dict[str, Site] = {}
        self._multi_site_fixed = multi_site
        self.root = root  # the folder of sites this registry mirrors, when it is one
        self.replace(sites)

    def replace(self, sites: Iterable[Site]) -> None:
        """Swap in a new set of sites at once (requests see the old or the new set, whole)."""
        by_id = {site.id: site for site in sites}
        by_host: dict[str, Site] = {}
        for site in by_id.values():
            by_host[site.manifest.site.domain] = site
            by_host[f"{site.id}.localhost"] = site
        self._sites, self._by_host = by_id, by_host

    @property
    def multi_site(self) -> bool:
        if self._multi_site_fixed is not None:
            return self._multi_site_fixed
        return len(self._sites) != 1

    def __iter__(self) -> Iterator[Site]:
        return iter(list(self._sites.values()))

    def __len__(self) -> int:
        return len(self._sites)

    def get(self, site_id: str) -> Site | None:
        return self._sites.get(site_id)

    def for_host(self, host: str | None) -> Site | None:
        """The site a Host header names; the only site when serving one."""
        sites = self._sites
        if not self.multi_site and len(sites) == 1:
            return next(iter(sites.values()))
        if not host:
            return None
        return self._by_host.get(normalise_host(host))
