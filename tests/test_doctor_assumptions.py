"""Each warning and unexpected line of `tap-mega-doctor`, played by the emulator.

Every case is a reading of what MEGA's docs leave open (or a way MEGA could
break them), served over a real socket; the doctor's `--json` report and exit
code are what is asserted.
"""

from __future__ import annotations

import typing as t

import pytest

from tap_mega.testing.emulator import Fault, RateWindow
from tests.helpers.doctor import DOCUMENTED, run_doctor
from tests.helpers.sync import tap_config

if t.TYPE_CHECKING:
    from tap_mega.testing.emulator import MegaEmulator


def doctor(emulator: MegaEmulator, tmp_path: t.Any, **settings: t.Any) -> t.Any:
    return run_doctor(tap_config(emulator, **settings), tmp_path, "--json")


def first_page(emulator: MegaEmulator, **changes: t.Any) -> dict[str, t.Any]:
    """What MEGA would answer to the doctor's first request, with `changes`."""
    lead = dict(emulator.leads[0])
    lead.pop("custom_fields", None)
    page = {
        "leads": [lead],
        "total": len(emulator.leads),
        "limit": 1,
        "offset": 0,
        "next_cursor": None,
    }
    page.update(changes)
    return page


def assert_line(run: t.Any, section: str, check: str, status: str, *fragments: str) -> None:
    line = run.line(section, check)
    assert line["status"] == status, line
    for fragment in fragments:
        assert fragment in line["text"], line["text"]
    assert run.returncode == (1 if status in {"unexpected", "error"} else 0), run.stdout


# --------------------------------------------------------------------------- #
# The page
# --------------------------------------------------------------------------- #
def test_a_page_without_next_cursor(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=50, rate_windows=DOCUMENTED)
    emulator.add_fault(Fault("bad_shape", at_request=1))

    run = doctor(emulator, tmp_path)

    assert_line(
        run,
        "assumptions",
        "page keys",
        "unexpected",
        "missing next_cursor",
        "the tap assumed all of leads, total, limit, offset, next_cursor",
    )
    assert run.line("leads", "first page")["status"] == "error"


def test_a_limit_that_is_not_obeyed(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=50, rate_windows=DOCUMENTED)
    leads = [dict(lead) for lead in emulator.leads[:3]]
    emulator.add_fault(
        Fault("body", at_request=1, body=first_page(emulator, leads=leads, limit=20))
    )

    run = doctor(emulator, tmp_path)

    assert_line(run, "assumptions", "limit", "unexpected", "limit=1 gave 3 leads, page limit 20")


@pytest.mark.parametrize(
    ("style", "documented"),
    [("mega", True), ("offset", False), ("seconds", False), ("micros", False)],
)
def test_updated_at_spellings_the_tap_normalises(make_emulator, tmp_path, style, documented):
    emulator = make_emulator(n_leads=50, rate_windows=DOCUMENTED, timestamps=style)

    run = doctor(emulator, tmp_path)

    line = run.line("assumptions", "updated_at")
    assert line["status"] == "ok"
    assert line["data"]["sample"] == emulator.leads[0]["updated_at"]
    assert ("MEGA's documented spelling" in line["text"]) == documented
    assert ("normalises it to" in line["text"]) != documented
    assert run.returncode == 0


def test_an_updated_at_the_tap_cannot_read(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=50, rate_windows=DOCUMENTED)
    page = first_page(emulator)
    page["leads"][0]["updated_at"] = "07/01/2026 18:20"
    emulator.add_fault(Fault("body", at_request=1, body=page))

    run = doctor(emulator, tmp_path)

    assert_line(
        run,
        "assumptions",
        "updated_at",
        "unexpected",
        "'07/01/2026 18:20'",
        "the tap assumed one like 2026-07-01T18:20:00.000Z",
    )


# --------------------------------------------------------------------------- #
# The cursor
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    ("alphabet", "words"), [("urlsafe", "base64url"), ("standard", "standard base64 with + / =")]
)
def test_cursor_alphabets_that_survive_url_encoding(make_emulator, tmp_path, alphabet, words):
    emulator = make_emulator(n_leads=50, rate_windows=DOCUMENTED, cursor_alphabet=alphabet)

    run = doctor(emulator, tmp_path)

    assert_line(run, "assumptions", "cursor", "ok", words, "MEGA gave the next page")
    assert emulator.requests[1].params["cursor"]  # it went back


def test_a_cursor_refused_on_the_way_back(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=50, rate_windows=DOCUMENTED, cursor_alphabet="standard")
    emulator.add_fault(Fault("status", at_request=2, status=400))

    run = doctor(emulator, tmp_path)

    assert_line(
        run,
        "assumptions",
        "cursor",
        "unexpected",
        "MEGA answered 400",
        "standard base64",
        "the tap assumed a cursor passed back",
    )


def test_a_cursor_that_does_not_move(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=50, rate_windows=DOCUMENTED)
    emulator.add_fault(Fault("body", at_request=2, body=first_page(emulator)))

    run = doctor(emulator, tmp_path)

    assert_line(
        run, "assumptions", "cursor", "unexpected", f"page 2 repeats lead {emulator.leads[0]['id']}"
    )


def test_one_lead_cannot_prove_paging(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=1, rate_windows=DOCUMENTED)

    run = doctor(emulator, tmp_path)

    assert_line(
        run,
        "assumptions",
        "cursor",
        "warning",
        "paging is not proven",
        "run the doctor again when more than one lead matches",
    )


# --------------------------------------------------------------------------- #
# Clock
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    ("offset", "lookback", "status", "words"),
    [
        (0, 300, "ok", "within lookback_window (300s)"),
        (900, 300, "warning", "s ahead of the local clock"),
        (-120, "PT1M", "warning", "s behind the local clock"),
        (-120, 300, "ok", "s behind the local clock"),
    ],
)
def test_date_against_the_local_clock(  # noqa: PLR0917 - pytest passes parameters by name
    make_emulator, tmp_path, offset, lookback, status, words
):
    emulator = make_emulator(n_leads=50, rate_windows=DOCUMENTED, date_offset=offset)

    run = doctor(emulator, tmp_path, lookback_window=lookback)

    assert_line(run, "assumptions", "clock", status, words)
    # Date has whole seconds: the skew seen is the offset, give or take one.
    skew = run.line("assumptions", "clock")["data"]["skew_seconds"]
    assert skew == pytest.approx(offset, abs=1.5)
    if status == "warning":
        assert (
            "set the clock right (NTP) or raise lookback_window"
            in run.line("assumptions", "clock")["text"]
        )


def test_no_date_header(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=50, rate_windows=DOCUMENTED)
    emulator.add_fault(Fault("headers", at_request=1, headers={"Date": ""}))

    run = doctor(emulator, tmp_path)

    assert_line(run, "assumptions", "clock", "warning", "no Date header")


def test_a_date_that_is_not_an_http_date(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=50, rate_windows=DOCUMENTED)
    emulator.add_fault(Fault("headers", at_request=1, headers={"Date": "2026-07-01T18:20:00Z"}))

    run = doctor(emulator, tmp_path)

    assert_line(
        run, "assumptions", "clock", "unexpected", "'2026-07-01T18:20:00Z'", "the tap assumed one"
    )


# --------------------------------------------------------------------------- #
# Header forms
# --------------------------------------------------------------------------- #
def test_no_rate_limit_headers(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=50, rate_windows=[])

    run = doctor(emulator, tmp_path)

    assert_line(
        run,
        "assumptions",
        "rate headers",
        "unexpected",
        "no RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset",
        "the tap assumed all three on every response",
    )
    assert run.line("budget", "window")["status"] == "unexpected"


def test_rate_limit_headers_in_the_draft_standards_form(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=50, rate_windows=DOCUMENTED)
    emulator.add_fault(
        Fault("headers", at_request=1, headers={"RateLimit-Limit": "60, 60;w=60, 1000;w=3600"})
    )

    run = doctor(emulator, tmp_path)

    assert_line(
        run,
        "assumptions",
        "rate headers",
        "unexpected",
        "RateLimit-Limit: '60, 60;w=60, 1000;w=3600'",
        "the tap assumed plain numbers",
    )


def test_reset_with_a_fraction_is_read(make_emulator, tmp_path):
    emulator = make_emulator(
        n_leads=50, rate_windows=[RateWindow(60, 60)], reset_rounding="exact", limiter="bucket"
    )

    run = doctor(emulator, tmp_path)

    line = run.line("assumptions", "rate headers")
    assert line["status"] == "ok"
    assert "RateLimit-Reset with a fraction" in line["text"], line["text"]


@pytest.mark.parametrize(
    ("form", "status", "words"),
    [
        ("seconds", "ok", "30 seconds on a 429"),
        ("fraction", "ok", "seconds on a 429"),
        ("date", "ok", "an HTTP date, which the tap reads as a wait of"),
    ],
)
def test_retry_after_forms(make_emulator, tmp_path, form, status, words):
    emulator = make_emulator(n_leads=50, rate_windows=DOCUMENTED, retry_after=form)
    emulator.add_fault(Fault("rate_limit", at_request=1, retry_after=30))

    run = doctor(emulator, tmp_path)

    assert_line(run, "assumptions", "Retry-After", status, words)
    assert run.line("budget", "now")["status"] == "warning"
    # The 429 said the window is full, and none of it was the doctor's.
    assert "60 of 60 used by other integrations" in run.line("budget", "others")["text"]
    assert "all of it, for now" in run.line("budget", "others")["text"]
    assert emulator.request_count == 1  # a 429 ends the probe: waiting would take minutes


def test_a_429_without_retry_after(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=50, rate_windows=DOCUMENTED)
    emulator.add_fault(Fault("status", at_request=1, status=429))

    run = doctor(emulator, tmp_path)

    assert_line(run, "assumptions", "Retry-After", "unexpected", "a 429 without Retry-After")


def test_a_gateway_error_on_the_first_page(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=50, rate_windows=DOCUMENTED)
    emulator.add_fault(Fault("status", at_request=1, status=502, html=True))

    run = doctor(emulator, tmp_path)

    assert_line(run, "leads", "first page", "error", "502")
    assert emulator.request_count == 1
