"""Requests that wait for a generation to change: long polls (`?wait=`) and event streams.

A waiting request costs no thread: it awaits an `asyncio.Event` on the serving loop. What
sets the event is the commit that changed the row, told by `forkable.db.events` from whichever
thread committed it (a job runner thread, a request in the thread pool). Jobs that other
processes run (`serve --workers N`, `forkable worker`) commit elsewhere, so one watcher task
per process reads the statuses of every waited generation from the database a few times a
second, in one query, while anything waits; it stops when nothing does.

The request registers before it reads the row and reads it again after every wake-up, so a
change that lands between its read and its wait is never missed. Waits are bounded per user
and per process: each holds an open connection, and a client looping on them must get 429,
not exhaust the server.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio.to_thread

from forkable.db.events import Fact, StatusChanged
from forkable.generations.models import Status

if TYPE_CHECKING:
    from forkable.generations.status_channel import StatusListener

logger = logging.getLogger(__name__)

FINAL = frozenset({Status.SUCCEEDED.value, Status.FAILED.value})

# id -> status of those of ``ids`` that still exist; run in a worker thread.
StatusReader = Callable[[Collection[str]], dict[str, str]]


@dataclass(frozen=True)
class WaitLimits:
    """How many requests may wait at once, and how often other processes' changes are read."""

    per_user: int = 8  # a page follows one or two images; a script a few
    total: int = 2000  # per process; each is an open connection and an Event, a few KB
    watch_seconds: float = 0.25  # the delay of a change committed by another process


class TooManyWaits(Exception):
    """Refused: the caller (``scope == "user"``) or the process (``"total"``) is at its limit."""

    def __init__(self, scope: str) -> None:
        self.scope = scope
        if scope == "user":
            message = "Too many open waits for your images; close one or poll instead."
        else:
            message = "The server is following too many images right now; try again shortly."
        super().__init__(message)


class Waiter:
    """One waiting request: woken (from any thread) when its generation may have changed."""

    __slots__ = ("_event", "_loop", "follows_queue", "generation_id", "seen")

    def __init__(
        self, generation_id: str, loop: asyncio.AbstractEventLoop, *, follows_queue: bool
    ) -> None:
        self.generation_id = generation_id
        self.follows_queue = follows_queue  # also woken when any job is claimed here
        self.seen: str | None = None  # the status the request last read; None before
        self._event = asyncio.Event()
        self._loop = loop

    def wake(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._event.set)
        except RuntimeError:  # the loop has closed: nobody is left to wake
            pass

    def rearm(self) -> None:
        """Before reading the row: a change committed from now on wakes the next `changed`."""
        self._event.clear()

    def saw(self, status: str) -> None:
        """After reading the row: what it said, for the watcher to compare with."""
        self.seen = status

    async def changed(self, timeout: float) -> bool:
        """True when woken within ``timeout`` seconds (read the row again to see what changed)."""
        if timeout <= 0:
            return self._event.is_set()
        try:
            async with asyncio.timeout(timeout):
                await self._event.wait()
        except TimeoutError:
            return False
        return True


class StatusWaits:
    """The waits of one serving process (see the module's docstring)."""

    def __init__(self, read_statuses: StatusReader, limits: WaitLimits | None = None) -> None:
        self.read_statuses = read_statuses
        self.limits = limits or WaitLimits()
        self._lock = threading.Lock()  # facts arrive on any thread
        self._by_generation: dict[str, set[Waiter]] = {}
        self._per_user: Counter[str] = Counter()
        self._open = 0
        self._watcher: asyncio.Task[None] | None = None
        # On PostgreSQL: other processes' changes as they commit, started by the first wait.
        self.listener: StatusListener | None = None

    @property
    def open_count(self) -> int:
        return self._open

    def status_changed(self, generation_id: str, status: str) -> None:
        """Told by another process (`forkable.generations.status_channel`)."""
        self.record_facts([StatusChanged(generation_id, status)])

    def record_facts(self, facts: Iterable[Fact]) -> None:
        """A transaction committed (`forkable.db.events.observe`): wake who waits on it."""
        changed = [fact for fact in facts if isinstance(fact, StatusChanged)]
        if not changed:
            return
        claimed = any(fact.status == Status.RUNNING for fact in changed)
        with self._lock:
            woken = [
                waiter
                for fact in changed
                for waiter in self._by_generation.get(fact.generation_id, ())
            ]
            if claimed:  # the queue moved: who follows its position reads it again
                woken += [
                    waiter
                    for waiters in self._by_generation.values()
                    for waiter in waiters
                    if waiter.follows_queue and waiter.seen == Status.QUEUED
                ]
        for waiter in woken:
            waiter.wake()

    @contextmanager
    def waiting(
        self, user_key: str, generation_id: str, *, follows_queue: bool = False
    ) -> Iterator[Waiter]:
        """Register a wait on the running loop for as long as the block runs; TooManyWaits."""
        loop = asyncio.get_running_loop()
        waiter = Waiter(generation_id, loop, follows_queue=follows_queue)
        with self._lock:
            if self._open >= self.limits.total:
                raise TooManyWaits("total")
            if self._per_user[user_key] >= self.limits.per_user:
                raise TooManyWaits("user")
            self._per_user[user_key] += 1
            self._open += 1
            self._by_generation.setdefault(generation_id, set()).add(waiter)
            if self.listener is not None:
                self.listener.ensure_started()
            watcher = self._watcher
            if watcher is None or watcher.done() or watcher.get_loop() is not loop:
                self._watcher = loop.create_task(self._watch(), name="forkable-status-watcher")
        try:
            yield waiter
        finally:
            with self._lock:
                self._open -= 1
                self._per_user[user_key] -= 1
                if not self._per_user[user_key]:
                    del self._per_user[user_key]
                waiters = self._by_generation[generation_id]
                waiters.discard(waiter)
                if not waiters:
                    del self._by_generation[generation_id]

    def close(self) -> None:
        """The app stops: stop listening to other processes."""
        if self.listener is not None:
            self.listener.stop()

    async def _watch(self) -> None:
        """Changes committed by other processes: one read of every waited status per round."""
        while True:
            await asyncio.sleep(self.limits.watch_seconds)
            with self._lock:
                if not self._open:
                    self._watcher = None
                    return
                looking = [
                    (waiter, waiter.seen)
                    for waiters in self._by_generation.values()
                    for waiter in waiters
                    if waiter.seen is not None
                ]
            if not looking:
                continue
            ids = {waiter.generation_id for waiter, _ in looking}
            try:
                statuses = await anyio.to_thread.run_sync(self.read_statuses, ids)
            except Exception:
                # A database hiccup: the waits still end on their own time, and the next
                # round tries again.
                logger.exception("reading the statuses of waited generations failed")
                continue
            for waiter, seen in looking:
                if statuses.get(waiter.generation_id) != seen:  # changed, or deleted
                    waiter.wake()
