"""The wheel holds all of src/forkable but the fakes that only test forkable's deploy code.

docs/architecture.md ("What ships in the wheel") says why. Builds the real wheel (about a
second: pip with the installed hatchling, offline).
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "forkable"
# In a checkout, and importable from an editable install, but in no wheel.
CHECKOUT_ONLY = {
    "forkable/testing/fake_github.py",
    "forkable/testing/_github_git.py",
    "forkable/testing/_git_objects.py",
    "forkable/testing/fake_vercel.py",
    "forkable/testing/_vercel_state.py",
    "forkable/testing/_fake_api.py",
}
# What a site's developer runs locally (`python -m forkable.testing.fake_gemini`, ...).
SHIPPED_FAKES = {
    "forkable/testing/__init__.py",
    "forkable/testing/http.py",
    "forkable/testing/fake_gemini.py",
    "forkable/testing/fake_stripe.py",
    "forkable/testing/_stripe_forms.py",
}


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    subprocess.run([*command, "--quiet", "-w", str(out), str(ROOT)], check=True, timeout=120)
    (wheel,) = out.glob("forkable-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def _source_files() -> set[str]:
    return {
        path.relative_to(PACKAGE.parent).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def test_the_fakes_for_deploy_tests_stay_in_the_checkout(wheel_names: set[str]) -> None:
    testing = {name for name in wheel_names if name.startswith("forkable/testing/")}
    assert testing == SHIPPED_FAKES
    assert (SHIPPED_FAKES | CHECKOUT_ONLY) == {
        name for name in _source_files() if name.startswith("forkable/testing/")
    }


def test_every_other_source_file_ships(wheel_names: set[str]) -> None:
    assert sorted(_source_files() - CHECKOUT_ONLY - wheel_names) == []
