"""`source-mega` as Airbyte runs it: a subprocess, JSON lines on stdout, exit codes.

Protocol-model validation and PyAirbyte itself run in their own venv
(tests/airbyte, driven by test_airbyte_venv.py); these tests need only the tap.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import typing as t
from datetime import datetime
from pathlib import Path

import pytest

from tap_mega.testing.emulator import Fault
from tap_mega.timestamps import normalize_timestamp
from tests.helpers.airbyte import Run, configured_catalog, per_stream_state, source, source_process
from tests.helpers.sync import tap_config

if t.TYPE_CHECKING:
    from tap_mega.testing.emulator import MegaEmulator

ROOT = Path(__file__).resolve().parent.parent
OTHER_TOKEN = "mega_" + "cd" * 32
OTHER_CUSTOMER = "00000000-0000-4000-8000-000000000001"


def test_spec_is_the_settings_schema_with_the_token_secret(tmp_path: Path) -> None:
    run = source(tmp_path, "spec")

    assert run.returncode == 0
    [message] = run.messages
    spec = message["spec"]["connectionSpecification"]
    assert spec["required"] == ["token", "customer_id"]
    assert spec["properties"]["token"]["airbyte_secret"] is True
    assert not any(p.get("airbyte_secret") for n, p in spec["properties"].items() if n != "token")


def test_check_succeeds_with_one_request_for_one_lead(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    run = source(tmp_path, "check", tap_config(emulator))

    assert run.returncode == 0
    [status] = run.of_type("CONNECTION_STATUS")
    assert status["connectionStatus"] == {"status": "SUCCEEDED"}
    [request] = emulator.requests
    assert request.params["limit"] == "1"


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        ({"token": OTHER_TOKEN}, ("401", "`token`")),
        ({"customer_id": OTHER_CUSTOMER}, ("403", "`customer_id`")),
        ({"customer_id": "not-a-uuid"}, ("invalid settings", "`customer_id`")),
        ({"page_size": 0}, ("invalid settings", "`page_size`")),
        ({"api_url": "http://example.com"}, ("invalid settings", "`api_url`")),
    ],
)
def test_check_fails_in_one_line(
    emulator: MegaEmulator, tmp_path: Path, overrides: dict[str, t.Any], fragments: tuple[str, ...]
) -> None:
    config = tap_config(emulator, **overrides)

    run = source(tmp_path, "check", config)

    assert run.returncode == 0, "a FAILED check is an answer, not a crash"
    [status] = run.of_type("CONNECTION_STATUS")
    assert status["connectionStatus"]["status"] == "FAILED"
    message = status["connectionStatus"]["message"]
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message
    assert_no_leak(run, config["token"])


def assert_no_leak(run: Run, token: str) -> None:
    assert token not in run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr


def test_discover_describes_leads(emulator: MegaEmulator, tmp_path: Path) -> None:
    run = source(tmp_path, "discover", tap_config(emulator))

    [message] = run.of_type("CATALOG")
    [stream] = message["catalog"]["streams"]
    assert stream["name"] == "leads"
    assert stream["supported_sync_modes"] == ["full_refresh", "incremental"]
    assert stream["source_defined_cursor"] is True
    assert stream["default_cursor_field"] == ["updated_at"]
    assert stream["source_defined_primary_key"] == [["id"]]
    assert set(stream["json_schema"]["properties"]) >= {"id", "updated_at", "custom_fields"}
    assert emulator.request_count == 0, "discover needs no request"


def test_discover_declares_the_custom_fields_tap_mega_discovers(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    config = tap_config(emulator)
    del config["custom_fields_schema"]  # discovered, as a user's would be
    (tmp_path / "tap.json").write_text(json.dumps(config))
    singer = subprocess.run(
        [sys.executable, "-m", "tap_mega", "--config", str(tmp_path / "tap.json"), "--discover"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    requests_before = emulator.request_count

    run = source(tmp_path, "discover", config)

    [message] = run.of_type("CATALOG")
    [stream] = message["catalog"]["streams"]
    [singer_stream] = json.loads(singer.stdout)["streams"]
    declared = stream["json_schema"]["properties"]["custom_fields"]["properties"]
    assert declared == singer_stream["schema"]["properties"]["custom_fields"]["properties"]
    assert declared["budget"] == {"type": ["integer", "null"]}
    assert emulator.request_count - requests_before == 1, "one sample request"
    assert emulator.requests[-1].params["sort_dir"] == "desc"


@pytest.mark.parametrize("command", ["check", "read"])
def test_check_and_read_never_sample(emulator: MegaEmulator, tmp_path: Path, command: str) -> None:
    config = tap_config(emulator)
    del config["custom_fields_schema"]
    catalog = configured_catalog() if command == "read" else None

    run = source(tmp_path, command, config, catalog, [] if catalog else None)

    assert run.returncode == 0, run.stdout[-2000:]
    assert emulator.requests
    assert all(request.params.get("sort_dir") != "desc" for request in emulator.requests)


def test_read_emits_every_lead_and_the_bookmark(emulator: MegaEmulator, tmp_path: Path) -> None:
    run = source(tmp_path, "read", tap_config(emulator), configured_catalog(), state=[])

    assert run.returncode == 0, run.stdout[-2000:]
    assert sorted(r["data"]["id"] for r in run.records) == sorted(x["id"] for x in emulator.leads)
    assert {r["stream"] for r in run.records} == {"leads"}
    assert all(isinstance(r["emitted_at"], int) and r["emitted_at"] > 1e12 for r in run.records)
    final = run.states[-1]
    assert final["type"] == "STREAM"
    assert final["stream"]["stream_descriptor"] == {"name": "leads"}
    newest = max(normalize_timestamp(r["data"]["updated_at"]) for r in run.records)
    assert final["stream"]["stream_state"]["replication_key_value"] == newest
    assert len(run.states) >= 3, "a checkpoint per page (250 leads, 100 a page)"
    assert run.of_type("LOG"), "progress is told as LOG messages"
    assert all(
        set(m) == {"type", m["type"].lower()} or m["type"] == "CONNECTION_STATUS"
        for m in run.messages
    )


def test_incremental_read_resumes_at_the_bookmark(emulator: MegaEmulator, tmp_path: Path) -> None:
    config = tap_config(emulator, lookback_window=0)  # exactly at the bookmark
    first = source(tmp_path, "read", config, configured_catalog(), state=[])
    bookmark = first.states[-1]["stream"]["stream_state"]["replication_key_value"]
    changed = emulator.update_leads(count=3, seed=1)

    second = source(tmp_path, "read", config, configured_catalog(), state=per_stream_state(first))

    assert second.returncode == 0
    assert emulator.requests[-1].params["updated_since"] == bookmark
    assert set(changed) <= {r["data"]["id"] for r in second.records}
    assert all(r["data"]["updated_at"] >= bookmark for r in second.records)
    assert len(second.records) < len(first.records)


def test_a_read_from_a_mid_sync_state_goes_on_from_its_cursor(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    first = source(tmp_path, "read", tap_config(emulator), configured_catalog(), state=[])
    assert first.states[-1]["stream"]["stream_state"]["resume_from"] is None, "walk done"
    middle = next(
        state for state in reversed(first.states) if state["stream"]["stream_state"]["resume_from"]
    )
    saved = middle["stream"]["stream_state"]["resume_from"]
    before = emulator.request_count

    again = source(tmp_path, "read", tap_config(emulator), configured_catalog(), state=[middle])

    assert again.returncode == 0
    assert emulator.requests[before].params["cursor"] == saved["cursor"]
    assert len(again.records) == len(emulator.leads) - saved["emitted"] > 0


def test_full_refresh_ignores_the_bookmark(emulator: MegaEmulator, tmp_path: Path) -> None:
    first = source(tmp_path, "read", tap_config(emulator), configured_catalog(), state=[])

    again = source(
        tmp_path,
        "read",
        tap_config(emulator),
        configured_catalog("full_refresh"),
        state=per_stream_state(first),
    )

    assert "updated_since" not in emulator.requests[-len(again.states)].params
    assert len(again.records) == len(emulator.leads)


def instant(text: str) -> datetime:
    """An ISO-8601 UTC timestamp as an aware datetime, whatever its spelling of UTC."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def ids_changed_since(emulator: MegaEmulator, start_date: str) -> list[str]:
    """The emulator's leads updated at or after `start_date`: what a read from it owes."""
    return sorted(
        lead["id"] for lead in emulator.leads if instant(lead["updated_at"]) >= instant(start_date)
    )


def test_full_refresh_reads_everything_from_start_date(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    start_date = emulator.leads[100]["updated_at"]
    config = tap_config(emulator, start_date=start_date)

    run = source(tmp_path, "read", config, configured_catalog("full_refresh"), state=[])

    assert run.returncode == 0, run.stdout[-2000:]
    assert sorted(r["data"]["id"] for r in run.records) == ids_changed_since(emulator, start_date)
    assert all(instant(r["data"]["updated_at"]) >= instant(start_date) for r in run.records)
    assert 100 < len(run.records) < len(emulator.leads), "start_date cut the older leads"


def test_full_refresh_reads_from_start_date_not_from_an_incremental_bookmark(
    emulator: MegaEmulator,
    tmp_path: Path,
) -> None:
    earlier = source(tmp_path, "read", tap_config(emulator), configured_catalog(), state=[])
    emulator.update_leads(count=5, seed=2)
    start_date = emulator.leads[100]["updated_at"]
    bookmark = earlier.states[-1]["stream"]["stream_state"]["replication_key_value"]
    assert instant(bookmark) > instant(start_date), "the bookmark is the newer floor"

    run = source(
        tmp_path,
        "read",
        tap_config(emulator, start_date=start_date),
        configured_catalog("full_refresh"),
        state=per_stream_state(earlier),
    )

    assert run.returncode == 0, run.stdout[-2000:]
    assert sorted(r["data"]["id"] for r in run.records) == ids_changed_since(emulator, start_date)
    assert all(instant(r["data"]["updated_at"]) >= instant(start_date) for r in run.records)
    newest = max(normalize_timestamp(r["data"]["updated_at"]) for r in run.records)
    assert run.states[-1]["stream"]["stream_state"]["replication_key_value"] == newest


def log_lines(run: Run) -> list[str]:
    return [message["log"]["message"] for message in run.of_type("LOG")]


def test_read_logs_progress_without_the_sdks_metric_lines(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    run = source(tmp_path, "read", tap_config(emulator), configured_catalog(), state=[])

    assert run.returncode == 0
    assert any("Progress: 250 / 250 leads" in line for line in log_lines(run))
    assert not [line for line in log_lines(run) if "METRIC" in line]
    assert {m["log"]["level"] for m in run.of_type("LOG")} <= {"INFO", "WARN", "ERROR", "FATAL"}


@pytest.mark.parametrize(
    ("flags", "env"),
    [(("--debug",), None), ((), {"LOG_LEVEL": "debug"})],
    ids=["flag", "env"],
)
def test_debug_logs_carry_the_sdks_metric_lines(
    emulator: MegaEmulator, tmp_path: Path, flags: tuple[str, ...], env: dict[str, str] | None
) -> None:
    run = source(tmp_path, "read", tap_config(emulator), configured_catalog(), [], *flags, env=env)

    assert run.returncode == 0
    metrics = [line for line in log_lines(run) if "METRIC" in line]
    assert any('"metric":"record_count","value":250' in line for line in metrics)
    assert sum('"metric":"http_request_duration"' in line for line in metrics) == 3
    assert "DEBUG" in {m["log"]["level"] for m in run.of_type("LOG")}
    assert len(run.records) == 250
    assert_no_leak(run, emulator.token)


def configured_with_columns(
    tmp_path: Path, emulator: MegaEmulator, columns: list[str] | None
) -> dict[str, t.Any]:
    """A configured catalog as Airbyte's column selection sends it: the discovered
    stream, its `json_schema` pruned to `columns` (None: kept whole)."""
    [stream] = source(tmp_path, "discover", tap_config(emulator)).messages[-1]["catalog"]["streams"]
    if columns is not None:
        properties = stream["json_schema"]["properties"]
        stream["json_schema"]["properties"] = {name: properties[name] for name in columns}
    catalog = configured_catalog()
    catalog["streams"][0]["stream"] = stream
    return catalog


@pytest.mark.parametrize(
    ("columns", "emitted"),
    [
        (["id", "updated_at", "status", "owner"], {"id", "updated_at", "status", "owner"}),
        (["status", "custom_fields"], {"id", "updated_at", "status", "custom_fields"}),
    ],
    ids=["selected", "key-and-cursor-kept"],
)
def test_read_emits_only_the_columns_of_the_configured_schema(
    emulator: MegaEmulator,
    tmp_path: Path,
    columns: list[str],
    emitted: set[str],
) -> None:
    catalog = configured_with_columns(tmp_path, emulator, columns)

    run = source(tmp_path, "read", tap_config(emulator), catalog, state=[])

    assert run.returncode == 0, run.stdout[-2000:]
    truth = {lead["id"]: lead for lead in emulator.leads}
    assert sorted(r["data"]["id"] for r in run.records) == sorted(truth)
    for record in run.records:
        assert set(record["data"]) == emitted
        lead = truth[record["data"]["id"]]
        assert all(record["data"][name] == lead[name] for name in emitted - {"updated_at"})
    newest = max(normalize_timestamp(r["data"]["updated_at"]) for r in run.records)
    assert run.states[-1]["stream"]["stream_state"]["replication_key_value"] == newest


@pytest.mark.parametrize("whole", [True, False], ids=["discovered-schema", "empty-schema"])
def test_read_without_column_selection_emits_every_field(
    emulator: MegaEmulator, tmp_path: Path, whole: bool
) -> None:
    catalog = configured_with_columns(tmp_path, emulator, None) if whole else configured_catalog()

    run = source(tmp_path, "read", tap_config(emulator), catalog, state=[])

    assert run.returncode == 0
    truth = {lead["id"]: lead for lead in emulator.leads}
    assert len(run.records) == len(truth)
    assert all(set(r["data"]) == set(truth[r["data"]["id"]]) for r in run.records)
    assert any(r["data"]["custom_fields"] for r in run.records)


def test_read_of_an_unselected_stream_reads_nothing(emulator: MegaEmulator, tmp_path: Path) -> None:
    run = source(tmp_path, "read", tap_config(emulator), {"streams": []})

    assert run.returncode == 0
    assert run.records == []
    assert emulator.request_count == 0


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"token": OTHER_TOKEN}, "401"),
        ({"customer_id": OTHER_CUSTOMER}, "403"),
        ({"start_date": "last tuesday"}, "`start_date`"),
        ({"lookback_window": "bogus"}, "`lookback_window`"),
        ({"page_size": "abc"}, "`page_size`"),
        ({"custom_fields_schema": "budget"}, "`custom_fields_schema`"),
        ({"custom_fields_schema": {"budget": "money"}}, "`custom_fields_schema`"),
    ],
)
def test_read_with_bad_config_is_a_config_error(
    emulator: MegaEmulator, tmp_path: Path, overrides: dict[str, t.Any], fragment: str
) -> None:
    config = tap_config(emulator, **overrides)

    run = source(tmp_path, "read", config, configured_catalog())

    assert run.returncode == 1
    [error] = run.errors
    assert error["failure_type"] == "config_error"
    assert fragment in error["message"]
    assert "stack_trace" not in error
    assert_no_leak(run, config["token"])


def test_read_failure_on_the_api_side_is_a_system_error_after_saving_state(
    emulator: MegaEmulator,
    tmp_path: Path,
) -> None:

    emulator.add_fault(Fault("status", at_request=2, count=20, status=503))

    run = source(tmp_path, "read", tap_config(emulator), configured_catalog())

    assert run.returncode == 1
    [error] = run.errors
    assert error["failure_type"] == "system_error"
    assert "503" in error["message"]
    assert len(run.records) == 100
    saved = run.states[-1]["stream"]["stream_state"]["replication_key_value"]
    assert saved == max(normalize_timestamp(r["data"]["updated_at"]) for r in run.records)
    assert run.messages[-1]["type"] == "TRACE"


# A bug no MEGA response can trigger (every odd body is a known MegaError): the
# second page raises an exception the tap does not know, quoting the token.
BUG_ON_SECOND_PAGE_SOURCE = """
from tap_mega.api.client import MegaStream
from tap_mega.streams.leads import LeadsStream
MegaStream.retry_wait_base = 0.01
read_page = LeadsStream.read_page
def buggy_read_page(self, response):
    if "cursor=" in response.request.url:
        raise KeyError(f"no such key for {self.config['token']}")
    return read_page(self, response)
LeadsStream.read_page = buggy_read_page
from tap_mega.airbyte import main
main()
"""


@pytest.mark.parametrize("token", [None, 'mega_pasted"with-a-quote' + "0" * 40])
def test_an_unexpected_failure_is_a_system_error_with_no_token_anywhere(
    make_emulator: t.Callable[..., MegaEmulator],
    tmp_path: Path,
    token: str | None,
) -> None:
    emulator = make_emulator(n_leads=250, seed=7, token=token)
    files = input_files(tmp_path, emulator)

    run = source_process(["read", *files], program=BUG_ON_SECOND_PAGE_SOURCE)

    assert run.returncode == 1
    for spelling in (emulator.token, json.dumps(emulator.token)[1:-1]):
        assert spelling not in run.stdout + run.stderr
    assert run.stderr == "", "no traceback outside the protocol"
    [error] = run.errors
    assert run.messages[-1]["type"] == "TRACE"
    assert error["failure_type"] == "system_error"
    assert error["message"].startswith("tap-mega failed unexpectedly: KeyError")
    assert "<redacted>" in error["message"]
    assert "Traceback" in error["stack_trace"]
    assert "buggy_read_page" in error["stack_trace"]
    assert len(run.records) == 100, "the first page was delivered"
    saved = run.states[-1]["stream"]["stream_state"]["replication_key_value"]
    assert saved == max(normalize_timestamp(r["data"]["updated_at"]) for r in run.records)


# Valid JSON of the wrong shape for each input: Airbyte passes an object, an object, a list.
WRONG_SHAPE = {
    "config": '["token", "customer_id"]',
    "catalog": '[{"stream": {"name": "leads"}, "sync_mode": "incremental"}]',
    "state": '["2026-01-07T13:38:05.002Z"]',
}
PROBLEMS = ("missing", "directory", "not JSON", "not UTF-8", "wrong shape")


def unusable_file(tmp_path: Path, role: str, problem: str, token: str) -> Path:
    """An input file in one of the ways it can be unusable; the unparsable ones quote the token."""
    path = tmp_path / f"unusable-{role}.json"
    if problem == "directory":
        path.mkdir()
    elif problem != "missing":
        content = {
            "not JSON": f'{{"token": "{token}", "customer_id": '.encode(),
            # As PowerShell's `>` writes it: UTF-16 with a byte-order mark.
            "not UTF-8": f'{{"token": "{token}"}}'.encode("utf-16"),
            "wrong shape": WRONG_SHAPE[role].encode(),
        }[problem]
        path.write_bytes(content)
    return path


def input_files(
    tmp_path: Path, emulator: MegaEmulator, role: str | None = None, problem: str = "missing"
) -> list[str]:
    """`--config`, `--catalog` and `--state` arguments, all usable but `role`'s."""
    values = {"config": tap_config(emulator), "catalog": configured_catalog(), "state": []}
    args: list[str] = []
    for name, value in values.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(value))
        if name == role:
            path = unusable_file(tmp_path, role, problem, emulator.token)
        args += [f"--{name}", str(path)]
    return args


def assert_one_config_error(run: Run, role: str, token: str) -> None:
    """Exit 1 and one TRACE config_error that names the file: nothing else, anywhere."""
    assert run.returncode == 1
    assert run.stderr == ""
    [message] = run.messages
    assert message["type"] == "TRACE"
    error = message["trace"]["error"]
    assert error["failure_type"] == "config_error"
    assert role in error["message"]
    assert "\n" not in error["message"]
    assert "stack_trace" not in error
    assert_no_leak(run, token)


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("role", ["config", "catalog", "state"])
def test_an_unusable_input_file_is_one_config_error(
    emulator: MegaEmulator, tmp_path: Path, role: str, problem: str
) -> None:
    run = source_process(["read", *input_files(tmp_path, emulator, role, problem)])

    assert_one_config_error(run, role, emulator.token)
    assert emulator.request_count == 0


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("command", ["check", "discover"])
def test_check_and_discover_refuse_an_unusable_config_the_same_way(
    emulator: MegaEmulator,
    tmp_path: Path,
    command: str,
    problem: str,
) -> None:
    config = unusable_file(tmp_path, "config", problem, emulator.token)

    run = source_process([command, "--config", str(config)])

    assert_one_config_error(run, "config", emulator.token)
    assert emulator.request_count == 0


def test_dockerfile_runs_source_mega_as_airbyte_expects() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    entrypoint = re.search(r"^ENTRYPOINT\s+(\[.*\])\s*$", dockerfile, re.MULTILINE)
    env = re.search(r"^ENV\s+AIRBYTE_ENTRYPOINT=\"?([^\"\n]+)\"?\s*$", dockerfile, re.MULTILINE)

    assert entrypoint is not None
    assert env is not None
    command = json.loads(entrypoint.group(1))
    assert command == ["source-mega"]
    assert env.group(1).strip() == "source-mega"
    assert re.search(r"^LABEL io\.airbyte\.name=", dockerfile, re.MULTILINE)
    assert "pip install" in dockerfile


def test_source_mega_is_an_installed_console_script() -> None:
    script = Path(sys.executable).parent / "source-mega"
    assert script.exists()
    done = subprocess.run(
        [str(script), "spec"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0
    assert json.loads(done.stdout)["type"] == "SPEC"


def test_check_against_a_long_retry_after_fails_in_one_line(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    emulator.add_fault(Fault("rate_limit", at_request=1, retry_after=900))
    config = tap_config(emulator, max_wait_seconds=60)

    run = source(tmp_path, "check", config)

    assert run.returncode == 0, "a FAILED check is an answer, not a crash"
    [status] = run.of_type("CONNECTION_STATUS")
    assert status["connectionStatus"]["status"] == "FAILED"
    message = status["connectionStatus"]["message"]
    assert "rate limit" in message
    assert "Retry-After 900s" in message
    assert_no_leak(run, config["token"])


PLAIN_SOURCE = "from tap_mega.airbyte import main; main()"


def test_help_describes_every_command() -> None:
    run = source_process(["--help"], program=PLAIN_SOURCE)

    assert run.returncode == 0
    assert run.stderr == ""
    # argparse lists each command as "    NAME  what it does" (wrapped below it).
    described = {
        words[0]: " ".join(words[1:])
        for line in run.stdout.splitlines()
        if line.startswith("    ") and not line.startswith("     ") and (words := line.split())
    }
    for command in ("spec", "check", "discover", "read"):
        assert len(described.get(command, "")) > 20, f"{command}: {described.get(command)!r}"
    assert "one request samples custom fields" in " ".join(run.stdout.split())


def test_read_given_a_singer_catalog_asks_for_an_airbyte_configured_catalog(
    emulator: MegaEmulator,
    tmp_path: Path,
) -> None:
    # What `tap-mega --discover` writes: tap_stream_id, schema, metadata; no `stream.name`.
    singer = {
        "streams": [
            {
                "tap_stream_id": "leads",
                "stream": "leads",
                "key_properties": ["id"],
                "schema": {"type": "object", "properties": {"id": {"type": "string"}}},
                "metadata": [{"breadcrumb": [], "metadata": {"selected": True}}],
            }
        ]
    }

    run = source(tmp_path, "read", tap_config(emulator), singer)

    assert run.returncode == 1
    [error] = run.errors
    assert error["message"] == (
        "the catalog is a Singer catalog (streams with `tap_stream_id`); source-mega read "
        "needs an Airbyte configured catalog, `streams` of "
        "`{stream: {name, json_schema}, sync_mode}` as Airbyte writes it"
    )
    assert "stack_trace" not in error
    assert emulator.request_count == 0
