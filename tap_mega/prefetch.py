"""Fetch the next page in the background while the current one is written.

With the budget to spare, a sync alternates between waiting for MEGA and
writing records; the socket wait releases the GIL, so overlapping the two is
nearly free. One page ahead at most: memory stays flat, and the request order,
pacing and retries are exactly those of a sequential walk.
"""

from __future__ import annotations

import typing as t
from concurrent.futures import Future, ThreadPoolExecutor

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    import requests

Send = t.Callable[..., "requests.Response"]


class PageFetcher:
    """Runs `send(prepared, context)` one request at a time, in a worker or in place."""

    def __init__(self, send: Send, *, prefetch: bool = True) -> None:
        """`prefetch=False` runs each request when asked, for comparison and debugging."""
        self._send = send
        self._executor = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="mega-prefetch")
            if prefetch
            else None
        )

    def fetch(self, prepared: requests.PreparedRequest) -> Future[requests.Response]:
        """Start the request; its response or exception comes from the future."""
        if self._executor is not None:
            return self._executor.submit(self._send, prepared, None)
        return _run_now(self._send, prepared)

    def __enter__(self) -> PageFetcher:  # noqa: PYI034 - typing.Self needs 3.11
        """Use as a context manager, so the worker never outlives the walk."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Drop a request not yet started; one in flight finishes on its own."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)


def _run_now(
    send: Callable[..., requests.Response], prepared: requests.PreparedRequest
) -> Future[requests.Response]:
    future: Future[requests.Response] = Future()
    try:
        future.set_result(send(prepared, None))
    except Exception as exc:  # noqa: BLE001 - handed to the caller through the future
        future.set_exception(exc)
    return future
