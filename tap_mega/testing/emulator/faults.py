"""Scripted misbehaviour: what a fault is, when it fires, and what it answers.

Faults model trouble in front of the application (a proxy, a flaky network),
so they neither spend nor check rate budget; they report the current budget
like any API response, except an HTML proxy page.
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import KW_ONLY, dataclass
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from tap_mega.testing.emulator.wire import (
    JSON_TYPE,
    RATE_LIMIT_MESSAGE,
    Response,
    dumps,
    error_response,
    json_response,
    proxy_page,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from tap_mega.testing.emulator.headers import HeaderForms

__all__ = [
    "APPLICATION_KINDS",
    "FAULT_KINDS",
    "Fault",
    "FaultState",
    "application_fault",
    "fault_response",
    "unsort",
]

FAULT_KINDS = frozenset(
    {
        "status",
        "drop",
        "slow",
        "malformed",
        "bad_shape",
        "rate_limit",
        "body",
        "short_body",
        "reset",
        "not_json",
        "unsorted",
        "headers",
    }
)
#: Kinds served by the application behind the limiter, so they spend budget.
APPLICATION_KINDS = frozenset({"unsorted", "headers"})


@dataclass(frozen=True)
class Fault:
    """A scripted misbehaviour, hitting request ``at_request`` onwards.

    ``count`` defaults to 1 for a scheduled fault (``at_request=k`` hits
    requests k .. k+count-1) and to unlimited for a probabilistic storm
    (``at_request=None, probability=p, seed=s``), where it caps the hits.

    Kinds: ``status`` (the JSON error envelope, or with ``html=True`` a front
    end's HTML page such as a 404 or 502), ``drop`` (no response), ``slow``
    (``seconds`` late), ``malformed`` (a 200 whose JSON stops mid-string),
    ``bad_shape`` (no ``next_cursor``), ``rate_limit`` (an unforeseeable 429),
    ``body`` (exactly ``body``), ``short_body`` (half the real page, then the
    connection closes short of its ``Content-Length``), ``reset`` (half the
    page, then a TCP reset), ``not_json`` (a 200 carrying a proxy's HTML page),
    ``unsorted`` (the real page with its leads in reverse order) and
    ``headers`` (the real page with the fault's ``headers``); unlike the others
    the last two pass the limiter and spend budget.
    """

    kind: str
    _: KW_ONLY
    at_request: int | None = None
    count: int | None = None
    probability: float = 0.0
    seed: int = 0
    status: int = 500
    html: bool = False
    seconds: float = 1.0
    retry_after: int | None = None
    #: Any JSON value: a test may serve a body that is not even an object.
    body: Any = None
    #: Headers set on the fault's response, over the usual ones: other spellings
    #: of ``RateLimit-*`` or ``Date`` (``""`` for ``Date`` sends none at all).
    headers: dict[str, str] | None = None

    def __post_init__(self) -> None:
        """Fail at scripting time rather than with a confusing test result."""
        problem = _fault_problem(self)
        if problem:
            raise ValueError(problem)


def _fault_problem(fault: Fault) -> str | None:
    """Explain why ``fault`` can never behave as its author meant, if so."""
    checks = (
        (fault.kind not in FAULT_KINDS, f"unknown fault kind {fault.kind!r}"),
        (
            fault.at_request is None and not 0 < fault.probability <= 1,
            "a fault needs at_request=k or 0 < probability <= 1",
        ),
        (fault.at_request is not None and fault.at_request < 1, "at_request is 1-based"),
        (fault.count is not None and fault.count < 1, "count must be >= 1"),
        (not 100 <= fault.status <= 599, "status must be an HTTP status"),  # noqa: PLR2004
        (fault.kind == "body" and fault.body is None, "kind 'body' needs body="),
        (fault.kind == "headers" and not fault.headers, "kind 'headers' needs headers="),
    )
    return next((msg for bad, msg in checks if bad), None)


@dataclass
class FaultState:
    """A fault with its own hit counter and random stream."""

    fault: Fault
    rng: random.Random
    hits: int = 0

    def fires(self, k: int) -> bool:
        """Decide (and count) whether the fault hits request ``k``."""
        fault = self.fault
        if fault.at_request is not None:
            count = 1 if fault.count is None else fault.count
            hit = fault.at_request <= k < fault.at_request + count
        else:
            exhausted = fault.count is not None and self.hits >= fault.count
            hit = not exhausted and self.rng.random() < fault.probability
        self.hits += hit
        return hit

    @classmethod
    def of(cls, fault: Fault) -> FaultState:
        """A fresh state whose random stream is the fault's own seed."""
        return cls(fault, random.Random(fault.seed))  # noqa: S311 - reproducible storms


def fault_response(
    fault: Fault,
    rate_headers: dict[str, str],
    real_page: Callable[[], Response],
    forms: HeaderForms,
) -> Response:
    """Misbehave as scripted; ``real_page`` serves what the API would have."""
    response = _misbehave(fault, rate_headers, real_page, forms)
    response.headers.update(fault.headers or {})
    return response


def _misbehave(
    fault: Fault,
    rate_headers: dict[str, str],
    real_page: Callable[[], Response],
    forms: HeaderForms,
) -> Response:
    """The fault's own response, before its scripted headers."""
    if fault.kind == "drop":
        return Response(0, None)
    if fault.kind == "status":
        return _status_fault(fault, rate_headers)
    if fault.kind == "rate_limit":
        return _rate_limit_fault(fault, rate_headers, forms)
    if fault.kind in ("bad_shape", "short_body", "reset"):
        return _spoiled_page(fault, rate_headers, real_page())
    return _canned_body(fault, rate_headers)


def _spoiled_page(fault: Fault, rate_headers: dict[str, str], real: Response) -> Response:
    """The real page without ``next_cursor``, or cut short on the wire."""
    if fault.kind == "bad_shape":
        return json_response(200, _bad_shape(real), rate_headers)
    real.headers.update(rate_headers)
    real.cut, real.reset = 0.5, fault.kind == "reset"
    return real


def _canned_body(fault: Fault, rate_headers: dict[str, str]) -> Response:
    """A 200 whose body is fixed: cut JSON, a proxy's HTML page, or the fault's body."""
    if fault.kind == "malformed":
        body = b'{"leads":[{"id":"'  # cut mid-string, as a truncated response would be
        return Response(200, body, {**JSON_TYPE, **rate_headers})
    if fault.kind == "not_json":
        page = proxy_page(200, "OK")
        return Response(200, page, {"Content-Type": "text/html", **rate_headers})
    return json_response(200, copy.deepcopy(fault.body), rate_headers)


def _status_fault(fault: Fault, rate_headers: dict[str, str]) -> Response:
    """An error status, as an envelope or as a proxy's HTML page."""
    extra = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
    if fault.html:
        reason = BaseHTTPRequestHandler.responses.get(fault.status, ("Error",))[0]
        page = proxy_page(fault.status, reason)
        return Response(fault.status, page, {"Content-Type": "text/html", **extra})
    message = "Internal server error." if fault.status >= 500 else "Request failed."  # noqa: PLR2004
    return error_response(fault.status, message, {**rate_headers, **extra})


def _rate_limit_fault(
    fault: Fault,
    rate_headers: dict[str, str],
    forms: HeaderForms,
) -> Response:
    """A 429 the client could not predict (the token is shared)."""
    retry = 1 if fault.retry_after is None else fault.retry_after
    spelled = str(retry) if forms.retry_after == "seconds" else forms.retry_after_value(retry)
    headers = {"Retry-After": spelled}
    if rate_headers:
        headers.update(
            {
                "RateLimit-Limit": rate_headers["RateLimit-Limit"],
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(retry),
            }
        )
    return error_response(429, RATE_LIMIT_MESSAGE, headers)


def application_fault(fault: Fault, page: Response) -> Response:
    """The real page, misbehaving as an application kind asks, with the fault's headers."""
    if fault.kind == "unsorted":
        page = unsort(page)
    page.headers.update(fault.headers or {})
    return page


def unsort(page: Response) -> Response:
    """The page with its leads in reverse order: MEGA's sort broken for one page.

    ``next_cursor`` still points after the page's true last lead, so the walk
    goes on as if the page had been sorted.
    """
    if page.status != 200 or page.body is None:  # noqa: PLR2004
        return page
    payload = json.loads(page.body)
    payload["leads"].reverse()
    page.body = dumps(payload)
    return page


def _bad_shape(real: Response) -> dict[str, Any]:
    """The real page without ``next_cursor``: valid JSON, wrong shape."""
    payload: dict[str, Any] = {"leads": [], "total": 0, "limit": 20, "offset": 0}
    if real.status == 200 and real.body is not None:  # noqa: PLR2004
        payload = json.loads(real.body)
    return {k: v for k, v in payload.items() if k != "next_cursor"}
