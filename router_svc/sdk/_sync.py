"""Run the async SDK from sync code: a private event loop in a background thread.

The sync ``Client`` and ``MoE`` have no method bodies of their own: ``blocking(method)`` turns
an async method into a sync one that runs the coroutine on the object's ``Portal`` and waits
for it. Running everything on one long-lived loop keeps the loop-bound state (httpx's
connection pool, the model manager's locks) on the loop that created it, and works from code
that already runs an event loop (a notebook), which ``asyncio.run`` does not.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class Portal:
    """An event loop in a daemon thread, started on first use; ``close`` stops it."""

    def __init__(self, name: str = "router-svc-sdk") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the portal's loop and wait; Ctrl-C cancels it."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self._started())
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def close(self) -> None:
        """Stop the loop and join its thread (idempotent)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name=self._name, daemon=True
                )
                self._thread.start()
            return self._loop


class Blocking(Protocol):
    """What ``blocking`` needs: a portal, and the object whose async methods it runs."""

    @property
    def _portal(self) -> Portal: ...

    @property
    def _aio(self) -> Any: ...


def blocking(
    method: Callable[Concatenate[Any, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[Blocking, P], R]:
    """The sync twin of an async method: same signature and docstring, runs on the portal."""

    @functools.wraps(method)
    def call(self: Blocking, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._portal.run(method(self._aio, *args, **kwargs))

    return call
