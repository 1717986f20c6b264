"""The doctor's requests: the tap's own pages, one lead each, sent once and never retried.

Each request is built and checked by the tap's own code (`fetch_page`: the same
URL, filters, headers, auth and status mapping as a sync), so what the doctor
sees is what a first sync would see. Only three things differ: `limit=1`, no
retries (every try would spend one of the three requests) and no waiting for
the budget (a doctor that sleeps for an hour answers nothing).
"""

from __future__ import annotations

import time
import typing as t
from dataclasses import dataclass, field
from http import HTTPStatus

import requests
from singer_sdk.exceptions import RetriableAPIError
from typing_extensions import override

from tap_mega.api.pages import Page, read_page_body
from tap_mega.errors import (
    BudgetExhaustedError,
    MegaAuthError,
    MegaError,
    MegaRequestError,
    MegaResponseError,
    RateLimitedError,
    ReserveTooLargeError,
)
from tap_mega.streams.leads import LeadsStream
from tap_mega.timestamps import format_timestamp

if t.TYPE_CHECKING:
    import datetime as dt

    from singer_sdk.helpers.types import Context, RequestFunc

#: The most requests one doctor run may send.
MAX_REQUESTS = 3


@dataclass
class Exchange:
    """One request of the doctor and what came of it."""

    purpose: str
    since: dt.datetime | None
    cursor: str | None
    response: requests.Response | None = None
    #: Seconds from sending to the parsed response.
    seconds: float = 0.0
    #: Local wall-clock time half-way through the request: compared with `Date`.
    local_midpoint: float = 0.0
    page: Page | None = None
    #: The error the tap would have stopped on, if any.
    error: Exception | None = None

    @property
    def status(self) -> int | None:
        """The HTTP status, or None when no response came."""
        return None if self.response is None else self.response.status_code

    def body(self) -> t.Any:
        """The parsed JSON body, or None when it is not JSON."""
        if self.response is None:
            return None
        try:
            return self.response.json()
        except ValueError:
            return None


class DoctorStream(LeadsStream):
    """The leads stream, asking for one lead a page and sending each request once."""

    @override
    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Never wait for the budget: a wait means the budget is used up, which is reported."""
        super().__init__(*args, **kwargs)
        self.pacer.max_wait = 0.0
        self.probe_since: dt.datetime | None = None
        self.last_response: requests.Response | None = None
        self.sent = 0

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, t.Any]:
        """The sync's parameters with `limit=1`, from `probe_since` rather than a walk's."""
        params = super().get_url_params(context, next_page_token)
        params["limit"] = 1
        params.pop("updated_since", None)
        if self.probe_since is not None:
            params["updated_since"] = format_timestamp(self.probe_since)
        return params

    @override
    def request_decorator(self, func: RequestFunc) -> RequestFunc:
        """Send once: no retries, no waits; each try would be another request.

        A network failure is told as the tap tells it (host and cause), not as
        `requests`' class name.
        """

        def once(
            prepared_request: requests.PreparedRequest, context: Context | None
        ) -> requests.Response:
            self.pacer.wait_for_turn()
            self.sent += 1
            return func(prepared_request, context)

        return self.told_unreachable(once)

    @override
    def backoff_max_tries(self) -> int:
        """One: the doctor never retries, and its lines must not say it did."""
        return 1

    @override
    def validate_response(self, response: requests.Response) -> None:
        """Keep the response, whatever its status, before the tap judges it."""
        self.last_response = response
        super().validate_response(response)


class Stop(Exception):  # noqa: N818 - a signal to the caller, not an error
    """No further request can tell anything (credentials refused, MEGA unreachable)."""


def exchange(
    stream: DoctorStream, purpose: str, since: dt.datetime | None, cursor: str | None = None
) -> Exchange:
    """Send one page request and keep everything the report needs from it.

    Raises:
        Stop: the request showed that no further one can succeed; the
            exchange is in `Stop.args[0]`.
    """
    record = Exchange(purpose, since, cursor)
    stream.probe_since = since
    stream.last_response = None
    started, wall = time.monotonic(), time.time()
    try:
        stream.fetch_page(context=None, cursor=cursor)
    except (RateLimitedError, MegaResponseError, MegaRequestError, RetriableAPIError) as exc:
        record.error = exc
    except BudgetExhaustedError as exc:
        record.error = exc  # not sent: the budget is used up
    except (MegaAuthError, requests.RequestException, ReserveTooLargeError, MegaError) as exc:
        record.error = exc
        _finish(stream, record, started, wall)
        raise Stop(record) from exc
    _finish(stream, record, started, wall)
    return record


def _finish(stream: DoctorStream, record: Exchange, started: float, wall: float) -> None:
    """Time the exchange and read its page, if it is one."""
    record.seconds = time.monotonic() - started
    record.local_midpoint = wall + record.seconds / 2
    record.response = stream.last_response
    if record.error is None and record.response is not None:
        record.page = read_page_body(record.response)


@dataclass
class Plan:
    """What the doctor asks MEGA, within `MAX_REQUESTS`, and what it leaves out and why."""

    start_date: dt.datetime | None
    #: Where the next run starts from the state's bookmark; None without one.
    bookmark_start: dt.datetime | None
    has_bookmark: bool
    #: Whether `--state` was given (a state without a bookmark is a first sync).
    has_state: bool = False
    #: Where the state's reconcile pass under way goes on from, when it has read past
    #: `start_date`; None without one, or when what it has left is the first sync's count.
    pass_since: dt.datetime | None = None
    skipped: dict[str, str] = field(default_factory=dict)


@dataclass
class Probe:
    """Every exchange of one doctor run, by purpose."""

    plan: Plan
    exchanges: list[Exchange] = field(default_factory=list)
    #: The exchange after which no request could tell more (401, 403, unreachable).
    stopped: Exchange | None = None
    #: The exchange that found the budget used up (a 429, or a wait ahead).
    paused: Exchange | None = None

    def get(self, purpose: str) -> Exchange | None:
        """The exchange made for `purpose`, if it was made."""
        return next((e for e in self.exchanges if e.purpose == purpose), None)

    @property
    def sent(self) -> int:
        """Requests that reached the wire (a budget wait sends nothing)."""
        return sum(not isinstance(e.error, BudgetExhaustedError) for e in self.exchanges)

    @property
    def counted(self) -> int:
        """Requests MEGA counted in its window: answered, and not by a 429 (full before it)."""
        return sum(e.status not in {None, HTTPStatus.TOO_MANY_REQUESTS} for e in self.exchanges)


FIRST = "first page"
SECOND = "second page"
ALL = "all matching"
BOOKMARK = "from the bookmark"
RECONCILE_LEFT = "left of the pass"


def run_probe(stream: DoctorStream, plan: Plan) -> Probe:
    """Spend at most three requests: the first sync's page, its cursor page, one count.

    The first page is the one a first sync starts with (`updated_since` is
    `start_date` when set), so its `total` is the first sync's size (and a
    reconcile pass's). Its cursor proves paging. What is left goes to what the
    state's reconcile pass has left, then to the count from the bookmark, then
    to the count without `start_date`; whatever does not fit is skipped, with why.
    """
    probe = Probe(plan)
    try:
        first = _add(probe, exchange(stream, FIRST, plan.start_date))
        if first.page is None:
            return probe
        if first.page.next_cursor is not None:
            second = _add(probe, exchange(stream, SECOND, plan.start_date, first.page.next_cursor))
            if probe.paused is second:
                return probe
        for purpose, since in _counts(plan):
            if probe.paused is not None:
                plan.skipped[purpose] = "the budget is used up for now"
            elif len(probe.exchanges) >= MAX_REQUESTS:
                plan.skipped[purpose] = "no request left of the three"
            else:
                _add(probe, exchange(stream, purpose, since))
    except Stop as stop:
        probe.stopped = t.cast("Exchange", stop.args[0])
        probe.exchanges.append(probe.stopped)
    return probe


def _add(probe: Probe, record: Exchange) -> Exchange:
    """Keep the exchange; a used-up budget ends the probe (waiting would take minutes)."""
    probe.exchanges.append(record)
    if isinstance(record.error, (BudgetExhaustedError, RateLimitedError)):
        probe.paused = record
    return record


def _counts(plan: Plan) -> list[tuple[str, dt.datetime | None]]:
    """The counts still worth a request, a pass under way first: it is most of the next runs.

    Then the bookmark: it sizes the next run's incremental walk.
    """
    counts: list[tuple[str, dt.datetime | None]] = []
    if plan.pass_since is not None:
        counts.append((RECONCILE_LEFT, plan.pass_since))
    if plan.has_bookmark:
        if plan.bookmark_start == plan.start_date:
            plan.skipped[BOOKMARK] = (
                "the bookmark minus lookback_window is before start_date, so the "
                "next run starts at start_date: the same count as the first sync"
            )
        else:
            counts.append((BOOKMARK, plan.bookmark_start))
    if plan.start_date is not None:
        counts.append((ALL, None))
    return counts
