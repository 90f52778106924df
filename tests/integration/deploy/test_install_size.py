"""The installed size of a fork's Vercel function: a Gemini-only fork fits Vercel's 250 MiB, and
a site that runs a local filter brings the `filters` extra (OpenCV) along.

The wheel is built from this source tree, so its requirements are the ones under test; the
sizes are those of the distributions installed in this environment (`make install-test`
installs the `filters` extra, so nothing the bundle needs is missing here).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from forkable.deploy.bundle import render_bundle
from forkable.deploy.install_size import (
    VERCEL_LIMIT_BYTES,
    measure_site,
    mib,
    size_lines,
    wheel_requirements,
)
from forkable.deploy.wheel import VendoredWheel, build_wheel
from forkable.manifest import Manifest, load_site
from forkable.providers.catalog import build_catalog

ROOT = Path(__file__).resolve().parents[3]
OPENCV = "opencv-python-headless"


@pytest.fixture(scope="module")
def wheel() -> VendoredWheel:
    return build_wheel(ROOT)


def gemini_only(parent: Path) -> Manifest:
    folder = parent / "gemonly"
    shutil.copytree(ROOT / "examples" / "coloringbook", folder)
    manifest = folder / "site.toml"
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join(line for line in lines if not line.startswith("fallback = ")))
    return load_site(folder, build_catalog()).manifest


def requirement_lines(manifest: Manifest, wheel: VendoredWheel) -> list[str]:
    text = render_bundle(ROOT, manifest, wheel, only=["requirements.txt"])["requirements.txt"]
    return [line for line in text.decode().splitlines() if line and not line.startswith("#")]


def test_opencv_is_only_in_the_filters_extra(wheel: VendoredWheel) -> None:
    # The `test` extra includes `filters`; the wheel's metadata spells that out.
    markers = {str(r.marker) for r in wheel_requirements(wheel) if r.name == OPENCV}
    assert markers == {'extra == "filters"', 'extra == "test"'}


def test_a_gemini_only_fork_fits_in_a_vercel_function(wheel: VendoredWheel, tmp_path: Path) -> None:
    manifest = gemini_only(tmp_path)
    assert requirement_lines(manifest, wheel) == [f"./{wheel.path}"]

    size = measure_site(manifest, wheel)
    assert size.missing == ()
    assert size.part(OPENCV) is None
    assert size.part("numpy") is None  # the `filters` extra brings it
    assert size.total < VERCEL_LIMIT_BYTES, "\n".join(size_lines(size, manifest))
    # How much room is left, in the test log.
    print(f"gemini-only function: {mib(size.total)} of {mib(VERCEL_LIMIT_BYTES)}")  # noqa: T201


def test_a_site_with_a_local_fallback_installs_the_filters_extra(
    wheel: VendoredWheel,
) -> None:
    manifest = load_site(ROOT / "examples" / "coloringbook", build_catalog()).manifest
    assert requirement_lines(manifest, wheel) == [f"./{wheel.path}[filters]"]

    size = measure_site(manifest, wheel)
    opencv = size.part(OPENCV)
    assert opencv is not None and opencv.size > 50 * 1024 * 1024
    lines = size_lines(size, manifest)
    assert lines[1] == (
        f"function requirement: ./{wheel.path}[filters] "
        "(the site runs the local coloring_book filter, so OpenCV comes along)"
    )
