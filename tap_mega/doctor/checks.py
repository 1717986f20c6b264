"""Connection, Account and Leads: will a sync reach MEGA, be let in, and find leads?

The words for a refused token or an unreachable MEGA are the tap's own
(`failure_line`), so the doctor and a failing sync tell the same story.
"""

from __future__ import annotations

import ssl
import typing as t
from http import HTTPStatus
from urllib.parse import urlsplit, urlunsplit

from tap_mega.api.network import causes
from tap_mega.doctor.probe import ALL, BOOKMARK, FIRST, SECOND
from tap_mega.doctor.report import ERROR, OK, SKIPPED
from tap_mega.errors import (
    BudgetExhaustedError,
    NotMegaError,
    RateLimitedError,
    failure_line,
)
from tap_mega.timestamps import format_timestamp

if t.TYPE_CHECKING:
    import requests

    from tap_mega.doctor.probe import Exchange, Probe
    from tap_mega.doctor.report import Report

READ_SCOPE = "public_api:leads:read"


def without_credentials(url: str) -> str:
    """`url` with any user and password removed: a proxy URL may carry them."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, f"<redacted>@{netloc}", parts.path, parts.query, ""))


def add_connection_lines(report: Report, probe: Probe, url: str, session: requests.Session) -> None:
    """URL, TLS, proxy and round-trip time, from the tap's own session."""
    section = "Connection"
    report.add(section, "url", OK, without_credentials(url), url=without_credentials(url))
    scheme = urlsplit(url).scheme
    add_tls_line(report, probe, scheme, session)
    proxy = session.proxies.get(scheme) or session.proxies.get("all")
    report.add(
        section,
        "proxy",
        OK,
        without_credentials(proxy) if proxy else "none",
        proxy=without_credentials(proxy) if proxy else None,
    )
    answered = [e for e in probe.exchanges if e.response is not None]
    if answered:
        times = [e.seconds * 1000 for e in answered]
        text = (
            f"{sum(times) / len(times):.0f} ms a request ({len(times)}: "
            + ", ".join(f"{ms:.0f}" for ms in times)
            + " ms)"
        )
        report.add(section, "round trip", OK, text, milliseconds=[round(ms, 1) for ms in times])
    stopped = probe.stopped
    if stopped is not None and stopped.response is None and not tls_failed(stopped):
        line = failure_line(stopped.error) if stopped.error else None
        report.add(
            section,
            "reach",
            ERROR,
            line or f"{type(stopped.error).__name__}",
            error=type(stopped.error).__name__,
        )
    if stopped is not None and isinstance(stopped.error, NotMegaError):
        report.add(section, "api", ERROR, str(stopped.error), http_status=stopped.status)


def add_tls_line(report: Report, probe: Probe, scheme: str, session: requests.Session) -> None:
    """TLS is `ok` only once an answer came through it; a failed handshake is its error."""
    section = "Connection"
    if scheme != "https":
        report.add(section, "tls", OK, "plain http to a loopback address (an emulator)")
        return
    # The tap never turns certificate checks off: only which bundle varies.
    verify = session.verify
    where = verify if isinstance(verify, str) else "the default CA bundle (certifi)"
    stopped = probe.stopped
    if stopped is not None and tls_failed(stopped):
        line = failure_line(t.cast("Exception", stopped.error))
        report.add(
            section,
            "tls",
            ERROR,
            f"{line} (checked against {where})",
            error=type(stopped.error).__name__,
        )
    elif any(e.response is not None for e in probe.exchanges):
        report.add(section, "tls", OK, f"https, certificate checked against {where}")
    else:
        report.add(
            section,
            "tls",
            SKIPPED,
            f"https, not tried: no connection was made (see reach below); the "
            f"certificate would be checked against {where}",
        )


def tls_failed(record: Exchange) -> bool:
    """Whether the exchange failed in the TLS handshake (a certificate, say), before any answer."""
    error = record.error
    return (
        record.response is None
        and error is not None
        and any(isinstance(inner, ssl.SSLError) for inner in causes(error))
    )


def add_account_lines(report: Report, probe: Probe, customer_id: str) -> None:
    """Accepted, or which of 401 and 403, in the tap's words."""
    section = "Account"
    stopped = probe.stopped
    if stopped is not None and stopped.status in {HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN}:
        report.add(section, "credentials", ERROR, str(stopped.error), http_status=stopped.status)
        return
    first = probe.get(FIRST)
    if first is None or first.response is None:
        report.add(section, "credentials", SKIPPED, "no answer from MEGA")
        return
    if isinstance(first.error, NotMegaError):
        report.add(
            section,
            "credentials",
            SKIPPED,
            "not shown: the answer was not MEGA's API (see api above)",
            http_status=first.status,
        )
    elif first.page is not None:
        # Only a documented page proves the token, the customer and the scope.
        report.add(
            section,
            "credentials",
            OK,
            f"token and customer {customer_id} accepted, {READ_SCOPE} present",
            http_status=first.status,
        )
    else:
        report.add(
            section,
            "credentials",
            SKIPPED,
            f"not shown: the first answer ({first.status}) was no page (see Leads)",
            http_status=first.status,
        )


def add_leads_lines(report: Report, probe: Probe, filters: str) -> None:
    """The counts: matching the filters, from `start_date`, and from the bookmark."""
    section = "Leads"
    plan = probe.plan
    first = probe.get(FIRST)
    if first is not None and first.error is not None and _fatal(first):
        report.add(section, "first page", ERROR, exchange_problem(first), http_status=first.status)
    start = format_timestamp(plan.start_date) if plan.start_date else None
    what = f"match the filters {filters}" if filters else "in the account (no filters set)"
    all_matching = probe.get(ALL) if start else first
    _count_line(report, "matching", all_matching, what, plan.skipped.get(ALL))
    if start is None:
        report.add(section, "start_date", OK, "not set: the first sync reads every matching lead")
    else:
        _count_line(report, "start_date", first, f"updated since start_date {start}", None)
    if probe.plan.has_bookmark:
        since = format_timestamp(plan.bookmark_start) if plan.bookmark_start else "the start"
        _count_line(
            report,
            "bookmark",
            probe.get(BOOKMARK),
            f"updated since {since} (the state's bookmark minus lookback_window): the next run's",
            plan.skipped.get(BOOKMARK),
        )
    elif plan.has_state:
        report.add(
            section,
            "bookmark",
            OK,
            "the state has no bookmark for leads: the next run is a first sync",
        )
    else:
        report.add(section, "bookmark", SKIPPED, "no --state given")


def _count_line(
    report: Report, check: str, record: Exchange | None, what: str, skipped: str | None
) -> None:
    section = "Leads"
    if record is not None and record.page is not None:
        report.add(
            section, check, OK, f"{record.page.total:,} leads {what}", total=record.page.total
        )
    elif record is not None and record.purpose != FIRST:
        status = ERROR if _fatal(record) else SKIPPED
        report.add(
            section,
            check,
            status,
            f"not counted: {exchange_problem(record)}",
            http_status=record.status,
        )
    elif skipped:
        report.add(section, check, SKIPPED, f"not counted: {skipped}")
    else:
        report.add(section, check, SKIPPED, "not counted: the first page failed")


def _fatal(record: Exchange) -> bool:
    """Whether the tap's first sync would fail as this exchange did (a 429 is waited out)."""
    return not isinstance(record.error, (RateLimitedError, BudgetExhaustedError))


def exchange_problem(record: Exchange) -> str:
    """The one line the tap would have shown for this exchange's failure."""
    error = record.error
    if isinstance(error, BudgetExhaustedError):
        return (
            f"MEGA's budget is used up for now ({error.reason}; next request in "
            f"{error.wait:.0f}s): a sync would wait for it; run the doctor again then"
        )
    if isinstance(error, RateLimitedError):
        return (
            f"MEGA answered 429 (Retry-After {error.retry_after:g}s): the budget is "
            "used up for now; a sync waits it out; run the doctor again then"
        )
    return (failure_line(error) if error else None) or f"{type(error).__name__}: {error}"


def first_leads_seen(probe: Probe) -> list[dict[str, t.Any]]:
    """Every lead the doctor's pages carried."""
    return [
        lead for e in (probe.get(FIRST), probe.get(SECOND)) if e and e.page for lead in e.page.leads
    ]
