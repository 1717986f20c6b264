"""The MEGA emulator, exercised over a real socket with `requests`.

The tap's own tests trust the emulator, so these tests pin it to
shared/mega-api.md: envelopes, paging, filters, limits and scripted faults.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from tap_mega.testing.emulator import (
    DEMO_CUSTOMER_ID,
    DEMO_TOKEN,
    LEADS_PATH,
    Fault,
    MegaEmulator,
    RateWindow,
)
from tap_mega.testing.leadgen import generate_leads
from tests.helpers.emulator_cli import CLI, DEMO_AUTH, assert_one_line_cli_error, emulator_cli

FIVE_KEYS = {"leads", "total", "limit", "offset", "next_cursor"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def auth(emu: MegaEmulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {emu.token}", "x-customer-id": emu.customer_id}


@pytest.fixture
def session():
    with requests.Session() as s:
        yield s


@pytest.fixture
def emu():
    with MegaEmulator(n_leads=300, seed=7, rate_windows=[]) as server:
        yield server


def get(
    session: requests.Session,
    emu: MegaEmulator,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    path: str = LEADS_PATH,
) -> requests.Response:
    return session.get(
        emu.url + path, params=params, headers=auth(emu) if headers is None else headers, timeout=10
    )


def walk(session, emu, **params) -> list[dict[str, Any]]:
    """Follow next_cursor to the end, returning every lead served."""
    leads: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": 100, **params}
        if cursor:
            query["cursor"] = cursor
        response = get(session, emu, query)
        assert response.status_code == 200, response.text
        page = response.json()
        leads.extend(page["leads"])
        cursor = page["next_cursor"]
        if cursor is None:
            return leads


def assert_error(response: requests.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"type", "code", "message"}
    assert body["error"]["type"] == kind
    assert body["error"]["code"] == status
    assert isinstance(body["error"]["message"], str)
    return body


def tied_leads(n: int = 400, tied: int = 250) -> list[dict[str, Any]]:
    """Leads where `tied` of them share one updated_at, straddling pages of 100."""
    leads = generate_leads(n, seed=11, customer_id=DEMO_CUSTOMER_ID)
    stamp = max(lead["updated_at"] for lead in leads)
    for lead in leads[:tied]:
        lead["updated_at"] = stamp
    return leads


# --------------------------------------------------------------------------- auth, routing
def test_missing_token_is_401(session, emu):
    body = assert_error(
        get(session, emu, headers={"x-customer-id": emu.customer_id}), 401, "authentication_error"
    )
    assert body["error"]["code"] == 401


def test_wrong_token_is_401_and_never_echoed(session, emu):
    bad = "mega_" + "f" * 64
    response = get(
        session, emu, headers={"Authorization": f"Bearer {bad}", "x-customer-id": emu.customer_id}
    )
    assert_error(response, 401, "authentication_error")
    assert bad not in response.text
    assert emu.token not in response.text


def test_missing_customer_header_is_401(session, emu):
    response = get(session, emu, headers={"Authorization": f"Bearer {emu.token}"})
    assert_error(response, 401, "authentication_error")


def test_other_customer_is_403(session, emu):
    headers = {**auth(emu), "x-customer-id": "00000000-0000-4000-8000-000000000000"}
    assert_error(get(session, emu, headers=headers), 403, "authorization_error")


def test_token_without_read_scope_is_403(session):
    with MegaEmulator(n_leads=3, scopes=("public_api:leads:write",), rate_windows=[]) as emu:
        response = get(session, emu)
        assert_error(response, 403, "authorization_error")
        assert emu.token not in response.text


def test_unknown_path_is_404_envelope(session, emu):
    assert_error(get(session, emu, path="/api/agents/crm/nope"), 404, "not_found_error")


def test_other_method_is_405_envelope(session, emu):
    response = session.post(emu.url + LEADS_PATH, json={}, headers=auth(emu), timeout=10)
    assert_error(response, 405, "invalid_request_error")
    assert response.headers["Allow"] == "GET"


def test_defaults_are_demo_credentials():
    emu = MegaEmulator()
    assert emu.token == DEMO_TOKEN
    assert emu.token.startswith("mega_")
    assert len(emu.token) == 5 + 64
    int(emu.token[5:], 16)
    assert emu.customer_id == DEMO_CUSTOMER_ID


# --------------------------------------------------------------------------- page shape
def test_page_has_all_five_keys_and_defaults(session, emu):
    page = get(session, emu).json()
    assert set(page) == FIVE_KEYS
    assert page["total"] == 300
    assert page["limit"] == 20
    assert page["offset"] == 0
    assert len(page["leads"]) == 20
    assert isinstance(page["next_cursor"], str)


def test_lead_fields_types_and_timestamp_format(session, emu):
    leads = walk(session, emu, include_custom_fields="true")
    stamp = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"
    for lead in leads:
        assert isinstance(lead["id"], str)
        assert lead["customer_id"] == emu.customer_id
        assert isinstance(lead["interaction_count"], int)
        assert lead["score"] is None or isinstance(lead["score"], int)
        assert lead["qualified"] in (None, True, False)
        for key in ("created_at", "updated_at"):
            assert re.match(stamp, lead[key])
        assert parse(lead["updated_at"]) >= parse(lead["created_at"])
        assert all(
            v is None or isinstance(v, (str, int, float, bool))
            for v in lead["custom_fields"].values()
        )
    assert any(lead["contact_email"] is None for lead in leads)
    assert any(lead["current_stage"] is None for lead in leads)
    assert any(lead["last_interaction_at"] is None for lead in leads)


def test_page_is_last_when_no_lead_remains(session):
    with MegaEmulator(n_leads=300, seed=2, rate_windows=[]) as emu:
        leads = walk(session, emu)
        assert len(leads) == 300
        assert emu.request_count == 3  # no empty 4th page needed


# --------------------------------------------------------------------------- cursor paging
@pytest.mark.parametrize(
    ("sort_by", "sort_dir"),
    [
        ("updated_at", "asc"),
        ("updated_at", "desc"),
        ("created_at", "asc"),
        ("created_at", "desc"),
    ],
)
def test_cursor_walk_returns_every_lead_once_across_ties(session, sort_by, sort_dir):
    with MegaEmulator(leads=tied_leads(), rate_windows=[]) as emu:
        served = walk(session, emu, sort_by=sort_by, sort_dir=sort_dir)
        ids = [lead["id"] for lead in served]
        assert len(ids) == len(set(ids)) == 400
        expected = sorted(
            emu.leads, key=lambda x: (parse(x[sort_by]), x["id"]), reverse=sort_dir == "desc"
        )
        assert ids == [lead["id"] for lead in expected]
        assert max(Counter(lead["updated_at"] for lead in served).values()) >= 250


def test_cursor_replayed_under_other_sort_is_400(session, emu):
    cursor = get(session, emu, {"limit": 5}).json()["next_cursor"]
    for params in ({"sort_dir": "desc"}, {"sort_by": "created_at"}):
        response = get(session, emu, {"limit": 5, "cursor": cursor, **params})
        assert_error(response, 400, "invalid_request_error")


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor!",
        "abc",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(json.dumps({"s": "updated_at"}).encode()).decode(),
        base64.urlsafe_b64encode(
            json.dumps({"s": "updated_at", "d": "asc", "v": "yesterday", "i": "x"}).encode()
        ).decode(),
    ],
)
def test_malformed_cursor_is_400(session, emu, cursor):
    assert_error(get(session, emu, {"cursor": cursor}), 400, "invalid_request_error")


def test_cursor_with_last_interaction_sort_is_400(session, emu):
    cursor = get(session, emu, {"limit": 5}).json()["next_cursor"]
    response = get(session, emu, {"cursor": cursor, "sort_by": "last_interaction_at"})
    assert_error(response, 400, "invalid_request_error")


def test_last_interaction_sort_pages_by_offset_with_nulls_last(session, emu):
    pages = [
        get(session, emu, {"sort_by": "last_interaction_at", "limit": 100, "offset": offset}).json()
        for offset in (0, 100, 200)
    ]
    assert all(page["next_cursor"] is None for page in pages)
    served = [lead for page in pages for lead in page["leads"]]
    assert len({lead["id"] for lead in served}) == 300
    values = [lead["last_interaction_at"] for lead in served]
    first_null = values.index(None)
    assert all(v is None for v in values[first_null:])
    instants = [parse(v) for v in values[:first_null]]
    assert instants == sorted(instants)


def test_cursor_and_offset_together_is_400(session, emu):
    cursor = get(session, emu, {"limit": 5}).json()["next_cursor"]
    assert_error(get(session, emu, {"cursor": cursor, "offset": 5}), 400, "invalid_request_error")


def test_offset_paging_skips_leads(session, emu):
    everything = get(session, emu, {"limit": 100}).json()["leads"]
    page = get(session, emu, {"limit": 10, "offset": 30}).json()
    assert [lead["id"] for lead in page["leads"]] == [lead["id"] for lead in everything[30:40]]
    assert page["offset"] == 30
    assert page["total"] == 300


@pytest.mark.parametrize("limit", ["0", "101", "abc", "1.5", "-1", " 5", ""])
def test_limit_out_of_range_is_400(session, emu, limit):
    assert_error(get(session, emu, {"limit": limit}), 400, "invalid_request_error")


@pytest.mark.parametrize("limit", [1, 100])
def test_limit_bounds_are_accepted(session, emu, limit):
    page = get(session, emu, {"limit": limit}).json()
    assert len(page["leads"]) == limit
    assert page["limit"] == limit


def test_negative_offset_is_400(session, emu):
    assert_error(get(session, emu, {"offset": "-1"}), 400, "invalid_request_error")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("sort_by", "score"),
        ("sort_dir", "up"),
        ("status", "open"),
        ("lead_line", "renter"),
        ("stageId", "not-a-uuid"),
        ("include_custom_fields", "True"),
    ],
)
def test_invalid_enum_values_are_400(session, emu, name, value):
    assert_error(get(session, emu, {name: value}), 400, "invalid_request_error")


# --------------------------------------------------------------------------- filters
def test_status_filter(session, emu):
    served = walk(session, emu, status="won")
    expected = {lead["id"] for lead in emu.leads if lead["status"] == "won"}
    assert {lead["id"] for lead in served} == expected
    assert expected


def test_stage_filter(session, emu):
    stage = next(lead["current_stage"] for lead in emu.leads if lead["current_stage"])
    page = get(session, emu, {"stageId": stage["id"].upper(), "limit": 100}).json()
    expected = {x["id"] for x in emu.leads if (x["current_stage"] or {}).get("id") == stage["id"]}
    assert {lead["id"] for lead in page["leads"]} == expected
    assert page["total"] == len(expected)


@pytest.mark.parametrize("line", ["buyer", "seller"])
def test_lead_line_filter(session, emu, line):
    served = walk(session, emu, lead_line=line)
    expected = {x["id"] for x in emu.leads if x["custom_fields"].get("lead_line") == line}
    assert {lead["id"] for lead in served} == expected
    assert "custom_fields" not in served[0]


def test_search_matches_formatted_phone(session, emu):
    lead = next(x for x in emu.leads if x["contact_phone"])
    digits = lead["contact_phone"][2:]  # +1AAABBBCCCC
    formatted = f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    served = get(session, emu, {"search": formatted}).json()["leads"]
    assert lead["id"] in {x["id"] for x in served}


def test_search_is_case_insensitive_over_name_and_email(session, emu):
    lead = next(x for x in emu.leads if x["contact_name"] and x["contact_email"])
    for term in (lead["contact_name"].upper(), lead["contact_email"].title()):
        ids = {x["id"] for x in walk(session, emu, search=term)}
        assert lead["id"] in ids


def test_since_filters_are_inclusive(session, emu):
    leads = emu.leads
    for field, param in (("updated_at", "updated_since"), ("created_at", "created_since")):
        pivot = sorted(lead[field] for lead in leads)[150]
        expected = {x["id"] for x in leads if parse(x[field]) >= parse(pivot)}
        served = {x["id"] for x in walk(session, emu, **{param: pivot})}
        assert served == expected
        as_offset = (parse(pivot).astimezone(timezone(timedelta(hours=2)))).isoformat()
        assert {x["id"] for x in walk(session, emu, **{param: as_offset})} == expected


def test_since_accepts_any_fraction_and_rounds_up(session, emu):
    counts = Counter(x["updated_at"] for x in emu.leads)
    lead = next(x for x in emu.leads[50:] if counts[x["updated_at"]] == 1)
    micro = lead["updated_at"].replace("Z", "001Z")  # 1 µs after the lead: excludes it
    assert lead["id"] not in {x["id"] for x in walk(session, emu, updated_since=micro)}
    nano = lead["updated_at"].replace("Z", "000000Z")  # the same instant: includes it
    assert lead["id"] in {x["id"] for x in walk(session, emu, updated_since=nano)}


@pytest.mark.parametrize("value", ["2026-01-01", "2026-01-01T00:00:00", "yesterday", ""])
def test_invalid_or_naive_since_is_400(session, emu, value):
    assert_error(get(session, emu, {"updated_since": value}), 400, "invalid_request_error")


def test_include_custom_fields(session, emu):
    plain = get(session, emu).json()["leads"]
    assert all("custom_fields" not in lead for lead in plain)
    full = get(session, emu, {"include_custom_fields": "true"}).json()["leads"]
    assert all(isinstance(lead["custom_fields"], dict) for lead in full)
    assert [x["id"] for x in plain] == [x["id"] for x in full]


def test_total_ignores_cursor_and_offset(session, emu):
    first = get(session, emu, {"status": "active", "limit": 5}).json()
    second = get(
        session, emu, {"status": "active", "limit": 5, "cursor": first["next_cursor"]}
    ).json()
    third = get(session, emu, {"status": "active", "limit": 5, "offset": 7}).json()
    assert first["total"] == second["total"] == third["total"]
    assert first["total"] == sum(1 for x in emu.leads if x["status"] == "active")


# --------------------------------------------------------------------------- rate limits
def test_ratelimit_headers_on_success_and_errors(session):
    clock = FakeClock()
    windows = [RateWindow(limit=5, seconds=10), RateWindow(limit=100, seconds=3600)]
    with MegaEmulator(n_leads=5, rate_windows=windows, clock=clock) as emu:
        ok = get(session, emu)
        assert ok.headers["RateLimit-Limit"] == "5"
        assert ok.headers["RateLimit-Remaining"] == "4"
        assert ok.headers["RateLimit-Reset"] == "10"
        clock.now += 2.5
        missing = get(session, emu, path="/nope")
        assert missing.status_code == 404
        assert missing.headers["RateLimit-Remaining"] == "3"
        assert missing.headers["RateLimit-Reset"] == "10"
        unauthorized = get(session, emu, headers={})
        assert unauthorized.status_code == 401
        assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(
            unauthorized.headers
        )


def test_429_with_retry_after_and_no_budget_spent(session):
    clock = FakeClock()
    with MegaEmulator(n_leads=5, rate_windows=[RateWindow(3, 2.0)], clock=clock) as emu:
        for _ in range(3):
            assert get(session, emu).status_code == 200
            clock.now += 0.5
        refused = get(session, emu)
        body = assert_error(refused, 429, "rate_limit_error")
        assert body["error"]["message"] == "Rate limit exceeded. Please retry later."
        assert refused.headers["Retry-After"] == "1"  # first request expires at t+2.0
        assert refused.headers["RateLimit-Remaining"] == "0"
        assert get(session, emu).status_code == 429  # refusals do not push the wait out
        clock.now += 0.5
        assert get(session, emu).status_code == 200
        assert emu.rate_limited_count == 2
        assert [r.status for r in emu.requests] == [200, 200, 200, 429, 429, 200]


def test_most_constrained_window_is_reported(session):
    clock = FakeClock()
    windows = [RateWindow(10, 1.0), RateWindow(12, 60.0)]
    with MegaEmulator(n_leads=1, rate_windows=windows, clock=clock) as emu:
        for _ in range(8):
            get(session, emu)
            clock.now += 0.2
        response = get(session, emu)
        # Short window: 5 of 10 in the last second; long window: 3 of 12 left.
        assert response.headers["RateLimit-Limit"] == "12"
        assert response.headers["RateLimit-Remaining"] == "3"
        assert response.headers["RateLimit-Reset"] == "60"


def test_no_rate_windows_means_no_limit(session, emu):
    for _ in range(5):
        response = get(session, emu)
        assert response.status_code == 200
        assert "RateLimit-Limit" not in response.headers


# --------------------------------------------------------------------------- faults
def test_status_fault_json_then_recovers(session, emu):
    emu.add_fault(Fault("status", at_request=1, status=503))
    assert_error(get(session, emu), 503, "api_error")
    assert get(session, emu).status_code == 200


def test_status_fault_html_and_count(session, emu):
    emu.add_fault(Fault("status", at_request=2, count=2, status=502, html=True))
    statuses = [get(session, emu).status_code for _ in range(4)]
    assert statuses == [200, 502, 502, 200]
    response = get(session, emu, path="/x")
    assert response.status_code == 404
    emu.add_fault(Fault("status", at_request=6, status=502, html=True))
    html = get(session, emu)
    assert html.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError, match=r"Expecting|JSON"):
        html.json()


def test_drop_fault_closes_without_response(session, emu):
    emu.add_fault(Fault("drop", at_request=2))
    assert get(session, emu).status_code == 200
    with pytest.raises(requests.ConnectionError):
        get(session, emu)
    assert get(session, emu).status_code == 200
    assert [r.status for r in emu.requests] == [200, 0, 200]


def test_slow_fault_delays_a_normal_answer(session, emu):
    emu.add_fault(Fault("slow", at_request=1, seconds=0.3))
    started = time.monotonic()
    response = get(session, emu)
    assert time.monotonic() - started >= 0.3
    assert set(response.json()) == FIVE_KEYS
    emu.add_fault(Fault("slow", at_request=2, seconds=0.5))
    with pytest.raises(requests.Timeout):
        session.get(emu.url + LEADS_PATH, headers=auth(emu), timeout=0.1)


def test_malformed_fault(session, emu):
    emu.add_fault(Fault("malformed", at_request=1))
    response = get(session, emu)
    assert response.status_code == 200
    with pytest.raises(ValueError, match=r"Unterminated|Expecting|JSON"):
        response.json()


def test_bad_shape_fault_drops_next_cursor(session, emu):
    emu.add_fault(Fault("bad_shape", at_request=1))
    body = get(session, emu).json()
    assert "next_cursor" not in body
    assert "leads" in body


def test_rate_limit_fault(session, emu):
    emu.add_fault(Fault("rate_limit", at_request=1, retry_after=3))
    response = get(session, emu)
    assert_error(response, 429, "rate_limit_error")
    assert response.headers["Retry-After"] == "3"
    assert emu.rate_limited_count == 1


def test_body_fault_serves_exactly_the_body(session, emu):
    scripted = {
        "leads": [{"id": "x", "updated_at": "2026-01-01T00:00:00.000Z"}],
        "total": 1,
        "limit": 20,
        "offset": 0,
        "next_cursor": None,
    }
    emu.add_fault(Fault("body", at_request=1, body=scripted))
    assert get(session, emu).json() == scripted


def test_probabilistic_storm_is_reproducible(session):
    def run() -> list[int]:
        with MegaEmulator(n_leads=5, rate_windows=[]) as emu:
            emu.add_fault(Fault("status", probability=0.4, seed=3, status=500))
            return [get(session, emu).status_code for _ in range(20)]

    first = run()
    assert first == run()
    assert 500 in first
    assert 200 in first


def test_fault_validation():
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("explode", at_request=1)
    with pytest.raises(ValueError, match="probability"):
        Fault("drop")
    with pytest.raises(ValueError, match="body"):
        Fault("body", at_request=1)


# --------------------------------------------------------------------------- live data
def test_lead_updated_mid_walk_reappears_later(session, emu):
    first_id = emu.leads[0]["id"]
    changed: list[list[str]] = []
    emu.on_request(2, lambda e: changed.append(e.update_leads(ids=[first_id], status="won")))
    served = walk(session, emu)
    ids = [lead["id"] for lead in served]
    assert changed == [[first_id]]
    assert ids.count(first_id) == 2
    assert len(set(ids)) == 300
    again = [lead for lead in served if lead["id"] == first_id][-1]
    assert again["status"] == "won"
    assert ids[-1] == first_id


def test_update_leads_uses_a_data_clock_after_everything(emu):
    before = max(parse(x["updated_at"]) for x in emu.leads)
    ids = emu.update_leads(count=3, seed=1)
    assert len(ids) == 3
    stamps = {x["updated_at"] for x in emu.leads if x["id"] in ids}
    assert len(stamps) == 1
    assert parse(stamps.pop()) > before
    assert emu.update_leads(count=3, seed=1) == ids  # seeded picks are reproducible


def test_insert_leads_are_newest(session, emu):
    inserted = emu.insert_leads(2, seed=5)
    page = get(session, emu, {"sort_dir": "desc", "limit": 2}).json()
    assert {x["id"] for x in page["leads"]} == {x["id"] for x in inserted}
    assert page["total"] == 302
    assert all(x["created_at"] == x["updated_at"] for x in inserted)


def test_late_commit_is_missed_by_a_sync_past_its_instant(session, emu):
    high_water = emu.leads[-1]["updated_at"]
    late = emu.late_commit(3, seconds_before=60, seed=4)
    after = {x["id"] for x in walk(session, emu, updated_since=high_water)}
    assert not after & set(late)
    stamp = parse(high_water) - timedelta(seconds=60)
    for lead in emu.leads:
        if lead["id"] in late:
            assert parse(lead["updated_at"]) == stamp
    looked_back = (stamp - timedelta(seconds=1)).isoformat()
    assert set(late) <= {x["id"] for x in walk(session, emu, updated_since=looked_back)}


def test_set_updated_at_reorders(session, emu):
    target = emu.leads[0]["id"]
    emu.set_updated_at(target, "2030-01-01T00:00:00+01:00")
    last = get(session, emu, {"sort_dir": "desc", "limit": 1}).json()["leads"][0]
    assert last["id"] == target
    assert last["updated_at"] == "2029-12-31T23:00:00.000Z"
    assert parse(emu.leads[0]["updated_at"]) < parse(last["updated_at"])
    newer = emu.update_leads(count=1, seed=9)
    assert emu.leads[-1]["id"] == newer[0]


def test_leads_property_returns_copies(emu):
    emu.leads[0]["status"] = "mutated"
    emu.leads[0]["custom_fields"]["x"] = 1
    assert emu.leads[0]["status"] != "mutated"
    assert "x" not in emu.leads[0]["custom_fields"]


def test_requests_are_recorded_with_token_redacted(session, emu):
    get(session, emu, {"limit": 3, "status": "won"})
    get(session, emu, path="/other")
    first, second = emu.requests
    assert first.method == "GET"
    assert first.path == LEADS_PATH
    assert first.params == {"limit": "3", "status": "won"}
    assert first.status == 200
    assert first.headers["Authorization"] == "<redacted>"
    assert emu.token not in repr(emu.requests)
    assert second.status == 404
    assert emu.request_count == 2


# --------------------------------------------------------------------------- generator
def test_generator_is_deterministic():
    a = generate_leads(500, seed=4, customer_id="c")
    assert a == generate_leads(500, seed=4, customer_id="c")
    assert a != generate_leads(500, seed=5, customer_id="c")


def test_generator_covers_types_nulls_ties_and_exotic_values():
    leads = generate_leads(3000, seed=0, customer_id="c")
    assert len({x["id"] for x in leads}) == 3000
    ties = Counter(x["updated_at"] for x in leads)
    assert max(ties.values()) > 100
    types = {type(v) for x in leads for v in x["custom_fields"].values()}
    assert {str, int, float, bool, type(None)} <= types
    for key in (
        "contact_name",
        "contact_phone",
        "contact_email",
        "score",
        "qualified",
        "current_stage",
        "owner",
        "last_interaction_at",
    ):
        assert any(x[key] is None for x in leads), key
    assert any(x["owner"] and x["owner"]["role_name"] is None for x in leads)
    assert any(x["current_stage"] and x["current_stage"]["color"] is None for x in leads)
    phones = [x["contact_phone"] for x in leads if x["contact_phone"]]
    assert all(p.startswith("+1") and p[1:].isdigit() and len(p) == 12 for p in phones)
    assert any(x["source_platform"] == "tiktok_ads" for x in leads)
    tame = generate_leads(3000, seed=0, customer_id="c", exotic=False)
    assert not any(x["source_platform"] in ("tiktok_ads", "nextdoor") for x in tame)


def test_generator_start_moves_timestamps():
    start = datetime(2027, 3, 1, tzinfo=timezone.utc)
    leads = generate_leads(10, seed=1, customer_id="c", start=start)
    assert all(parse(x["created_at"]) > start for x in leads)


# --------------------------------------------------------------------------- the demo CLI
RATE_HEADERS = {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}


def cli_page(session: requests.Session, url: str) -> requests.Response:
    return session.get(url + LEADS_PATH, params={"limit": 100}, headers=DEMO_AUTH, timeout=10)


def cli_leads(session: requests.Session, *args: str) -> list[dict[str, Any]]:
    with emulator_cli("--leads", "40", "--no-rate-limit", *args) as url:
        response = cli_page(session, url)
        assert response.status_code == 200, response.text
        return list(response.json()["leads"])


def test_cli_customer_id_plays_another_account(session):
    """Two emulators with one customer are one account to the tap: its state check needs two."""
    other = "0b2c5a1e-4b5a-4978-8a6b-5c4d3e2f1a00"
    with emulator_cli("--leads", "3", "--no-rate-limit", "--customer-id", other) as url:
        refused = cli_page(session, url)
        served = session.get(
            url + LEADS_PATH,
            params={"limit": 100},
            timeout=10,
            headers={**DEMO_AUTH, "x-customer-id": other},
        )

    assert refused.status_code == 403, refused.text
    assert served.status_code == 200, served.text
    assert {lead["customer_id"] for lead in served.json()["leads"]} == {other}


def test_cli_seed_picks_the_data_set(session):
    first = cli_leads(session, "--seed", "1")

    assert len(first) == 40
    assert cli_leads(session, "--seed", "1") == first
    other = cli_leads(session, "--seed", "2")
    assert {lead["id"] for lead in other}.isdisjoint({lead["id"] for lead in first})


def test_cli_rate_limit_sets_the_windows(session):
    with emulator_cli("--leads", "5", "--rate-limit", "3/60,1000/3600") as url:
        answers = [cli_page(session, url) for _ in range(4)]

    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [r.headers["RateLimit-Limit"] for r in answers] == ["3"] * 4
    assert [r.headers["RateLimit-Remaining"] for r in answers] == ["2", "1", "0", "0"]
    assert 0 < int(answers[3].headers["Retry-After"]) <= 60
    assert_error(answers[3], 429, "rate_limit_error")


def test_cli_default_is_the_documented_budget(session):
    with emulator_cli("--leads", "5") as url:
        response = cli_page(session, url)

    assert response.headers["RateLimit-Limit"] == "60"
    assert response.headers["RateLimit-Remaining"] == "59"


def test_cli_no_rate_limit_never_refuses_and_sends_no_budget_headers(session):
    with emulator_cli("--leads", "5", "--no-rate-limit") as url:
        answers = [cli_page(session, url) for _ in range(61)]  # one past the default minute

    assert {r.status_code for r in answers} == {200}
    assert not any(RATE_HEADERS & set(r.headers) for r in answers)


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--rate-limit", "60"),
        ("--rate-limit", "0/60"),
        ("--rate-limit", "60/0"),
        ("--rate-limit", "60/nan"),
        ("--rate-limit", "60/inf"),
        ("--leads", "many"),
        ("--leads", "-5"),
        ("--seed", "x"),
        ("--port", "99999"),
        ("--port", "-1"),
        ("--customer-id", "acme"),
    ],
)
def test_cli_bad_flag_value_is_one_line_not_a_traceback(flag, value):
    completed = subprocess.run(
        [*CLI, flag, value], capture_output=True, text=True, timeout=30, check=False
    )

    assert_one_line_cli_error(completed, flag)


def test_cli_port_in_use_is_one_line_not_a_traceback():
    with emulator_cli("--leads", "1") as url:
        port = url.rsplit(":", 1)[1]
        completed = subprocess.run(
            [*CLI, "--leads", "1", "--port", port],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    assert_one_line_cli_error(completed, "--port")
    assert "already in use" in completed.stderr
