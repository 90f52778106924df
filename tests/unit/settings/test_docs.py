"""The environment table in docs/operations.md is generated from the settings model."""

from __future__ import annotations

from pathlib import Path

import pytest

from forkable.settings.docs import BEGIN, END, render_table, rewrite
from forkable.settings.fields import variable_names
from forkable.settings.model import Settings

DOCS = Path(__file__).resolve().parents[3] / "docs" / "operations.md"


def test_operations_table_is_up_to_date() -> None:
    page = DOCS.read_text()
    assert rewrite(page) == page, (
        "the environment table in docs/operations.md is stale: run `make docs` "
        "(python -m forkable.settings.docs docs/operations.md)"
    )


def test_every_field_names_its_variable_and_what_it_means() -> None:
    table = render_table()
    for name, info in Settings.model_fields.items():
        names = variable_names(info)
        assert names, f"{name} is read from no variable"
        assert info.description, f"{name} has no meaning"
        assert f"| `{names[0]}`" in table


def test_rewrite_keeps_the_page_around_the_table() -> None:
    page = f"# Title\n\nbefore\n{BEGIN}\nold table\n{END}\nafter\n"
    rewritten = rewrite(page)
    assert rewritten.startswith(f"# Title\n\nbefore\n{BEGIN}\n| variable |")
    assert rewritten.endswith(f"{END}\nafter\n")
    assert "old table" not in rewritten
    assert rewrite(rewritten) == rewritten


def test_a_page_without_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="section"):
        rewrite("# no table here\n")
