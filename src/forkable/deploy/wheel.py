"""A wheel of the running forkable, vendored into each generated site repository.

A deployed site must install the exact forkable that generated it, without reaching our
source. An editable install (a checkout) is built with pip; a regular install is repacked
from its own installed files, so a site forked from a forked site carries the same code on.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.util
import json
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from importlib.metadata import Distribution, PackageNotFoundError, distribution
from pathlib import Path
from urllib.parse import unquote, urlparse

DIST_NAME = "forkable"
VENDOR_DIR = "vendor"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so the same code gives the same wheel bytes
_NOT_REPACKED = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


class WheelError(Exception):
    """The running forkable could not be turned into a wheel; the message is one line."""


@dataclass(frozen=True)
class VendoredWheel:
    """A wheel file: its name (``forkable-0.1.0-py3-none-any.whl``) and its bytes."""

    filename: str
    data: bytes

    @property
    def path(self) -> str:
        """Where it lives in a site repository."""
        return f"{VENDOR_DIR}/{self.filename}"


@functools.cache
def running_wheel() -> VendoredWheel:
    """The wheel of the forkable running this process (built once per process)."""
    try:
        dist: Distribution | None = distribution(DIST_NAME)
    except PackageNotFoundError:
        dist = None
    source = _editable_source(dist) if dist is not None else _checkout()
    if source is not None:
        return build_wheel(source)
    if dist is None:
        raise WheelError("forkable is neither installed nor run from a source checkout")
    return repack_installed(dist)


def _editable_source(dist: Distribution) -> Path | None:
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    info = json.loads(text)
    url = str(info.get("url", ""))
    if not info.get("dir_info", {}).get("editable") or not url.startswith("file:"):
        return None
    return Path(unquote(urlparse(url).path))


def _checkout() -> Path | None:
    root = Path(__file__).resolve().parents[3]
    return root if (root / "pyproject.toml").is_file() else None


def _tree_digest(source: Path) -> str:
    """A digest of everything that goes into the wheel: same digest, same wheel."""
    digest = hashlib.sha256()
    for folder in ("src", "examples"):
        for path in sorted((source / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                digest.update(path.relative_to(source).as_posix().encode() + b"\0")
                digest.update(path.read_bytes())
    digest.update((source / "pyproject.toml").read_bytes())
    return digest.hexdigest()[:32]


def build_wheel(source: Path) -> VendoredWheel:
    """The wheel of a forkable source tree, built with pip once per version of the tree.

    Building takes a pip subprocess (over a second); a fork should take less, so built wheels
    are kept in the temporary folder under a digest of the tree they were built from.
    """
    cache = Path(tempfile.gettempdir()) / "forkable-wheels" / _tree_digest(source)
    cached = sorted(cache.glob(f"{DIST_NAME}-*.whl")) if cache.is_dir() else []
    if len(cached) == 1:
        return VendoredWheel(cached[0].name, cached[0].read_bytes())
    wheel = _pip_wheel(source)
    cache.mkdir(parents=True, exist_ok=True)
    partial = cache / f".{wheel.filename}.partial"
    partial.write_bytes(wheel.data)
    partial.replace(cache / wheel.filename)  # atomic: a reader never sees half a wheel
    return wheel


def _pip_wheel(source: Path) -> VendoredWheel:
    """Build the wheel of a forkable source tree with pip (offline when hatchling is here)."""
    with tempfile.TemporaryDirectory(prefix="forkable-wheel-") as out:
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", out]
        if importlib.util.find_spec("hatchling") is not None:
            # The build backend is installed: build offline instead of fetching it.
            command.append("--no-build-isolation")
        result = subprocess.run(  # noqa: S603  # our own interpreter, fixed arguments
            [*command, str(source)], capture_output=True, text=True, check=False, timeout=600
        )
        wheels = sorted(Path(out).glob(f"{DIST_NAME}-*.whl"))
        if result.returncode != 0 or len(wheels) != 1:
            detail = (result.stderr.strip().splitlines() or ["no wheel was written"])[-1]
            raise WheelError(f"cannot build a wheel of forkable from {source}: {detail}")
        return VendoredWheel(wheels[0].name, wheels[0].read_bytes())


def repack_installed(dist: Distribution) -> VendoredWheel:
    """Zip an installed (non-editable) forkable back into the wheel it was installed from."""
    files = dist.files or []
    info_dir = next((f.parts[0] for f in files if f.parts[0].endswith(".dist-info")), None)
    if info_dir is None:
        raise WheelError("the installed forkable lists no files: reinstall it with pip")
    entries: dict[str, bytes] = {}
    for file in files:
        name = file.as_posix()
        if name.startswith("..") or "__pycache__" in file.parts or name.endswith(".pyc"):
            continue  # scripts live outside site-packages; pip recreates them from entry points
        if file.parts[0] == info_dir and file.name in _NOT_REPACKED:
            continue
        entries[name] = Path(str(dist.locate_file(file))).read_bytes()
    wheel_info = entries.get(f"{info_dir}/WHEEL", b"").decode()
    tags = [
        line.split(":", 1)[1].strip() for line in wheel_info.splitlines() if line.startswith("Tag:")
    ]
    if not tags:
        raise WheelError(f"{info_dir}/WHEEL names no tag: reinstall forkable with pip")
    record = f"{info_dir}/RECORD"
    lines = [f"{name},sha256={_digest(data)},{len(data)}" for name, data in sorted(entries.items())]
    entries[record] = ("\n".join([*lines, f"{record},,"]) + "\n").encode()
    # The dist-info folder goes last, as in wheels that build tools write.
    order = sorted(entries, key=lambda name: (name.startswith(info_dir), name == record, name))
    buffer = _zip(order, entries)
    return VendoredWheel(f"{DIST_NAME}-{dist.version}-{_compressed(tags)}.whl", buffer)


def _compressed(tags: list[str]) -> str:
    """``["py2-none-any", "py3-none-any"]`` -> ``py2.py3-none-any``, as wheel names spell it."""
    columns: list[list[str]] = [[], [], []]
    for tag in tags:
        for column, part in zip(columns, tag.split("-", 2), strict=False):
            if part not in column:
                column.append(part)
    return "-".join(".".join(column) for column in columns)


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _zip(order: list[str], entries: dict[str, bytes]) -> bytes:
    with tempfile.TemporaryFile() as handle:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            for name in order:
                info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, entries[name])
        handle.seek(0)
        return handle.read()
