"""Periodic calls: every interval from start() until stop(), surviving a failed call."""

from __future__ import annotations

import threading
import time

import pytest

from forkable.periodic import Periodic


def test_calls_come_every_interval_until_stopped_and_survive_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[float] = []
    third = threading.Event()

    def action() -> None:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise RuntimeError("boom")
        if len(calls) == 3:
            third.set()

    periodic = Periodic("test-periodic", 0.02, action)
    periodic.start()
    periodic.start()  # a second start keeps the one thread
    assert third.wait(5)
    periodic.stop()

    assert not periodic.running
    assert not any(t.name == "test-periodic" for t in threading.enumerate())
    count = len(calls)
    time.sleep(0.1)
    assert len(calls) == count  # nothing after stop()
    assert "a periodic call failed" in caplog.text
