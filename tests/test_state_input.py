"""The state a run starts from: every shape people hold, and whose account it is (issue 10)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import typing as t
import uuid

import pytest

from tests.helpers.airbyte import configured_catalog, per_stream_state, source, source_process
from tests.helpers.cli import assert_one_line_failure, run_cli, run_main
from tests.helpers.sync import bookmark, tap_config

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tap_mega.testing.emulator import MegaEmulator

#: Where the leads bookmark names its account (tap_mega.state.inputs.ACCOUNT_KEY).
ACCOUNT_KEY = "account"


def synced_state(emulator: MegaEmulator, tmp_path: Path) -> dict[str, t.Any]:
    """The plain Singer state a whole run against `emulator` ends with."""
    done = run_main(tap_config(emulator), tmp_path)
    assert done.returncode == 0, done.stderr
    return done.result.final_state


@pytest.mark.parametrize(
    "wrap",
    [
        lambda state: state,
        lambda state: {"type": "STATE", "value": state},
        lambda state: {"singer_state": state},
    ],
    ids=["singer-state", "state-message", "meltano-state-get"],
)
def test_every_shape_users_hold_starts_at_its_bookmark(
    wrap: Callable[[dict[str, t.Any]], dict[str, t.Any]],
    emulator: MegaEmulator,
    tmp_path: Path,
) -> None:
    state = synced_state(emulator, tmp_path)
    before = emulator.request_count

    done = run_main(tap_config(emulator, lookback_window=0), tmp_path, state=wrap(state))

    assert done.returncode == 0, done.stderr
    first = emulator.requests[before]
    assert first.params.get("updated_since") == bookmark(state)["replication_key_value"]
    assert len(done.result.records) < len(emulator.leads)


@pytest.mark.parametrize(
    ("state", "problem"),
    [
        ({"type": "RECORD", "stream": "leads", "record": {"id": "x"}}, "a RECORD message"),
        ([{"bookmarks": {}}], "a list"),
        ({"bookmarks": 5}, "`bookmarks` is a number"),
        ({"bookmarks": {"leads": "2026-01-01"}}, "bookmark for `leads` is a string"),
        ({"value": {"bookmarks": {}}}, "an object with `value`"),
        ("2026-01-01T00:00:00Z", "a string"),
    ],
    ids=["record-line", "list", "bookmarks-number", "bookmark-string", "value-only", "string"],
)
def test_any_other_shape_is_one_line_naming_the_file_and_no_request(
    state: t.Any, problem: str, emulator: MegaEmulator, tmp_path: Path
) -> None:
    done = run_main(tap_config(emulator), tmp_path, state=state)

    line = assert_one_line_failure(done.returncode, done.stderr, problem, "singer_state")
    assert str(tmp_path / "state.json") in line
    assert done.stderr.rstrip("\n").splitlines()[-1] == line
    assert emulator.request_count == 0
    assert done.result.records == []


def test_the_bookmark_names_its_account(emulator: MegaEmulator, tmp_path: Path) -> None:
    state = synced_state(emulator, tmp_path)

    assert bookmark(state)[ACCOUNT_KEY] == {
        "customer_id": emulator.customer_id,
        "api_host": "127.0.0.1",
    }


def test_a_state_for_another_customer_stops_before_any_request(
    make_emulator: Callable[..., MegaEmulator], tmp_path: Path
) -> None:
    first = make_emulator(n_leads=120, seed=3)
    other_customer = str(uuid.uuid4())
    second = make_emulator(
        n_leads=300,
        seed=4,
        token="mega_" + "7" * 64,
        customer_id=other_customer,
    )
    state = synced_state(first, tmp_path)

    done = run_main(tap_config(second), tmp_path, state=state)

    line = assert_one_line_failure(
        done.returncode,
        done.stderr,
        first.customer_id,
        other_customer,
        "meltano state clear",
        "without --state",
    )
    assert done.stderr.rstrip("\n").splitlines()[-1] == line
    assert second.request_count == 0
    assert done.result.records == []
    assert second.token not in done.stderr
    assert first.token not in done.stderr


def test_another_accounts_state_is_refused_before_discoverys_sample(
    make_emulator: Callable[..., MegaEmulator], tmp_path: Path
) -> None:
    """Custom fields not declared: building the stream samples them, so the account comes first."""
    first = make_emulator(n_leads=120, seed=3)
    second = make_emulator(n_leads=120, seed=4, customer_id=str(uuid.uuid4()))
    state = synced_state(first, tmp_path)
    config = tap_config(second)
    del config["custom_fields_schema"]

    done = run_cli(config, tmp_path, state=state)

    assert_one_line_failure(done.returncode, done.stderr, first.customer_id, second.customer_id)
    assert second.request_count == 0
    assert done.stdout == ""


@pytest.mark.parametrize("state_first", [True, False], ids=["meltanos-order", "discover-first"])
def test_discovery_given_another_accounts_state_sends_nothing(
    state_first: bool,
    make_emulator: Callable[..., MegaEmulator],
    tmp_path: Path,
) -> None:
    """Meltano runs `tap-mega --config C --state S --discover` before each sync."""
    first = make_emulator(n_leads=120, seed=3)
    second = make_emulator(n_leads=120, seed=4, customer_id=str(uuid.uuid4()))
    state_path = tmp_path / "meltano-state.json"
    state_path.write_text(json.dumps(synced_state(first, tmp_path)))
    config = tap_config(second)
    del config["custom_fields_schema"]
    state_args = ("--state", str(state_path))
    args = (*state_args, "--discover") if state_first else ("--discover", *state_args)

    done = run_cli(config, tmp_path, *args)

    assert_one_line_failure(done.returncode, done.stderr, first.customer_id, second.customer_id)
    assert second.request_count == 0
    assert done.stdout == ""


def test_discovery_given_its_own_accounts_state_discovers(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    state_path = tmp_path / "meltano-state.json"
    state_path.write_text(json.dumps(synced_state(emulator, tmp_path)))
    before = emulator.request_count
    config = tap_config(emulator)
    del config["custom_fields_schema"]

    done = run_cli(config, tmp_path, "--state", str(state_path), "--discover")

    assert done.returncode == 0, done.stderr
    [stream] = json.loads(done.stdout)["streams"]
    assert "budget" in stream["schema"]["properties"]["custom_fields"]["properties"]
    assert emulator.request_count == before + 1  # the sample


def test_a_state_for_another_host_stops_before_any_request(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    state = synced_state(emulator, tmp_path)
    bookmark(state)[ACCOUNT_KEY]["api_host"] = "app.gomega.ai"
    before = emulator.request_count

    done = run_main(tap_config(emulator), tmp_path, state=state)

    assert_one_line_failure(done.returncode, done.stderr, "at app.gomega.ai", "at 127.0.0.1")
    assert emulator.request_count == before


def test_another_port_or_spelling_of_the_same_account_is_the_same_account(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    """The emulator listens on a new port at every start; a UUID has more than one case."""
    state = synced_state(emulator, tmp_path)
    bookmark(state)[ACCOUNT_KEY]["customer_id"] = emulator.customer_id.upper()
    url = emulator.url.replace("127.0.0.1", "localhost")

    done = run_main(tap_config(emulator, api_url=url), tmp_path, state=state)

    assert done.returncode == 0, done.stderr


def test_a_state_written_before_the_account_record_is_honoured_and_then_named(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    state = synced_state(emulator, tmp_path)
    old = copy.deepcopy(state)
    del bookmark(old)[ACCOUNT_KEY]
    before = emulator.request_count

    done = run_main(tap_config(emulator, lookback_window=0), tmp_path, state=old)

    assert done.returncode == 0, done.stderr
    since = emulator.requests[before].params.get("updated_since")
    assert since == bookmark(old)["replication_key_value"]
    assert bookmark(done.result.final_state)[ACCOUNT_KEY] == bookmark(state)[ACCOUNT_KEY]


def test_an_account_record_the_tap_did_not_write_is_refused(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    state = synced_state(emulator, tmp_path)
    bookmark(state)[ACCOUNT_KEY] = "someone"
    before = emulator.request_count

    done = run_main(tap_config(emulator), tmp_path, state=state)

    assert_one_line_failure(done.returncode, done.stderr, f"`{ACCOUNT_KEY}`", "without --state")
    assert emulator.request_count == before
    assert json.dumps(done.result.records) == "[]"


@pytest.mark.parametrize(
    ("state", "fragments"),
    [
        (
            {
                "bookmarks": {
                    "lead": {
                        "replication_key": "updated_at",
                        "replication_key_value": "2026-01-10T00:00:00Z",
                    }
                }
            },
            ("`lead`", "no stream of tap-mega", "`leads`"),
        ),
        (
            {"bookmarks": {"leads": {"replication_key_value": "2026-01-10T00:00:00Z"}}},
            ("`leads` bookmark", "`replication_key` is null", '"replication_key": "updated_at"'),
        ),
        (
            {
                "bookmarks": {
                    "leads": {
                        "replication_key": "created_at",
                        "replication_key_value": "2026-01-10T00:00:00Z",
                    }
                }
            },
            ('`replication_key` is "created_at"',),
        ),
    ],
    ids=["stream-typo", "no-replication-key", "other-replication-key"],
)
def test_a_bookmark_the_sdk_would_skip_is_refused_not_a_silent_full_read(
    state: dict[str, t.Any], fragments: tuple[str, ...], emulator: MegaEmulator, tmp_path: Path
) -> None:
    # The SDK ignores these without a word: the run would read every lead again.
    done = run_main(tap_config(emulator), tmp_path, state=state)

    assert_one_line_failure(done.returncode, done.stderr, *fragments, "every lead read again")
    assert emulator.request_count == 0
    assert done.result.records == []


@pytest.mark.parametrize(
    ("airbyte_state", "problem"),
    [
        ({"cursor": "2026-01-01"}, "without `bookmarks` or `data`"),
        ([{"bookmarks": {"leads": {}}}], "a state entry without a per-stream state"),
        ([{"type": "GLOBAL", "global": {}}], "a GLOBAL entry"),
        (
            [
                {
                    "type": "STREAM",
                    "stream": {"stream_descriptor": {"name": "leads"}, "stream_state": "2026"},
                }
            ],
            "without a stream name",
        ),
        ({"data": {"bookmarks": 5}}, "`bookmarks` is a number"),
    ],
    ids=["unknown-object", "list-of-singer-states", "global", "state-not-object", "legacy-bad"],
)
def test_source_mega_refuses_other_airbyte_shapes_naming_the_file(
    airbyte_state: t.Any, problem: str, emulator: MegaEmulator, tmp_path: Path
) -> None:
    run = source(tmp_path, "read", tap_config(emulator), configured_catalog(), airbyte_state)

    assert run.returncode == 1
    [error] = run.errors
    assert error["failure_type"] == "config_error"
    assert problem in error["message"]
    assert str(tmp_path / "state.json") in error["message"]
    assert emulator.request_count == 0


def test_source_mega_refuses_another_accounts_state(
    make_emulator: Callable[..., MegaEmulator], tmp_path: Path
) -> None:
    first = make_emulator(n_leads=120, seed=3)
    second = make_emulator(n_leads=120, seed=4, customer_id=str(uuid.uuid4()))
    synced = source(tmp_path, "read", tap_config(first), configured_catalog())
    assert synced.returncode == 0, synced.stderr

    run = source(
        tmp_path, "read", tap_config(second), configured_catalog(), per_stream_state(synced)
    )

    assert run.returncode == 1
    [error] = run.errors
    assert error["failure_type"] == "config_error"
    assert first.customer_id in error["message"]
    assert second.customer_id in error["message"]
    assert second.request_count == 0


@pytest.mark.parametrize("text", ["", "  \n\t\n", "null"], ids=["zero-bytes", "blank", "null"])
def test_an_empty_state_file_is_refused_naming_it_not_a_silent_full_read(
    text: str, emulator: MegaEmulator, tmp_path: Path
) -> None:
    """Meltano passes --state only when its file has data: an empty one is a mistake."""
    path = tmp_path / "empty-state.json"
    path.write_text(text)

    done = run_cli(tap_config(emulator), tmp_path, "--state", str(path))
    read = source_process(
        [
            "read",
            "--config",
            str(tmp_path / "config.json"),
            "--catalog",
            str(write_catalog(tmp_path)),
            "--state",
            str(path),
        ]
    )

    line = assert_one_line_failure(
        done.returncode, done.stderr, str(path), "is empty", "run without it"
    )
    assert done.stderr.rstrip("\n").splitlines()[-1] == line
    assert done.stdout == ""
    assert read.returncode == 1
    [error] = read.errors
    assert str(path) in error["message"]
    assert "is empty" in error["message"]
    assert error["failure_type"] == "config_error"
    assert read.records == []
    assert emulator.request_count == 0


def write_catalog(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(configured_catalog()))
    return path


OTHER_ACCOUNT_STATE = {
    "bookmarks": {
        "leads": {
            "replication_key": "updated_at",
            "replication_key_value": "2026-01-01T00:00:00Z",
            "account": {
                "customer_id": "00000000-0000-4000-8000-0000000000aa",
                "api_host": "127.0.0.1",
            },
        }
    }
}


@pytest.mark.parametrize(
    ("state", "fragment"),
    [
        ({"type": "RECORD", "stream": "leads", "record": {"id": "x"}}, "a RECORD message"),
        ([{"bookmarks": {}}], "a list"),
        ({"bookmarks": 5}, "`bookmarks` is a number"),
        (
            {
                "bookmarks": {
                    "lead": {
                        "replication_key": "updated_at",
                        "replication_key_value": "2026-01-01T00:00:00Z",
                    }
                }
            },
            "no stream of tap-mega",
        ),
        (OTHER_ACCOUNT_STATE, "00000000-0000-4000-8000-0000000000aa"),
    ],
    ids=["record-line", "list", "bookmarks-number", "other-stream", "other-account"],
)
def test_test_mode_checks_the_state_too(
    state: t.Any, fragment: str, emulator: MegaEmulator, tmp_path: Path
) -> None:
    """`--test` before `--state`: click ran the SDK's test before it read the state."""
    done = run_cli(tap_config(emulator), tmp_path, "--test", state=state)

    assert_one_line_failure(done.returncode, done.stderr, fragment)
    assert done.stdout == ""
    assert emulator.request_count == 0


def test_test_mode_with_a_good_state_still_tests(emulator: MegaEmulator, tmp_path: Path) -> None:
    state = synced_state(emulator, tmp_path)
    before = emulator.request_count

    done = run_cli(tap_config(emulator), tmp_path, "--test", state=state)

    assert done.returncode == 0, done.stderr
    assert len(done.result.records) == 1
    assert not [m for m in done.result.messages if m["type"] == "STATE"]
    assert emulator.request_count == before + 1


def meltano_run_dir(
    tmp_path: Path, config: dict[str, t.Any], state: dict[str, t.Any], *, state_first: bool
) -> tuple[Path, Path]:
    """Meltano's run directory: the config file it writes per command, and state.json."""
    run_dir = tmp_path / ".meltano" / "run" / "tap-mega"
    run_dir.mkdir(parents=True)
    config_path = run_dir / f"tap.{uuid.uuid4()}.config.json"
    state_path = run_dir / "state.json"
    config_path.write_text(json.dumps(config))
    state_path.write_text(json.dumps(state))
    older, newer = (state_path, config_path) if state_first else (config_path, state_path)
    os.utime(older, ns=(newer.stat().st_mtime_ns - 10**9,) * 2)
    return config_path, state_path


@pytest.mark.parametrize("mode", ["--test", "--discover"])
def test_a_state_meltano_left_from_an_earlier_command_is_ignored_with_a_warning(
    mode: str, emulator: MegaEmulator, tmp_path: Path
) -> None:
    """`meltano invoke tap-mega --test` passes the state.json of whichever run was last."""
    config_path, state_path = meltano_run_dir(
        tmp_path, tap_config(emulator), OTHER_ACCOUNT_STATE, state_first=True
    )

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tap_mega.cli.main",
            "--config",
            str(config_path),
            "--state",
            str(state_path),
            mode,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert f"Ignoring --state {state_path}: the state an earlier Meltano command left" in (
        done.stderr
    )
    assert emulator.request_count == (1 if mode == "--test" else 0)


def test_a_state_meltano_looked_up_for_this_command_is_checked(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    """`meltano run` writes the config, then looks the state up: state.json is newer."""
    config = tap_config(emulator)
    del config["custom_fields_schema"]
    config_path, state_path = meltano_run_dir(
        tmp_path, config, OTHER_ACCOUNT_STATE, state_first=False
    )

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tap_mega.cli.main",
            "--config",
            str(config_path),
            "--state",
            str(state_path),
            "--discover",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert_one_line_failure(done.returncode, done.stderr, "00000000-0000-4000-8000-0000000000aa")
    assert emulator.request_count == 0
