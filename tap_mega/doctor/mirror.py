"""Reconcile passes: what one costs, how often they run, and where the state's pass stands.

A pass reads the whole account as a first sync does (`updated_since=start_date`,
the filters), so its pages are the first page's `total` over `page_size`; the
tap checks after every completed pass, so its cost is those pages and the
check's two counts, and a first sync's one count more (the baseline before
it). Its duration is the budget's replay (`Replay`) over those requests: the
same model as the first sync's line, never a second one. A pass under way in
the state goes on from its position, so what it has left is one count from
there (`RECONCILE_LEFT`), within the doctor's three requests.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from dataclasses import dataclass

from tap_mega.doctor.budget import first_sync_requests
from tap_mega.doctor.checks import exchange_problem
from tap_mega.doctor.probe import RECONCILE_LEFT
from tap_mega.doctor.report import OK, SKIPPED
from tap_mega.timestamps import (
    InvalidTimestampError,
    format_duration,
    format_timestamp,
    parse_timestamp,
)

if t.TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from tap_mega.doctor.budget import Replay
    from tap_mega.doctor.probe import Probe
    from tap_mega.doctor.report import Report
    from tap_mega.settings import Settings

SECTION = "Budget"
#: A walk's cursor may lead past a full last page to an empty one.
TRAILING_PAGE = 1
#: A quiet run: its walk's one page, then the check's two counts (also after each pass).
WALK_REQUESTS = 1
CHECK_REQUESTS = 2
#: A first sync counts once before its first RECORD: the check's baseline.
BASELINE_REQUESTS = 1


@dataclass(frozen=True)
class PassUnderWay:
    """`mirror.pass` of the state: a pass cut short, to go on with the same version."""

    version: object
    started_at: dt.datetime | None
    #: The last `updated_at` it emitted; None: it has read nothing yet.
    position: dt.datetime | None
    emitted: int


@dataclass(frozen=True)
class MirrorState:
    """The state's `mirror`: a pass under way, a pass due, when the last one started."""

    current: PassUnderWay | None = None
    due: bool = False
    reconciled_at: dt.datetime | None = None

    @classmethod
    def from_bookmark(cls, bookmark: Mapping[str, t.Any]) -> MirrorState | None:
        """None when the state has no `mirror` (none given, or written before passes)."""
        mirror = bookmark.get("mirror")
        if not isinstance(mirror, dict):
            return None
        under_way = mirror.get("pass")
        current = None
        if isinstance(under_way, dict):
            emitted = under_way.get("emitted")
            current = PassUnderWay(
                version=under_way.get("version"),
                started_at=_instant(under_way.get("started_at")),
                position=_instant(under_way.get("position")),
                emitted=emitted if isinstance(emitted, int) else 0,
            )
        return cls(current, mirror.get("due") is True, _instant(mirror.get("reconciled_at")))

    def pass_since(self, start_date: dt.datetime | None) -> dt.datetime | None:
        """Where the pass under way goes on from, when that is past `start_date`."""
        position = self.current.position if self.current else None
        if position is None or (start_date is not None and position <= start_date):
            return None
        return position


def _instant(value: object) -> dt.datetime | None:
    """A state's timestamp; None when absent or not one (the tap's gate judges the state)."""
    if not isinstance(value, str):
        return None
    try:
        return parse_timestamp(value)
    except InvalidTimestampError:
        return None


def add_reconcile_lines(  # noqa: PLR0913 - each is one input of the lines
    report: Report,
    settings: Settings,
    replay: Replay,
    probe: Probe,
    mirror: MirrorState | None,
    *,
    total: int | None,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc),
) -> None:
    """A pass's cost and cadence, a quiet run's cost, and the state's next or current pass."""
    on = settings.reconcile_deletes
    seconds = settings.reconcile_interval.total_seconds()
    every = "every run" if seconds == 0 else f"every {format_duration(seconds)}"
    cadence = f"{every} (reconcile_interval) and whenever leads are seen vanishing"
    when = cadence if on else "off (reconcile_deletes is false): deleted leads stay in the target"
    data: dict[str, t.Any] = {
        "enabled": on,
        "interval_seconds": seconds if on else None,
    }
    if total is None:
        report.add(SECTION, "reconcile", SKIPPED, f"{when}; the number of leads is unknown", **data)
    else:
        pages = first_sync_requests(total, settings.page_size)
        needed = pages + CHECK_REQUESTS
        took = replay.seconds(needed)
        report.add(
            SECTION,
            "reconcile",
            OK,
            f"{_requests(needed)} a pass ({_cost(pages)}; a first sync counts once more "
            f"before it), {format_duration(took)} by the pacer's rule: {when}",
            requests=needed,
            requests_max=needed + TRAILING_PAGE,
            pages=pages,
            check_requests=CHECK_REQUESTS,
            first_sync_requests=needed + BASELINE_REQUESTS,
            leads=total,
            seconds=round(took, 3),
            **data,
        )
    check = CHECK_REQUESTS if on else 0
    report.add(
        SECTION,
        "quiet run",
        OK,
        f"{_requests(WALK_REQUESTS + check)}: {WALK_REQUESTS} walk request + {check} check "
        "requests for vanished leads (Meltano's discovery adds its custom-field sample)"
        if on
        else f"{_requests(WALK_REQUESTS)}: {WALK_REQUESTS} walk request (reconcile_deletes is "
        "false: no check)",
        requests=WALK_REQUESTS + check,
        walk=WALK_REQUESTS,
        check_requests=check,
    )
    if probe.plan.has_state:
        add_pass_line(report, settings, replay, probe, mirror, total=total, now=now())


def add_pass_line(  # noqa: PLR0913 - each is one input of the line
    report: Report,
    settings: Settings,
    replay: Replay,
    probe: Probe,
    mirror: MirrorState | None,
    *,
    total: int | None,
    now: dt.datetime,
) -> None:
    """The pass under way and what it has left, or when the next one starts."""
    current = mirror.current if mirror else None
    if not settings.reconcile_deletes:
        held = f"; the state holds a pass under way (version {current.version})" if current else ""
        report.add(SECTION, "next pass", OK, f"none: reconcile_deletes is false{held}")
        return
    if current is not None and mirror is not None:
        add_current_line(report, settings, replay, probe, mirror, total=total)
        return
    if not probe.plan.has_bookmark:
        text = "the next run is a first sync, and a first sync is a pass"
    elif mirror is not None and mirror.due:
        text = "the next run starts one: the state says leads were seen vanishing"
    elif mirror is None or mirror.reconciled_at is None:
        text = "the next run starts one: the state records no completed pass"
    else:
        last = mirror.reconciled_at
        due = last + settings.reconcile_interval
        since = f"the last one started {format_timestamp(last)}"
        text = (
            f"the next run starts one: {since}, over reconcile_interval ago"
            if due <= now
            else f"the first run after {format_timestamp(due)} ({since}), sooner if leads "
            "are seen vanishing"
        )
    report.add(SECTION, "next pass", OK, text)


def add_current_line(  # noqa: PLR0913 - each is one input of the line
    report: Report,
    settings: Settings,
    replay: Replay,
    probe: Probe,
    mirror: MirrorState,
    *,
    total: int | None,
) -> None:
    """Version, leads emitted so far, and what is left: counted from its position, and its cost."""
    current = t.cast("PassUnderWay", mirror.current)
    started = f", started {format_timestamp(current.started_at)}" if current.started_at else ""
    head = f"version {current.version}{started}: {current.emitted:,} leads emitted so far"
    data: dict[str, t.Any] = {
        "version": current.version,
        "started_at": format_timestamp(current.started_at) if current.started_at else None,
        "emitted": current.emitted,
        "position": format_timestamp(current.position) if current.position else None,
    }
    since = mirror.pass_since(probe.plan.start_date)
    counted = probe.get(RECONCILE_LEFT)
    if since is None:
        # Nothing read past start_date yet: what is left is the whole pass.
        left, where = total, "the whole account"
    elif counted is not None and counted.page is not None:
        left, where = counted.page.total, f"from {format_timestamp(since)}, where it stands"
    else:
        why = (
            exchange_problem(counted)
            if counted is not None
            else probe.plan.skipped.get(RECONCILE_LEFT, "no request was left")
        )
        report.add(SECTION, "current pass", SKIPPED, f"{head}; what it has left: {why}", **data)
        return
    if left is None:
        report.add(SECTION, "current pass", SKIPPED, f"{head}; the number left is unknown", **data)
        return
    pages = first_sync_requests(left, settings.page_size)
    needed = pages + CHECK_REQUESTS
    took = replay.seconds(needed)
    report.add(
        SECTION,
        "current pass",
        OK,
        f"{head}; {left:,} leads left, {where}: {_requests(needed)} ({_cost(pages)}), "
        f"{format_duration(took)} by the pacer's rule; the next run goes on with the same version",
        leads_left=left,
        requests=needed,
        requests_max=needed + TRAILING_PAGE,
        pages=pages,
        check_requests=CHECK_REQUESTS,
        seconds=round(took, 3),
        **data,
    )


def _requests(count: int) -> str:
    return f"{count:,} request{'' if count == 1 else 's'}"


def _cost(pages: int) -> str:
    """A pass's requests: its pages, a possible empty last one, the check after it."""
    return (
        f"{pages:,} page{'' if pages == 1 else 's'} +{TRAILING_PAGE} at most for a trailing "
        f"empty page, then the {CHECK_REQUESTS} check requests"
    )
