"""`tap-mega-doctor`: settings as the tap reads them, at most three requests, one report.

The settings go through the tap itself (`TapMega` with validation on), so a
setting the doctor accepts is one the tap accepts, with the same one-line error
when it is not. Nothing in the package imports this module: it is an entry
point, at the top of the layers.
"""

from __future__ import annotations

import argparse
import json
import sys
import typing as t

from tap_mega.cli.argtypes import above_zero
from tap_mega.cli.checks import without_sample
from tap_mega.cli.files import read_state_json
from tap_mega.cli.plugin import settings_file
from tap_mega.doctor.assumptions import add_assumption_lines
from tap_mega.doctor.budget import Replay, Usage, add_budget_lines, reported_seen
from tap_mega.doctor.caused import Caused, caused_by_meltano
from tap_mega.doctor.checks import (
    add_account_lines,
    add_connection_lines,
    add_leads_lines,
    exchange_problem,
)
from tap_mega.doctor.mirror import MirrorState, add_reconcile_lines
from tap_mega.doctor.probe import FIRST, DoctorStream, Plan, run_probe
from tap_mega.doctor.report import WARNING, Report
from tap_mega.errors import failure_line
from tap_mega.redaction import redact, redacted_traceback, register_secret
from tap_mega.state.inputs import singer_state
from tap_mega.state.resume import STATE_KEY, ResumePoint, served_at
from tap_mega.tap import TapMega
from tap_mega.timestamps import InvalidTimestampError, parse_timestamp

if t.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import requests

PROG = "tap-mega-doctor"
DEFAULT_RUN_MINUTES = 60.0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The tap's `--config` and `--state`, plus the report's own options."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Check a MEGA account against the tap's assumptions in at most three "
        "requests, and say what the first sync will cost and how long it will take.",
    )
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="FILE|ENV",
        help="a settings file as for tap-mega (repeatable; later files win), "
        "or ENV to read TAP_MEGA_* environment variables",
    )
    parser.add_argument(
        "--state", metavar="FILE", help="a state file: also count the leads from its bookmark"
    )
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument(
        "--run-minutes",
        type=above_zero("minutes above 0"),
        default=DEFAULT_RUN_MINUTES,
        metavar="MINUTES",
        help="the longest run you want: the report gives the max_wait_seconds "
        f"and schedule that split the first sync into such runs "
        f"(default {DEFAULT_RUN_MINUTES:g})",
    )
    return parser.parse_args(argv)


def file_settings(args: argparse.Namespace) -> dict[str, t.Any]:
    """The settings files of `--config`, later ones winning, as for `tap-mega`."""
    config: dict[str, t.Any] = {}
    for item in args.config:
        if item != "ENV":
            config.update(settings_file(item))
    return config


def make_tap(args: argparse.Namespace, config: dict[str, t.Any]) -> TapMega:
    """The tap, configured as `tap-mega` would be by the same arguments, and validated.

    `config`: the settings files (`file_settings`); `ENV` adds the environment's.
    """
    state = (
        singer_state(read_state_json(args.state, "--state"), f"the --state file {args.state}")
        if args.state
        else None
    )
    register_secret(config.get("token"))
    # No custom-field sample: it would be a request beyond the doctor's three.
    return TapMega(
        config=without_sample(config),
        state=state,
        parse_env_config="ENV" in args.config,
        validate_config=True,
    )


def diagnose(
    tap: TapMega, *, has_state: bool, run_minutes: float, caused: Caused | None = None
) -> Report:
    """Probe MEGA with the tap's own stream and turn what came back into the report.

    `caused`: requests sent on the doctor's behalf before it ran (Meltano's
    discovery), counted as its own.
    """
    caused = caused or Caused()
    stream = DoctorStream(tap)
    settings = stream.settings
    bookmark = stream.stream_state_bookmark(None)
    mirror = MirrorState.from_bookmark(stream.get_context_state(None))
    plan = Plan(
        start_date=settings.start,
        bookmark_start=stream.starting_instant(None) if bookmark else None,
        has_bookmark=bookmark is not None,
        has_state=has_state,
        pass_since=mirror.pass_since(settings.start)
        if mirror is not None and settings.reconcile_deletes
        else None,
    )
    probe = run_probe(stream, plan)
    report = Report(
        requests=stream.sent + caused.requests,
        caused=caused.requests,
        caused_note=caused.note,
        target=f"{stream.url_base}{stream.path}",
    )
    add_connection_lines(report, probe, report.target, stream.requests_session)
    add_account_lines(report, probe, settings.customer_id)
    if probe.stopped is not None:
        return report
    filters = ", ".join(f"{name}={value}" for name, value in settings.filters.items())
    add_leads_lines(report, probe, filters)
    if probe.paused is not None:
        report.add("Budget", "now", WARNING, exchange_problem(probe.paused))
    first = probe.get(FIRST)
    answered = [e for e in probe.exchanges if e.response is not None]
    last = _headers(answered[-1].response if answered else None)
    usage = Usage(
        own=caused.requests + probe.counted,
        tap_run_ago=seconds_since_saved_page(stream, last.get("Date")),
    )
    total = first.page.total if first and first.page else None
    per_request = sum(e.seconds for e in answered) / max(len(answered), 1)
    add_budget_lines(
        report,
        stream.pacer,
        usage=usage,
        headers=last,
        total=total,
        page_size=settings.page_size,
        seconds_per_request=per_request,
        run_minutes=run_minutes,
        max_wait_seconds=settings.max_wait_seconds,
    )
    replay = Replay(stream.pacer, reported_seen(stream.pacer, last), usage.own, per_request)
    add_reconcile_lines(report, settings, replay, probe, mirror, total=total)
    add_assumption_lines(report, probe, settings.lookback)
    return report


def seconds_since_saved_page(stream: DoctorStream, date: str | None) -> float | None:
    """How long ago, by MEGA's clock, the state's run was served its last page.

    Only a run that stopped mid-walk saves when (`resume_from`); None otherwise.
    """
    point = ResumePoint.from_state(stream.get_context_state(None).get(STATE_KEY))
    now = served_at(date)
    if point is None or now is None:
        return None
    try:
        ago = parse_timestamp(now) - parse_timestamp(point.served_at)
    except InvalidTimestampError:
        return None
    return max(ago.total_seconds(), 0.0)


def _headers(response: requests.Response | None) -> Mapping[str, str]:
    """A response's headers; `is None`, not falsiness: a 4xx Response is falsy."""
    return response.headers if response is not None else {}


def main(argv: Sequence[str] | None = None) -> None:
    """Print the report; exit 0 when all is ok or warnings, 1 on errors or anything unexpected."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    try:
        settings = file_settings(args)
        tap = make_tap(args, settings)
        caused = caused_by_meltano(argv, settings, from_env="ENV" in args.config)
        report = diagnose(
            tap, has_state=args.state is not None, run_minutes=args.run_minutes, caused=caused
        )
    except Exception as exc:  # noqa: BLE001 - each failure: one line, or a redacted traceback
        line = failure_line(exc)
        # A bug of ours: its traceback, with the token redacted like every line.
        sys.stderr.write(
            redacted_traceback(exc) if line is None else f"{PROG}: error: {redact(line)}\n"
        )
        sys.exit(1)
    text = json.dumps(report.to_json(), indent=2) + "\n" if args.json else report.render()
    sys.stdout.write(redact(text))
    sys.exit(report.exit_code)
