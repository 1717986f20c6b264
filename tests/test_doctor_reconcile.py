"""The doctor on reconcile passes: what one costs, how often, and the state's pass under way.

Each run is `tap-mega-doctor` in its own process against the emulator over HTTP;
what is asserted is the report a user reads (text and `--json`) and the requests
MEGA saw, never more than three.
"""

from __future__ import annotations

import datetime as dt
import math
import typing as t

import pytest

from tap_mega.testing.emulator import RateWindow
from tap_mega.timestamps import format_timestamp, normalize_timestamp, parse_timestamp
from tests.helpers.doctor import DOCUMENTED, leads_state, run_doctor
from tests.helpers.sync import tap_config as walk_config

if t.TYPE_CHECKING:
    from tap_mega.testing.emulator import MegaEmulator

VERSION = 1_780_000_000


def tap_config(emulator: MegaEmulator, **overrides: t.Any) -> dict[str, t.Any]:
    """The shared test settings with the mirror on, as a user has it by default."""
    return walk_config(emulator, **{"reconcile_deletes": True, **overrides})


def count_since(emulator, since):
    start = parse_timestamp(since)
    return sum(parse_timestamp(lead["updated_at"]) >= start for lead in emulator.leads)


def newest(emulator):
    return max(emulator.leads, key=lambda lead: parse_timestamp(lead["updated_at"]))["updated_at"]


def nth_oldest(emulator, n):
    ordered = sorted(emulator.leads, key=lambda lead: parse_timestamp(lead["updated_at"]))
    return ordered[n]["updated_at"]


def mirror_state(bookmark, **mirror):
    """A state whose `leads` bookmark carries `mirror` (spec-20's shape, keys as given)."""
    state = leads_state(bookmark)
    state["bookmarks"]["leads"]["mirror"] = {
        "version": VERSION - 604_800,
        "pass": None,
        "due": False,
        "reconciled_at": None,
        "check": None,
        **mirror,
    }
    return state


def under_way(position, emitted):
    return {
        "version": VERSION,
        "started_at": "2026-05-01T00:00:00.000Z",
        "position": position,
        "emitted": emitted,
        "resume_from": None,
        "walk": "fingerprint",
    }


# --------------------------------------------------------------------------- #
# What a pass costs, how often passes run, what a quiet run costs
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(("page_size", "pages"), [(100, 25), (7, 358)])
def test_a_pass_costs_the_first_syncs_pages_and_the_check_after_it(
    make_emulator, tmp_path, page_size, pages
):
    emulator = make_emulator(n_leads=2500, seed=3, rate_windows=DOCUMENTED)
    config = tap_config(emulator, page_size=page_size)

    run = run_doctor(config, tmp_path, "--json")
    text = run_doctor(config, tmp_path).stdout

    line = run.line("budget", "reconcile")
    assert line["status"] == "ok"
    data = line["data"]
    # The first sync's pages, then the check's two counts; a first sync counts once before.
    requests = pages + 2
    assert (data["requests"], data["requests_max"], data["leads"]) == (requests, requests + 1, 2500)
    assert (data["pages"], data["check_requests"], data["first_sync_requests"]) == (
        pages,
        2,
        requests + 1,
    )
    # The same walk as the first sync, replayed on the same budget model.
    assert data["pages"] == run.line("budget", "first sync")["data"]["requests"]
    assert data["seconds"] >= run.line("budget", "duration")["data"]["seconds"]
    assert (data["enabled"], data["interval_seconds"]) == (True, 7 * 86400)
    assert line["text"].startswith(
        f"{requests:,} requests a pass ({pages:,} pages +1 at most for a trailing empty page, "
        "then the 2 check requests; a first sync counts once more before it), "
    )
    assert line["text"].endswith(
        "by the pacer's rule: every 7d (reconcile_interval) and whenever leads are seen vanishing"
    )
    quiet = run.line("budget", "quiet run")
    assert quiet["data"] == {"requests": 3, "walk": 1, "check_requests": 2}
    assert quiet["text"].startswith("3 requests: 1 walk request + 2 check requests")
    # Text and JSON say the same; no state, so nothing about a next pass.
    assert f"  ok         quiet run      {quiet['text']}\n" in text
    assert f"  ok         reconcile      {requests:,} requests a pass ({pages:,} pages" in text
    assert "next pass" not in text
    assert "current pass" not in text
    assert emulator.request_count == 4  # two doctor runs of two requests each


@pytest.mark.parametrize(
    ("settings", "cadence", "interval", "quiet"),
    [
        ({"reconcile_interval": "PT12H"}, "every 12h (reconcile_interval)", 43_200, 3),
        ({"reconcile_interval": 0}, "every run (reconcile_interval)", 0, 3),
        ({"reconcile_deletes": False}, "off (reconcile_deletes is false)", None, 1),
    ],
    ids=["PT12H", "every run", "off"],
)
def test_how_often_passes_run_is_the_settings(  # noqa: PLR0917 - pytest passes them by name
    make_emulator, tmp_path, settings, cadence, interval, quiet
):
    emulator = make_emulator(n_leads=250, seed=4, rate_windows=DOCUMENTED)

    run = run_doctor(tap_config(emulator, **settings), tmp_path, "--json")

    line = run.line("budget", "reconcile")
    assert f"by the pacer's rule: {cadence}" in line["text"]
    assert line["data"]["interval_seconds"] == interval
    assert (line["data"]["pages"], line["data"]["requests"]) == (3, 5)
    assert run.line("budget", "quiet run")["data"]["requests"] == quiet
    assert emulator.request_count == 2
    assert run.returncode == 0


# --------------------------------------------------------------------------- #
# A pass under way in the state
# --------------------------------------------------------------------------- #
def test_a_pass_under_way_shows_what_it_has_left_in_three_requests(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=2500, seed=5, rate_windows=DOCUMENTED)
    start_date = normalize_timestamp(nth_oldest(emulator, 100))
    position = nth_oldest(emulator, 1300)
    state = mirror_state(newest(emulator), **{"pass": under_way(position, 1201)})
    config = tap_config(emulator, start_date=start_date)

    run = run_doctor(config, tmp_path, "--json", state=state)
    text = run_doctor(config, tmp_path, state=state).stdout

    line = run.line("budget", "current pass")
    assert line["status"] == "ok", line
    data = line["data"]
    left = count_since(emulator, position)
    pages = math.ceil(left / 100)
    needed = pages + 2  # and the check after the pass
    assert data["leads_left"] == left
    assert (data["requests"], data["requests_max"], data["pages"]) == (needed, needed + 1, pages)
    assert (data["version"], data["emitted"]) == (VERSION, 1201)
    assert data["position"] == normalize_timestamp(position)
    assert line["text"].startswith(
        f"version {VERSION}, started 2026-05-01T00:00:00.000000Z: 1,201 leads emitted so far; "
        f"{left:,} leads left, from {normalize_timestamp(position)}, where it stands: "
        f"{needed} requests ({pages} pages +1 at most for a trailing empty page, then the 2 "
        "check requests), "
    )
    assert line["text"].endswith("; the next run goes on with the same version")
    assert f"  ok         current pass   version {VERSION}, started" in text
    # The count from the pass's position took the third request; the bookmark's waits.
    first_run = emulator.requests[:3]
    assert [r.params.get("updated_since") for r in first_run] == [
        start_date,
        start_date,
        normalize_timestamp(position),
    ]
    assert all(r.params["limit"] == "1" for r in emulator.requests)
    assert emulator.request_count == 6  # three a run
    bookmark = run.line("leads", "bookmark")
    assert (bookmark["status"], bookmark["text"]) == (
        "skipped",
        "not counted: no request left of the three",
    )


def test_a_pass_that_has_read_nothing_has_the_whole_account_left(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=250, seed=6, rate_windows=DOCUMENTED)
    bookmark = nth_oldest(emulator, 200)
    state = mirror_state(bookmark, **{"pass": under_way(None, 0)})

    run = run_doctor(tap_config(emulator, lookback_window=0), tmp_path, "--json", state=state)

    data = run.line("budget", "current pass")["data"]
    assert (data["leads_left"], data["pages"], data["requests"], data["emitted"]) == (250, 3, 5, 0)
    assert (
        "250 leads left, the whole account: 5 requests (3 pages +1 at most"
        in run.line("budget", "current pass")["text"]
    )
    # No count needed for it: the third request counts from the bookmark, as before.
    assert run.line("leads", "bookmark")["data"]["total"] == count_since(emulator, bookmark)
    assert emulator.request_count == 3


def test_a_used_up_budget_leaves_the_pass_uncounted_and_says_why(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=250, seed=7, rate_windows=[RateWindow(2, 60)])
    position = nth_oldest(emulator, 100)
    state = mirror_state(newest(emulator), **{"pass": under_way(position, 101)})

    run = run_doctor(tap_config(emulator), tmp_path, "--json", state=state)

    line = run.line("budget", "current pass")
    assert line["status"] == "skipped"
    assert line["text"].startswith(f"version {VERSION}, started 2026-05-01T00:00:00.000000Z: 101")
    assert "what it has left: MEGA's budget is used up for now" in line["text"]
    assert "leads_left" not in line["data"]
    assert emulator.request_count == 2  # the doctor waits for nothing
    assert run.returncode == 0, run.stdout


# --------------------------------------------------------------------------- #
# When the next pass starts
# --------------------------------------------------------------------------- #
def ago(days):
    return format_timestamp(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days))


@pytest.mark.parametrize(
    ("state", "settings", "says"),
    [
        (leads_state("2026-02-01T00:00:00.000Z"), {},
         "the next run starts one: the state records no completed pass"),
        (mirror_state("2026-02-01T00:00:00.000Z", due=True, reconciled_at=ago(1)), {},
         "the next run starts one: the state says leads were seen vanishing"),
        (mirror_state("2026-02-01T00:00:00.000Z", reconciled_at=ago(8)), {},
         "the next run starts one: the last one started "),
        ({"bookmarks": {}}, {}, "the next run is a first sync, and a first sync is a pass"),
        (mirror_state("2026-02-01T00:00:00.000Z", **{"pass": under_way(None, 0)}),
         {"reconcile_deletes": False},
         f"none: reconcile_deletes is false; the state holds a pass under way (version {VERSION})"),
    ],
    ids=["before passes", "due", "interval elapsed", "first sync", "off"],
)  # fmt: skip
def test_when_the_next_pass_starts(make_emulator, tmp_path, state, settings, says):
    emulator = make_emulator(n_leads=50, seed=8, rate_windows=DOCUMENTED)

    run = run_doctor(tap_config(emulator, **settings), tmp_path, "--json", state=state)

    line = run.line("budget", "next pass")
    assert (line["status"], line["text"][: len(says)]) == ("ok", says)
    assert "current pass" not in str(run.report)
    assert emulator.request_count <= 3


def test_the_next_pass_is_reconcile_interval_after_the_last_one_started(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=50, seed=9, rate_windows=DOCUMENTED)
    last = ago(1)
    state = mirror_state("2026-02-01T00:00:00.000Z", reconciled_at=last)

    run = run_doctor(
        tap_config(emulator, reconcile_interval="P2D"), tmp_path, "--json", state=state
    )

    due = format_timestamp(parse_timestamp(last) + dt.timedelta(days=2))
    assert run.line("budget", "next pass")["text"] == (
        f"the first run after {due} (the last one started {last}), sooner if leads are "
        "seen vanishing"
    )
