"""Blocking work off the event loop, in threads that never hold the process up at exit."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def in_daemon_thread(name: str, function: Callable[[], T]) -> T:
    """``function()`` in a thread of its own; its result, awaited.

    Cancelling the await leaves the thread running to its end, but a daemon thread does not
    keep the process alive: a worker that has given its jobs back can exit at once instead of
    waiting for a provider call (the default executor's threads are joined at exit).
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():
            outcome()

    def target() -> None:
        try:
            result = function()
        except BaseException as exc:  # delivered to the awaiting task, not lost in the thread
            error = exc
            _call_soon(loop, lambda: settle(lambda: future.set_exception(error)))
        else:
            _call_soon(loop, lambda: settle(lambda: future.set_result(result)))

    threading.Thread(target=target, name=name, daemon=True).start()
    return await future


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:
        pass  # the loop has closed: nobody waits for this result any more
