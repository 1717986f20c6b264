"""Pages that break the contract end the run with one line and a state that loses nothing."""

from __future__ import annotations

import json
import typing as t

import pytest

from tests.helpers.cli import assert_one_line_failure, run_main
from tests.helpers.scripted import assert_nothing_lost, leads_in, page, script_pages, sorted_leads
from tests.helpers.sync import bookmark, full_table_catalog, tap_config

if t.TYPE_CHECKING:
    from pathlib import Path

    from tap_mega.testing.emulator import MegaEmulator

LEADS = sorted_leads(30)
A, B, C = LEADS[:10], LEADS[10:20], LEADS[20:30]


def without(lead: dict[str, t.Any], key: str) -> dict[str, t.Any]:
    return {k: v for k, v in lead.items() if k != key}


def with_value(lead: dict[str, t.Any], key: str, value: t.Any) -> dict[str, t.Any]:
    return {**lead, key: value}


def body_without(body: dict[str, t.Any], key: str) -> dict[str, t.Any]:
    return {k: v for k, v in body.items() if k != key}


SCRIPTS: dict[str, tuple[list[dict[str, t.Any]], str]] = {
    "cursor-loop-ABA": (
        [page(A, "cur-A"), page(B, "cur-B"), page(C, "cur-A")],
        "next_cursor already followed",
    ),
    "cursor-repeats-at-once": (
        [page(A, "cur-A"), page(B, "cur-A")],
        "next_cursor already followed",
    ),
    "page-without-leads": (
        [page(A, "cur-A"), body_without(page(B, "cur-B"), "leads")],
        "leads",
    ),
    "page-without-next_cursor": (
        [page(A, "cur-A"), body_without(page(B, None), "next_cursor")],
        "next_cursor",
    ),
    "body-not-an-object": (
        [page(A, "cur-A"), [page(B, None)]],  # type: ignore[list-item]
        "not a JSON object",
    ),
    "leads-not-a-list-of-objects": (
        [page(A, "cur-A"), {**page(B, None), "leads": [B[0], "lead"]}],
        "'leads' is not a list of objects",
    ),
    "total-not-an-integer": (
        [page(A, "cur-A"), {**page(B, None), "total": "10"}],
        "'total' is not an integer",
    ),
    "next_cursor-empty": (
        [page(A, "cur-A"), page(B, "")],
        "'next_cursor' is not a string or null",
    ),
    "next_cursor-a-number": (
        [page(A, "cur-A"), page(B, 7)],  # type: ignore[arg-type]
        "'next_cursor' is not a string or null",
    ),
    "lead-without-id": (
        [page(A, "cur-A"), page([*B[:4], without(B[4], "id"), *B[5:]], None)],
        "without an id",
    ),
    "lead-without-updated_at": (
        [page(A, "cur-A"), page([*B[:4], without(B[4], "updated_at"), *B[5:]], None)],
        "unusable updated_at",
    ),
    "lead-with-garbage-updated_at": (
        [page(A, "cur-A"), page([*B[:4], with_value(B[4], "updated_at", "soon"), *B[5:]], None)],
        "unusable updated_at",
    ),
    "backwards-within-a-page": (
        [
            page(A, "cur-A"),
            page([*B[:4], with_value(B[4], "updated_at", A[0]["updated_at"]), *B[5:]], None),
        ],
        "out of order",
    ),
    "backwards-across-pages": (
        [page(B, "cur-B"), page(A, None)],
        "out of order",
    ),
    # MEGA's sort broken for one page: its first lead is emitted, the second
    # trips the check, and the eight after it are older still.
    "a-page-served-in-reverse": (
        [page(A, "cur-A"), page(B[::-1], None)],
        "out of order",
    ),
}


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_contract_breach_is_one_line_and_loses_nothing(
    make_emulator: t.Callable[..., MegaEmulator], tmp_path: Path, name: str
) -> None:
    bodies, fragment = SCRIPTS[name]
    emulator = make_emulator(leads=[])
    script_pages(emulator, bodies)

    result = run_main(tap_config(emulator), tmp_path)

    assert_one_line_failure(result.returncode, result.stderr, fragment)
    assert result.result.states, "the state reached must be flushed on the way out"
    # MEGA's order or cursors are in doubt: the next run starts from the bookmark.
    assert bookmark(result.result.final_state).get("resume_from") is None
    assert_nothing_lost(result.result, leads_in(bodies))
    assert emulator.request_count == len(bodies), "no request after the breach"


def test_leads_emitted_before_a_breach_reach_stdout_even_without_a_new_state(
    make_emulator: t.Callable[..., MegaEmulator], tmp_path: Path
) -> None:
    # A FULL_TABLE run keeps no bookmark, so no STATE follows its records. Page 2
    # breaks the contract after one lead, which was emitted and must be on stdout.
    bodies = [page(A, "cur-A"), page([B[0], without(B[1], "id")], None)]
    emulator = make_emulator(leads=[])
    script_pages(emulator, bodies)
    config = tap_config(emulator)
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(full_table_catalog(config)))

    result = run_main(config, tmp_path, "--catalog", str(catalog))

    assert result.returncode == 1, result.stderr
    assert result.result.ids == [lead["id"] for lead in [*A, B[0]]]
    assert result.stdout.splitlines()[-1].startswith('{"type":"RECORD"')
