"""`tap-mega --test` (`meltano invoke tap-mega --test`) succeeds cleanly (issue 10).

One request for one lead, one RECORD, no STATE (a test is not a sync and must
move no bookmark), no ERROR line and no failed sync metric.
"""

from __future__ import annotations

import json
import typing as t

from tests.helpers.cli import run_main
from tests.helpers.sync import tap_config

if t.TYPE_CHECKING:
    from pathlib import Path

    from tap_mega.testing.emulator import MegaEmulator


def metrics(stderr: str) -> list[dict[str, t.Any]]:
    return [
        json.loads(line.split("METRIC: ", 1)[1])
        for line in stderr.splitlines()
        if "METRIC: " in line
    ]


def test_test_mode_is_one_request_one_record_and_a_clean_exit(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    done = run_main(tap_config(emulator), tmp_path, "--test")

    assert done.returncode == 0, done.stderr
    assert "ERROR" not in done.stderr
    assert "unhandled error" not in done.stderr
    assert "serves at most" not in done.stderr  # limit=1 is what --test asked for
    sync = [m for m in metrics(done.stderr) if m["metric"] == "sync_duration"]
    assert [m["tags"]["status"] for m in sync] == ["succeeded"]
    assert emulator.request_count == 1
    assert emulator.requests[0].params["limit"] == "1"
    kinds = [message["type"] for message in done.result.messages]
    assert kinds == ["SCHEMA", "RECORD"]


def test_test_mode_ignores_no_setting_and_keeps_the_filters(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    done = run_main(tap_config(emulator, status="won", page_size=50), tmp_path, "--test")

    assert done.returncode == 0, done.stderr
    assert emulator.request_count == 1
    params = emulator.requests[0].params
    assert params["status"] == "won"
    assert params["limit"] == "1"
    assert [record["status"] for record in done.result.records] == ["won"]


def test_test_mode_without_declared_custom_fields_is_still_one_request(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    """A user's config seldom declares custom_fields_schema: `--test` must not sample them."""
    config = tap_config(emulator)
    del config["custom_fields_schema"]

    done = run_main(config, tmp_path, "--test")

    assert done.returncode == 0, done.stderr
    assert emulator.request_count == 1
    assert emulator.requests[0].params["limit"] == "1"
    assert done.result.records[0]["custom_fields"], "the values still arrive"
