"""Worker threads that never hold the process open, for requests a caller may abandon.

A request waits for its response headers in a blocking thread, and a server that accepts the
connection and says nothing keeps that thread for the whole read timeout (a minute). anyio's
worker threads are joined when the interpreter exits, so Ctrl+C, SIGTERM or quitting the app
would wait that minute with them. These threads are daemons: an abandoned request ends with
the process, and the caller never waits for it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel

__all__ = ["DaemonThreads"]

T = TypeVar("T")

_IDLE_SECONDS = 10.0
"""An idle thread ends after this long (anyio's own workers wait as long)."""


class _Job(Generic[T]):
    """One call: run in a daemon thread, its outcome handed back to the event loop."""

    __slots__ = ("call", "done", "error", "result", "token")

    def __init__(self, call: Callable[[], T]) -> None:
        self.call = call
        self.done = anyio.Event()
        self.token = anyio.lowlevel.current_token()
        self.result: T | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.call()
        except BaseException as exc:  # handed to the awaiting task, which raises it
            self.error = exc
        try:
            anyio.from_thread.run_sync(self.done.set, token=self.token)
        except Exception:  # noqa: BLE001 - the loop is gone: nobody waits for this outcome
            pass


class DaemonThreads:
    """A pool of daemon threads; `run` awaits a blocking call in one of them."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job[object]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0

    async def run(self, call: Callable[[], T], *, limiter: anyio.CapacityLimiter) -> T:
        """`call()` in a daemon thread. Cancelled, this returns at once and the call's
        outcome is dropped (the caller cleans up whatever it leaves, see `Connections.open`).
        """
        async with limiter:
            job = _Job(call)
            self._submit(job)  # type: ignore[arg-type]
            await job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[return-value]

    def _submit(self, job: _Job[object]) -> None:
        with self._lock:
            spare = self._idle > 0
            if spare:
                self._idle -= 1
        self._jobs.put(job)
        if not spare:
            threading.Thread(target=self._work, name="civittui request", daemon=True).start()

    def _work(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=_IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._idle > 0 and self._jobs.empty():
                        self._idle -= 1
                        return
                continue  # a job was promised to this thread: take it
            job.run()
            with self._lock:
                self._idle += 1
