"""Manifest problems: each kind is reported with its line number and key path."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from forkable.manifest import Catalog, ManifestError, Problem, load_site, load_sites
from forkable.providers.catalog import build_catalog

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "coloringbook"


def make_site(tmp_path: Path, replace: dict[str, str] | None = None, name: str = "site") -> Path:
    folder = tmp_path / name
    shutil.copytree(EXAMPLE, folder)
    text = (folder / "site.toml").read_text()
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    (folder / "site.toml").write_text(text)
    return folder


def line_of(folder: Path, needle: str, occurrence: int = 1) -> int:
    lines = (folder / "site.toml").read_text().splitlines()
    hits = [number for number, line in enumerate(lines, start=1) if needle in line]
    return hits[occurrence - 1]


def problems_of(folder: Path, catalog: Catalog | None = None) -> list[Problem]:
    with pytest.raises(ManifestError) as caught:
        load_site(folder, catalog if catalog is not None else build_catalog())
    return caught.value.problems


def only_problem(folder: Path) -> Problem:
    problems = problems_of(folder)
    assert len(problems) == 1, problems
    return problems[0]


def test_examples_load_cleanly() -> None:
    sources = load_sites([EXAMPLE.parent], build_catalog())
    assert {s.manifest.site.id for s in sources} == {
        "coloringbook",
        "pencilsketch",
        "cartoonavatar",
    }


def test_wrong_type(tmp_path: Path) -> None:
    folder = make_site(tmp_path, {"signup_bonus = 3 ": 'signup_bonus = "three" '})
    problem = only_problem(folder)
    assert problem.key == "pricing.signup_bonus"
    assert problem.line == line_of(folder, "signup_bonus")
    assert "expected int" in problem.message
    assert str(problem).startswith(f"{folder / 'site.toml'}:{problem.line}: pricing.signup_bonus: ")


def test_unknown_key_is_a_typo(tmp_path: Path) -> None:
    folder = make_site(tmp_path, {'tagline = "': 'tagine = "x"\ntagline = "'})
    problem = only_problem(folder)
    assert problem.key == "site.tagine"
    assert problem.line == line_of(folder, "tagine")
    assert "unknown key" in problem.message


def test_missing_required_key(tmp_path: Path) -> None:
    folder = make_site(tmp_path, {'name = "ColoringBook AI"\n': ""})
    problem = only_problem(folder)
    assert problem.key == "site.name"
    assert problem.line == line_of(folder, "[site]")
    assert "required key is missing" in problem.message


def test_missing_required_table(tmp_path: Path) -> None:
    folder = make_site(tmp_path)
    text = (folder / "site.toml").read_text()
    (folder / "site.toml").write_text(text[: text.index("[legal]")])
    problem = only_problem(folder)
    assert (problem.key, problem.line) == ("legal", 1)
    assert "required table is missing" in problem.message


def test_bad_color(tmp_path: Path) -> None:
    folder = make_site(tmp_path, {'accent_color = "#1a535c"': 'accent_color = "teal-ish"'})
    problem = only_problem(folder)
    assert (problem.key, problem.line) == ("brand.accent_color", line_of(folder, "accent_color"))
    assert "not a color" in problem.message


def test_missing_asset_file(tmp_path: Path) -> None:
    folder = make_site(tmp_path)
    (folder / "assets" / "logo.svg").unlink()
    problem = only_problem(folder)
    assert (problem.key, problem.line) == ("brand.logo", line_of(folder, "logo ="))
    assert problem.message == "file not found: assets/logo.svg"


def test_asset_outside_the_site_folder(tmp_path: Path) -> None:
    folder = make_site(tmp_path, {'logo = "assets/logo.svg"': 'logo = "../../etc/passwd"'})
    problem = only_problem(folder)
    assert problem.key == "brand.logo"
    assert "inside the site folder" in problem.message


def test_invalid_slug(tmp_path: Path) -> None:
    folder = make_site(tmp_path, {'id = "coloringbook"': 'id = "Coloring Book!"'})
    problem = only_problem(folder)
    assert (problem.key, problem.line) == ("site.id", line_of(folder, 'id = "Coloring'))
    assert "not a valid id" in problem.message


def test_pack_with_zero_tokens(tmp_path: Path) -> None:
    folder = make_site(tmp_path, {"tokens = 60": "tokens = 0"})
    problem = only_problem(folder)
    assert problem.key == "pricing.packs[1].tokens"
    assert problem.line == line_of(folder, "tokens = 0")
    assert "greater than 0" in problem.message


def test_negative_price(tmp_path: Path) -> None:
    folder = make_site(tmp_path, {"price_cents = 2999": "price_cents = -5"})
    problem = only_problem(folder)
    assert problem.key == "pricing.packs[2].price_cents"
    assert problem.line == line_of(folder, "price_cents = -5")


def test_duplicate_pack_id(tmp_path: Path) -> None:
    folder = make_site(tmp_path, {'id = "family"': 'id = "starter"'})
    problem = only_problem(folder)
    assert problem.key == "pricing.packs[1].id"
    assert problem.line == line_of(folder, 'id = "starter"', occurrence=2)
    assert "duplicate id" in problem.message


def test_style_fields_in_array_of_tables(tmp_path: Path) -> None:
    folder = make_site(tmp_path, {'label = "Detailed (grown-ups)"': "label = 7"})
    problem = only_problem(folder)
    assert (problem.key, problem.line) == (
        "transform.styles[1].label",
        line_of(folder, "label = 7"),
    )


def test_bad_domain_and_email(tmp_path: Path) -> None:
    folder = make_site(
        tmp_path,
        {
            'domain = "coloringbook.example.com"': 'domain = "https://coloringbook.example.com/"',
            'contact_email = "hello@example.com"': 'contact_email = "hello"',
        },
    )
    problems = problems_of(folder)
    assert [(p.key, p.line) for p in problems] == [
        ("site.domain", line_of(folder, "domain =")),
        ("legal.contact_email", line_of(folder, "contact_email")),
    ]


def test_unknown_filter_and_provider(tmp_path: Path) -> None:
    folder = make_site(
        tmp_path,
        {
            'provider = "gemini"': 'provider = "dall-e"',
            'fallback = "coloring_book"': 'fallback = "crayon"',
        },
    )
    problems = problems_of(folder)
    assert [(p.key, p.line) for p in problems] == [
        ("transform.provider", line_of(folder, "provider =")),
        ("transform.fallback", line_of(folder, "fallback =")),
    ]
    assert "unknown provider 'dall-e'" in problems[0].message
    assert "unknown local filter 'crayon'" in problems[1].message


def test_local_provider_needs_a_filter(tmp_path: Path) -> None:
    folder = make_site(
        tmp_path,
        {'provider = "gemini"': 'provider = "local"', 'fallback = "coloring_book"': ""},
    )
    problem = only_problem(folder)
    assert problem.key == "transform.provider"
    assert "needs `filter`" in problem.message


def test_invalid_toml_reports_its_line(tmp_path: Path) -> None:
    folder = make_site(tmp_path, {"cost_per_generation = 1": "cost_per_generation = = 1"})
    problem = only_problem(folder)
    assert problem.line == line_of(folder, "cost_per_generation")
    assert problem.message.startswith("invalid TOML")


def test_every_problem_at_once(tmp_path: Path) -> None:
    folder = make_site(
        tmp_path,
        {
            'id = "coloringbook"': 'id = "-bad-"',
            'primary_color = "#ff6b6b"': 'primary_color = "red"',
            "tokens = 20\n": "tokens = -1\n",
            "max_upload_mb = 10": "max_upload_mb = 500",
        },
    )
    keys = {p.key for p in problems_of(folder)}
    assert keys == {
        "site.id",
        "brand.primary_color",
        "pricing.packs[0].tokens",
        "transform.max_upload_mb",
    }


def test_duplicate_site_ids_across_folders(tmp_path: Path) -> None:
    make_site(tmp_path / "sites", name="one")
    second = make_site(
        tmp_path / "sites",
        {'domain = "coloringbook.example.com"': 'domain = "other.example.com"'},
        name="two",
    )
    with pytest.raises(ManifestError) as caught:
        load_sites([tmp_path / "sites"], build_catalog())
    (problem,) = caught.value.problems
    assert problem.file == second / "site.toml"
    assert (problem.key, problem.line) == ("site.id", line_of(second, 'id = "coloringbook"'))
    assert "duplicate site id 'coloringbook'" in problem.message


def test_duplicate_domains_across_folders(tmp_path: Path) -> None:
    make_site(tmp_path / "sites", name="one")
    make_site(tmp_path / "sites", {'id = "coloringbook"': 'id = "copy"'}, name="two")
    with pytest.raises(ManifestError) as caught:
        load_sites([tmp_path / "sites"], build_catalog())
    (problem,) = caught.value.problems
    assert problem.key == "site.domain"


def test_folder_without_manifest(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as caught:
        load_sites([tmp_path], build_catalog())
    assert caught.value.problems[0].message == "no site.toml here"


def test_filter_parameters_are_checked_by_the_filter(tmp_path: Path) -> None:
    folder = make_site(
        tmp_path,
        {
            "params = { line_thickness = 4, detail = 0.3 }": "params = { line_thickness = 99 }",
            "params = { line_thickness = 2, detail = 0.8 }": "params = { crayons = 3 }",
        },
    )
    problems = problems_of(folder)
    assert [p.key for p in problems] == ["transform.styles[0].params", "transform.styles[1].params"]
    assert problems[0].line == line_of(folder, "line_thickness = 99")
    assert "line_thickness" in problems[0].message
    assert "crayons" in problems[1].message


def _filters_not_installed(name: str) -> str:
    return (
        f"local filter {name!r} is not installed (cv2 is missing): pip install 'forkable[filters]'"
    )


def _refusing_params(name: str, params: object) -> str:
    raise AssertionError("parameters of a filter that is not installed cannot be checked")


NO_OPENCV = Catalog(
    providers={"gemini", "local"},
    filters={"coloring_book", "pencil_sketch"},
    check_filter_params=_refusing_params,
    filter_missing=_filters_not_installed,
)


def test_a_fallback_that_is_not_installed_is_one_line_with_the_fix(tmp_path: Path) -> None:
    folder = make_site(tmp_path)
    (problem,) = problems_of(folder, NO_OPENCV)
    assert problem.key == "transform.fallback"
    assert problem.line == line_of(folder, 'fallback = "coloring_book"')
    assert problem.message == _filters_not_installed("coloring_book")


def test_the_local_providers_filter_that_is_not_installed_is_named_at_filter(
    tmp_path: Path,
) -> None:
    folder = make_site(
        tmp_path,
        {
            'provider = "gemini"': 'provider = "local"',
            'fallback = "coloring_book"': 'filter = "pencil_sketch"',
            "params = { line_thickness = 4, detail = 0.3 }": "",
            "params = { line_thickness = 2, detail = 0.8 }": "",
        },
    )
    (problem,) = problems_of(folder, NO_OPENCV)
    assert (problem.key, problem.line) == ("transform.filter", line_of(folder, "filter = "))
    assert "'pencil_sketch' is not installed" in problem.message


def test_a_site_without_a_local_filter_never_asks_whether_filters_are_installed(
    tmp_path: Path,
) -> None:
    asked: list[str] = []

    def missing(name: str) -> str:
        asked.append(name)
        return _filters_not_installed(name)

    folder = make_site(tmp_path, {'fallback = "coloring_book"': ""})
    catalog = Catalog(providers={"gemini"}, filters={"coloring_book"}, filter_missing=missing)
    assert load_site(folder, catalog).manifest.transform.local_filter is None
    assert asked == []
