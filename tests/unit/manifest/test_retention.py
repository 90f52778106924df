"""The `[retention]` table: whole days from 0 (keep forever) to ten years, line-numbered errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.manifest.test_loader import line_of, make_site, only_problem

from forkable.manifest import load_site
from forkable.providers.catalog import build_catalog

# Appended after [legal], the example's last table.
LEGAL_END = 'contact_email = "hello@example.com"\n'


def with_retention(tmp_path: Path, body: str) -> Path:
    return make_site(tmp_path, {LEGAL_END: f"{LEGAL_END}\n[retention]\n{body}"})


def test_defaults_are_thirty_days_for_photos_and_a_year_for_results(tmp_path: Path) -> None:
    manifest = load_site(make_site(tmp_path), build_catalog()).manifest
    assert manifest.retention.photo_days == 30
    assert manifest.retention.result_days == 365


def test_both_keys_are_read_and_zero_keeps_forever(tmp_path: Path) -> None:
    folder = with_retention(tmp_path, "photo_days = 0\nresult_days = 3650\n")
    retention = load_site(folder, build_catalog()).manifest.retention
    assert (retention.photo_days, retention.result_days) == (0, 3650)


def test_one_key_alone_keeps_the_default_of_the_other(tmp_path: Path) -> None:
    folder = with_retention(tmp_path, "photo_days = 7\n")
    retention = load_site(folder, build_catalog()).manifest.retention
    assert (retention.photo_days, retention.result_days) == (7, 365)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("-1", "out of range: use 0 (keep forever) to 3650 days"),
        ("3651", "out of range: use 0 (keep forever) to 3650 days"),
        ("7.5", "not a whole number of days"),
        ('"30"', "not a whole number of days"),
        ("true", "not a whole number of days"),
    ],
)
def test_days_that_are_not_whole_or_out_of_range(tmp_path: Path, value: str, words: str) -> None:
    folder = with_retention(tmp_path, f"photo_days = 30\nresult_days = {value}\n")
    problem = only_problem(folder)
    assert problem.key == "retention.result_days"
    assert problem.line == line_of(folder, "result_days")
    assert words in problem.message
    manifest_path = folder / "site.toml"
    assert (
        str(problem) == f"{manifest_path}:{problem.line}: retention.result_days: {problem.message}"
    )


def test_an_unknown_key_in_retention_is_a_typo(tmp_path: Path) -> None:
    folder = with_retention(tmp_path, "photos_days = 30\n")
    problem = only_problem(folder)
    assert problem.key == "retention.photos_days"
    assert problem.line == line_of(folder, "photos_days")
    assert "unknown key" in problem.message
