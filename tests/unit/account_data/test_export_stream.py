"""The export zip is produced as it is sent: one media object in memory at a time."""

from __future__ import annotations

import io
import json
import os
import threading
import tracemalloc
import zipfile

from forkable.account_data.export import ExportPlan, _File, stream_export
from forkable.storage import MissingMedia

FILES = 60
SIZE = 512 * 1024  # random bytes: 30 MiB in all


class CountingStore:
    """Objects made on demand; counts reads, and reads that overlap."""

    def __init__(self) -> None:
        self.reads = 0
        self.open_reads = 0
        self.most_open = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes:
        with self._lock:
            self.reads += 1
            self.open_reads += 1
            self.most_open = max(self.most_open, self.open_reads)
        try:
            if key.endswith("gone.png"):
                raise MissingMedia(key)
            return os.urandom(SIZE)
        finally:
            with self._lock:
                self.open_reads -= 1

    def put(self, key: str, data: bytes, content_type: str) -> None:
        raise AssertionError("an export never writes")

    def delete(self, key: str) -> None:
        raise AssertionError("an export never deletes")

    def check(self) -> None:
        pass


def _plan() -> ExportPlan:
    generations = [
        {"id": f"g{i:03d}", "files": {"photo": {"included": True}}} for i in range(FILES)
    ]
    generations.append({"id": "gone", "files": {"result": {"included": True}}})
    plan = ExportPlan(site_id="s", user_id=1, account={"generations": generations})
    plan.files = [
        _File(f"g{i:03d}", "photo", f"s/{i}.jpg", f"photos/g{i:03d}.jpg") for i in range(FILES)
    ]
    plan.files.append(_File("gone", "result", "s/gone.png", "results/gone.png"))
    return plan


def test_chunks_leave_as_each_file_is_read() -> None:
    store = CountingStore()
    chunks = stream_export(store, _plan())
    sizes = []
    for index, chunk in enumerate(chunks):
        sizes.append(len(chunk))
        if index < FILES:
            # Lazy: the n-th chunk is out after n+1 reads, not after all of them.
            assert store.reads == index + 1
    assert len(sizes) == FILES + 1
    assert store.most_open == 1
    assert max(sizes) < SIZE + 4096


def test_memory_stays_near_one_file() -> None:
    store = CountingStore()
    total = 0
    tracemalloc.start()
    try:
        for chunk in stream_export(store, _plan()):
            total += len(chunk)
            del chunk
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total > FILES * SIZE
    # A few copies of one file (read, written, joined), never the 30 MiB of all of them.
    assert peak < 6 * SIZE, peak


def test_the_stream_is_a_valid_zip_that_says_what_was_missing() -> None:
    data = b"".join(stream_export(CountingStore(), _plan()))
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    assert len([n for n in archive.namelist() if n.startswith("photos/")]) == FILES
    account = json.loads(archive.read("account.json"))
    gone = account["generations"][-1]
    assert gone["files"]["result"] == {"included": False, "why": "expired"}
