"""MegaEmulator: the pieces assembled behind one lock, and the test interface."""

from __future__ import annotations

import random
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from tap_mega.testing.emulator.api import Account, LeadsApi
from tap_mega.testing.emulator.data import copy_lead, initial_leads
from tap_mega.testing.emulator.edits import LeadEditor
from tap_mega.testing.emulator.faults import (
    APPLICATION_KINDS,
    FaultState,
    application_fault,
    fault_response,
)
from tap_mega.testing.emulator.headers import HeaderForms
from tap_mega.testing.emulator.limiter import LimiterConfig, RateLimiter, RateWindow
from tap_mega.testing.emulator.neighbour import Neighbour
from tap_mega.testing.emulator.query import PageOptions
from tap_mega.testing.emulator.server import Server, serve_in_thread, shut_down
from tap_mega.testing.emulator.spelling import Spelling
from tap_mega.testing.emulator.store import LeadStore
from tap_mega.testing.emulator.transfer import Transfer
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

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from email.message import Message
    from types import TracebackType

    from tap_mega.testing.emulator.faults import Fault

__all__ = ["MegaEmulator"]


class MegaEmulator:
    """MEGA's lead list endpoint over a real socket, with scripted trouble.

    All state sits behind one re-entrant lock: requests are served one at a
    time (except a "slow" fault's sleep and the latency before counting),
    which keeps recorded order, request numbering and data changes
    deterministic.
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
        limiter: str = "sliding",
        limiter_phase: float = 0.0,
        refusals_spend: bool = False,
        errors_spend: bool = False,
        report_tie: str = "constrained",
        reset_rounding: str = "ceil",
        retry_after: str = "seconds",
        latency_ms: tuple[float, float] | None = None,
        other_integration_rps: float = 0.0,
        gzip: bool = False,
        chunked: bool = False,
        timestamps: str = "mega",
        cursor_alphabet: str = "urlsafe",
        limit_above_max: str = "refuse",
        max_limit: int = 100,
        trailing_empty_page: bool = False,
        deletions: tuple[int, int] | None = None,
        date_offset: float = 0.0,
    ) -> None:
        """Build state now; bind the socket only in :meth:`start`.

        Every keyword after ``verbose`` selects one reading of what the docs
        leave open; the defaults are the emulator's own careful reading:

        - ``limiter``: ``sliding`` log, ``fixed`` windows opened at the first
          hit, ``aligned`` to the clock at ``limiter_phase`` seconds, or a
          token ``bucket``; ``refusals_spend`` / ``errors_spend``: a 429 / a
          5xx fault counts against the budget; ``report_tie``: the window the
          headers report when several have the fewest left (``constrained``,
          ``minute``, ``hour``); ``reset_rounding`` (``ceil``, ``floor``,
          ``exact``) and ``retry_after`` (``seconds``, ``date``, ``fraction``):
          how the two time headers are spelled.
        - ``latency_ms=(low, high)``: each request is counted (and served) a
          uniformly drawn number of milliseconds after it arrives.
        - ``other_integration_rps``: another integration spends the same
          token's budget at this many requests a second while serving.
        - ``gzip`` / ``chunked``: compress (for clients that accept it) and
          chunk every response.
        - ``timestamps``: the spelling style (see :mod:`.spelling`);
          ``cursor_alphabet``, ``limit_above_max``, ``max_limit``, ``trailing_empty_page``:
          paging readings (see :class:`~.query.PageOptions`);
          ``deletions=(n, k)``: ``n`` leads are deleted before every ``k``-th
          request, so ``total`` shrinks during a walk; ``date_offset``: seconds
          the ``Date`` header runs ahead of this machine's clock (a skewed server).
        """
        self.token = token or DEMO_TOKEN
        self.customer_id = customer_id or DEMO_CUSTOMER_ID
        self.scopes = tuple(scopes)
        self.host = host
        self.port = port
        self.verbose = verbose
        self.date_offset = date_offset
        self.rate_limited_count = 0
        if rate_windows is None:
            rate_windows = [RateWindow(limit=60, seconds=60), RateWindow(limit=1000, seconds=3600)]
        forms = HeaderForms(reset=reset_rounding, retry_after=retry_after)
        config = LimiterConfig(
            model=limiter,
            phase=limiter_phase,
            refusals_spend=refusals_spend,
            tie=report_tie,
            forms=forms,
        )
        self._clock = clock
        self._limiter = RateLimiter(rate_windows, clock, config)
        self._errors_spend = errors_spend
        self._latency = _latency_range(latency_ms)
        self._neighbour = (
            None
            if not other_integration_rps
            else Neighbour(self._spend_as_neighbour, other_integration_rps)
        )
        self.transfer = Transfer(gzip=gzip, chunked=chunked)
        spelling = Spelling(timestamps)
        self._store = LeadStore(initial_leads(leads, n_leads, seed, self.customer_id, spelling))
        self._editor = LeadEditor(self._store, self.customer_id, seed, spelling)
        self._paging = PageOptions(cursor_alphabet, limit_above_max, trailing_empty_page, max_limit)
        self._deletions = _deletions(deletions)
        self._rng = random.Random(f"mega-emulator-latency-{seed}")  # noqa: S311 - test timing
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
        if self._neighbour is not None:
            self._neighbour.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut open keep-alive connections."""
        if self._neighbour is not None:
            self._neighbour.stop()
        server, self._server = self._server, None
        if server is not None:
            shut_down(server, self._thread)

    def __enter__(self) -> MegaEmulator:  # noqa: PYI034 - typing.Self needs 3.11
        """Start on entering a ``with`` block."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
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

    @property
    def other_integration(self) -> Neighbour | None:
        """The other integration on the token (its ``admitted``/``refused`` counts), if any."""
        return self._neighbour

    def _spend_as_neighbour(self) -> bool:
        """One request of the other integration: straight at the limiter."""
        with self._lock:
            return self._limiter.admit(self.token)[0] if self._limiter.enabled else True

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
        """Change ``ids`` (else ``count`` picked) at one new ``updated_at``, as one transaction.

        No field changes: an interaction (``interaction_count`` + 1). ``custom_fields``
        changes are merged into the existing object.
        """
        with self._lock:
            return self._editor.update(ids, count, seed, field_changes)

    def insert_leads(self, n: int, seed: int | None = None) -> list[dict[str, Any]]:
        """Create ``n`` leads whose created_at and updated_at are "now"."""
        with self._lock:
            return self._editor.insert(n, seed)

    def late_commit(self, count: int, seconds_before: float, seed: int | None = None) -> list[str]:
        """``count`` changes stamped ``seconds_before`` the newest updated_at, on older leads.

        A long transaction that stamped its start: it shows after a sync read past
        that instant, so a tap that never looks back misses it.
        """
        with self._lock:
            return self._editor.late_commit(count, seconds_before, seed)

    def set_updated_at(self, lead_id: str, iso_string: str) -> None:
        """Force a lead's ``updated_at`` (in the default style, to the millisecond)."""
        with self._lock:
            self._editor.set_updated_at(lead_id, iso_string)

    def delete_leads(
        self,
        ids: list[str] | None = None,
        count: int | None = None,
        seed: int | None = None,
    ) -> list[str]:
        """Delete ``ids`` (else ``count`` picked), or merge them away as de-duplication does."""
        with self._lock:
            return self._editor.delete(ids, count, seed)

    # -- request handling -------------------------------------------------- #
    def handle(self, method: str, raw_path: str, headers: Message) -> Response:
        """Number, record, fault or serve one request (called by the handler)."""
        split = urlsplit(raw_path)
        pairs = parse_qsl(split.query, keep_blank_values=True)
        record = RecordedRequest(
            method, split.path, dict(pairs), redacted(headers), at=self._clock()
        )
        with self._lock:
            self._requests.append(record)
            k = len(self._requests)
            for callback in self._callbacks.pop(k, []):
                callback(self)
            self._delete_before(k)
            fault = next((s.fault for s in self._faults if s.fires(k)), None)
            delay = self._rng.uniform(*self._latency) if self._latency else 0.0
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.seconds)  # outside the lock: others keep flowing
            fault = None
        if delay:
            time.sleep(delay)  # latency between client and counter, outside the lock too
        with self._lock:
            if fault is None:
                response = self._serve(method, split.path, pairs, headers)
            else:
                response = self._fault(fault, method, split.path, pairs, headers)
            record.status = response.status if response.body is not None else 0
            self.rate_limited_count += response.status == 429  # noqa: PLR2004
            return response

    def _delete_before(self, k: int) -> None:
        """Scripted deletions: ``n`` leads before every ``k``-th request, while any are left."""
        if self._deletions is not None and k % self._deletions[1] == 0:
            available = len(self._store.rows)
            if available:
                self._editor.delete(None, min(self._deletions[0], available), None)

    def _fault(
        self,
        fault: Fault,
        method: str,
        path: str,
        pairs: list[tuple[str, str]],
        headers: Message,
    ) -> Response:
        """Misbehave as scripted: in front of the limiter, or behind it when it spends."""
        if fault.kind in APPLICATION_KINDS:
            return application_fault(fault, self._serve(method, path, pairs, headers))
        key = bearer(headers) or ""
        forms = self._limiter.config.forms
        spends = self._errors_spend and fault.kind == "status" and fault.status >= 500  # noqa: PLR2004
        if spends and self._limiter.enabled:
            admitted, rate_headers = self._limiter.admit(key)
            if not admitted:
                return error_response(429, RATE_LIMIT_MESSAGE, rate_headers)
        else:
            rate_headers = self._limiter.peek(key)
        real_page = lambda: self._application("GET", path, pairs, headers)  # noqa: E731
        return fault_response(fault, rate_headers, real_page, forms)

    def _serve(
        self,
        method: str,
        path: str,
        pairs: list[tuple[str, str]],
        headers: Message,
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
        self,
        method: str,
        path: str,
        pairs: list[tuple[str, str]],
        headers: Message,
    ) -> Response:
        """The API itself, with this emulator's account and leads."""
        account = Account(self.token, self.customer_id, self.scopes)
        return LeadsApi(account, self._store, self._paging).respond(method, path, pairs, headers)


def _latency_range(latency_ms: tuple[float, float] | None) -> tuple[float, float] | None:
    """Milliseconds ``(low, high)`` to seconds, checked."""
    if latency_ms is None:
        return None
    low, high = latency_ms
    if not 0 <= low <= high:
        msg = "latency_ms needs 0 <= low <= high"
        raise ValueError(msg)
    return (low / 1000, high / 1000) if high else None


def _deletions(deletions: tuple[int, int] | None) -> tuple[int, int] | None:
    """``(n, k)``: both at least 1."""
    if deletions is not None and min(deletions) < 1:
        msg = "deletions=(n, k) needs n >= 1 and k >= 1"
        raise ValueError(msg)
    return deletions
