"""Benchmark 1: budget efficiency under MEGA's two windows, scaled down in time.

MEGA allows 60 requests a minute and 1,000 an hour; here the emulator allows 60
a second and 1,000 a minute (60 times faster), so a backfill that would take
hours takes about a minute. Each contender gets a fresh emulator (a fresh
budget) with the same leads, and is measured on: wall time against the
theoretical minimum, 429s received, list requests made, records delivered.

The theoretical minimum is the admission time of the last request when every
request is sent the instant both windows allow it and takes no time at all
(the emulator's sliding windows, replayed without a network).

Usage (benchmark venv, see harness.py):
    benchmarks/.venv/bin/python benchmarks/bench_budget.py [--leads 150000] [--no-dlt]
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import harness

from tap_mega.testing.emulator import RateWindow

WINDOWS = [RateWindow(60, 1.0), RateWindow(1000, 60.0)]


def theoretical_minimum(requests: int, windows: list[RateWindow]) -> float:
    """Seconds from the first admission to the last, sending greedily, with zero latency."""
    times: list[float] = []
    at = 0.0
    for _ in range(requests):
        for window in windows:
            if len(times) >= window.limit:
                at = max(at, times[-window.limit] + window.seconds)
        times.append(at)
    return times[-1] - times[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=150_000)
    parser.add_argument("--no-dlt", action="store_true")
    args = parser.parse_args()

    pages = math.ceil(args.leads / 100)
    minimum = theoretical_minimum(pages, WINDOWS)
    contenders = [
        ("tap-mega", harness.tap_mega_command, b'"type":"RECORD"'),
        ("plain SDK RESTStream, default backoff", harness.plain_sdk_command, b'"type":"RECORD"'),
    ]
    if not args.no_dlt:
        contenders.append(("dlt rest_api, cursor paginator", harness.dlt_command, None))
    runs = []
    for name, command, marker in contenders:
        emu = harness.emulator(args.leads, WINDOWS)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                config_path = harness.write_config(harness.tap_config(emu), Path(tmp))
                run = harness.run_contender(
                    name, command(config_path), emu, record_marker=marker,
                    keep_output=marker is not None,
                )
        finally:
            emu.stop()
        print(
            f"{name}: {run.seconds:.1f}s rc={run.returncode} requests={run.requests} "
            f"429s={run.rate_limited} records={run.records}"
        )
        if run.returncode != 0:
            print(run.stderr_tail)
        runs.append(run)

    rows = [
        "| contender | wall time | / minimum | 429s | requests (2xx + 429) | records | exit |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        ok_requests = run.requests - run.rate_limited
        rows.append(
            f"| {run.name} | {run.seconds:.1f} s | {run.seconds / minimum:.3f} | "
            f"{run.rate_limited} | {ok_requests} + {run.rate_limited} | "
            f"{run.records:,} | {run.returncode} |"
        )
    section = "\n".join(
        [
            f"## Budget efficiency: {args.leads:,} leads, 60/1s + 1,000/60s windows",
            "",
            harness.machine(),
            "",
            f"Theoretical minimum for {pages:,} list requests: {minimum:.1f} s.",
            "",
            *rows,
            "",
            (
                "Target for tap-mega: at most 1.05 times the minimum, zero 429s, exactly "
                f"{pages:,} list requests. Wall time includes process start-up."
            ),
        ]
    )
    print(section)
    harness.append_results(section)


if __name__ == "__main__":
    main()
