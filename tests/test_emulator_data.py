"""The emulator's data readings, over a real socket with raw HTTP (no tap)."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import pytest
import requests

from tap_mega.testing.emulator import DEMO_CUSTOMER_ID, LEADS_PATH, MegaEmulator
from tap_mega.testing.leadgen import generate_leads
from tests.helpers.emulator_cli import DEMO_AUTH, emulator_cli
from tests.helpers.emulator_raw import fetch, raw_get

STAMPS = ("created_at", "updated_at", "last_interaction_at")


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def page(emu: MegaEmulator, **params: Any) -> dict[str, Any]:
    status, _, body = fetch(emu, params)
    assert status == 200, body
    return dict(json.loads(body))


def walk(emu: MegaEmulator, limit: int = 100, **params: Any) -> list[dict[str, Any]]:
    leads: list[dict[str, Any]] = []
    cursor = None
    while True:
        served = page(emu, limit=limit, **params, **({"cursor": cursor} if cursor else {}))
        leads.extend(served["leads"])
        cursor = served["next_cursor"]
        if cursor is None:
            return leads


def spelled_leads() -> list[dict[str, Any]]:
    """Five leads whose updated_at is spelled five ways, in this instant order."""
    spellings = [
        "2026-07-01T18:19:59Z",
        "2026-07-01T20:20:00+02:00",
        "2026-07-01T18:20:00.000250Z",
        "2026-07-01T18:20:00.001Z",
        "2026-07-01T13:20:00.002-05:00",
    ]
    leads = generate_leads(5, seed=4, customer_id=DEMO_CUSTOMER_ID)
    for lead, spelling in zip(leads, reversed(spellings), strict=True):
        lead["updated_at"] = spelling
    return leads


def test_given_spellings_are_kept_and_sorted_and_filtered_by_the_instant():
    with MegaEmulator(spelled_leads(), rate_windows=[], timestamps="given") as emu:
        served = walk(emu, limit=2)
        since = page(emu, updated_since="2026-07-01T18:20:00.000100Z")["leads"]
        emu.set_updated_at(served[0]["id"], "2026-07-01T23:00:00.000001+03:00")
        moved = walk(emu)[-1]

    assert [lead["updated_at"] for lead in served] == [
        "2026-07-01T18:19:59Z",
        "2026-07-01T20:20:00+02:00",
        "2026-07-01T18:20:00.000250Z",
        "2026-07-01T18:20:00.001Z",
        "2026-07-01T13:20:00.002-05:00",
    ]
    assert [lead["id"] for lead in since] == [lead["id"] for lead in served[2:]]
    assert moved["updated_at"] == "2026-07-01T23:00:00.000001+03:00"


@pytest.mark.parametrize(
    ("style", "pattern"),
    [
        ("offset", r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+02:00"),
        ("seconds", r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"),
        ("micros", r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"),
    ],
)
def test_timestamp_styles_spell_every_stamp_and_keep_the_order(style, pattern):
    with MegaEmulator(n_leads=250, seed=5, rate_windows=[], timestamps=style) as emu:
        [changed] = emu.update_leads(count=1, seed=1)
        served = walk(emu, limit=40)

    stamps = [lead[key] for lead in served for key in STAMPS if lead.get(key) is not None]
    assert all(re.fullmatch(pattern, stamp) for stamp in stamps), stamps[:3]
    assert len({lead["id"] for lead in served}) == 250
    order = [(instant(lead["updated_at"]), lead["id"]) for lead in served]
    assert order == sorted(order)
    assert served[-1]["id"] == changed
    if style == "micros":
        assert any(not stamp.endswith("000Z") for stamp in stamps), "sub-millisecond digits"


def test_standard_alphabet_cursors_must_be_url_encoded():
    with MegaEmulator(n_leads=30, seed=2, rate_windows=[], cursor_alphabet="standard") as emu:
        first = page(emu, limit=10)
        cursor = first["next_cursor"]
        unencoded, conn = raw_get(emu, f"limit=10&cursor={cursor}")
        refused = unencoded.status, json.loads(unencoded.read())
        conn.close()
        served = walk(emu, limit=10)

    assert {"+", "/", "="} <= set(cursor)
    assert refused == (
        400,
        {"error": {"type": "invalid_request_error", "code": 400, "message": "Invalid cursor."}},
    )
    assert len({lead["id"] for lead in served}) == 30
    assert quote(cursor, safe="") != cursor


def test_limit_above_the_maximum_is_capped_and_said_so():
    with MegaEmulator(n_leads=150, seed=2, rate_windows=[], limit_above_max="cap") as emu:
        capped = page(emu, limit=500)
        zero = fetch(emu, {"limit": 0})[0]

    assert capped["limit"] == 100
    assert len(capped["leads"]) == 100
    assert zero == 400


def test_a_lowered_maximum_caps_the_documented_page_or_refuses_it():
    with MegaEmulator(
        n_leads=150, seed=2, rate_windows=[], limit_above_max="cap", max_limit=40
    ) as emu:
        capped = page(emu, limit=100)
    with MegaEmulator(n_leads=150, seed=2, rate_windows=[], max_limit=40) as emu:
        refused = fetch(emu, {"limit": 100})[0]
        default = page(emu)

    assert (capped["limit"], len(capped["leads"])) == (40, 40)
    assert refused == 400
    assert default["limit"] == 20


def test_a_full_last_page_is_followed_by_an_empty_page():
    with MegaEmulator(n_leads=10, seed=2, rate_windows=[], trailing_empty_page=True) as emu:
        first = page(emu, limit=5)
        last_full = page(emu, limit=5, cursor=first["next_cursor"])
        empty = page(emu, limit=5, cursor=last_full["next_cursor"])
        short = page(emu, limit=7, cursor=first["next_cursor"])

    assert len(last_full["leads"]) == 5
    assert last_full["next_cursor"] is not None
    assert empty == {"leads": [], "total": 10, "limit": 5, "offset": 0, "next_cursor": None}
    assert len(short["leads"]) == 5
    assert short["next_cursor"] is None, "a page short of its limit is still the last"


def test_leads_deleted_during_a_walk_shrink_the_total():
    with MegaEmulator(n_leads=50, seed=2, rate_windows=[], deletions=(3, 2)) as emu:
        totals = []
        cursor = None
        served: list[dict[str, Any]] = []
        while True:
            current = page(emu, limit=10, **({"cursor": cursor} if cursor else {}))
            totals.append(current["total"])
            served.extend(current["leads"])
            cursor = current["next_cursor"]
            if cursor is None:
                break
        left = {lead["id"] for lead in emu.leads}

    assert totals[:4] == [50, 47, 47, 44]
    assert totals == sorted(totals, reverse=True)
    assert len(served) == len({lead["id"] for lead in served}) < 50
    assert left <= {lead["id"] for lead in served}


def test_delete_leads_by_hand():
    with MegaEmulator(n_leads=20, seed=2, rate_windows=[]) as emu:
        gone = emu.delete_leads(count=5, seed=1)
        served = page(emu, limit=100)

    assert served["total"] == 15
    assert not set(gone) & {lead["id"] for lead in served["leads"]}


def test_cli_data_readings():
    with emulator_cli(
        "--leads",
        "100",
        "--no-rate-limit",
        "--timestamps",
        "micros",
        "--cursor-alphabet",
        "standard",
        "--limit-above-max",
        "cap",
        "--trailing-empty-page",
        "--delete",
        "1/2",
    ) as url:
        full = requests.get(
            url + LEADS_PATH, params={"limit": 500}, headers=DEMO_AUTH, timeout=10
        ).json()
        after = requests.get(
            url + LEADS_PATH,
            params={"limit": 500, "cursor": full["next_cursor"]},
            headers=DEMO_AUTH,
            timeout=10,
        ).json()

    assert full["limit"] == 100
    assert len(full["leads"]) == 100
    assert re.fullmatch(r".*\.\d{6}Z", full["leads"][0]["updated_at"])
    assert {"+", "/", "="} <= set(full["next_cursor"])
    assert (after["leads"], after["total"], after["next_cursor"]) == ([], 99, None)


@pytest.mark.parametrize("offset", [-900.0, 0.0, 3600.0])
def test_date_offset_skews_the_date_header(offset: float):
    with MegaEmulator(n_leads=3, rate_windows=[], date_offset=offset) as emu:
        before = time.time()
        response = requests.get(emu.url + LEADS_PATH, headers=DEMO_AUTH, timeout=10)
        after = time.time()

    served = parsedate_to_datetime(response.headers["Date"]).timestamp()
    assert before + offset - 1 <= served <= after + offset


def test_cli_date_offset():
    with emulator_cli("--leads", "3", "--no-rate-limit", "--date-offset", "-7200") as url:
        response = requests.get(url + LEADS_PATH, headers=DEMO_AUTH, timeout=10)

    skew = parsedate_to_datetime(response.headers["Date"]).timestamp() - time.time()
    assert -7202 <= skew <= -7198
