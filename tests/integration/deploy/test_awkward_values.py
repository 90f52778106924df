"""Generated deploy files stay valid, and say only what they should, for awkward site values."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from tests.conftest import missing_service

import forkable
from forkable.deploy.bundle import UnsafeValue, render_bundle, write_bundle
from forkable.deploy.lint import find_tool
from forkable.deploy.wheel import VendoredWheel
from forkable.manifest import Manifest, load_site

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "coloringbook"
WHEEL = VendoredWheel(f"forkable-{forkable.__version__}-py3-none-any.whl", b"not a real wheel")
# Legal in a manifest, and each meaningful somewhere: quotes and backslashes in Python strings,
# `$` in Dockerfiles, compose files and shells, `#` starts comments, `:` maps in YAML, `${{ }}`
# is a workflow expression, `"""` ends a docstring.
AWKWARD_NAME = 'Joe\'s "Best" $HOME #1: a\\b ${{ secrets.X }} """'
AWKWARD_TAGLINE = "key: value # not a comment $(id) `id` \\"
LINTERS = {
    "Dockerfile": ["hadolint", "--no-color"],
    "compose.yaml": ["check-jsonschema", "--builtin-schema", "vendor.compose-spec"],
    ".github/workflows/deploy.yml": [
        "check-jsonschema",
        "--builtin-schema",
        "vendor.github-workflows",
    ],
}


def with_site(manifest: Manifest, **changes: str) -> Manifest:
    """The manifest with site values changed, bypassing validation (as a future field might)."""
    return manifest.model_copy(update={"site": manifest.site.model_copy(update=changes)})


@pytest.fixture(scope="module")
def files() -> dict[str, dict[str, bytes]]:
    site = load_site(EXAMPLE)
    awkward = with_site(site.manifest, name=AWKWARD_NAME, tagline=AWKWARD_TAGLINE)
    return {
        "plain": render_bundle(site.folder, site.manifest, WHEEL),
        "awkward": render_bundle(site.folder, awkward, WHEEL),
    }


@pytest.mark.parametrize("path", sorted(LINTERS))
def test_awkward_values_pass_the_linters(
    files: dict[str, dict[str, bytes]], tmp_path: Path, path: str
) -> None:
    command = LINTERS[path]
    tool = find_tool(command[0])
    if tool is None:
        missing_service(f"{command[0]} is not installed")
    assert tool is not None
    write_bundle(tmp_path, files["awkward"])
    result = subprocess.run(
        [tool, *command[1:], path],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", ["compose.yaml", ".github/workflows/deploy.yml"])
def test_yaml_files_mean_the_same_with_awkward_values(
    files: dict[str, dict[str, bytes]], path: str
) -> None:
    yaml = YAML(typ="safe")
    assert AWKWARD_NAME.encode() in files["awkward"][path]
    assert yaml.load(files["awkward"][path]) == yaml.load(files["plain"][path])


def instructions(dockerfile: bytes) -> list[str]:
    return [
        line
        for line in dockerfile.decode().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_dockerfile_instructions_are_unchanged(files: dict[str, dict[str, bytes]]) -> None:
    assert AWKWARD_NAME.encode() in files["awkward"]["Dockerfile"]
    assert instructions(files["awkward"]["Dockerfile"]) == instructions(
        files["plain"]["Dockerfile"]
    )


@pytest.mark.parametrize("path", ["api/index.py", "tests/test_smoke.py"])
def test_python_files_compile_and_keep_the_name_in_their_docstring(
    files: dict[str, dict[str, bytes]], path: str
) -> None:
    awkward = ast.parse(files["awkward"][path])
    plain = ast.parse(files["plain"][path])
    docstring = ast.get_docstring(awkward)
    assert docstring is not None and AWKWARD_NAME in docstring
    assert [ast.dump(node) for node in awkward.body[1:]] == [
        ast.dump(node) for node in plain.body[1:]
    ]


@pytest.mark.parametrize("path", [".env.example", "requirements.txt"])
def test_line_based_files_gain_no_lines(files: dict[str, dict[str, bytes]], path: str) -> None:
    assert instructions(files["awkward"][path]) == instructions(files["plain"][path])
    assert len(files["awkward"][path].splitlines()) == len(files["plain"][path].splitlines())


@pytest.mark.parametrize(
    "value", ["Evil\nFROM scratch", "Evil\rx", "Evil\u2028x", "Evil\x85x", "Nul\x00"]
)
def test_rendering_refuses_a_value_that_would_break_its_line(value: str) -> None:
    # The schema refuses these; rendering refuses them on its own too, should one slip through.
    site = load_site(EXAMPLE)
    with pytest.raises(UnsafeValue, match="cannot be written into a generated file"):
        render_bundle(site.folder, with_site(site.manifest, name=value), WHEEL)


def test_a_dockerfile_copy_path_that_docker_would_expand_is_refused() -> None:
    site = load_site(EXAMPLE)
    logo = "$HOME.svg"  # outside assets/, so it gets a COPY line of its own
    brand = site.manifest.brand.model_copy(update={"logo": logo, "favicon": None})
    manifest = site.manifest.model_copy(update={"brand": brand})
    with pytest.raises(UnsafeValue, match="Dockerfile COPY"):
        render_bundle(Path("/nonexistent"), manifest, WHEEL, only=["Dockerfile"])
