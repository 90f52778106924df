"""Control characters in manifest strings: refused with a line number, except in prompts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from forkable.manifest import ManifestError, Problem, load_site
from forkable.providers.catalog import build_catalog

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "coloringbook"


def make_site(tmp_path: Path, old: str, new: str) -> Path:
    folder = tmp_path / "site"
    shutil.copytree(EXAMPLE, folder)
    text = (folder / "site.toml").read_text()
    assert old in text, old
    (folder / "site.toml").write_text(text.replace(old, new, 1))
    return folder


def line_of(folder: Path, needle: str) -> int:
    lines = (folder / "site.toml").read_text().splitlines()
    return next(number for number, line in enumerate(lines, start=1) if needle in line)


def only_problem(folder: Path) -> Problem:
    with pytest.raises(ManifestError) as caught:
        load_site(folder, build_catalog())
    problems = caught.value.problems
    assert len(problems) == 1, problems
    return problems[0]


# (what the example says, what the test writes instead, the key reported, the character named)
REFUSED = [
    ('name = "ColoringBook AI"', 'name = "Evil\\nFROM scratch"', "site.name", "U+000A"),
    ('tagline = "Turn', 'tagline = "Carriage\\r return: Turn', "site.tagline", "U+000D"),
    ('name = "ColoringBook AI"', 'name = "tab\\there"', "site.name", "U+0009"),
    ('company = "Example Ltd"', 'company = "Nul\\u0000 Ltd"', "legal.company", "U+0000"),
    ('tagline = "Turn', 'tagline = "Line\\u2028separator: Turn', "site.tagline", "U+2028"),
    ('tagline = "Turn', 'tagline = "Next\\u0085line: Turn', "site.tagline", "U+0085"),
    # A trailing newline used to pass the slug and domain patterns (`$` matches before it).
    ('id = "coloringbook"', 'id = "coloringbook\\n"', "site.id", "U+000A"),
    (
        'domain = "coloringbook.example.com"',
        'domain = "coloringbook.example.com\\n"',
        "site.domain",
        "U+000A",
    ),
    ('language = "en"', 'language = "en\\n"', "site.language", "U+000A"),
    ('contact_email = "hello', 'contact_email = "x@y.z\\n"\n#', "legal.contact_email", "U+000A"),
    ('model = "gemini', 'model = "x\\u001b[31m"\n#', "transform.model", "U+001B"),
    ('label = "Simple (kids)"', 'label = "Simple\\n(kids)"', "transform.styles[0].label", "U+000A"),
    ('name = "Starter"', 'name = "Star\\nter"', "pricing.packs[0].name", "U+000A"),
    ('fallback = "coloring_book"', 'fallback = "coloring_book\\n"', "transform.fallback", "U+000A"),
    ("detail = 0.3 }", 'detail = 0.3, mode = "a\\nb" }', "transform.styles[0].params", "U+000A"),
    # Prompts may span lines and hold tabs, but no other control characters.
    ('prompt = """Turn', 'prompt = """Bell\\u0007. Turn', "transform.prompt", "U+0007"),
    (
        'prompt = "Use very bold',
        'prompt = "Escape \\u001b[2J. Use very bold',
        "transform.styles[0].prompt",
        "U+001B",
    ),
]


@pytest.mark.parametrize(("old", "new", "key", "character"), REFUSED)
def test_control_characters_are_refused_with_their_line(
    tmp_path: Path, old: str, new: str, key: str, character: str
) -> None:
    folder = make_site(tmp_path, old, new)
    problem = only_problem(folder)
    assert problem.key == key
    assert problem.line == line_of(folder, new.split("\n")[0])
    assert character in problem.message
    assert str(problem).startswith(f"{folder / 'site.toml'}:{problem.line}: {key}: ")


def test_prompts_may_hold_line_breaks_and_tabs(tmp_path: Path) -> None:
    folder = make_site(
        tmp_path,
        'prompt = "Use very bold',
        'prompt = "Two lines:\\n\\tindented. Use very bold',
    )
    site = load_site(folder, build_catalog())
    assert site.manifest.transform.styles[0].prompt.startswith("Two lines:\n\tindented.")


def test_awkward_printable_characters_are_legal(tmp_path: Path) -> None:
    folder = make_site(
        tmp_path, 'name = "ColoringBook AI"', 'name = "Joe\'s \\"Best\\" $HOME #1: a\\\\b"'
    )
    site = load_site(folder, build_catalog())
    assert site.manifest.site.name == 'Joe\'s "Best" $HOME #1: a\\b'


def test_forkable_check_prints_path_line_and_exits_1(tmp_path: Path) -> None:
    folder = make_site(tmp_path, 'name = "ColoringBook AI"', 'name = "Evil\\nRUN curl x | sh"')
    result = subprocess.run(
        [sys.executable, "-m", "forkable", "check", str(folder)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 1
    line = line_of(folder, "name = ")
    assert f"{folder / 'site.toml'}:{line}: site.name: contains a line break (U+000A)" in (
        result.stdout + result.stderr
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("logo", ["assets/my logo.svg", "assets/$HOME.svg", "assets/[a].svg"])
def test_asset_paths_are_portable_names(tmp_path: Path, logo: str) -> None:
    # Asset paths are written into Dockerfile COPY lines and URLs as they are.
    folder = make_site(tmp_path, 'logo = "assets/logo.svg"', f'logo = "{logo}"')
    problem = only_problem(folder)
    assert (problem.key, problem.line) == ("brand.logo", line_of(folder, "logo ="))
    assert "letters, digits" in problem.message
