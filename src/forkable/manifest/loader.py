"""Reading `site.toml` files and reporting every problem at once, with line numbers."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from forkable.manifest.locate import LineIndex
from forkable.manifest.schema import BrandTable, Manifest, TransformTable

MANIFEST_NAME = "site.toml"
_TOML_POSITION = re.compile(r"\(at line (\d+), column \d+\)")
_ASSET_SUFFIXES = {
    "logo": {".svg", ".png", ".webp", ".jpg", ".jpeg"},
    "favicon": {".svg", ".png", ".ico"},
    "extra_css": {".css"},
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a manifest, printed as ``PATH:LINE: key.path: message``."""

    file: Path
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        key = f"{self.key}: " if self.key else ""
        return f"{self.file}:{self.line}: {key}{self.message}"


class ManifestError(Exception):
    """Raised with every problem found in one or more manifests."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Catalog:
    """Names a manifest may refer to: installed providers and local filters."""

    providers: Collection[str] = field(default_factory=frozenset)
    filters: Collection[str] = field(default_factory=frozenset)
    # Checks parameters for a local filter; returns what is wrong, or None.
    check_filter_params: Callable[[str, Mapping[str, object]], str | None] | None = None
    # Why a known local filter cannot run in this installation (its extra is not installed),
    # or None; asked only of manifests that name one.
    filter_missing: Callable[[str], str | None] | None = None


@dataclass(frozen=True)
class SiteSource:
    """A loaded manifest and the folder it came from."""

    folder: Path
    manifest: Manifest
    line_index: LineIndex

    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST_NAME


def format_key(path: Sequence[str | int]) -> str:
    """``("pricing", "packs", 1, "tokens")`` -> ``pricing.packs[1].tokens``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def manifest_file(path: Path) -> Path:
    """Accept a site folder or its `site.toml`."""
    return path if path.name == MANIFEST_NAME or path.is_file() else path / MANIFEST_NAME


def load_site(path: Path, catalog: Catalog | None = None) -> SiteSource:
    """Load and fully check one site; raise ManifestError listing every problem."""
    file = manifest_file(path)
    try:
        # Decoded as it is: text mode would turn a lone CR into a newline that TOML does not
        # allow, and the line numbers would stop matching the parser's.
        text = file.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ManifestError([Problem(file, 1, "", "no site.toml here")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError([Problem(file, 1, "", f"cannot read the file: {exc}")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_POSITION.search(str(exc))
        line = int(match.group(1)) if match else 1
        message = _TOML_POSITION.sub("", str(exc)).strip()
        raise ManifestError([Problem(file, line, "", f"invalid TOML: {message}")]) from None
    except RecursionError:
        # tomllib descends once per nested array or inline table.
        message = "invalid TOML: arrays or inline tables nested too deeply"
        raise ManifestError([Problem(file, 1, "", message)]) from None

    index = LineIndex(text)
    problems: list[Problem] = []
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        problems.extend(_validation_problems(file, index, exc, data))
        raise ManifestError(problems) from None

    problems.extend(_semantic_problems(file.parent, file, index, manifest, catalog))
    if problems:
        raise ManifestError(problems)
    return SiteSource(folder=file.parent.resolve(), manifest=manifest, line_index=index)


def _validation_problems(
    file: Path, index: LineIndex, exc: ValidationError, data: dict[str, Any]
) -> Iterable[Problem]:
    for error in exc.errors(include_url=False):
        loc = tuple(part for part in error["loc"] if isinstance(part, str | int))
        message = _message(error)
        if error["type"] == "missing":
            table = loc[:-1]
            where = format_key(table) if table else "the top level"
            message = (
                f"required key is missing from {where}" if table else "required table is missing"
            )
        yield Problem(file, index.line_of(loc), format_key(loc), message)


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see docs/manifest.md)"
    if kind in ("value_error", "assertion_error"):
        return str(error["msg"]).removeprefix("Value error, ")
    if kind.endswith("_type"):
        expected = kind.removesuffix("_type").replace("_", " ")
        return f"expected {expected}, got {type(error['input']).__name__} {error['input']!r}"
    return str(error["msg"])


def _semantic_problems(
    folder: Path,
    file: Path,
    index: LineIndex,
    manifest: Manifest,
    catalog: Catalog | None,
) -> Iterable[Problem]:
    yield from _asset_problems(folder, file, index, manifest.brand)
    yield from _duplicate_id_problems(file, index, manifest)
    yield from _filter_choice_problems(file, index, manifest.transform)
    if catalog is not None:
        yield from _catalog_problems(file, index, manifest, catalog)


def _asset_problems(
    folder: Path, file: Path, index: LineIndex, brand: BrandTable
) -> Iterable[Problem]:
    for key in ("logo", "favicon", "extra_css"):
        relative = getattr(brand, key)
        if relative is None:
            continue
        loc = ("brand", key)
        asset = folder / relative
        if not _is_file(asset):
            yield Problem(file, index.line_of(loc), format_key(loc), f"file not found: {relative}")
        elif asset.suffix.lower() not in _ASSET_SUFFIXES[key]:
            allowed = ", ".join(sorted(_ASSET_SUFFIXES[key]))
            yield Problem(
                file, index.line_of(loc), format_key(loc), f"unsupported file type (use {allowed})"
            )


def _duplicate_id_problems(file: Path, index: LineIndex, manifest: Manifest) -> Iterable[Problem]:
    id_lists: list[tuple[tuple[str, str], list[str]]] = [
        (("transform", "styles"), [style.id for style in manifest.transform.styles]),
        (("pricing", "packs"), [pack.id for pack in manifest.pricing.packs]),
    ]
    for table, ids in id_lists:
        seen: set[str] = set()
        for position, item_id in enumerate(ids):
            if item_id in seen:
                item_loc = (*table, position, "id")
                yield Problem(
                    file, index.line_of(item_loc), format_key(item_loc), f"duplicate id {item_id!r}"
                )
            seen.add(item_id)


def _filter_choice_problems(
    file: Path, index: LineIndex, transform: TransformTable
) -> Iterable[Problem]:
    """A local provider or a fallback that names no local filter."""
    if transform.provider == "local" and transform.local_filter is None:
        loc = ("transform", "provider")
        yield Problem(
            file,
            index.line_of(loc),
            format_key(loc),
            "provider 'local' needs `filter` (or `fallback`) naming a local filter",
        )
    if transform.fallback_when_down and transform.fallback is None:
        loc = ("transform", "fallback_when_down")
        yield Problem(
            file, index.line_of(loc), format_key(loc), "needs `fallback` naming a local filter"
        )


def _catalog_problems(
    file: Path, index: LineIndex, manifest: Manifest, catalog: Catalog
) -> Iterable[Problem]:
    """Providers, their parameters and filters that this installation does not have."""
    transform = manifest.transform
    if catalog.providers and transform.provider not in catalog.providers:
        loc = ("transform", "provider")
        known = ", ".join(sorted(catalog.providers))
        yield Problem(
            file,
            index.line_of(loc),
            format_key(loc),
            f"unknown provider {transform.provider!r} (installed: {known})",
        )
    missing = _missing_filter_problem(file, index, manifest, catalog)
    if missing is not None:
        yield missing  # its parameters cannot be checked without it
    else:
        yield from _param_problems(file, index, manifest, catalog)
    if catalog.filters:
        for key in ("fallback", "filter"):
            name = getattr(transform, key)
            if name is not None and name not in catalog.filters:
                loc = ("transform", key)
                known = ", ".join(sorted(catalog.filters))
                yield Problem(
                    file,
                    index.line_of(loc),
                    format_key(loc),
                    f"unknown local filter {name!r} (available: {known})",
                )


def _missing_filter_problem(
    file: Path, index: LineIndex, manifest: Manifest, catalog: Catalog
) -> Problem | None:
    """The site's local filter is known but cannot run here: one line with the fix."""
    transform = manifest.transform
    name = transform.local_filter
    if catalog.filter_missing is None or name is None or name not in catalog.filters:
        return None
    message = catalog.filter_missing(name)
    if message is None:
        return None
    loc = ("transform", "filter" if transform.filter else "fallback")
    return Problem(file, index.line_of(loc), format_key(loc), message)


def _is_file(path: Path) -> bool:
    """Whether ``path`` is a file; false also for names the system refuses (too long)."""
    try:
        return path.is_file()
    except OSError:
        return False


def _param_problems(
    file: Path, index: LineIndex, manifest: Manifest, catalog: Catalog
) -> Iterable[Problem]:
    """Filter parameters are checked by the filter they are for (plugins check their own)."""
    transform = manifest.transform
    name = transform.local_filter
    if (
        catalog.check_filter_params is None
        or name is None
        or name not in catalog.filters
        or transform.provider not in ("local", "gemini")
    ):
        return
    for loc, params in [
        (("transform", "params"), transform.params),
        *[
            (("transform", "styles", position, "params"), {**transform.params, **style.params})
            for position, style in enumerate(transform.styles)
        ],
    ]:
        if params:
            message = catalog.check_filter_params(name, params)
            if message:
                yield Problem(file, index.line_of(loc), format_key(loc), message)


def is_site_folder(path: Path) -> bool:
    return (path / MANIFEST_NAME).is_file()


def site_folders(path: Path) -> list[Path]:
    """One site folder, or the site folders directly inside a folder of sites, sorted."""
    if is_site_folder(path) or path.name == MANIFEST_NAME:
        return [path.parent if path.name == MANIFEST_NAME else path]
    if not path.is_dir():
        return []
    return sorted(p for p in path.iterdir() if p.is_dir() and is_site_folder(p))


def load_sites(paths: Iterable[Path], catalog: Catalog | None = None) -> list[SiteSource]:
    """Load every site under ``paths``; raise ManifestError with all problems of all sites."""
    sources: list[SiteSource] = []
    problems: list[Problem] = []
    for path in paths:
        folders = site_folders(path)
        if not folders:
            problems.append(Problem(manifest_file(path), 1, "", "no site.toml here"))
        for folder in folders:
            try:
                sources.append(load_site(folder, catalog))
            except ManifestError as exc:
                problems.extend(exc.problems)
    problems.extend(duplicate_problems(sources))
    if problems:
        raise ManifestError(problems)
    return sources


def duplicate_problems(sources: Sequence[SiteSource]) -> list[Problem]:
    """Sites in one deployment must not share an id or a domain."""
    problems: list[Problem] = []
    for key in ("id", "domain"):
        first_seen: dict[str, SiteSource] = {}
        for source in sources:
            value = getattr(source.manifest.site, key)
            loc = ("site", key)
            if value in first_seen:
                other = first_seen[value].manifest_path
                problems.append(
                    Problem(
                        source.manifest_path,
                        source.line_index.line_of(loc),
                        format_key(loc),
                        f"duplicate site {key} {value!r} (also in {other})",
                    )
                )
            else:
                first_seen[value] = source
    return problems
