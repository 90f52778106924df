"""Style-preserving manifest edits: values change, everything else stays byte for byte."""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forkable.manifest.edit import (
    EditError,
    ManifestEditor,
    parse_assignment,
    parse_path,
    parse_value,
    schema_check,
    wrapped_string,
)

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
COLORINGBOOK = (EXAMPLES / "coloringbook" / "site.toml").read_text()


def changed_lines(before: str, after: str) -> list[str]:
    """The lines of ``after`` that differ from ``before`` (added or replaced)."""
    diff = difflib.ndiff(before.splitlines(), after.splitlines())
    return [line[2:] for line in diff if line.startswith("+ ")]


def removed_lines(before: str, after: str) -> list[str]:
    diff = difflib.ndiff(before.splitlines(), after.splitlines())
    return [line[2:] for line in diff if line.startswith("- ")]


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("site.name", ("site", "name")),
        ("pricing.packs[0].price_cents", ("pricing", "packs", 0, "price_cents")),
        ("transform.styles[1].label", ("transform", "styles", 1, "label")),
        ("transform.styles[0].params.detail", ("transform", "styles", 0, "params", "detail")),
        ('transform.params."odd key"', ("transform", "params", "odd key")),
    ],
)
def test_key_paths_are_parsed(text: str, path: tuple[str | int, ...]) -> None:
    assert parse_path(text) == path


@pytest.mark.parametrize("text", ["", ".site", "site..name", "[0]", "site name", "site[x]"])
def test_malformed_key_paths_are_refused(text: str) -> None:
    with pytest.raises(EditError):
        parse_path(text)


def test_assignments_split_at_the_first_equals_sign() -> None:
    assert parse_assignment("site.tagline=a=b") == (("site", "tagline"), "a=b")
    with pytest.raises(EditError, match=r"KEY\.PATH=VALUE"):
        parse_assignment("site.name")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("5", 5),
        ("0.25", 0.25),
        ("true", True),
        ('"Pet Pix"', "Pet Pix"),
        ("Pet Pix", "Pet Pix"),  # not a TOML literal: the text itself
        ("#00aa00", "#00aa00"),  # a TOML comment, so text
        ("{ detail = 0.4 }", {"detail": 0.4}),
        ("1 2", "1 2"),
        ("", ""),
    ],
)
def test_values_are_toml_literals_with_a_text_fallback(raw: str, expected: object) -> None:
    value = parse_value(raw)
    assert value == expected
    assert isinstance(value, type(expected))


def test_text_keys_keep_bare_words_as_text() -> None:
    assert parse_value("2024", expects_text=True) == "2024"
    assert parse_value("true", expects_text=True) == "true"
    assert schema_check(("site", "id")) is True
    assert schema_check(("pricing", "packs", 0, "price_cents")) is False


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (("unknown", "key"), "the top level has no key 'unknown'"),
        (("site", "nmae"), "site has no key 'nmae'"),
        (("pricing", "packs", "id"), "pricing.packs is a list"),
        (("site", 0), "site is a table, not a list"),
        (("site", "name", "x"), "site.name is a single value"),
        (("site",), "site is a table: set its keys one by one, e.g. site.id"),
        (("pricing", "packs", 0), r"pricing.packs\[0\] is a table"),
    ],
)
def test_paths_outside_the_schema_are_refused(path: tuple[str | int, ...], message: str) -> None:
    with pytest.raises(EditError, match=message):
        schema_check(path)


def test_setting_values_changes_only_their_lines() -> None:
    editor = ManifestEditor(COLORINGBOOK)
    for assignment in (
        'site.name="Pet Pix"',
        "pricing.signup_bonus=5",
        "pricing.packs[0].price_cents=599",
        "transform.styles[1].label=Fancy",
        "transform.styles[0].params.detail=0.4",
    ):
        editor.assign(assignment)
    text = editor.text()
    assert sorted(changed_lines(COLORINGBOOK, text)) == sorted(
        [
            'name = "Pet Pix"',
            "signup_bonus = 5          # tokens granted on sign-up",
            "price_cents = 599",
            'label = "Fancy"',
            "params = { line_thickness = 4, detail = 0.4 }",
        ]
    )
    data = tomllib.loads(text)
    assert data["pricing"]["packs"][0]["price_cents"] == 599
    assert data["pricing"]["packs"][1]["price_cents"] == 1199
    assert data["transform"]["styles"][1]["label"] == "Fancy"


def test_a_new_prompt_keeps_the_wrapped_multiline_style() -> None:
    editor = ManifestEditor(COLORINGBOOK)
    prompt = "Redraw this pet as a cute sticker with thick outlines and pastel colours; " * 3
    editor.set(("transform", "prompt"), prompt.strip())
    text = editor.text()
    assert tomllib.loads(text)["transform"]["prompt"] == prompt.strip()
    new_lines = changed_lines(COLORINGBOOK, text)
    assert new_lines[0].startswith('prompt = """Redraw')
    assert all(line.endswith("\\") for line in new_lines[:-1])
    assert all(len(line) <= 100 for line in new_lines)


def test_missing_keys_and_tables_are_added() -> None:
    source = '# comment\n[site]\nid = "a"  # the id\n\n[legal]\ncompany = "c"\n'
    editor = ManifestEditor(source)
    editor.assign("legal.address=1 Main Street")
    editor.assign("brand.primary_color=#00aa00")
    editor.assign("transform.params.detail=0.5")
    text = editor.text()
    data = tomllib.loads(text)
    assert data["legal"]["address"] == "1 Main Street"
    assert data["brand"]["primary_color"] == "#00aa00"
    assert data["transform"]["params"] == {"detail": 0.5}
    assert removed_lines(source, text) == []
    assert 'id = "a"  # the id' in text


def test_one_past_the_end_of_a_list_adds_an_entry() -> None:
    editor = ManifestEditor(COLORINGBOOK)
    editor.assign("pricing.packs[3].id=school")
    editor.assign("pricing.packs[3].tokens=500")
    editor.assign("pricing.packs[3].price_cents=5999")
    text = editor.text()
    packs = tomllib.loads(text)["pricing"]["packs"]
    assert packs[3] == {"id": "school", "tokens": 500, "price_cents": 5999}
    assert "price_cents = 5999\n\n[limits]" in text  # the blank line before the next table stays
    with pytest.raises(EditError, match=r"pricing.packs has 4 entries \(use \[0\] to \[4\]\)"):
        editor.assign("pricing.packs[9].tokens=1")


def test_delete_removes_a_key_and_keeps_the_rest() -> None:
    editor = ManifestEditor(COLORINGBOOK)
    editor.delete(("transform", "styles", 0, "params", "detail"))
    editor.delete(("transform", "styles", 1, "params"))
    editor.delete(("transform", "no_such_key"))
    data = tomllib.loads(editor.text())
    assert data["transform"]["styles"][0]["params"] == {"line_thickness": 4}
    assert "params" not in data["transform"]["styles"][1]


def test_get_reads_plain_values() -> None:
    editor = ManifestEditor(COLORINGBOOK)
    assert editor.get(("pricing", "packs", 2, "tokens")) == 200
    assert editor.get(("pricing", "packs", 9, "tokens")) is None
    assert editor.get(("nothing",)) is None


def test_invalid_toml_is_an_edit_error() -> None:
    with pytest.raises(EditError, match="invalid TOML"):
        ManifestEditor("[site\n")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_wrapped_strings_read_back_as_the_same_text(value: str) -> None:
    literal = wrapped_string(value).as_string()
    assert tomllib.loads(f"value = {literal}\n")["value"] == value


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_set_on_any_string_key_reads_back_the_same(value: str) -> None:
    editor = ManifestEditor(COLORINGBOOK)
    editor.set(("site", "tagline"), value)  # a one-line string in the source
    editor.set(("transform", "prompt"), value)  # a wrapped multi-line string in the source
    data = tomllib.loads(editor.text())
    assert data["site"]["tagline"] == value
    assert data["transform"]["prompt"] == value
    assert data["site"]["name"] == "ColoringBook AI"
