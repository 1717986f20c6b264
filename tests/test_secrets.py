"""The token appears nowhere: logs at DEBUG, errors, tracebacks, --about, metrics, state."""

from __future__ import annotations

import logging
import sys
import typing as t

import pytest

from tap_mega.redaction import REDACTED, redact, redact_record, register_secret
from tap_mega.testing.emulator import Fault
from tests.helpers.cli import FAST_RETRIES, assert_one_line_failure, run_cli
from tests.helpers.sync import tap_config

if t.TYPE_CHECKING:
    from pathlib import Path

    from tap_mega.testing.emulator import MegaEmulator

DEBUG_ENV = {"PATH": "/usr/bin:/bin", "TAP_MEGA_LOGLEVEL": "DEBUG"}
# An unexpected bug whose message quotes the token, as a careless library might.
CARELESS_BUG = (
    "from tap_mega.streams.leads import LeadsStream\n"
    "def broken(self, context, next_page_token):\n"
    "    raise RuntimeError('bug while holding ' + self.config['token'])\n"
    "LeadsStream.get_url_params = broken\n"
)


def assert_no_token(token: str, *outputs: str) -> None:
    secret_part = token.removeprefix("mega_")
    for output in outputs:
        assert token not in output
        assert secret_part not in output
        assert secret_part[:24] not in output, "not even a fragment"


def test_debug_sync_through_every_fault_never_shows_the_token(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    for fault in (
        Fault("status", at_request=2, status=503),
        Fault("status", at_request=3, status=502, html=True),
        Fault("drop", at_request=4),
        Fault("rate_limit", at_request=5, retry_after=0),
        Fault("slow", at_request=6, seconds=1.5),
        Fault("malformed", at_request=8, count=8),  # retried: every try gets it
    ):
        emulator.add_fault(fault)

    result = run_cli(
        tap_config(emulator, page_size=25, request_timeout=1),
        tmp_path,
        prelude=FAST_RETRIES,
        env=DEBUG_ENV,
        timeout=300,
    )

    assert result.returncode == 1
    assert "DEBUG" in result.stderr
    assert "http_request_duration" in result.stderr
    assert "/api/agents/crm/leads" in result.stderr, "the metrics name the endpoint"
    assert result.result.records, "the run got somewhere before the malformed page"
    assert_no_token(emulator.token, result.stdout, result.stderr)


def test_about_never_shows_the_token(emulator: MegaEmulator, tmp_path: Path) -> None:
    for about in (["--about"], ["--about", "--format=json"], ["--about", "--format=markdown"]):
        result = run_cli(tap_config(emulator), tmp_path, *about, env=DEBUG_ENV, timeout=300)
        assert result.returncode == 0, result.stderr
        assert "lookback_window" in result.stdout
        assert_no_token(emulator.token, result.stdout, result.stderr)


def test_token_pasted_into_another_setting_is_redacted_from_the_error(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    config = tap_config(emulator, api_url=f"http://mega.example.com/{emulator.token}")

    result = run_cli(config, tmp_path, env=DEBUG_ENV, timeout=300)

    assert_one_line_failure(
        result.returncode,
        result.stderr,
        "setting `api_url` must use https",
        REDACTED,
    )
    assert_no_token(emulator.token, result.stdout, result.stderr)


def test_unexpected_bug_traceback_is_redacted(emulator: MegaEmulator, tmp_path: Path) -> None:
    result = run_cli(
        tap_config(emulator),
        tmp_path,
        prelude=CARELESS_BUG + FAST_RETRIES,
        env=DEBUG_ENV,
        timeout=300,
    )

    assert result.returncode == 1
    assert "RuntimeError: bug while holding " + REDACTED in result.stderr
    assert "Traceback" in result.stderr, "a real bug keeps its traceback"
    assert_no_token(emulator.token, result.stdout, result.stderr)


def test_interrupted_run_never_shows_the_token(emulator: MegaEmulator, tmp_path: Path) -> None:
    # SIGTERM sent to itself once the first page is out: the stop path logs too.
    prelude = (
        "import os, signal\n"
        "from tap_mega.streams.walk import Walk\n"
        "original = Walk.check\n"
        "def checked(self, lead):\n"
        "    if self.last_updated_at is None: os.kill(os.getpid(), signal.SIGTERM)\n"
        "    return original(self, lead)\n"
        "Walk.check = checked\n"
    )

    result = run_cli(
        tap_config(emulator, page_size=50),
        tmp_path,
        prelude=prelude + FAST_RETRIES,
        env=DEBUG_ENV,
        timeout=300,
    )

    assert result.returncode == 143, result.stderr
    assert_no_token(emulator.token, result.stdout, result.stderr)


@pytest.fixture
def secret() -> str:
    value = "mega_unit_test_secret_0123456789abcdef"
    register_secret(value)
    return value


def test_log_record_with_secret_in_message_args_and_exception(secret: str) -> None:
    try:
        raise ValueError("failed with " + secret)  # noqa: TRY301 - a real exc_info
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "token %s in %s", (secret, "args"), sys.exc_info()
        )
    record.point = {"url": "https://x/?t=" + secret}

    redact_record(record)
    text = logging.Formatter().format(record)

    assert secret not in text
    assert secret not in str(record.point)
    assert f"token {REDACTED} in args" in text
    assert f"ValueError: failed with {REDACTED}" in text


def test_records_from_any_logger_are_redacted_at_creation(
    secret: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("urllib3.connectionpool").debug("header Bearer %s", secret)
    assert caplog.records[-1].getMessage() == f"header Bearer {REDACTED}"


def test_a_secret_of_another_process_is_redacted_when_named() -> None:
    # The fleet's case: each account's token, in the output of a Meltano run.
    account_secret = "mega_fleet_account_0123456789"  # noqa: S105 - a made-up token
    assert redact(f"auth {account_secret} bad", account_secret) == f"auth {REDACTED} bad"
    assert redact("nothing to hide", "") == "nothing to hide"
