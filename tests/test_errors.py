"""Failures as a user meets them: exit codes, one-line messages, retries, no secrets."""

from __future__ import annotations

import re
import time
import typing as t

import pytest
from singer_sdk.exceptions import RetriableAPIError

from tap_mega.api.client import MegaStream
from tap_mega.errors import InputError
from tap_mega.testing.emulator import Fault
from tap_mega.timestamps import normalize_timestamp
from tests.helpers.cli import assert_one_line_failure, run_cli, run_main
from tests.helpers.sync import bookmark, run_sync, tap_config

if t.TYPE_CHECKING:
    from pathlib import Path

    from tap_mega.testing.emulator import MegaEmulator

OTHER_TOKEN = "mega_" + "ab" * 32
OTHER_CUSTOMER = "00000000-0000-4000-8000-000000000001"


def test_wrong_token_is_401_with_advice(emulator: MegaEmulator, tmp_path: Path) -> None:
    result = run_main(tap_config(emulator, token=OTHER_TOKEN), tmp_path)

    assert_one_line_failure(result.returncode, result.stderr, "401", "`token`")
    assert OTHER_TOKEN not in result.stdout + result.stderr
    assert emulator.request_count == 1


def test_other_customer_is_403_with_advice(emulator: MegaEmulator, tmp_path: Path) -> None:
    result = run_main(tap_config(emulator, customer_id=OTHER_CUSTOMER), tmp_path)

    assert_one_line_failure(
        result.returncode,
        result.stderr,
        "403",
        "`customer_id`",
        "public_api:leads:read",
    )
    assert emulator.request_count == 1


def test_missing_scope_is_403(make_emulator: t.Callable[..., MegaEmulator], tmp_path: Path) -> None:
    emulator = make_emulator(n_leads=5, scopes=("public_api:leads:write",))

    result = run_main(tap_config(emulator), tmp_path)

    assert_one_line_failure(result.returncode, result.stderr, "403", "public_api:leads:read")


def test_400_ends_the_run_with_the_api_message(emulator: MegaEmulator, tmp_path: Path) -> None:
    # `status` is checked before any request now (issue 10): a scripted 400 instead.
    emulator.add_fault(Fault("status", at_request=1, status=400))
    result = run_main(tap_config(emulator), tmp_path)

    assert_one_line_failure(result.returncode, result.stderr, "400", "invalid_request_error")
    assert emulator.request_count == 1


def test_missing_token_names_the_environment_variable(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    config = tap_config(emulator)
    del config["token"]

    result = run_main(config, tmp_path)

    assert_one_line_failure(result.returncode, result.stderr, "`token`", "TAP_MEGA_TOKEN")


def test_settings_from_the_environment(emulator: MegaEmulator, tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "TAP_MEGA_TOKEN": emulator.token,
        "TAP_MEGA_CUSTOMER_ID": emulator.customer_id,
        "TAP_MEGA_API_URL": emulator.url,
        "TAP_MEGA_PAGE_SIZE": "50",
        # Every kind of setting: numbers, integers, booleans, durations.
        "TAP_MEGA_REQUEST_TIMEOUT": "30",
        "TAP_MEGA_MAX_WAIT_SECONDS": "60",
        "TAP_MEGA_RATE_LIMIT_RESERVE": "1",
        "TAP_MEGA_LOOKBACK_WINDOW": "PT5M",
        "TAP_MEGA_INCLUDE_CUSTOM_FIELDS": "false",
    }

    result = run_cli({}, tmp_path, "--config", "ENV", env=env)

    assert result.returncode == 0, result.stderr
    assert len(result.result.records) == len(emulator.leads)
    assert emulator.requests[0].params["limit"] == "50"
    assert emulator.requests[0].params["include_custom_fields"] == "false"
    assert all("custom_fields" not in record for record in result.result.records)


def test_a_number_setting_from_the_environment_that_is_not_a_number(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "TAP_MEGA_TOKEN": emulator.token,
        "TAP_MEGA_CUSTOMER_ID": emulator.customer_id,
        "TAP_MEGA_API_URL": emulator.url,
        "TAP_MEGA_MAX_WAIT_SECONDS": "sixty",
    }

    result = run_cli({}, tmp_path, "--config", "ENV", env=env)

    assert_one_line_failure(result.returncode, result.stderr, "`max_wait_seconds`")
    assert emulator.request_count == 0


@pytest.mark.parametrize(
    "fault",
    [
        Fault("status", at_request=2, count=2, status=503),
        Fault("status", at_request=2, status=500, html=True),
        Fault("status", at_request=1, status=502, html=True),
        Fault("drop", at_request=2, count=2),
        Fault("slow", at_request=2, seconds=3),
    ],
    ids=["503-twice", "500-html", "502-first", "dropped", "timeout"],
)
def test_transient_failures_are_retried_and_nothing_is_lost(
    emulator: MegaEmulator, fault: Fault
) -> None:
    emulator.add_fault(fault)

    result = run_sync(tap_config(emulator, page_size=50, request_timeout=1))

    assert sorted(set(result.ids)) == sorted(lead["id"] for lead in emulator.leads)
    assert emulator.request_count > 5


def test_persistent_5xx_gives_up_with_one_line(emulator: MegaEmulator, tmp_path: Path) -> None:
    emulator.add_fault(Fault("status", at_request=2, count=100, status=503))

    result = run_main(tap_config(emulator, page_size=50), tmp_path)

    assert_one_line_failure(result.returncode, result.stderr, "503", "retries")
    assert emulator.request_count == 1 + 8
    # The first page was delivered and checkpointed.
    assert len(result.result.records) == 50
    assert bookmark(result.result.final_state)["replication_key_value"]


@pytest.fixture
def real_retry_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The retry waits at their real size, recorded instead of slept.

    `backoff` sleeps with `time.sleep`; the pacer's own waits (429s) go through
    `MegaStream.sleep` and are kept apart, so only retry waits land here.
    """
    monkeypatch.undo()  # `fast_retries` shrank retry_wait_base: back to the tap's own value
    monkeypatch.setattr(MegaStream, "sleep", lambda _self, _seconds: None)
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    return waits


def assert_documented_retry_schedule(waits: list[float], caplog: pytest.LogCaptureFixture) -> None:
    """1 s doubling, capped at 60 s, up to a quarter more and never less; 8 tries."""
    assert len(waits) == 7, "8 tries are 7 waits"
    for k, wait in enumerate(waits):
        nominal = min(1.0 * 2**k, 60.0)
        assert nominal <= wait <= 1.25 * nominal, (k, waits)
    assert 120 <= sum(waits) <= 160, "about two minutes of waiting"
    logged = re.findall(r"Retrying in ([\d.]+)s \(try (\d) of 8\)", caplog.text)
    assert [int(tries) for _, tries in logged] == list(range(1, 8))
    assert [float(wait) for wait, _ in logged] == [round(wait, 1) for wait in waits]


def test_retry_waits_follow_the_documented_schedule_and_429s_spend_no_try(
    emulator: MegaEmulator, real_retry_waits: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    # Page 2 fails 7 times (the 8th try succeeds), with three 429s in the middle.
    emulator.add_fault(Fault("status", at_request=2, count=3, status=503))
    emulator.add_fault(Fault("rate_limit", at_request=5, count=3, retry_after=1))
    emulator.add_fault(Fault("status", at_request=8, count=4, status=503))

    result = run_sync(tap_config(emulator, page_size=50))

    assert sorted(result.ids) == sorted(lead["id"] for lead in emulator.leads)
    assert emulator.request_count == 5 + 7 + 3, "5 pages, 7 failures, 3 429s"
    assert_documented_retry_schedule(real_retry_waits, caplog)


def test_retries_give_up_after_8_tries_of_the_documented_schedule(
    emulator: MegaEmulator, real_retry_waits: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    emulator.add_fault(Fault("status", at_request=2, count=100, status=503))

    with pytest.raises(RetriableAPIError, match="503"):
        run_sync(tap_config(emulator, page_size=50))

    assert emulator.request_count == 1 + 8
    assert_documented_retry_schedule(real_retry_waits, caplog)


@pytest.mark.parametrize(
    ("fault", "overrides", "fragment"),
    [
        (Fault("drop", at_request=2, count=100), {}, "could not reach MEGA"),
        (
            Fault("slow", at_request=2, count=100, seconds=2),
            {"request_timeout": 1},
            "did not answer within `request_timeout`",
        ),
    ],
    ids=["dropped", "timed-out"],
)
def test_unreachable_mega_gives_up_with_one_line_and_keeps_the_first_page(
    emulator: MegaEmulator,
    tmp_path: Path,
    fault: Fault,
    overrides: dict[str, t.Any],
    fragment: str,
) -> None:
    emulator.add_fault(fault)

    result = run_main(tap_config(emulator, page_size=50, **overrides), tmp_path)

    assert_one_line_failure(result.returncode, result.stderr, fragment, "retries")
    assert emulator.request_count == 1 + 8
    assert len(result.result.records) == 50
    assert bookmark(result.result.final_state)["replication_key_value"] == max(
        normalize_timestamp(record["updated_at"]) for record in result.result.records
    )


def test_429_waits_retry_after_and_does_not_count_as_a_try(
    emulator: MegaEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    monkeypatch.setattr(MegaStream, "sleep", lambda _self, seconds: waits.append(seconds))
    # More 429s than the retry budget has tries: all must be absorbed.
    emulator.add_fault(Fault("rate_limit", at_request=2, count=10, retry_after=7))

    result = run_sync(tap_config(emulator, page_size=50))

    assert sorted(result.ids) == sorted(lead["id"] for lead in emulator.leads)
    rate_waits = [wait for wait in waits if wait >= 7]
    assert len(rate_waits) == 10
    assert all(7 <= wait <= 8 for wait in rate_waits)


@pytest.mark.parametrize(
    ("fault", "fragment"),
    [
        # Retried like a 5xx: the run fails once every try got it.
        (Fault("malformed", at_request=2, count=8), "not JSON"),
        (Fault("bad_shape", at_request=2), "not the documented shape"),
        (Fault("body", at_request=1, body={"leads": [], "total": 3}), "next_cursor"),
    ],
    ids=["malformed", "bad-shape", "missing-keys"],
)
def test_undocumented_200_is_an_error_not_an_empty_page(
    emulator: MegaEmulator, tmp_path: Path, fault: Fault, fragment: str
) -> None:
    emulator.add_fault(fault)

    result = run_main(tap_config(emulator, page_size=50), tmp_path)

    assert_one_line_failure(result.returncode, result.stderr, fragment)


def test_token_never_appears_at_debug_level(emulator: MegaEmulator, tmp_path: Path) -> None:
    emulator.add_fault(Fault("status", at_request=2, status=503))
    emulator.add_fault(Fault("rate_limit", at_request=4, retry_after=1))
    env = {"PATH": "/usr/bin:/bin", "TAP_MEGA_LOGLEVEL": "DEBUG"}

    result = run_cli(tap_config(emulator, page_size=50), tmp_path, env=env)

    assert result.returncode == 0, result.stderr
    assert "DEBUG" in result.stderr
    assert emulator.token not in result.stdout
    assert emulator.token not in result.stderr
    assert emulator.token.removeprefix("mega_") not in result.stderr


def test_a_bookmark_that_is_not_a_timestamp_fails_before_any_request(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    state = {
        "bookmarks": {"leads": {"replication_key": "updated_at", "replication_key_value": "soon"}}
    }

    result = run_main(tap_config(emulator), tmp_path, state=state)

    assert_one_line_failure(
        result.returncode,
        result.stderr,
        "bookmark",
        "not a timestamp",
        "'soon'",
    )
    assert emulator.request_count == 0


def test_a_bookmark_kept_under_another_key_is_not_used(emulator: MegaEmulator) -> None:
    """Not as an `updated_at` bookmark, and not silently as none (a full re-read): refused."""
    state = {
        "bookmarks": {
            "leads": {
                "replication_key": "created_at",
                "replication_key_value": "2999-01-01T00:00:00.000Z",
            }
        }
    }

    with pytest.raises(InputError, match='`replication_key` is "created_at"'):
        run_sync(tap_config(emulator), state=state)

    assert emulator.request_count == 0


def test_a_retry_after_longer_than_max_wait_ends_the_run_cleanly(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    emulator.add_fault(Fault("rate_limit", at_request=2, retry_after=900))

    result = run_main(tap_config(emulator, page_size=50, max_wait_seconds=60), tmp_path)

    assert result.returncode == 0, result.stderr
    assert "Stopping early" in result.stderr
    assert "Retry-After 900s" in result.stderr
    records = result.result.records
    assert len(records) == 50
    assert bookmark(result.result.final_state)["replication_key_value"] == max(
        normalize_timestamp(record["updated_at"]) for record in records
    )
    assert emulator.request_count == 2, "no request after the long Retry-After"
