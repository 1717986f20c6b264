"""What the fleet reads back from one account's `meltano run --log-format=json`."""

from __future__ import annotations

import json

from tap_mega.fleet.tapoutput import read_report


def tap_event(text: str, level: str = "info") -> str:
    """One line of the tap's stderr as Meltano relays it with `--log-format=json`."""
    return json.dumps({"event": text, "string_id": "tap-mega", "stdio": "stderr", "level": level})


def test_a_reconcile_pass_the_budget_stops_gives_its_eta() -> None:
    lines = [
        tap_event("INFO tap-mega.leads Progress: 12 / 12 leads (100.0%), 1 pages, done in 0s"),
        tap_event(
            "INFO tap-mega.leads Reconcile pass: 40,000 / 250,000 leads (16.0%), 400 pages, "
            "403 requests, 11 leads/s, 1,000 requests/h, 60/1m + 1,000/1h budget: ETA 3h 30m"
        ),
        tap_event(
            "WARNING tap-mega.leads Stopping early: the next request would wait 50m because "
            "the 1,000/1h window is used up, longer than max_wait_seconds=60. Emitted 40,000 "
            "of 250,000 leads; the state is saved and the next run resumes from here.",
            "warning",
        ),
    ]

    report = read_report(lines)

    assert report.stopped_early is not None
    assert report.stopped_early.startswith("Stopping early: the next request would wait 50m")
    assert report.eta == "3h 30m"
