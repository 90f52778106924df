"""OpenCV's threads shared among the filters running at once: the counts, the process-wide
setting, and the same pixels whatever the share."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
from PIL import Image

from forkable.providers.local import apply_filter
from forkable.providers.local.threads import OPENCV_THREADS, ThreadShare


def test_each_running_filter_gets_an_equal_share_and_at_least_one_thread() -> None:
    settings: list[int] = []
    share = ThreadShare(4, settings.append)
    with share.share():
        assert share.threads == 4  # alone: every thread, and OpenCV left as it was
        with share.share():
            assert share.threads == 2
            with share.share(), share.share(), share.share():
                assert (share.running, share.threads) == (5, 1)
        assert share.threads == 4
    assert (share.running, share.threads) == (0, 4)
    # OpenCV is only told when the count changes.
    assert settings == [2, 1, 2, 4]


def test_a_single_thread_is_never_changed() -> None:
    settings: list[int] = []
    share = ThreadShare(1, settings.append)
    with share.share(), share.share():
        assert share.threads == 1
    assert settings == []


def test_the_share_comes_back_after_a_filter_raises() -> None:
    share = ThreadShare(2, lambda threads: None)
    try:
        with share.share(), share.share():
            raise RuntimeError("the filter failed")
    except RuntimeError:
        pass
    assert (share.running, share.threads) == (0, 2)


def test_many_threads_starting_and_ending_leave_opencv_at_its_default() -> None:
    settings: list[int] = []
    share = ThreadShare(8, settings.append)
    start = threading.Barrier(16)

    def run() -> None:
        start.wait()
        for _ in range(50):
            with share.share():
                time.sleep(0.0005)  # a filter's time, short; lets the others overlap it

    with ThreadPoolExecutor(16) as pool:
        for future in [pool.submit(run) for _ in range(16)]:
            future.result()
    assert (share.running, share.threads) == (0, 8)
    assert min(settings) == 1 and settings[-1] == 8


def test_the_process_share_sets_opencv_itself() -> None:
    total = OPENCV_THREADS.total
    assert cv2.getNumThreads() == total
    with OPENCV_THREADS.share(), OPENCV_THREADS.share():
        assert cv2.getNumThreads() == max(1, total // 2)
    assert cv2.getNumThreads() == total


def test_filters_running_at_once_give_the_pixels_they_give_alone(
    photos: dict[str, Image.Image],
) -> None:
    jobs = [(name, photo) for name in ("coloring_book", "cartoon") for photo in photos.values()]
    alone = [np.asarray(apply_filter(name, photo)) for name, photo in jobs]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda job: np.asarray(apply_filter(*job)), jobs * 2))
    for index, pixels in enumerate(together):
        assert np.array_equal(pixels, alone[index % len(jobs)])
    assert (OPENCV_THREADS.running, cv2.getNumThreads()) == (0, OPENCV_THREADS.total)
