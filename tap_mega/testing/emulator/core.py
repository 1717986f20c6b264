"""MegaEmulator: the pieces assembled behind one lock, and the test interface."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from tap_mega.testing.emulator.api import Account, LeadsApi
from tap_mega.testing.emulator.data import copy_lead, ingest
from tap_mega.testing.emulator.edits import LeadEditor
from tap_mega.testing.emulator.faults import FaultState, fault_response
from tap_mega.testing.emulator.limiter import RateLimiter, RateWindow
from tap_mega.testing.emulator.server import Server, serve_in_thread, shut_down
from tap_mega.testing.emulator.store import LeadStore
from tap_mega.testing.emulator.wire import (
    DEMO_CUSTOMER_ID,
    DEMO_TOKEN,
    RATE_LIMIT_MESSAGE,
    READ_SCOPE,
    RecordedRequest,
    Response,
    bearer,
    error_response,
    redacted,
)
from tap_mega.testing.leadgen import generate_leads

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from email.message import Message
    from types import TracebackType

    from tap_mega.testing.emulator.faults import Fault

__all__ = ["MegaEmulator"]


class MegaEmulator:
    """MEGA's lead list endpoint over a real socket, with scripted trouble.

    All state sits behind one re-entrant lock: requests are served one at a
    time (except a "slow" fault's sleep), which keeps recorded order, request
    numbering and data changes deterministic.
    """

    def __init__(  # noqa: PLR0913 - the documented test interface
        self,
        leads: list[dict[str, Any]] | None = None,
        *,
        n_leads: int = 0,
        seed: int = 0,
        token: str | None = None,
        customer_id: str | None = None,
        scopes: Sequence[str] = (READ_SCOPE,),
        rate_windows: Sequence[RateWindow] | None = None,
        clock: Callable[[], float] = time.monotonic,
        port: int = 0,
        host: str = "127.0.0.1",
        verbose: bool = False,
    ) -> None:
        """Build state now; bind the socket only in :meth:`start`."""
        self.token = token or DEMO_TOKEN
        self.customer_id = customer_id or DEMO_CUSTOMER_ID
        self.scopes = tuple(scopes)
        self.host = host
        self.port = port
        self.verbose = verbose
        self.rate_limited_count = 0
        if rate_windows is None:
            rate_windows = [RateWindow(limit=60, seconds=60), RateWindow(limit=1000, seconds=3600)]
        self._limiter = RateLimiter(rate_windows, clock)
        if leads is None:
            initial = generate_leads(n_leads, seed=seed, customer_id=self.customer_id)
        else:
            initial = [ingest(lead) for lead in leads]
        self._store = LeadStore(initial)
        self._editor = LeadEditor(self._store, self.customer_id, seed)
        self._lock = threading.RLock()
        self._requests: list[RecordedRequest] = []
        self._faults: list[FaultState] = []
        self._callbacks: dict[int, list[Callable[[MegaEmulator], object]]] = {}
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------- #
    def start(self) -> MegaEmulator:
        """Bind and serve in a daemon thread; returns self for chaining."""
        if self._server is not None:
            return self
        self._server = Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = serve_in_thread(self._server, f"mega-emulator-{self.port}")
        return self

    def stop(self) -> None:
        """Stop serving and cut open keep-alive connections."""
        server, self._server = self._server, None
        if server is not None:
            shut_down(server, self._thread)

    def __enter__(self) -> MegaEmulator:  # noqa: PYI034 - typing.Self needs 3.11
        """Start on entering a ``with`` block."""
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Always stop, even when the test failed."""
        self.stop()

    @property
    def url(self) -> str:
        """Base URL (no trailing slash); still readable after ``stop()``."""
        if self.port == 0:
            msg = "emulator not started: the port is not known yet"
            raise RuntimeError(msg)
        return f"http://{self.host}:{self.port}"

    # -- observation ------------------------------------------------------- #
    @property
    def leads(self) -> list[dict[str, Any]]:
        """Current truth, in (updated_at, id) order, with custom fields."""
        with self._lock:
            store = self._store
            return [copy_lead(store.rows[lead_id].lead) for _, lead_id in store.by_updated]

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        """Requests received, including dropped and faulted ones."""
        with self._lock:
            return len(self._requests)

    # -- scripting --------------------------------------------------------- #
    def add_fault(self, fault: Fault) -> None:
        """Schedule a fault; earlier-added faults win when several match."""
        with self._lock:
            self._faults.append(FaultState.of(fault))

    def on_request(self, k: int, callback: Callable[[MegaEmulator], object]) -> None:
        """Run ``callback(emu)`` just before request ``k`` (1-based) is served."""
        with self._lock:
            self._callbacks.setdefault(k, []).append(callback)

    # -- data changes ------------------------------------------------------ #
    def update_leads(
        self,
        ids: list[str] | None = None,
        count: int | None = None,
        seed: int | None = None,
        **field_changes: Any,
    ) -> list[str]:
        """Change leads and stamp them with the data clock's next "now".

        Without ``ids``, ``count`` (default 1) leads are picked. Without field
        changes an interaction is recorded (``interaction_count`` + 1,
        ``last_interaction_at`` = now). ``custom_fields`` changes are merged
        into the existing object. All changed leads share one ``updated_at``,
        as one transaction would.
        """
        with self._lock:
            return self._editor.update(ids, count, seed, field_changes)

    def insert_leads(self, n: int, seed: int | None = None) -> list[dict[str, Any]]:
        """Create ``n`` leads whose created_at and updated_at are "now"."""
        with self._lock:
            return self._editor.insert(n, seed)

    def late_commit(self, count: int, seconds_before: float, seed: int | None = None) -> list[str]:
        """Commit ``count`` changes stamped ``seconds_before`` the newest updated_at.

        Models a long transaction whose ``updated_at`` was taken at its start:
        it becomes visible after a sync already read past that instant, so a
        tap that never looks back misses it. Only leads older than the stamp
        are chosen, so each change really moves a lead forward in time.
        """
        with self._lock:
            return self._editor.late_commit(count, seconds_before, seed)

    def set_updated_at(self, lead_id: str, iso_string: str) -> None:
        """Force a lead's ``updated_at`` (sub-millisecond digits are truncated)."""
        with self._lock:
            self._editor.set_updated_at(lead_id, iso_string)

    # -- request handling -------------------------------------------------- #
    def handle(self, method: str, raw_path: str, headers: Message) -> Response:
        """Number, record, fault or serve one request (called by the handler)."""
        split = urlsplit(raw_path)
        pairs = parse_qsl(split.query, keep_blank_values=True)
        record = RecordedRequest(method, split.path, dict(pairs), redacted(headers))
        with self._lock:
            self._requests.append(record)
            k = len(self._requests)
            for callback in self._callbacks.pop(k, []):
                callback(self)
            fault = next((s.fault for s in self._faults if s.fires(k)), None)
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.seconds)  # outside the lock: others keep flowing
            fault = None
        with self._lock:
            if fault is None:
                response = self._serve(method, split.path, pairs, headers)
            else:
                rate_headers = self._limiter.peek(bearer(headers) or "")
                response = fault_response(
                    fault, rate_headers,
                    lambda: self._application("GET", split.path, pairs, headers),
                )
            record.status = response.status if response.body is not None else 0
            self.rate_limited_count += response.status == 429  # noqa: PLR2004
            return response

    def _serve(
        self, method: str, path: str, pairs: list[tuple[str, str]], headers: Message,
    ) -> Response:
        """Rate-limit, then run the application.

        Silent in the docs: the budget is keyed by the presented token, so
        requests with a wrong token neither spend nor reveal the real token's
        budget. Every request that passes the limiter spends budget, whatever
        its outcome (401, 404 and 400 included), as a gateway limiter does.
        """
        key = bearer(headers) or ""
        if self._limiter.enabled:
            admitted, rate_headers = self._limiter.admit(key)
            if not admitted:
                return error_response(429, RATE_LIMIT_MESSAGE, rate_headers)
        else:
            rate_headers = {}
        response = self._application(method, path, pairs, headers)
        response.headers.update(rate_headers)
        return response

    def _application(
        self, method: str, path: str, pairs: list[tuple[str, str]], headers: Message,
    ) -> Response:
        """The API itself, with this emulator's account and leads."""
        account = Account(self.token, self.customer_id, self.scopes)
        return LeadsApi(account, self._store).respond(method, path, pairs, headers)
