"""The no-loss check itself: it must fail on a loss, and on a run that shows nothing."""

from __future__ import annotations

import typing as t

import pytest

from tap_mega.timestamps import normalize_timestamp
from tests.helpers.scripted import assert_nothing_lost, sorted_leads
from tests.helpers.sync import SyncResult


def emitted(leads: list[dict[str, t.Any]], mark: str | None) -> SyncResult:
    """What a run that emitted `leads`, then a STATE at `mark` (None: no STATE), wrote."""
    messages: list[dict[str, t.Any]] = [
        {"type": "RECORD", "stream": "leads", "record": lead} for lead in leads
    ]
    if mark is not None:
        value = normalize_timestamp(mark)
        bookmarks = {"leads": {"replication_key": "updated_at", "replication_key_value": value}}
        messages.append({"type": "STATE", "value": {"bookmarks": bookmarks}})
    return SyncResult(messages)


SERVED = sorted_leads(6)


def test_nothing_emitted_fails() -> None:
    with pytest.raises(AssertionError, match="nothing was emitted"):
        assert_nothing_lost(SyncResult([]), SERVED)


def test_a_state_past_an_unemitted_lead_fails() -> None:
    with pytest.raises(AssertionError, match="past unemitted lead"):
        assert_nothing_lost(emitted(SERVED[:3], SERVED[-1]["updated_at"]), SERVED)


def test_records_out_of_serving_order_fail() -> None:
    with pytest.raises(AssertionError):
        assert_nothing_lost(emitted([SERVED[1], SERVED[0]], None), SERVED)


def test_a_prefix_with_its_state_passes() -> None:
    assert_nothing_lost(emitted(SERVED[:3], SERVED[2]["updated_at"]), SERVED)
    assert_nothing_lost(emitted(SERVED, None), SERVED)
