"""Manifest text the fuzz target found awkward: odd line ends, deep nesting, huge names."""

from __future__ import annotations

from pathlib import Path

import pytest

from forkable.manifest import ManifestError, Problem, load_site
from forkable.manifest.locate import LineIndex

SITE = '[site]\nid = "a"\nname = "A"\ntagline = "T"\ndomain = "a.example.com"\n'
LEGAL = '[legal]\ncompany = "C"\ncontact_email = "c@example.com"\n'
TRANSFORM = '[transform]\nprompt = "p"\n'


def problems_of(tmp_path: Path, data: bytes) -> list[Problem]:
    (tmp_path / "site.toml").write_bytes(data)
    with pytest.raises(ManifestError) as caught:
        load_site(tmp_path)
    return caught.value.problems


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_unicode_line_separators_do_not_shift_line_numbers(separator: str) -> None:
    text = f"# one{separator}comment\n[site]\nid = 1\n"
    assert LineIndex(text).line_of(("site", "id")) == 3


def test_problem_after_a_line_separator_points_at_its_line(tmp_path: Path) -> None:
    text = "# a comment\u2028with a separator\n" + SITE + LEGAL + "[transform]\nprompt = 1\n"
    [problem] = problems_of(tmp_path, text.encode())
    assert (problem.key, problem.line) == ("transform.prompt", 11)


def test_lone_carriage_return_is_invalid_toml_on_its_line(tmp_path: Path) -> None:
    # TOML ends lines with LF or CRLF only; read in text mode, the CR became a line break.
    data = (SITE + LEGAL + TRANSFORM).encode().replace(b'name = "A"\n', b'name = "A"\r')
    [problem] = problems_of(tmp_path, data)
    assert problem.line == 3
    assert problem.message.startswith("invalid TOML: ")


def test_crlf_line_ends_still_load(tmp_path: Path) -> None:
    data = (SITE + LEGAL + '[transform]\nprompt = """two\nlines"""\n').replace("\n", "\r\n")
    (tmp_path / "site.toml").write_bytes(data.encode())
    # As before: TOML reads CRLF in a multi-line string as a newline.
    assert load_site(tmp_path).manifest.transform.prompt == "two\nlines"


def test_deeply_nested_arrays_are_a_problem_not_a_recursion_error(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path, b"a = " + b"[" * 2000 + b"]" * 2000 + b"\n")
    assert problem.line == 1
    assert problem.message == "invalid TOML: arrays or inline tables nested too deeply"


def test_asset_name_longer_than_the_system_allows_is_not_found(tmp_path: Path) -> None:
    logo = "a" * 300 + ".png"
    text = SITE + LEGAL + TRANSFORM + f'[brand]\nlogo = "{logo}"\n'
    [problem] = problems_of(tmp_path, text.encode())
    assert (problem.key, problem.line) == ("brand.logo", 12)
    assert problem.message == f"file not found: {logo}"
