"""A mirrored run's legs: the vanish check, a reconcile pass started and finished, messages.

What is remembered, and the arithmetic, is state/mirror.py's; this module asks MEGA
and talks to the target, in the order leads.py's `mirrored_records` sets. Without a
baseline, a count comes before any RECORD, so it holds every lead a first sync sends.
The incremental walk goes next, so a pass never delays fresh changes; a pass that
has caught up with the bookmark stands for the walk. A check runs before a pass
starts, never before one under way resumes (a run that affords few requests still
moves it on), and after each completed pass, against the count from before it, so
a lead the pass sent and MEGA deleted since is counted. SCHEMA and ACTIVATE_VERSION
go once per stream map, as the SDK writes its own (an alias gets them, a removed
stream does not).
"""

from __future__ import annotations

import contextlib
import math
import typing as t

import singer_sdk.singerlib as singer
from singer_sdk.mapper import RemoveRecordTransform

from tap_mega.errors import BudgetExhaustedError
from tap_mega.settings import DEFAULT_RECONCILE_INTERVAL, FILTER_PARAMS
from tap_mega.state.mirror import STATE_KEY, CountPage, Mirror, baseline, now_utc, vanished
from tap_mega.termination import GUARD
from tap_mega.timestamps import (
    InvalidTimestampError,
    format_duration,
    format_timestamp,
    parse_timestamp,
)

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from singer_sdk.helpers.types import Context

    from tap_mega.api.client import MegaStream
    from tap_mega.api.pages import Page
    from tap_mega.settings import Settings


def check_then_start_due_pass(
    stream: MegaStream, mirror: Mirror, walk: str, context: Context | None
) -> bool:
    """The vanish check, then a pass if one is due; False when none is to run now."""
    if not check_within_budget(stream, mirror, walk, context):
        return False
    interval = stream.config.get("reconcile_interval", DEFAULT_RECONCILE_INTERVAL)
    reason = mirror.why_pass(now_utc(), stream.settings.reconcile_interval, str(interval))
    if reason is not None:  # under the version this run's RECORDs carry
        start_pass(stream, mirror, walk, reason, context, version=mirror.version)
    return reason is not None


def start_pass(  # noqa: PLR0913 - `version`: the run's, when RECORDs went out under it
    stream: MegaStream,
    mirror: Mirror,
    walk: str,
    reason: str,
    context: Context | None,
    *,
    version: int | None = None,
) -> None:
    """A new pass, in the state before its first RECORD."""
    started = mirror.start_pass(walk, now_utc(), version)
    save_mirror(stream, mirror, context)
    page_size = stream.settings.page_size
    cost = f"one request per {page_size}"
    if mirror.check is not None and mirror.check.walk == walk:  # counted just now
        leads = mirror.check.older
        cost = f"{leads:,} leads at the check, about {math.ceil(leads / page_size):,} requests"
    stream.logger.info(
        "Starting a reconcile pass (version %d) because %s: it reads every lead (%s), "
        "paced like any walk.",
        started.version,
        reason,
        cost,
    )


def finish_pass(stream: MegaStream, mirror: Mirror, walk: str, context: Context | None) -> None:
    """Every live lead carries the pass's version: ACTIVATE_VERSION, the STATE, then a check.

    Killed between the first two, the next run reads the pass's tail again and sends
    it again. The check counts what vanished during the pass, which may have gone out.
    After a SCHEMA changed mid-run, an SDK target writes the records before it last,
    after an ACTIVATE_VERSION: the next run sends it, before any RECORD.
    """
    mirror.activate = mirror.complete_pass()
    if stream.schema_resent:
        stream.logger.info(
            "Reconcile pass complete: every live lead carries version %d; ACTIVATE_VERSION "
            "goes out when the next run starts, once the target has loaded this run's "
            "records (a SCHEMA changed during this run).",
            mirror.activate,
        )
        save_mirror(stream, mirror, context)
        stream._write_state_message()  # noqa: SLF001 (sdk_contract.py)
    else:
        activate_pending(stream, mirror, context)
    check_within_budget(stream, mirror, walk, context)


def activate_pending(stream: MegaStream, mirror: Mirror, context: Context | None) -> None:
    """Send the ACTIVATE_VERSION a completed pass left, then the STATE that says it went."""
    if mirror.activate is None:
        return
    write_activate_version(stream, mirror.activate)
    stream.logger.info(
        "Reconcile pass complete: every live lead carries version %d; ACTIVATE_VERSION sent, "
        "so a target that honors it retires the rows it did not carry.",
        mirror.activate,
    )
    mirror.activate = None
    save_mirror(stream, mirror, context)
    stream._write_state_message()  # noqa: SLF001 (sdk_contract.py)


def save_mirror(stream: MegaStream, mirror: Mirror, context: Context | None) -> None:
    """Put the mirror in the stream's state; the next STATE carries it."""
    stream.set_state(context, STATE_KEY, mirror.to_state())


def check_within_budget(
    stream: MegaStream, mirror: Mirror, walk: str, context: Context | None
) -> bool:
    """The vanish check; False when the budget stops the run before it."""
    try:
        with GUARD.interruptible():
            check_for_vanished(stream, mirror, walk, context)
    except BudgetExhaustedError as exc:
        stream.logger.warning(
            "Stopping before the reconcile check: the next request would wait %s because %s, "
            "longer than max_wait_seconds. The state is saved; the next run checks.",
            format_duration(exc.wait),
            exc.reason,
        )
        return False
    save_mirror(stream, mirror, context)
    stream._write_state_message()  # noqa: SLF001 (sdk_contract.py)
    return True


def count_params(settings: Settings, *, created_since: str | None = None) -> dict[str, t.Any]:
    """A count of what the mirror holds: the sync's filters, newest created first.

    The count since the last check needs only its newest lead (`vanished`); the plain
    count a page, to take off the leads created between the two.
    """
    params: dict[str, t.Any] = {
        "sort_by": "created_at",
        "sort_dir": "desc",
        "limit": settings.page_size if created_since is None else 1,
        "include_custom_fields": "false",
        **{FILTER_PARAMS[setting]: value for setting, value in settings.filters.items()},
    }
    if settings.start is not None:
        params["updated_since"] = format_timestamp(settings.start)
    if created_since is not None:
        params["created_since"] = created_since
    return params


def count_page(page: Page) -> CountPage:
    """The page's total and `created_at`s; a lead without a usable one is left out."""
    created = []
    for lead in page.leads:
        with contextlib.suppress(InvalidTimestampError):
            created.append(parse_timestamp(lead.get("created_at")))  # type: ignore[arg-type]
    return CountPage(page.total, sorted(created, reverse=True))


def check_for_vanished(
    stream: MegaStream, mirror: Mirror, walk: str, context: Context | None
) -> None:
    """Compare what lives now with the last check; leads gone make a pass due.

    Two requests, the created_since one first (see `vanished`); one when there is
    nothing to compare with. A changed filter is another mirror: a pass is due.
    """

    def fetch(params: dict[str, t.Any]) -> CountPage:
        return count_page(stream.read_page(stream.fetch_page(context, None, params)))

    check = mirror.check
    if check is not None and check.walk != walk:
        stream.logger.info("Reconcile check: the filters or start_date changed; a pass is due.")
        mirror.due, check = True, None
    since_page = None
    if check is not None and check.older > 0:
        since_page = fetch(count_params(stream.settings, created_since=check.since))
    all_page = fetch(count_params(stream.settings))
    if check is None:
        mirror.check = baseline(all_page, walk)
        mirror.due = mirror.due or mirror.pass_ is not None  # nothing counted before it began
        return
    gone = vanished(check, since_page or CountPage(0, ()), all_page)
    if gone is None:
        stream.logger.info(
            "Reconcile check: more leads were created during the check than a page shows; "
            "the next run checks again."
        )
        return
    mirror.check = baseline(all_page, walk)
    if gone:
        mirror.due = True
        stream.logger.info(
            "Reconcile check: %s lead%s created before %s vanished from MEGA since the last "
            "check; a reconcile pass retires them in the target.",
            f"{gone:,}",
            "" if gone == 1 else "s",
            check.since,
        )
    else:
        stream.logger.info("Reconcile check: no lead vanished since the last check.")


def write_per_map(stream: MegaStream, message: Callable[[str], singer.Message]) -> None:
    """Write `message(alias)` for each stream map the records go to."""
    for stream_map in stream.stream_maps:
        if not isinstance(stream_map, RemoveRecordTransform):
            stream.tap.write_message(message(stream_map.stream_alias))


def write_schema(stream: MegaStream) -> None:
    """A SCHEMA from the current maps: the SDK sends one only when the sync starts."""
    keys = [stream.replication_key] if stream.replication_key else None
    maps = {item.stream_alias: item for item in stream.stream_maps}
    write_per_map(
        stream,
        lambda alias: singer.SchemaMessage(
            alias, maps[alias].transformed_schema, maps[alias].transformed_key_properties, keys
        ),
    )
    stream.schema_resent = True


def write_activate_version(stream: MegaStream, version: int) -> None:
    """ACTIVATE_VERSION: the target retires every row no RECORD of `version` carried."""
    write_per_map(stream, lambda alias: singer.ActivateVersionMessage(alias, version))
