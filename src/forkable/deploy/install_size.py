"""How much a site's Vercel function holds once its requirements are installed, measured offline.

Vercel installs the bundle's `requirements.txt` (the vendored forkable wheel, with the `filters`
extra for a site that runs a local filter) into the function, which may hold 250 MiB
uncompressed: 250 * 1024 * 1024 bytes, Vercel's `DEFAULT_MAX_UNCOMPRESSED_LAMBDA_SIZE`.

Measured without installing anything or reaching a network: the files in the vendored wheel,
plus the files of every distribution its requirements pull in, as the RECORD of the same
distribution installed in this environment lists them, at their size on disk. A distribution the
bundle needs but this environment lacks is named, not counted, so the figure is then a lower
bound. Versions are this environment's (Vercel resolves its own, usually the newest) and markers
are evaluated for this interpreter and platform.

Bytecode (`__pycache__/*.pyc`) is counted apart: no wheel holds it, and installers differ on
writing it (pip compiles by default, uv does not).
"""

from __future__ import annotations

import email.parser
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib.metadata import Distribution, PackageNotFoundError, distribution
from io import BytesIO
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from forkable.deploy.bundle import forkable_extras, forkable_requirement, needs_filters
from forkable.deploy.wheel import DIST_NAME, VendoredWheel
from forkable.manifest import Manifest

MIB = 1024 * 1024
VERCEL_LIMIT_BYTES = 250 * MIB  # the unzipped size a Vercel function may have


@dataclass(frozen=True)
class Part:
    """One distribution in the function: its files, and its bytecode as this environment has it."""

    name: str
    version: str
    size: int
    bytecode: int = 0


@dataclass(frozen=True)
class InstalledSize:
    """What a bundle's requirements install, by distribution, plus the site's own files."""

    requirement: str
    parts: tuple[Part, ...]
    site_files: int  # bytes of the site's own files that the function carries
    missing: tuple[str, ...] = ()  # needed, not installed here: not counted

    @property
    def total(self) -> int:
        return sum(part.size for part in self.parts) + self.site_files

    @property
    def bytecode(self) -> int:
        return sum(part.bytecode for part in self.parts)

    @property
    def under_limit(self) -> bool:
        return self.total < VERCEL_LIMIT_BYTES

    def part(self, name: str) -> Part | None:
        key = canonicalize_name(name)
        return next((p for p in self.parts if canonicalize_name(p.name) == key), None)

    def largest(self, count: int) -> list[Part]:
        return sorted(self.parts, key=lambda part: part.size, reverse=True)[:count]


def mib(size: int) -> str:
    return f"{size / MIB:.1f} MiB"


def wheel_requirements(wheel: VendoredWheel) -> list[Requirement]:
    """The wheel's own `Requires-Dist` lines (what its METADATA says, not the installed copy's)."""
    with zipfile.ZipFile(BytesIO(wheel.data)) as archive:
        name = next(
            (
                n
                for n in archive.namelist()
                if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
            ),
            None,
        )
        if name is None:
            return []
        metadata = email.parser.BytesParser().parsebytes(archive.read(name), headersonly=True)
    return [Requirement(text) for text in metadata.get_all("Requires-Dist") or []]


def wheel_size(wheel: VendoredWheel) -> int:
    """What the wheel's files take once unpacked."""
    with zipfile.ZipFile(BytesIO(wheel.data)) as archive:
        return sum(info.file_size for info in archive.infolist())


def measure_bundle(
    wheel: VendoredWheel, extras: Iterable[str], *, requirement: str, site_files: int = 0
) -> InstalledSize:
    """The installed size of ``wheel`` with ``extras`` and everything they pull in."""
    wanted = frozenset(extras)
    version = wheel.filename.split("-")[1]
    parts = [Part(DIST_NAME, version, wheel_size(wheel))]
    roots = [(r, wanted) for r in wheel_requirements(wheel)]
    found, missing = _closure(roots)
    for dist in found:
        size, bytecode = _installed_size(dist)
        parts.append(Part(canonicalize_name(dist.metadata["Name"]), dist.version, size, bytecode))
    return InstalledSize(requirement, tuple(parts), site_files, tuple(sorted(missing)))


def measure_site(manifest: Manifest, wheel: VendoredWheel, *, site_files: int = 0) -> InstalledSize:
    """The installed size of the Vercel function of the site of ``manifest``."""
    return measure_bundle(
        wheel,
        forkable_extras(manifest),
        requirement=forkable_requirement(manifest, wheel),
        site_files=site_files,
    )


def size_lines(size: InstalledSize, manifest: Manifest) -> list[str]:
    """What a dry run prints about the function's size: total, largest parts, how measured."""
    at_least = "at least " if size.missing else ""
    verdict = (
        f"under Vercel's {mib(VERCEL_LIMIT_BYTES)} limit"
        if size.under_limit
        else f"OVER Vercel's {mib(VERCEL_LIMIT_BYTES)} limit: the deployment would fail"
    )
    why = (
        f"the site runs the local {manifest.transform.local_filter} filter, so OpenCV comes along"
        if needs_filters(manifest)
        else "no local filter, so no OpenCV"
    )
    largest = ", ".join(f"{part.name} {mib(part.size)}" for part in size.largest(5))
    lines = [
        f"function size: {at_least}{mib(size.total)} installed, {verdict}",
        f"function requirement: {size.requirement} ({why})",
        f"function size, largest: {largest}",
        f"function size, measured from the wheel and the {len(size.parts) - 1} distributions "
        f"installed here, without bytecode (pip would add {mib(size.bytecode)})",
    ]
    if size.missing:
        lines.append(f"function size, not installed here, not counted: {', '.join(size.missing)}")
    return lines


def _applies(requirement: Requirement, extras: frozenset[str]) -> bool:
    """Whether a requirement holds here, for a requirer installed with ``extras``."""
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in extras or {""})


def _closure(
    roots: Iterable[tuple[Requirement, frozenset[str]]],
) -> tuple[list[Distribution], set[str]]:
    """Every installed distribution the requirements pull in, and the names not installed."""
    found: dict[str, tuple[Distribution, frozenset[str]]] = {}
    missing: set[str] = set()
    pending = list(roots)
    while pending:
        requirement, requirer_extras = pending.pop()
        key = canonicalize_name(requirement.name)
        if key == DIST_NAME or key in missing or not _applies(requirement, requirer_extras):
            continue
        extras = frozenset(requirement.extras)
        known = found.get(key)
        if known is not None and extras <= known[1]:
            continue
        if known is None:
            try:
                dist = distribution(requirement.name)
            except PackageNotFoundError:
                missing.add(key)
                continue
        else:
            dist, extras = known[0], known[1] | extras
        found[key] = (dist, extras)
        pending.extend((Requirement(text), extras) for text in dist.requires or [])
    return [dist for dist, _extras in found.values()], missing


def _installed_size(dist: Distribution) -> tuple[int, int]:
    """Bytes of the files RECORD lists, and of the bytecode among them."""
    size = bytecode = 0
    for file, length in _file_sizes(dist):
        if "__pycache__" in file.parts or file.suffix == ".pyc":
            bytecode += length
        else:
            size += length
    return size, bytecode


def _file_sizes(dist: Distribution) -> Iterator[tuple[Path, int]]:
    for file in dist.files or []:
        try:
            length = Path(str(dist.locate_file(file))).stat().st_size
        except OSError:
            continue  # listed but gone (a hand-deleted file): it would not be installed either
        yield Path(file.as_posix()), length
