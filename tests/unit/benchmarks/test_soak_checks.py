"""The soak's memory judgement: the slope of resident memory per generation, its interval,
and where the warm-up ends. Synthetic samples with a known slope, so each check can fail."""

from __future__ import annotations

import random

import pytest
from soak_checks import (
    GROWTH_TARGET,
    Sample,
    fit_growth,
    memory_verdict,
    sen_interval,
    theil_sen,
)

MB = 1024  # KB


def run(
    per_generation: float,
    *,
    seconds: int = 1800,
    noise_kb: float = 1 * MB,
    spikes: float = 0.05,
    database_kb: int = 5000,
    segment: int = 1,
    seed: int = 7,
) -> list[Sample]:
    """A sample every 2 s of a process finishing ~0.7 generations a second whose memory grows
    ``per_generation`` bytes each, swings by ``noise_kb`` with the work in flight and now and
    then holds a password hash's 64 MiB."""
    pick = random.Random(seed)
    samples = []
    finished = 0
    for step in range(seconds // 2):
        finished += pick.choice((0, 1, 1, 2))
        rss = 220 * MB + finished * per_generation / 1024 + pick.uniform(-1, 1) * noise_kb
        if pick.random() < spikes:
            rss += 64 * MB
        samples.append(Sample(step * 2.0, segment, int(rss), finished, database_kb))
    return samples


def test_theil_sen_finds_the_slope_through_outliers() -> None:
    xs = [float(x) for x in range(100)]
    ys = [3.0 * x + (1000.0 if x % 4 == 0 else 0.0) for x in xs]  # a quarter of them far off
    assert theil_sen(xs, ys) == pytest.approx(3.0)


def test_the_interval_holds_the_estimate_and_widens_for_dependent_samples() -> None:
    pick = random.Random(3)
    xs = [float(x) for x in range(200)]
    ys = [2.0 * x + pick.gauss(0, 20) for x in xs]
    estimate = theil_sen(xs, ys)
    low, high = sen_interval(xs, ys)
    low5, high5 = sen_interval(xs, ys, every=5)
    assert low < estimate < high
    assert low5 <= low < 2.0 < high <= high5
    assert high5 - low5 > 1.5 * (high - low)  # five times fewer independent points


def test_a_flat_process_is_judged_below_the_target() -> None:
    growth = fit_growth(run(0.0), segment=1, warmup=180, until=1800)
    assert growth is not None and growth.bytes_per_generation is not None
    assert growth.high is not None and growth.high < GROWTH_TARGET
    assert growth.low is not None and growth.low < 0 < growth.high


def test_a_leak_of_a_few_kilobytes_per_generation_is_caught() -> None:
    growth = fit_growth(run(3000.0), segment=1, warmup=180, until=1800)
    assert growth is not None and growth.low is not None
    assert growth.low > GROWTH_TARGET
    assert growth.bytes_per_generation == pytest.approx(3000, rel=0.25)


def test_only_the_segment_asked_for_after_its_warm_up_is_fitted() -> None:
    first = run(0.0)
    second = [
        Sample(s.at + 1800, 2, s.rss_kb + 40 * MB, s.finished + 2000, s.database_kb)
        for s in run(5000.0, seed=8)
    ]
    samples = first + second
    one = fit_growth(samples, segment=1, warmup=180, until=3000)
    two = fit_growth(samples, segment=2, warmup=180, until=3000)
    assert one is not None and one.high is not None and one.high < GROWTH_TARGET
    assert two is not None and two.low is not None and two.low > GROWTH_TARGET
    assert one.seconds == pytest.approx(1800 - 2 - 180)  # from 180 s in to its last sample
    assert two.seconds == pytest.approx(3000 - 1800 - 180)  # from 180 s in until the traffic ends


def test_the_verdict_needs_a_segment_long_past_its_warm_up() -> None:
    flat = fit_growth(run(0.0, seconds=2400), segment=1, warmup=1200, until=2400)
    short = fit_growth(run(0.0, seconds=1500), segment=1, warmup=1200, until=1500)
    leaking = fit_growth(run(4000.0, seconds=2400), segment=1, warmup=1200, until=2400)
    assert flat is not None and short is not None and leaking is not None
    assert memory_verdict([short]) == {
        "judged": False,
        "ok": True,
        "verdict": memory_verdict([])["verdict"],
        "worst_bytes_per_generation": None,
    }
    assert memory_verdict([flat])["verdict"].startswith("flat")
    assert memory_verdict([flat, short])["judged"]  # the short segment is left out
    growing = memory_verdict([flat, leaking])
    assert growing["verdict"].startswith("GROWING") and not growing["ok"]
