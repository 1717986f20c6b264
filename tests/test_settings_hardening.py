"""Settings: https unless loopback, every bad value named, unknown names reported."""

from __future__ import annotations

import typing as t

import pytest

from tap_mega.cli.checks import api_url_problem
from tests.helpers.cli import assert_one_line_failure, run_cli, run_main
from tests.helpers.sync import tap_config

if t.TYPE_CHECKING:
    from pathlib import Path

    from tap_mega.testing.emulator import MegaEmulator


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"token": ""}, "token"),
        ({"customer_id": "not-a-uuid"}, "customer_id"),
        ({"start_date": "last tuesday"}, "start_date"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 101}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
        ({"stage_id": "stage-1"}, "stage_id"),
        ({"lead_line": "renter"}, "lead_line"),
        ({"request_timeout": 0}, "request_timeout"),
        ({"api_url": "http://example.com"}, "api_url"),
        ({"api_url": "ftp://127.0.0.1"}, "api_url"),
        ({"api_url": "https://app.gomega.ai/api/agents/crm/leads"}, "api_url"),
        ({"max_wait_seconds": -1}, "max_wait_seconds"),
        ({"max_wait_seconds": "ten"}, "max_wait_seconds"),
        ({"rate_limit_reserve": -1}, "rate_limit_reserve"),
        ({"rate_limit_reserve": 1.5}, "rate_limit_reserve"),
        ({"lookback_window": "soon"}, "lookback_window"),
        ({"lookback_window": -5}, "lookback_window"),
        ({"lookback_window": "P1M"}, "lookback_window"),
        ({"api_url": None}, "api_url"),
        ({"page_size": None}, "page_size"),
        ({"request_timeout": None}, "request_timeout"),
        ({"token": "mega_abc\ndef"}, "token"),
        ({"token": "mega_\u00e9t\u00e9_token"}, "token"),
        ({"token": ["mega_x"]}, "token"),
        ({"customer_id": ["x"]}, "customer_id"),
        ({"include_custom_fields": "yes"}, "include_custom_fields"),
    ],
)
def test_bad_setting_is_one_line_naming_it_before_any_request(
    emulator: MegaEmulator, tmp_path: Path, overrides: dict[str, t.Any], setting: str
) -> None:
    result = run_main(tap_config(emulator, **overrides), tmp_path)

    assert_one_line_failure(result.returncode, result.stderr, f"`{setting}`")
    assert emulator.request_count == 0
    assert emulator.token not in result.stderr
    if setting == "token" and overrides["token"]:
        assert str(overrides["token"]) not in result.stderr


@pytest.mark.parametrize(
    "mode", [(), ("--discover",), ("--test",)], ids=["sync", "discover", "test"]
)
@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        # Under .invalid no name resolves: a DNS error here would mean a connection was tried.
        ({"api_url": "http://mega.invalid:8798"}, "api_url"),
        ({"api_url": "ftp://mega.invalid"}, "api_url"),
        ({"customer_id": "not-a-uuid"}, "customer_id"),
        ({"include_custom_field": False}, "include_custom_fields"),
    ],
)
def test_every_mode_refuses_bad_settings_before_connecting(
    emulator: MegaEmulator,
    tmp_path: Path,
    mode: tuple[str, ...],
    overrides: dict[str, t.Any],
    setting: str,
) -> None:
    result = run_main(tap_config(emulator, **overrides), tmp_path, *mode)

    line = assert_one_line_failure(result.returncode, result.stderr, f"`{setting}`")
    assert "could not reach" not in line
    assert result.stdout == ""
    assert emulator.request_count == 0
    assert emulator.token not in result.stderr


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://app.gomega.ai", True),
        ("https://10.0.0.5:8443", True),
        ("http://127.0.0.1:8080", True),
        ("http://127.9.9.9", True),
        ("http://localhost:8080", True),
        ("http://[::1]:8080", True),
        ("http://app.gomega.ai", False),
        ("http://10.0.0.5", False),
        ("http://localhost.evil.example", False),
        ("http://127.0.0.1.nip.io", False),
        ("ftp://127.0.0.1", False),
        ("app.gomega.ai", False),
        ("https://app.gomega.ai/api/agents/crm/leads", False),  # the endpoint, pasted
        ("http://127.0.0.1:8765/api/agents/crm/leads/", False),
        ("https://gateway.example.com/mega", True),  # a proxy's prefix is a base URL
    ],
)
def test_api_url_must_be_https_except_to_loopback(url: str, accepted: bool) -> None:
    assert (api_url_problem(url) is None) is accepted


def test_plain_http_to_localhost_syncs(emulator: MegaEmulator, tmp_path: Path) -> None:
    url = emulator.url.replace("127.0.0.1", "localhost")

    result = run_cli(tap_config(emulator, api_url=url), tmp_path)

    assert result.returncode == 0, result.stderr
    assert len(result.result.records) == len(emulator.leads)


def test_unknown_settings_are_reported_by_name_and_ignored(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    result = run_cli(tap_config(emulator, tokn="x", look_back="PT5M"), tmp_path)

    assert result.returncode == 0, result.stderr
    assert "Ignoring unknown setting `look_back`" in result.stderr
    assert "Ignoring unknown setting `tokn`" in result.stderr
    assert len(result.result.records) == len(emulator.leads)


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("page_sise", "page_size"),
        ("start_data", "start_date"),
        ("custom_field_schema", "custom_fields_schema"),
        ("Status", "status"),
    ],
)
def test_a_misspelt_setting_stops_naming_the_one_meant(
    typo: str, meant: str, emulator: MegaEmulator, tmp_path: Path
) -> None:
    # Ignored, `start_data` would read every lead and `custom_field_schema` discover.
    config = tap_config(emulator, **{typo: "2026-01-05T00:00:00Z"})
    del config["custom_fields_schema"]  # the one meant is not given
    result = run_main(config, tmp_path)

    assert_one_line_failure(
        result.returncode, result.stderr, f"`{typo}`", f"did you mean `{meant}`?"
    )
    assert emulator.request_count == 0


def test_defaults_in_the_schema_are_the_values_the_tap_uses(emulator: MegaEmulator) -> None:
    """The SDK does not fill schema defaults into the config: the code must agree."""
    from tap_mega.state.lookback import parse_lookback  # noqa: PLC0415
    from tap_mega.tap import TapMega  # noqa: PLC0415
    from tap_mega.timestamps import parse_duration  # noqa: PLC0415

    # Custom fields declared (a setting without a default), so no sample is requested.
    minimal = {
        "token": emulator.token,
        "customer_id": emulator.customer_id,
        "custom_fields_schema": {},
    }
    stream = TapMega(config=minimal, parse_env_config=False).streams["leads"]
    defaults = {
        name: spec["default"]
        for name, spec in TapMega.config_jsonschema["properties"].items()
        if "default" in spec
    }
    in_use = {
        "api_url": stream.url_base,
        "page_size": stream.get_url_params(None, None)["limit"],
        "include_custom_fields": stream.get_url_params(None, None)["include_custom_fields"]
        == "true",
        "request_timeout": stream.timeout,
        "lookback_window": parse_lookback(stream.config.get("lookback_window")).total_seconds(),
        "max_wait_seconds": stream.pacer.max_wait,
        "rate_limit_reserve": stream.pacer.reserve,
        "reconcile_deletes": stream.settings.reconcile_deletes,
        "reconcile_interval": stream.settings.reconcile_interval,
    }

    assert set(in_use) == set(defaults)
    assert in_use["reconcile_interval"] == parse_duration(defaults.pop("reconcile_interval"), "", 0)
    del in_use["reconcile_interval"]
    assert in_use == defaults
