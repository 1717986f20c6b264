"""Deleted leads leave the warehouse: the vanish check, reconcile passes, ACTIVATE_VERSION.

The first section is state/mirror.py's arithmetic on its own. The rest runs
`tap-mega` in this process against the emulator over HTTP and feeds each run's
output to a SQL target that honours ACTIVATE_VERSION as target-postgres does
(helpers/mirror.py), which fails the moment a lead alive in MEGA is marked
deleted. What is asserted is what a user sees: RECORDs and their versions, the
ACTIVATE_VERSION messages, the state, the requests MEGA served, the log lines,
and the target's live rows against MEGA's leads. Kills and signals, which need
a process of their own, are in test_mirror_signals.py.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import time
import typing as t
from collections import Counter

import pytest

from tap_mega.state.mirror import Check, CountPage, Mirror, baseline, vanished
from tap_mega.testing.emulator import Fault, RateWindow
from tap_mega.timestamps import format_timestamp, parse_timestamp
from tests.helpers.cli import assert_one_line_failure
from tests.helpers.mirror import (
    SqlTarget,
    activations,
    fake_tap_clock,
    legs,
    mirror_config,
    mirror_of,
    run_into,
    run_until_unstopped,
    versions,
)
from tests.helpers.sync import EMULATOR_CUSTOM_FIELDS, bookmark, tap_config

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tap_mega.testing.emulator import MegaEmulator
    from tests.helpers.cli import CliResult

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FIRST_SYNC = "Starting a reconcile pass (version {}) because a first sync reads every lead"
COMPLETE = "Reconcile pass complete: every live lead carries version {}; ACTIVATE_VERSION sent"


# =========================================================================== #
# state/mirror.py on its own
# =========================================================================== #
def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def page(total: int, *created: float) -> CountPage:
    """A check's page: MEGA's total, and the `created_at`s shown (seconds after T0)."""
    return CountPage(total, sorted((at(s) for s in created), reverse=True))


#: 10 leads were alive, all created before T0.
CHECK = Check(format_timestamp(T0), older=10, walk="w")
OLDER = tuple(-60.0 * n for n in range(1, 11))


@pytest.mark.parametrize(
    ("since_page", "all_page", "gone"),
    [
        (page(0), page(10, *OLDER), 0),
        (page(0), page(7, *OLDER[:7]), 3),
        (page(0), page(0), 10),  # the account emptied
        (page(5, 5, 4, 3, 2, 1), page(15, 5, 4, 3, 2, 1, *OLDER), 0),  # new leads, none gone
        (page(5, 5, 4, 3, 2, 1), page(13, 5, 4, 3, 2, 1, *OLDER[:8]), 2),
        # Two leads were created between the two requests: counted by the second only.
        (page(2, 2, 1), page(13, 9, 8, 2, 1, *OLDER[:9]), 1),
        (page(0), page(12, 9, 8, *OLDER), 0),
        # The whole page is leads created between the requests, and there is no more.
        (page(0), page(3, 9, 8, 7), 10),
        # A tie with the newest lead the first request saw: counted as older, so a
        # deletion can hide behind it, never be invented.
        (page(1, 2), page(12, 2, 2, *OLDER), 0),
        (page(1, 2), page(11, 2, 2, *OLDER[:9]), 0),
    ],
    ids=[
        "nothing changed",
        "three deleted",
        "all deleted",
        "created before the check",
        "created and deleted",
        "created during the check",
        "created during the check, none before",
        "a page of new leads, all there is",
        "tie, none deleted",
        "tie hides one deleted",
    ],
)
def test_vanished_counts_the_older_leads_gone(
    since_page: CountPage, all_page: CountPage, gone: int
) -> None:
    assert vanished(CHECK, since_page, all_page) == gone


def test_a_page_full_of_leads_created_during_the_check_cannot_tell() -> None:
    # Three shown, all created after the first request, and MEGA counts 14: how many
    # more were created between the requests is unknown.
    assert vanished(CHECK, page(0), page(14, 9, 8, 7)) is None
    assert vanished(CHECK, page(1, 5), page(14, 9, 8, 7)) is None


def test_without_a_since_only_an_empty_baseline_can_be_compared() -> None:
    assert vanished(Check(None, 0, "w"), page(0), page(4, 3, 2, 1, 0)) == 0
    assert vanished(Check(None, 5, "w"), page(0), page(4, 3, 2, 1, 0)) is None


def test_vanished_is_exact_against_a_model_of_megas_counts() -> None:
    """Random accounts: leads created, deleted, and created between the two requests."""
    rng = random.Random(20)  # noqa: S311 - reproducible accounts
    for _ in range(400):
        limit = rng.randint(1, 6)
        ms = iter(range(0, 10**9, rng.randint(1, 4)))  # distinct instants, in creation order
        older = [next(ms) for _ in range(rng.randint(0, 12))]
        check = baseline(model_page(older, limit), "w")
        alive = rng.sample(older, rng.randint(0, len(older)))
        created = [next(ms) + 1 for _ in range(rng.randint(0, 8))]
        survivors = [m for m in created if rng.random() < 0.8]  # some new ones deleted too
        between = [next(ms) + 1 for _ in range(rng.randint(0, 8))]
        # leads.py asks the created_since count only when there is a since.
        since_page = CountPage(0, ()) if check.since is None else model_page(survivors, limit)
        all_page = model_page(alive + survivors + between, limit)

        result = vanished(check, since_page, all_page)

        total = len(alive) + len(survivors) + len(between)
        if check.since is None:  # nothing was counted: only an empty account compares
            assert result == (None if older else 0)
        elif len(between) >= limit and total > limit:
            assert result is None
        else:
            assert result == len(older) - len(alive), (older, alive, survivors, between)


def model_page(created_ms: list[int], limit: int) -> CountPage:
    """MEGA's answer to `sort_by=created_at&sort_dir=desc&limit=`: the total, the newest shown."""
    shown = sorted(created_ms, reverse=True)[:limit]
    return CountPage(len(created_ms), [T0 + dt.timedelta(milliseconds=m) for m in shown])


def test_the_baseline_counts_the_total_and_starts_one_millisecond_past_the_newest() -> None:
    check = baseline(page(250, 30, 30, 10), "w")  # two leads tied as the newest
    assert check == Check(format_timestamp(at(30.001)), 250, "w")
    # The next check's created_since leaves both tied leads among the older ones.
    assert vanished(check, page(0), page(250, 30, 30, 10)) == 0
    assert baseline(page(0), "w") == Check(None, 0, "w")


ACTIVE = {
    "version": 1_780_000_100,
    "started_at": "2026-05-01T00:00:00.000000Z",
    "walk": "fingerprint",
    "position": "2026-04-01T00:00:00.000000Z",
    "emitted": 700,
    "resume_from": None,
}
BASELINE = {"since": "2026-04-30T00:00:00.000000Z", "older": 9, "walk": "fingerprint"}
GOOD = {
    "version": 1_780_000_000,
    "due": True,
    "reconciled_at": "2026-04-24T00:00:00.000000Z",
    "check": BASELINE,
    "pass": ACTIVE,
    "activate": None,
}


def test_a_saved_mirror_comes_back_as_it_was() -> None:
    mirror = Mirror.from_state(GOOD)
    assert mirror.to_state() == GOOD
    assert mirror.run_version(T0) == ACTIVE["version"], "RECORDs carry the pass's version"
    assert Mirror.from_state(json.loads(json.dumps(mirror.to_state()))) == mirror


@pytest.mark.parametrize(
    ("saved", "kept"),
    [
        (None, {}),
        ("mirror", {}),
        ([GOOD], {}),
        ({**GOOD, "version": "1780000000"}, {"version": None}),
        ({**GOOD, "version": True}, {"version": None}),
        ({**GOOD, "activate": "1780000000"}, {"activate": None}),
        ({**GOOD, "due": "yes"}, {"due": False}),
        ({**GOOD, "reconciled_at": "last week"}, {"reconciled_at": None}),
        ({**GOOD, "pass": "under way"}, {"pass": None}),
        ({**GOOD, "pass": {"version": 5}}, {"pass": None}),
        ({**GOOD, "pass": {**ACTIVE, "version": -1}}, {"pass": None}),
        ({**GOOD, "pass": {**ACTIVE, "emitted": True}}, {"pass": None}),
        ({**GOOD, "pass": {**ACTIVE, "started_at": "soon"}}, {"pass": None}),
        ({**GOOD, "pass": {**ACTIVE, "position": "junk"}}, {"pass": None}),
        ({**GOOD, "pass": {**ACTIVE, "position": 17}}, {"pass": None}),
        ({**GOOD, "pass": {**ACTIVE, "walk": 5}}, {"pass": None}),
        # Another spelling of the instant: kept, in the form the bookmark is compared in.
        ({**GOOD, "pass": {**ACTIVE, "position": "2026-04-01T00:00:00Z"}}, {}),
        ({**GOOD, "pass": {**ACTIVE, "someone_elses": 1}}, {}),
        ({**GOOD, "check": {"since": "x", "older": 9, "walk": "fingerprint"}}, {"check": None}),
        ({**GOOD, "check": {**BASELINE, "older": -1}}, {"check": None}),
        ({**GOOD, "check": {**BASELINE, "older": 2.5}}, {"check": None}),
        ({**GOOD, "check": [1, 2]}, {"check": None}),
    ],
)
def test_a_mirror_from_a_state_drops_what_is_not_ours_and_never_fails(
    saved: object, kept: dict[str, t.Any]
) -> None:
    mirror = Mirror.from_state(saved)

    expected = {**GOOD, **kept} if isinstance(saved, dict) else Mirror().to_state()
    assert mirror.to_state() == expected


def test_a_saved_pass_whose_position_is_not_ours_is_dropped_never_activated(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    target = SqlTarget(emulator)
    config = mirror_config(emulator)
    run_into(target, config, tmp_path)
    mirror = mirror_of(target.state)
    mirror["pass"] = {
        **ACTIVE,
        "version": mirror["version"] + 1,
        "started_at": mirror["reconciled_at"],
        "walk": mirror["check"]["walk"],
        "position": "junk",  # text above any instant: it would ride the walk and activate
    }

    run = run_into(target, config, tmp_path)

    assert activations(run) == []
    assert mirror_of(target.state)["pass"] is None
    target.assert_mirrors_mega()


def test_pass_versions_rise_strictly_whatever_the_clock_does() -> None:
    mirror = Mirror()
    first = mirror.start_pass("w", at(0.7)).version
    assert first == math.floor(at(0).timestamp()), "epoch seconds, as the SDK's versions"
    assert mirror.complete_pass() == first
    same_second = mirror.start_pass("w", at(0.9)).version
    restarted = mirror.start_pass("w", at(0.9)).version  # a pass replaced before completing
    mirror.complete_pass()
    clock_went_back = mirror.start_pass("w", at(-86_400)).version
    later = mirror.start_pass("w", at(3_600)).version
    assert [first, same_second, restarted, clock_went_back] == [first + n for n in range(4)]
    assert later == math.floor(at(3_600).timestamp())


# =========================================================================== #
# A first sync, a quiet run, deletions
# =========================================================================== #
@pytest.mark.parametrize(
    ("n_leads", "trailing"),
    [(250, False), (200, True), (0, False)],
    ids=["250 leads", "200 leads and a trailing empty page", "no leads"],
)
def test_a_first_sync_counts_then_is_one_pass_then_a_check(
    make_emulator: Callable[..., MegaEmulator], tmp_path: Path, n_leads: int, trailing: bool
) -> None:
    emulator = make_emulator(n_leads=n_leads, seed=3, trailing_empty_page=trailing)
    target = SqlTarget(emulator)

    run = run_into(target, mirror_config(emulator), tmp_path)

    pages = max(math.ceil(n_leads / 100) + trailing, 1)  # an empty account: one empty page
    # The baseline, the pass riding the walk, then the check against the baseline (its
    # created_since count only when the baseline counted a lead).
    counts = ["check"] * (2 if n_leads else 1)
    assert legs(emulator.requests) == ["check"] + ["walk"] * pages + counts
    assert "created_since" not in emulator.requests[0].params, "the baseline counts all"
    [version] = activations(run)
    assert versions(run) <= {version}, "every RECORD carries the pass's version"
    types = [m["type"] for m in run.result.messages]
    assert "RECORD" not in types[types.index("ACTIVATE_VERSION") :], "after the last RECORD"
    assert len(run.result.records) == n_leads
    # The first STATE, before any RECORD, holds the baseline; every later one up to the
    # ACTIVATE holds the pass; those after it, its version as done.
    states = [m for m in run.result.messages if m["type"] in ("STATE", "ACTIVATE_VERSION")]
    split = [m["type"] for m in states].index("ACTIVATE_VERSION")
    assert "RECORD" not in types[: types.index("STATE")]
    counted = mirror_of(states[0]["value"])
    assert (counted["check"]["older"], counted["pass"]) == (n_leads, None)
    assert all(mirror_of(m["value"])["pass"]["version"] == version for m in states[1:split])
    mirror = mirror_of(target.state)
    assert (mirror["version"], mirror["pass"], mirror["due"]) == (version, None, False)
    assert mirror["check"]["older"] == n_leads
    assert FIRST_SYNC.format(version) in run.stderr
    assert COMPLETE.format(version) in run.stderr
    assert "Reconcile check: no lead vanished since the last check." in run.stderr
    target.assert_mirrors_mega()


def test_a_quiet_run_costs_one_walk_request_and_two_check_requests(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    target = SqlTarget(emulator)
    config = mirror_config(emulator)
    [version] = activations(run_into(target, config, tmp_path))
    since = mirror_of(target.state)["check"]["since"]
    before = emulator.request_count

    quiet = run_into(target, config, tmp_path)

    served = emulator.requests[before:]
    assert legs(served) == ["walk", "check", "check"]
    assert served[1].params["created_since"] == since, "the count since the last check first"
    assert "created_since" not in served[2].params
    assert {r.params["include_custom_fields"] for r in served[1:]} == {"false"}
    assert activations(quiet) == []
    assert quiet.result.records, "the lookback window re-reads a few leads"
    [carried] = versions(quiet)
    assert carried > version, "outside a pass, a run's RECORDs carry a version of their own"
    assert "Reconcile check: no lead vanished since the last check." in quiet.stderr
    assert "Starting a reconcile pass" not in quiet.stderr
    assert mirror_of(target.state)["version"] == carried
    target.assert_mirrors_mega()


def test_deleted_leads_are_found_by_the_next_run_and_retired_by_its_pass(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    target = SqlTarget(emulator)
    config = mirror_config(emulator)
    [first] = activations(run_into(target, config, tmp_path))
    gone = emulator.delete_leads(count=30, seed=1)
    changed = emulator.update_leads(count=40, seed=2, status="won")
    created = emulator.insert_leads(20, seed=3)
    before = emulator.request_count

    run = run_into(target, config, tmp_path)

    served = emulator.requests[before:]
    walked = legs(served).index("check")  # the walk re-reads the lookback window, then the 60
    pass_pages = ["walk"] * math.ceil(240 / 100)
    assert legs(served)[walked:] == ["check", "check", *pass_pages, "check", "check"]
    pass_start = served[walked + 2].params
    assert "cursor" not in pass_start
    assert "updated_since" not in pass_start, "the pass reads the whole account"
    [version] = activations(run)
    assert version > first
    assert "Reconcile check: 30 leads created before" in run.stderr
    assert (
        f"Starting a reconcile pass (version {version}) because leads vanished from MEGA "
        "since the last check" in run.stderr
    )
    after_pass = run.stderr.split(COMPLETE.format(version))[1]
    assert "Reconcile check: no lead vanished since the last check." in after_pass
    assert target.deleted == set(gone)
    assert all(target.live[lead_id]["status"] == "won" for lead_id in changed)
    assert {lead["id"] for lead in created} <= set(target.live)
    target.assert_mirrors_mega()
    assert mirror_of(target.state)["due"] is False

    before = emulator.request_count
    quiet = run_into(target, config, tmp_path)
    assert legs(emulator.requests[before:])[-3:] == ["walk", "check", "check"]
    assert activations(quiet) == []
    assert "Reconcile check: no lead vanished" in quiet.stderr


def test_leads_created_updated_and_deleted_during_a_pass(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    """Created and updated: carried. Deleted ahead of the pass: retired by it. Deleted
    after it went out: still live when the pass ends, counted by the check that follows
    it (against the count from before the pass), retired by the next run's pass."""
    target = SqlTarget(emulator)
    config = mirror_config(emulator, page_size=50)
    run_into(target, config, tmp_path)
    emulator.delete_leads(count=5, seed=1)
    ordered = [lead["id"] for lead in emulator.leads]  # by updated_at, as the pass reads
    emitted, ahead = ordered[:2], ordered[-2:]
    created: list[str] = []

    def mid_pass(emu: MegaEmulator) -> None:  # pages 1 and 2 of the pass are out
        created.extend(lead["id"] for lead in emu.insert_leads(3, seed=9))
        changes = {"status": "archived", "custom_fields": {"notes": "changed mid-pass"}}
        emu.update_leads([emitted[1], ahead[1]], **changes)
        emu.delete_leads([emitted[0], ahead[0]])

    # Requests: the walk (1), the check (2, 3), then the pass's pages 1, 2, 3...
    emulator.on_request(emulator.request_count + 6, mid_pass)

    run = run_into(target, config, tmp_path)

    [version] = activations(run)
    assert set(created) <= set(target.live)
    assert all(target.rows[lead_id].version == version for lead_id in created)
    for lead_id in (emitted[1], ahead[1]):
        assert target.live[lead_id]["custom_fields"]["notes"] == "changed mid-pass"
    # The run's walk (its lookback window) sent the newest leads under the pass's version,
    # before ahead[0] was deleted: carried, like emitted[0]; the check after counts both.
    assert {ahead[0], emitted[0]} <= set(target.live), "went out before it was deleted"
    after_pass = run.stderr.split(COMPLETE.format(version))[1]
    assert "Reconcile check: 2 leads created before" in after_pass
    assert mirror_of(target.state)["due"] is True

    later = run_into(target, config, tmp_path)

    assert "Reconcile check: no lead vanished since the last check." in later.stderr
    assert "because leads vanished from MEGA since the last check" in later.stderr
    [again] = activations(later)
    assert again > version
    target.assert_mirrors_mega()


def test_a_lead_deleted_during_a_first_sync_after_it_went_out_is_caught_next(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    target = SqlTarget(emulator)
    config = mirror_config(emulator, page_size=50)
    oldest = emulator.leads[0]["id"]
    emulator.on_request(3, lambda emu: emu.delete_leads([oldest]))  # page 1 is out

    first = run_into(target, config, tmp_path)
    assert oldest in first.result.ids
    for _ in range(2):
        run_into(target, config, tmp_path)

    target.assert_mirrors_mega()


def test_a_pass_under_way_without_a_baseline_still_catches_a_lead_it_sent_then_lost(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    """Mirror.from_state drops a check it cannot read, "which costs a pass"."""
    target = SqlTarget(emulator)
    config = mirror_config(emulator, page_size=50)
    emulator.add_fault(Fault("status", at_request=4, status=400))  # the baseline, 2 pages
    run_into(target, config, tmp_path, ok=False)
    oldest = emulator.leads[0]["id"]
    assert oldest in target.live, "the first sync's pass sent it"
    emulator.delete_leads([oldest])
    mirror_of(target.state)["check"] = {"since": "unreadable", "older": 0, "walk": "w"}

    for _ in range(3):
        run_into(target, config, tmp_path)

    target.assert_mirrors_mega()


def test_a_lead_created_during_a_pass_then_deleted_is_caught_by_a_later_run(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    target = SqlTarget(emulator)
    config = mirror_config(emulator, page_size=50)
    run_into(target, config, tmp_path)
    emulator.delete_leads(count=1, seed=1)
    created: list[str] = []
    emulator.on_request(
        emulator.request_count + 5,
        lambda emu: created.extend(lead["id"] for lead in emu.insert_leads(2, seed=5)),
    )
    run = run_into(target, config, tmp_path)
    assert activations(run), "a pass ran"
    assert set(created) <= set(target.live), "carried by the pass"
    emulator.delete_leads([created[0]])

    for _ in range(2):
        run_into(target, config, tmp_path)

    target.assert_mirrors_mega()


# =========================================================================== #
# When passes run: the interval, the setting off, changed filters
# =========================================================================== #
@pytest.mark.parametrize(
    ("setting", "interval"),
    [
        ({}, dt.timedelta(days=7)),
        ({"reconcile_interval": "PT6H"}, dt.timedelta(hours=6)),
        ({"reconcile_interval": 3600}, dt.timedelta(hours=1)),
    ],
    ids=["default P7D", "PT6H", "3600 seconds"],
)
def test_a_pass_starts_once_reconcile_interval_has_passed(
    emulator: MegaEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    setting: dict[str, t.Any],
    interval: dt.timedelta,
) -> None:
    clock = fake_tap_clock(monkeypatch, T0)
    target = SqlTarget(emulator)
    config = mirror_config(emulator, **setting)
    [first] = activations(run_into(target, config, tmp_path))
    assert first == math.floor(T0.timestamp())
    assert mirror_of(target.state)["reconciled_at"] == format_timestamp(T0)

    clock.advance(seconds=interval.total_seconds() - 1)
    before = emulator.request_count
    not_yet = run_into(target, config, tmp_path)
    assert activations(not_yet) == []
    assert legs(emulator.requests[before:]) == ["walk", "check", "check"]

    clock.advance(seconds=1)
    before = emulator.request_count
    due = run_into(target, config, tmp_path)

    [version] = activations(due)
    assert version == math.floor((T0 + interval).timestamp())
    served = legs(emulator.requests[before:])
    assert served == ["walk", "check", "check"] + ["walk"] * 3 + ["check", "check"]
    text = setting.get("reconcile_interval", "P7D")
    assert f"because reconcile_interval ({text}) has passed since the last one" in due.stderr
    assert mirror_of(target.state)["reconciled_at"] == format_timestamp(T0 + interval)
    target.assert_mirrors_mega()


def test_pass_versions_rise_when_the_clock_stands_still_or_goes_back(
    emulator: MegaEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = fake_tap_clock(monkeypatch, T0)
    target = SqlTarget(emulator)
    config = mirror_config(emulator)
    run_into(target, config, tmp_path)
    emulator.delete_leads(count=3, seed=1)
    run_into(target, config, tmp_path)
    clock.advance(days=-1)
    emulator.delete_leads(count=3, seed=2)
    run_into(target, config, tmp_path)

    start = math.floor(T0.timestamp())
    assert target.activations == [start, start + 1, start + 2]
    target.assert_mirrors_mega()


def test_with_reconcile_deletes_false_no_check_no_version_no_activate_version(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    target = SqlTarget(emulator)
    config = tap_config(emulator, reconcile_deletes=False, page_size=100)
    first = run_into(target, config, tmp_path)
    gone = emulator.delete_leads(count=10, seed=1)
    before = emulator.request_count

    second = run_into(target, config, tmp_path)

    assert legs(emulator.requests) == ["walk"] * (3 + 1), "pages of 100, then one"
    assert emulator.request_count == before + 1
    for run in (first, second):
        assert activations(run) == []
        assert versions(run) == {None}, "no RECORD carries a version"
        assert "Reconcile" not in run.stderr
    assert "mirror" not in bookmark(second.result.final_state)
    assert set(gone) <= set(target.live), "nothing tells the target"


def test_changed_filters_reset_the_check_and_a_pass_mirrors_the_new_selection(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    target = SqlTarget(emulator)
    [first] = activations(run_into(target, mirror_config(emulator), tmp_path))
    before = emulator.request_count
    target.selects = lambda lead: lead["status"] == "won"

    run = run_into(target, mirror_config(emulator, status="won"), tmp_path)

    assert "Reconcile check: the filters or start_date changed; a pass is due." in run.stderr
    # A new baseline before any RECORD, the walk, the check against it, the pass (the
    # won leads fit one page), the check after it.
    served = emulator.requests[before:]
    assert legs(served) == ["check", "walk", "check", "check", "walk", "check", "check"]
    assert "created_since" not in served[0].params, "the new selection's baseline"
    assert {r.params.get("status") for r in served} == {"won"}
    [version] = activations(run)
    assert version > first
    target.assert_mirrors_mega()
    assert mirror_of(target.state)["due"] is False


def test_a_pass_under_way_starts_again_when_the_filters_change(
    make_emulator: Callable[..., MegaEmulator], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = fake_tap_clock(monkeypatch, T0)
    emulator = make_emulator(n_leads=250, seed=5)
    target = SqlTarget(emulator)
    config = mirror_config(emulator, page_size=50)
    run_into(target, config, tmp_path)
    emulator.delete_leads(count=5, seed=1)
    emulator.add_fault(Fault("status", at_request=emulator.request_count + 6, status=400))
    clock.advance(hours=1)
    run_into(target, config, tmp_path, ok=False)  # the pass read two pages of five
    abandoned = mirror_of(target.state)["pass"]
    assert abandoned["emitted"] == 100
    target.selects = lambda lead: lead["status"] == "won"
    clock.advance(hours=1)

    run = run_into(target, mirror_config(emulator, page_size=50, status="won"), tmp_path)

    assert "Starting the reconcile pass again: the filters changed since." in run.stderr
    assert "Resuming the reconcile pass" not in run.stderr
    [version] = activations(run)
    assert version > abandoned["version"]
    target.assert_mirrors_mega()


def test_a_restarted_pass_never_reuses_the_dropped_passs_version(
    make_emulator: Callable[..., MegaEmulator], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = fake_tap_clock(monkeypatch, T0)
    emulator = make_emulator(n_leads=250, seed=5)
    target = SqlTarget(emulator)
    config = mirror_config(emulator, page_size=50)
    run_into(target, config, tmp_path)
    emulator.delete_leads(count=5, seed=1)
    emulator.add_fault(Fault("status", at_request=emulator.request_count + 6, status=400))
    clock.advance(hours=1)
    run_into(target, config, tmp_path, ok=False)
    abandoned = mirror_of(target.state)["pass"]["version"]
    target.selects = lambda lead: lead["status"] == "won"
    clock.advance(hours=-2)  # an NTP step, a restored VM: the machine's clock went back

    run = run_into(target, mirror_config(emulator, page_size=50, status="won"), tmp_path)

    target.assert_mirrors_mega()
    assert activations(run)[0] > abandoned


def test_a_pass_resumed_after_a_run_with_reconcile_deletes_false_retires_no_live_lead(
    make_emulator: Callable[..., MegaEmulator], tmp_path: Path
) -> None:
    # 200 leads in four full pages of 50: the pass's last request is a trailing empty page.
    emulator = make_emulator(n_leads=250, seed=5, trailing_empty_page=True)
    target = SqlTarget(emulator)
    config = mirror_config(emulator, page_size=50)
    run_into(target, config, tmp_path)
    emulator.delete_leads(count=50, seed=1)
    emulator.add_fault(Fault("status", at_request=emulator.request_count + 8, status=400))
    run_into(target, config, tmp_path, ok=False)  # the pass read every lead, not the end
    assert mirror_of(target.state)["pass"]["emitted"] == 200
    [newest] = emulator.insert_leads(1, seed=3)  # MEGA moves on, past the lookback window
    later = parse_timestamp(newest["updated_at"]) + dt.timedelta(minutes=10)
    emulator.set_updated_at(newest["id"], format_timestamp(later))
    off = run_into(target, {**config, "reconcile_deletes": False}, tmp_path)
    assert versions(off) == {None}
    assert len(off.result.records) == 2, "the lookback window's lead, and the new one"

    run_into(target, config, tmp_path)

    target.assert_mirrors_mega()


# =========================================================================== #
# Every cut point: a budget stop, a MEGA error (kills and signals: test_mirror_signals.py)
# =========================================================================== #
class Budget:
    """An emulator whose rate window holds `per_run` requests per scheduled run."""

    def __init__(self, make: Callable[..., MegaEmulator], n_leads: int, per_run: int) -> None:
        self.offset = 0.0
        self.emulator = make(
            n_leads=n_leads,
            seed=5,  # one lead at the newest updated_at: a walk's re-read costs one page
            rate_windows=[RateWindow(per_run, 600.0)],
            clock=lambda: time.monotonic() + self.offset,
        )

    def next_window(self) -> None:
        self.offset += 601  # the window has refilled by the next scheduled run

    def config(self, **overrides: t.Any) -> dict[str, t.Any]:
        settings = {"page_size": 20, "max_wait_seconds": 5, **overrides}
        return mirror_config(self.emulator, **settings)


def change_mega(emulator: MegaEmulator) -> None:
    """Six deleted, a hundred changed, one created: a walk of six pages of 20.

    The new lead is stamped ten minutes later, so once read the hundred are out of
    the lookback window: a later run's walk costs one page, as on a quiet hour.
    """
    emulator.delete_leads(count=6, seed=1)
    emulator.update_leads(count=100, seed=2, status="lost")
    [created] = emulator.insert_leads(1, seed=3)
    later = parse_timestamp(created["updated_at"]) + dt.timedelta(minutes=10)
    emulator.set_updated_at(created["id"], format_timestamp(later))


#: Each budget's runs after the changes, each run's requests as w (a page of the walk
#: or the pass) and c (a check's), A where ACTIVATE_VERSION went out: together they cut
#: every leg. A pass under way resumes right after the walk, unchecked; the check
#: after it compares with the count from before it.
RUNS_AFTER_CHANGES = {
    # In the walk; after the check (the pass started, no page read); after the ACTIVATE,
    # before its check.
    4: ["wwww", "wwcc", "wwww", "wwwwA", "wcc"],
    5: ["wwwww", "wccww", "wwwwwA", "wcc"],  # in the walk; in the pass; after the ACTIVATE
    7: ["wwwwwwc", "wccwwww", "wwwAcc"],  # between the check's two requests; in the pass
    8: ["wwwwwwcc", "wwwwwwwAc", "wcc"],  # after the check; in the check after the pass
    9: ["wwwwwwccw", "wwwwwwAcc"],  # in the pass
}


@pytest.mark.parametrize("per_run", RUNS_AFTER_CHANGES)
def test_a_pass_cut_by_the_budget_anywhere_resumes_its_version_and_activates_once(
    make_emulator: Callable[..., MegaEmulator], tmp_path: Path, per_run: int
) -> None:
    budget = Budget(make_emulator, n_leads=120, per_run=per_run)
    emulator, config = budget.emulator, budget.config()
    target = SqlTarget(emulator)
    run_until_unstopped(target, config, tmp_path, budget.next_window)
    [first] = target.activations
    change_mega(emulator)
    schedule: list[str] = []

    runs = run_until_unstopped(target, config, tmp_path, budget.next_window, schedule=schedule)

    assert schedule == RUNS_AFTER_CHANGES[per_run]
    [version] = target.activations[1:]
    assert version > first
    [done] = [i for i, run in enumerate(runs) if activations(run)]
    started = next(i for i, run in enumerate(runs) if "Starting a reconcile pass" in run.stderr)
    assert started < done, "the pass spans runs"
    for run in runs[started:done]:
        assert mirror_of(run.result.final_state)["pass"]["version"] == version
    for run in runs[done:]:
        mirror = mirror_of(run.result.final_state)
        assert mirror["version"] >= version, "done, and saved"
        assert (mirror["pass"], mirror["activate"]) == (None, None), "done, and saved"
    for run in runs[started + 1 :]:
        assert "Starting a reconcile pass" not in run.stderr
    for run in runs[started + 1 : done + 1]:
        assert versions(run) <= {version}, "the same version, run after run"
    target.assert_mirrors_mega()


def test_a_pass_moves_on_even_when_each_run_affords_three_requests(
    make_emulator: Callable[..., MegaEmulator], tmp_path: Path
) -> None:
    budget = Budget(make_emulator, n_leads=120, per_run=3)
    emulator, config = budget.emulator, budget.config()
    target = SqlTarget(emulator)
    run_until_unstopped(target, config, tmp_path, budget.next_window)
    emulator.delete_leads(count=6, seed=1)

    run_until_unstopped(target, config, tmp_path, budget.next_window, max_runs=15)

    target.assert_mirrors_mega()


#: A first sync's runs, as RUNS_AFTER_CHANGES: the baseline, the walk the pass rides,
#: the check after it. A budget of 2 is left out: no run could walk and check.
FIRST_SYNC_RUNS = {
    3: ["cww", "www", "wAcc"],  # in the walk
    4: ["cwww", "wwwAc", "wcc"],  # in the walk; between the check's two requests
    7: ["cwwwwwwA", "wcc"],  # after the ACTIVATE, before its check
}


@pytest.mark.parametrize("per_run", FIRST_SYNC_RUNS)
def test_a_first_sync_over_several_runs_reads_the_account_once_then_activates(
    make_emulator: Callable[..., MegaEmulator], tmp_path: Path, per_run: int
) -> None:
    budget = Budget(make_emulator, n_leads=120, per_run=per_run)
    emulator = budget.emulator
    target = SqlTarget(emulator)
    newest = parse_timestamp(emulator.leads[-1]["updated_at"])
    lookback = {
        lead["id"]
        for lead in emulator.leads
        if parse_timestamp(lead["updated_at"]) >= newest - dt.timedelta(minutes=5)
    }

    schedule: list[str] = []

    runs = run_until_unstopped(
        target, budget.config(), tmp_path, budget.next_window, schedule=schedule
    )

    assert schedule == FIRST_SYNC_RUNS[per_run]
    [version] = target.activations
    assert [bool(activations(run)) for run in runs].count(True) == 1
    read = Counter(record["id"] for run in runs for record in run.result.records)
    assert set(read) == {lead["id"] for lead in emulator.leads}
    twice = {lead_id for lead_id, times in read.items() if times > 1}
    assert twice <= lookback, "only the lookback window's leads are read again"
    pages = legs(emulator.requests).count("walk")
    assert pages <= math.ceil(120 / 20) + 1, "no second read of the account"
    done = next(i for i, run in enumerate(runs) if activations(run))
    assert all(versions(run) == {version} for run in runs[:done] if run.result.records)
    target.assert_mirrors_mega()


@pytest.mark.parametrize("first_sync", [True, False], ids=["first sync", "after deletions"])
def test_a_pass_cut_after_any_line_resumes_and_never_retires_a_live_lead(
    make_emulator: Callable[..., MegaEmulator], tmp_path: Path, first_sync: bool
) -> None:
    """What a SIGKILL leaves, at each line it could land after: the lines before it applied,
    the run resumed from the last STATE they hold. After the ACTIVATE and before the STATE
    that follows it, the pass's tail is read and ACTIVATE_VERSION sent again."""
    emulator = make_emulator(n_leads=250, seed=5)
    config = mirror_config(emulator, page_size=50)
    start = SqlTarget(emulator)
    if not first_sync:
        run_into(start, config, tmp_path)
        emulator.delete_leads(count=5, seed=1)
    whole = run_into(start.copy(), config, tmp_path)
    [version] = activations(whole)
    messages = whole.result.messages
    kinds = [message["type"] for message in messages]
    cuts = [i for i, kind in enumerate(kinds) if kind in ("STATE", "ACTIVATE_VERSION")]
    cuts += [i - 1 for i in cuts if kinds[i - 1] == "RECORD"]  # a page out, its STATE not
    assert kinds.index("ACTIVATE_VERSION") in cuts

    for cut in sorted(cuts):
        target = start.copy()
        target.apply_run(messages[: cut + 1])
        leads = (target.state or {}).get("bookmarks", {}).get("leads", {})
        kept = leads.get("mirror") or {}
        resumed = run_into(target, config, tmp_path)
        if (kept.get("pass") or {}).get("version") == version or kept.get("activate"):
            assert activations(resumed) == [version], "the same pass, activated once complete"
        elif "ACTIVATE_VERSION" in kinds[: cut + 1]:
            # Done. Cut before the check after it, the next check still counts from before
            # the pass: what vanished then may have gone out in it, so one more pass runs.
            assert all(again > version for again in activations(resumed)), "done"
            assert len(activations(resumed)) <= 1
        else:
            assert len(activations(resumed)) == 1, "cut before the pass began: a new one"
        target.assert_mirrors_mega()


#: The run after 5 deletions on 250 leads, pages of 50: the walk (1), the check (2, 3),
#: the pass (4 to 8), ACTIVATE_VERSION, the check (9, 10). Each fault cuts the run there.
CUT_RUN = ["walk", "check", "check"] + ["walk"] * 5 + ["check", "check"]
CUTS = [("status", at) for at in range(1, 9)] + [
    ("unsorted", 4),  # a page out of order (pages 2 and 4 share one updated_at)
    ("unsorted", 6),
    ("unsorted", 8),
    ("bad_shape", 6),
]


@pytest.mark.parametrize(
    ("kind", "at"),
    CUTS,
    ids=[f"{kind}@{at}" for kind, at in CUTS],
)
def test_a_pass_cut_by_a_mega_error_anywhere_resumes_its_version(
    make_emulator: Callable[..., MegaEmulator], tmp_path: Path, kind: str, at: int
) -> None:
    emulator = make_emulator(n_leads=250, seed=5)  # the walk after the first sync: one page
    target = SqlTarget(emulator)
    config = mirror_config(emulator, page_size=50)
    [first] = activations(run_into(target, config, tmp_path))
    emulator.delete_leads(count=5, seed=1)
    before = emulator.request_count
    emulator.add_fault(Fault(kind, at_request=emulator.request_count + at, status=400))

    failed = run_into(target, config, tmp_path, ok=False)

    assert_one_line_failure(failed.returncode, failed.stderr)
    assert legs(emulator.requests[before:]) == CUT_RUN[:at]
    assert activations(failed) == []
    cut = mirror_of(target.state)["pass"]
    resumed = run_into(target, config, tmp_path)
    [version] = activations(resumed)
    assert version > first
    if cut is not None:
        assert cut["version"] == version, "the pass resumes with its version"
    if cut is not None and cut["emitted"]:
        assert f"Resuming the reconcile pass (version {version})" in resumed.stderr
    target.assert_mirrors_mega()


@pytest.mark.parametrize("at", [9, 10], ids=["first count", "second count"])
def test_a_mega_error_in_the_check_after_a_pass_leaves_it_done(
    make_emulator: Callable[..., MegaEmulator], tmp_path: Path, at: int
) -> None:
    emulator = make_emulator(n_leads=250, seed=5)
    target = SqlTarget(emulator)
    config = mirror_config(emulator, page_size=50)
    [first] = activations(run_into(target, config, tmp_path))
    emulator.delete_leads(count=5, seed=1)
    before = emulator.request_count
    emulator.add_fault(Fault("status", at_request=emulator.request_count + at, status=400))

    failed = run_into(target, config, tmp_path, ok=False)

    assert_one_line_failure(failed.returncode, failed.stderr)
    assert legs(emulator.requests[before:]) == CUT_RUN[:at]
    [version] = activations(failed)
    assert version > first
    mirror = mirror_of(target.state)
    assert (mirror["version"], mirror["pass"]) == (version, None), "the STATE after it"
    target.assert_mirrors_mega()
    before = emulator.request_count
    resumed = run_into(target, config, tmp_path)
    assert legs(emulator.requests[before:]) == ["walk", "check", "check"]
    assert activations(resumed) == []
    assert "Reconcile check: no lead vanished since the last check." in resumed.stderr
    target.assert_mirrors_mega()


# =========================================================================== #
# The state stays small
# =========================================================================== #
def test_the_state_stays_under_10_kb_whatever_the_account(
    make_emulator: Callable[..., MegaEmulator], tmp_path: Path
) -> None:
    sizes = {}
    for n_leads in (300, 2_000):
        emulator = make_emulator(n_leads=n_leads, seed=5)
        target = SqlTarget(emulator)
        config = mirror_config(emulator)
        run_into(target, config, tmp_path)
        emulator.delete_leads(count=1, seed=1)
        emulator.add_fault(Fault("status", at_request=emulator.request_count + 5, status=400))
        run_into(target, config, tmp_path, ok=False)  # a pass under way, its cursor saved
        under_way = mirror_of(target.state)["pass"]
        assert under_way["resume_from"] is not None
        sizes[n_leads] = (len(json.dumps(target.state)), len(json.dumps(under_way)))

    assert all(whole < 10_000 for whole, _ in sizes.values()), sizes
    assert sizes[2_000][1] <= sizes[300][1] + 10, "the pass's state does not grow with the account"


# =========================================================================== #
# A SCHEMA changed mid-run: SDK targets load the records before it last
# =========================================================================== #
def kinds(run: CliResult) -> list[str]:
    """The run's messages by type, SCHEMA/RECORD/ACTIVATE_VERSION only, runs collapsed."""
    shown = [m["type"] for m in run.result.messages if m["type"] != "STATE"]
    return [kind for i, kind in enumerate(shown) if i == 0 or shown[i - 1] != kind]


def test_a_pass_in_a_run_whose_schema_changed_activates_when_the_next_run_starts(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    """The walk's RECORDs and the pass's share the run's version, whatever order the
    target writes them in; the ACTIVATE_VERSION waits until they are all loaded."""
    target = SqlTarget(emulator)
    config = mirror_config(emulator)
    run_into(target, config, tmp_path)
    emulator.delete_leads(count=3, seed=1)
    emulator.update_leads(count=1, seed=2, custom_fields={"referral": "open house"})

    changed = run_into(target, config, tmp_path)

    assert kinds(changed) == ["SCHEMA", "RECORD", "SCHEMA", "RECORD"]
    assert "Starting a reconcile pass" in changed.stderr
    assert not activations(changed)
    [version] = versions(changed)
    assert mirror_of(target.state)["activate"] == version
    following = run_into(target, config, tmp_path)
    assert kinds(following)[:2] == ["SCHEMA", "ACTIVATE_VERSION"], "before any RECORD"
    assert activations(following) == [version]
    assert version not in versions(following)
    target.assert_mirrors_mega()


def test_a_pass_completed_after_a_schema_change_activates_when_the_next_run_starts(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    target = SqlTarget(emulator)
    config = mirror_config(emulator, page_size=50)
    [first] = activations(run_into(target, config, tmp_path))
    emulator.delete_leads(count=3, seed=1)
    late = emulator.leads[-1]["id"]  # met by the pass's last page, not by the walk
    emulator.on_request(
        emulator.request_count + 4,  # the pass's first page: the walk and the check are done
        lambda emu: emu.update_leads([late], custom_fields={"referral": "open house"}),
    )

    completed = run_into(target, config, tmp_path)

    assert "Starting a reconcile pass" in completed.stderr
    assert "goes out when the next run starts" in completed.stderr
    assert not activations(completed)
    version = mirror_of(target.state)["activate"]
    assert version > first
    assert versions(completed) == {version}, "the walk's and the pass's: the run's one"
    nxt = run_into(target, config, tmp_path)
    assert kinds(nxt)[:2] == ["SCHEMA", "ACTIVATE_VERSION"], "before any RECORD"
    assert activations(nxt) == [version]
    assert mirror_of(target.state)["activate"] is None
    target.assert_mirrors_mega()


def test_a_deferred_activate_version_is_saved_even_when_the_check_after_is_stopped(
    make_emulator: Callable[..., MegaEmulator], tmp_path: Path
) -> None:
    emulator = make_emulator(n_leads=120, seed=5)
    target = SqlTarget(emulator)
    # Declared by setting, all but one field: the first sync meets it mid-run.
    fields = {slug: "any" for slug in EMULATOR_CUSTOM_FIELDS if slug != "preferred_contact"}
    config = mirror_config(emulator, page_size=50, custom_fields_schema=fields)
    # The baseline (1) and three pages (2-4); the check after the pass is refused.
    emulator.add_fault(Fault("status", at_request=5, status=400))

    run_into(target, config, tmp_path, ok=False)

    saved = mirror_of(target.state)
    assert saved["pass"] is None, "the pass read every lead"
    assert saved["activate"] == saved["version"], "its ACTIVATE_VERSION waits, saved"
    nxt = run_into(target, config, tmp_path)
    assert activations(nxt) == [saved["activate"]]
    target.assert_mirrors_mega()
