"""A forkable without OpenCV (no `filters` extra): Gemini-only sites check and serve, and a site
that names a local filter is refused in one line that says how to install it.

Each run is a real `forkable` process with tests/support/without_opencv first on PYTHONPATH:
its `sitecustomize` makes `cv2` import as a package that is not installed, and logs every
attempt, so a test can tell that a Gemini-only site never even tried.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from tests.serving import serve

ROOT = Path(__file__).resolve().parents[3]
BLOCKER = ROOT / "tests" / "support" / "without_opencv"
COLORINGBOOK = ROOT / "examples" / "coloringbook"
FIX = "pip install 'forkable[filters]'"


def not_installed_line(folder: Path, key: str, name: str) -> str:
    manifest = folder / "site.toml"
    line = next(
        number
        for number, text in enumerate(manifest.read_text().splitlines(), start=1)
        if text.startswith(f"{key.split('.')[-1]} = ")
    )
    return (
        f"{manifest}:{line}: {key}: local filter {name!r} is not installed (cv2 is missing): {FIX}"
    )


@pytest.fixture
def attempts(tmp_path: Path) -> Path:
    return tmp_path / "cv2-imports.log"


@pytest.fixture
def without_opencv(attempts: Path) -> dict[str, str]:
    """The environment of a forkable process in which OpenCV is not installed."""
    path = os.pathsep.join(p for p in (str(BLOCKER), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "FORKABLE_TEST_IMPORT_LOG": str(attempts)}


@pytest.fixture
def gemini_only(tmp_path: Path) -> Path:
    """The coloringbook example without its local fallback: a site on Gemini alone."""
    folder = tmp_path / "gemonly"
    shutil.copytree(COLORINGBOOK, folder)
    manifest = folder / "site.toml"
    text = manifest.read_text()
    text = text.replace('id = "coloringbook"', 'id = "gemonly"', 1)
    lines = [line for line in text.splitlines() if not line.startswith("fallback = ")]
    manifest.write_text("\n".join(lines) + "\n")
    return folder


def forkable(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "forkable", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_the_blocker_makes_opencv_absent(without_opencv: dict[str, str], attempts: Path) -> None:
    probe = "import cv2"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=without_opencv,
        check=False,
    )
    assert result.returncode == 1
    assert "ModuleNotFoundError: No module named 'cv2'" in result.stderr
    assert attempts.read_text() == "cv2\n"


def test_check_passes_a_gemini_only_site_without_touching_opencv(
    without_opencv: dict[str, str], attempts: Path, gemini_only: Path
) -> None:
    result = forkable(without_opencv, "check", str(gemini_only))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"ok: gemonly ({gemini_only / 'site.toml'})\n"
    assert not attempts.exists()


def test_check_names_the_missing_filter_and_the_fix(without_opencv: dict[str, str]) -> None:
    result = forkable(without_opencv, "check", str(COLORINGBOOK))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        not_installed_line(COLORINGBOOK, "transform.fallback", "coloring_book"),
        "1 problem found",
    ]


def test_serving_a_site_with_a_local_fallback_fails_at_start_up_with_the_same_line(
    without_opencv: dict[str, str], tmp_path: Path
) -> None:
    env = {**without_opencv, "FORKABLE_DATA_DIR": str(tmp_path / "var")}
    result = subprocess.run(
        [sys.executable, "-m", "forkable", "serve", str(COLORINGBOOK), "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    line = not_installed_line(COLORINGBOOK, "transform.fallback", "coloring_book")
    assert result.stderr.strip().splitlines()[-1] == f"error: {line}", result.stderr
    assert "Traceback" not in result.stderr


def test_a_gemini_only_site_serves_without_opencv(
    without_opencv: dict[str, str], attempts: Path, gemini_only: Path, tmp_path: Path
) -> None:
    with serve(gemini_only, tmp_path / "var", env=without_opencv) as server:
        landing = httpx.get(f"{server.url}/", timeout=10)
    assert landing.status_code == 200
    assert "ColoringBook AI" in landing.text
    assert not attempts.exists()


def test_the_filters_are_named_without_opencv_and_refused_by_name(
    without_opencv: dict[str, str],
) -> None:
    script = """
from PIL import Image
from forkable.providers.base import ProviderError, TransformRequest
from forkable.providers.filter_provider import LocalFilterProvider
from forkable.providers.local import FILTERS, FiltersNotInstalled

print(sorted(FILTERS))
try:
    FILTERS["cartoon"]
except FiltersNotInstalled as exc:
    print(exc)
try:
    LocalFilterProvider("vintage").transform(TransformRequest(Image.new("RGB", (8, 8)), "a prompt"))
except ProviderError as exc:
    print(exc.detail)
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=without_opencv,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "['cartoon', 'coloring_book', 'pencil_sketch', 'pixel_art', 'vintage', 'watercolor']",
        f"local filter 'cartoon' is not installed (cv2 is missing): {FIX}",
        f"local filter 'vintage' is not installed (cv2 is missing): {FIX}",
    ]


def test_result_pngs_of_line_art_stay_1_bit_without_opencv(
    without_opencv: dict[str, str], attempts: Path
) -> None:
    script = """
import io
from PIL import Image
from forkable.generations.result_png import encode_result_png

line_art = Image.new("L", (64, 32), 255)
line_art.paste(0, (8, 8, 40, 12))
grey = line_art.copy()
grey.putpixel((0, 0), 128)
for image in (line_art, grey):
    decoded = Image.open(io.BytesIO(encode_result_png(image)))
    print(decoded.mode, decoded.convert("L").tobytes() == image.tobytes())
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=without_opencv,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["1 True", "L True"]
    # Pillow does the work: neither OpenCV nor NumPy was even tried.
    assert not attempts.exists()
