"""Another integration on the same token, spending its budget while a tap syncs.

MEGA's budget is per token, and a customer may run more than one integration
on one token: the tap then sees 429s it could not predict from its own
requests. The neighbour spends at a steady rate from a background thread,
straight at the limiter (its requests are not this server's requests).
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Neighbour"]


class Neighbour:
    """Calls ``spend()`` ``rate`` times a second until stopped.

    ``spend`` returns whether the request was admitted; the counts are kept
    for tests and benchmarks to report.
    """

    def __init__(self, spend: Callable[[], bool], rate: float) -> None:
        """Prepare; nothing runs before :meth:`start`."""
        if not rate > 0:
            msg = "another integration's rate must be > 0 requests a second"
            raise ValueError(msg)
        self._spend = spend
        self._interval = 1 / rate
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.admitted = 0
        self.refused = 0

    def start(self) -> None:
        """Start spending in a daemon thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="mega-neighbour", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop spending and wait for the thread to end."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(timeout=5)

    @property
    def running(self) -> bool:
        """Whether the thread is spending."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        """Spend on a fixed schedule; a late tick does not bunch up the next ones."""
        due = time.monotonic()
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            if self._spend():
                self.admitted += 1
            else:
                self.refused += 1
            due = max(due + self._interval, time.monotonic() - self._interval)
