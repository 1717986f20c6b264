"""One gate: every entry point refuses the same bad settings before its first connection.

`tap-mega` in each mode, `tap-mega-doctor`, `source-mega check`, `discover` and
`read`, and the fleet's accounts file: each gets the same table of bad inputs and
must answer one line naming the setting, with no request. Hosts are under
`.invalid` (RFC 6761: no name there resolves), so a connection attempt would be a
DNS error, never traffic off this machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing as t

import pytest

from tap_mega.errors import SettingsError
from tap_mega.fleet.command import EXIT_BAD_INPUT
from tap_mega.fleet.command import main as fleet_main
from tap_mega.tap import TapMega
from tests.helpers.airbyte import configured_catalog, source
from tests.helpers.cli import error_lines, run_cli
from tests.helpers.sync import tap_config

if t.TYPE_CHECKING:
    from pathlib import Path

    from tap_mega.testing.emulator import MegaEmulator

DOCTOR_MAIN = "from tap_mega.doctor import main; main()"

#: (name, how the config differs from a good one, what the one line must say).
BAD_SETTINGS: list[tuple[str, dict[str, t.Any], tuple[str, ...]]] = [
    ("http-off-loopback", {"api_url": "http://mega.invalid:8798"}, ("`api_url`", "https")),
    ("ftp-url", {"api_url": "ftp://mega.invalid"}, ("`api_url`", "http(s) URL")),
    ("customer-not-uuid", {"customer_id": "not-a-uuid"}, ("`customer_id`", "UUID")),
    ("near-miss-name", {"include_custom_field": False}, ("`include_custom_fields`",)),
    ("no-token", {"token": None}, ("`token`", "required")),
    (
        "empty-config",
        {"token": None, "customer_id": None, "api_url": None},
        ("`token`", "required"),
    ),
]


def bad_config(emulator: MegaEmulator, overrides: dict[str, t.Any]) -> dict[str, t.Any]:
    """A config for `emulator` with `overrides`; None drops a setting. No custom fields
    declared, so a tap that got past the gate would send discovery's sample."""
    config = {**tap_config(emulator), **overrides}
    config.pop("custom_fields_schema")
    return {name: value for name, value in config.items() if value is not None}


def tap_mega(*mode: str) -> t.Callable[[dict[str, t.Any], Path], tuple[list[str], str]]:
    def run(config: dict[str, t.Any], tmp_path: Path) -> tuple[list[str], str]:
        done = run_cli(config, tmp_path, *mode)
        assert done.returncode == 1, done.stderr
        assert done.stdout == ""
        return error_lines(done.stderr), done.stderr

    return run


def doctor(config: dict[str, t.Any], tmp_path: Path) -> tuple[list[str], str]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    done = subprocess.run(
        [sys.executable, "-c", DOCTOR_MAIN, "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    lines = [line for line in done.stderr.splitlines() if line.startswith("tap-mega-doctor:")]
    return lines, done.stderr


def source_mega(command: str) -> t.Callable[[dict[str, t.Any], Path], tuple[list[str], str]]:
    def run(config: dict[str, t.Any], tmp_path: Path) -> tuple[list[str], str]:
        catalog = configured_catalog() if command == "read" else None
        done = source(tmp_path, command, config, catalog)
        if command == "check":
            # Airbyte's protocol: a check answers FAILED, it does not crash.
            assert done.returncode == 0, done.stderr
            [status] = [m["connectionStatus"] for m in done.of_type("CONNECTION_STATUS")]
            assert status["status"] == "FAILED"
            lines = [status["message"]]
        else:
            assert done.returncode == 1, done.stderr
            lines = [error["message"] for error in done.errors]
            assert [m["type"] for m in done.messages if m["type"] != "LOG"] == ["TRACE"]
        return lines, done.stdout + done.stderr

    return run


ENTRY_POINTS = {
    "tap-mega-sync": tap_mega(),
    "tap-mega-discover": tap_mega("--discover"),
    "tap-mega-test": tap_mega("--test"),
    "tap-mega-doctor": doctor,
    "source-mega-check": source_mega("check"),
    "source-mega-discover": source_mega("discover"),
    "source-mega-read": source_mega("read"),
}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [(overrides, fragments) for _, overrides, fragments in BAD_SETTINGS],
    ids=[name for name, _, _ in BAD_SETTINGS],
)
def test_every_entry_point_refuses_bad_settings_before_connecting(
    entry: str,
    overrides: dict[str, t.Any],
    fragments: tuple[str, ...],
    emulator: MegaEmulator,
    tmp_path: Path,
) -> None:
    lines, output = ENTRY_POINTS[entry](bad_config(emulator, overrides), tmp_path)

    assert len(lines) == 1, output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "could not reach" not in output
    assert "DNS" not in output
    assert "Traceback" not in output
    assert emulator.request_count == 0
    assert emulator.token not in output


@pytest.mark.parametrize(
    ("field", "value", "fragments"),
    [
        ("api_url", "http://mega.invalid:8798", ("`api_url`", "https")),
        ("api_url", "ftp://mega.invalid", ("`api_url`", "http(s) URL")),
        ("customer_id", "not-a-uuid", ("`customer_id`", "UUID")),
    ],
    ids=["http-off-loopback", "ftp-url", "customer-not-uuid"],
)
def test_the_fleets_accounts_file_refuses_them_through_the_same_checks(  # noqa: PLR0917 - pytest passes parameters by name
    field: str,
    value: str,
    fragments: tuple[str, ...],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    entry = {
        "name": "acme",
        "customer_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        "token_env": "MEGA_TOKEN_ACME",
        field: value,
    }
    path = tmp_path / "accounts.yml"
    path.write_text("accounts:\n  - " + "\n    ".join(f"{k}: {v}" for k, v in entry.items()))
    monkeypatch.setenv("MEGA_TOKEN_ACME", "mega_token_of_acme_0123456789")

    code = fleet_main(["--accounts", str(path)])

    out, err = capsys.readouterr()
    assert code == EXIT_BAD_INPUT
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"fleet: error: {path}: account 'acme' (#1): ")
    for fragment in fragments:
        assert fragment in err


def test_the_gate_holds_whatever_validate_config_a_caller_passes(
    emulator: MegaEmulator,
) -> None:
    """A tap built with `validate_config=False` (source-mega's second tap) still refuses:
    given a state, building it would otherwise send discovery's sample."""
    config = bad_config(emulator, {"customer_id": "not-a-uuid"})
    state = {
        "bookmarks": {
            "leads": {
                "replication_key": "updated_at",
                "replication_key_value": "2026-01-01T00:00:00Z",
            }
        }
    }

    with pytest.raises(SettingsError, match="`customer_id`"):
        TapMega(config=config, state=state, parse_env_config=False, validate_config=False)
    assert emulator.request_count == 0


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "tap_mega.cli.main", "--discover"],
        ["-m", "tap_mega.cli.main", "--test"],
        ["-m", "tap_mega.cli.main"],
        ["-c", DOCTOR_MAIN],
    ],
    ids=["discover", "test", "sync", "doctor"],
)
def test_no_config_at_all_is_one_line_naming_the_token(command: list[str]) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("TAP_MEGA_")}

    done = subprocess.run(
        [sys.executable, *command],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )

    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if ": error:" in line]
    assert len(errors) == 1, done.stderr
    assert "setting `token` is required" in errors[0]
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
