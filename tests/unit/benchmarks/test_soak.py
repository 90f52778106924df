"""Where `benchmarks/soak.py --record` writes a run: the default 10 minutes and a longer run
(for memory) keep a section each, so recording one never replaces the other."""

from __future__ import annotations

from soak import DEFAULT_SECONDS, section


def test_the_default_run_has_the_soak_section() -> None:
    name, heading = section(DEFAULT_SECONDS)
    assert name == "soak"
    assert heading == "## Soak (issue 16)"


def test_a_longer_run_has_a_section_of_its_own() -> None:
    name, heading = section(7200)
    assert name == "soak-long"
    assert "long run" in heading
    assert section(DEFAULT_SECONDS + 1)[0] == "soak-long"
