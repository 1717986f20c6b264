"""Misuse of the command line is one line, never a traceback (issue 10).

Usage errors (an option click cannot parse) exit 2, as click's own commands do;
a --config, --state or --catalog file that cannot be used exits 1 and names it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing as t

import pytest

from tests.helpers.cli import CLI_MAIN, CliResult, error_lines, main_in_process
from tests.helpers.sync import tap_config

if t.TYPE_CHECKING:
    from pathlib import Path

    from tap_mega.testing.emulator import MegaEmulator


def tap(*args: str, env: dict[str, str] | None = None) -> CliResult:
    """`tap-mega ARGS` (in this process), with nothing of the shell's TAP_MEGA_* settings."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TAP_MEGA_")}
    return main_in_process(list(args), environ={**base, **(env or {})})


def the_one_line(done: CliResult | subprocess.CompletedProcess[str], code: int) -> str:
    """Exactly one `tap-mega: error:` line, the last line of stderr, no traceback."""
    assert done.returncode == code, done.stderr
    lines = error_lines(done.stderr)
    assert len(lines) == 1, done.stderr
    assert done.stderr.rstrip("\n").splitlines()[-1] == lines[0]
    assert "Traceback" not in done.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--bogus"], "--bogus"),
        (["--about", "--format=yaml"], "'--format'"),
        (["--about", "--format"], "--format"),
    ],
    ids=["unknown-option", "bad-format", "format-without-value"],
)
def test_a_command_line_click_cannot_parse_is_one_line_and_exit_2(
    args: list[str], fragment: str
) -> None:
    line = the_one_line(tap(*args), 2)

    assert fragment in line
    assert "tap-mega --help" in line


def write_problem(path: Path, problem: str) -> str:
    """A file (or not) with `problem`; returns the path to give on the command line."""
    if problem == "missing":
        return str(path.with_name("nope.json"))
    if problem == "directory":
        path.mkdir()
    elif problem == "not-json":
        path.write_text('{"token": "mega_', encoding="utf-8")
    elif problem == "not-utf8":
        path.write_bytes(b"\xff\xfe{}")
    elif problem == "a-list":
        path.write_text("[]", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("problem", ["missing", "directory", "not-json", "not-utf8", "a-list"])
@pytest.mark.parametrize("option", ["--config", "--state", "--catalog"])
def test_an_unusable_file_is_one_line_naming_it_and_no_request(
    option: str, problem: str, tmp_path: Path, emulator: MegaEmulator
) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(tap_config(emulator)))
    bad = write_problem(tmp_path / "input.json", problem)
    args = [option, bad] if option == "--config" else ["--config", str(config), option, bad]

    line = the_one_line(tap(*args), 1)

    assert option in line
    assert bad in line
    assert emulator.request_count == 0
    assert emulator.token not in line


def test_a_catalog_without_streams_is_one_line_and_no_request(
    tmp_path: Path, emulator: MegaEmulator
) -> None:
    # The SDK would select no stream from it and exit 0 having read nothing.
    config = tmp_path / "config.json"
    config.write_text(json.dumps(tap_config(emulator)))
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"type": "SCHEMA", "stream": "leads"}))

    line = the_one_line(tap("--config", str(config), "--catalog", str(catalog)), 1)

    assert f"the --catalog file {catalog} is not a Singer catalog: it has no `streams` list" in line
    assert emulator.request_count == 0


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        ({"streams": []}, "a Singer catalog (an object with `streams`): pass it as --catalog"),
        ({"type": "STATE", "value": {"bookmarks": {}}}, "a state: pass it as --state"),
        ({"bookmarks": {"leads": {}}}, "a state: pass it as --state"),
        ({"type": "RECORD", "stream": "leads", "record": {}}, "a RECORD message"),
    ],
    ids=["catalog", "state-line", "state-file", "record-line"],
)
def test_another_input_file_as_config_is_named_for_what_it_is(
    given: dict[str, t.Any], fragment: str, tmp_path: Path, emulator: MegaEmulator
) -> None:
    # Not "setting `token` is required", which says nothing of the mix-up.
    wrong = tmp_path / "catalog.json"
    wrong.write_text(json.dumps(given))

    line = the_one_line(tap("--config", str(wrong)), 1)

    assert f"the --config file {wrong} is {fragment}" in line
    assert emulator.request_count == 0


def test_an_exported_token_without_config_env_is_named_truthfully(
    tmp_path: Path, emulator: MegaEmulator
) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"customer_id": emulator.customer_id, "api_url": emulator.url}))

    exported = the_one_line(tap("--config", str(config), env={"TAP_MEGA_TOKEN": emulator.token}), 1)
    not_exported = the_one_line(tap("--config", str(config)), 1)

    assert "`token`" in exported
    assert "TAP_MEGA_TOKEN is set in the environment" in exported
    assert "only with `--config=ENV`" in exported
    assert emulator.token not in exported
    assert "export TAP_MEGA_TOKEN and run with `--config=ENV`" in not_exported
    assert emulator.request_count == 0


def test_with_config_env_the_missing_variable_is_the_advice(emulator: MegaEmulator) -> None:
    line = the_one_line(tap("--config=ENV", env={"TAP_MEGA_CUSTOMER_ID": emulator.customer_id}), 1)

    assert "set it in the config or the environment variable TAP_MEGA_TOKEN" in line


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("TAP_MEGA_PAGE_SIZE", "abc", "`page_size` (from TAP_MEGA_PAGE_SIZE) must be a whole"),
        (
            "TAP_MEGA_CUSTOM_FIELDS_SCHEMA",
            "budget",
            "`custom_fields_schema` (from TAP_MEGA_CUSTOM_FIELDS_SCHEMA) must be JSON text",
        ),
    ],
    ids=["integer", "object"],
)
def test_with_config_env_a_variable_that_does_not_parse_is_named(
    variable: str, value: str, says: str, emulator: MegaEmulator
) -> None:
    # The SDK's int() / JSON parse: a traceback, or a line blaming a --config file.
    env = {
        "TAP_MEGA_TOKEN": emulator.token,
        "TAP_MEGA_CUSTOMER_ID": emulator.customer_id,
        "TAP_MEGA_API_URL": emulator.url,
        variable: value,
    }

    line = the_one_line(tap("--config=ENV", env=env), 1)

    assert says in line
    assert "--config" not in line
    assert emulator.request_count == 0


@pytest.mark.parametrize("status", ["open", "Won", "closed"])
def test_an_undocumented_status_is_refused_before_any_request(
    status: str, tmp_path: Path, emulator: MegaEmulator
) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(tap_config(emulator, status=status)))

    line = the_one_line(tap("--config", str(config)), 1)

    assert "`status`" in line
    assert repr(status) in line
    for documented in ("active", "won", "lost", "nurture", "archived"):
        assert documented in line
    assert emulator.request_count == 0


def test_a_config_from_a_pipe_is_read_once(emulator: MegaEmulator) -> None:
    """`--config <(...)` or /dev/stdin: a second read would find nothing."""
    settings = json.dumps(tap_config(emulator, status="open"))
    base = {k: v for k, v in os.environ.items() if not k.startswith("TAP_MEGA_")}
    done = subprocess.run(
        [sys.executable, "-c", CLI_MAIN, "--config", "/dev/stdin"],
        input=settings,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=base,
    )

    line = the_one_line(done, 1)
    assert "setting `status`" in line
