"""`meltano run tap-mega <loader>` as users run it: real Meltano, real targets, real PostgreSQL.

One Meltano install (plugin venvs in a temporary .meltano folder) serves the
whole session; each test gets its own state database, emulator and warehouse
schema or file, so tests cannot see each other's bookmarks or rows.

PostgreSQL comes from PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE
(defaults 127.0.0.1, 5432, tap_mega, tap_mega, tap_mega: what `.ci/run` sets
up). Without a reachable server these tests skip locally and fail under CI=true.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import typing as t
import uuid
from pathlib import Path

import pytest

from tap_mega.state.lookback import DEFAULT_LOOKBACK_SECONDS
from tap_mega.timestamps import normalize_timestamp, parse_timestamp
from tests.helpers.meltano import (
    COMPARED,
    TIMESTAMPS,
    MeltanoProject,
    Postgres,
    change_leads,
    postgres_leads,
    reachable_pg_env,
    tap_env,
    truth,
)
from tests.helpers.sync import EMULATOR_CUSTOM_FIELDS

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tap_mega.testing.emulator import MegaEmulator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import dev  # noqa: E402 - dev.py is a script at the root, stdlib only

pytestmark = pytest.mark.slow


# --------------------------------------------------------------------------- #
# Meltano
# --------------------------------------------------------------------------- #


def meltano_run(project: MeltanoProject, loader: str, env: dict[str, str]) -> None:
    completed = project.run("run", "tap-mega", loader, env=env)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert env["TAP_MEGA_TOKEN"] not in completed.stdout + completed.stderr


def meltano_bookmark(project: MeltanoProject, state_id: str, env: dict[str, str]) -> str:
    completed = project.run("state", "get", state_id, env=env)
    assert completed.returncode == 0, completed.stderr[-3000:]
    state = json.loads(completed.stdout)
    value = state["singer_state"]["bookmarks"]["leads"]["replication_key_value"]
    return t.cast("str", value)


# --------------------------------------------------------------------------- #
# PostgreSQL
# --------------------------------------------------------------------------- #


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    """A fresh schema in the test database; skipped locally without a server, failed in CI."""
    database = Postgres(reachable_pg_env(), f"e2e_{uuid.uuid4().hex[:10]}")
    # A server whose default zone is not UTC, as many are: timestamps must still
    # land as the same instants. (The test user's own default, reset afterwards.)
    database.query("alter role current_user set timezone = 'America/New_York'")
    try:
        yield database
    finally:
        database.query("alter role current_user reset timezone")
        database.query(f"drop schema if exists {database.schema} cascade")


@pytest.mark.postgres
def test_meltano_run_into_postgres_then_incremental_changes(
    meltano_project: MeltanoProject,
    make_emulator: Callable[..., MegaEmulator],
    postgres: Postgres,
    tmp_path: Path,
) -> None:
    emulator = make_emulator(n_leads=2500, seed=41)
    env = meltano_project.env(tmp_path / "meltano.db", **tap_env(emulator), **postgres.target_env())
    state_id = "dev:tap-mega-to-target-postgres"

    meltano_run(meltano_project, "target-postgres", env)

    assert postgres_leads(postgres) == truth(emulator)
    counts = postgres.rows(
        f"select count(*) as n, count(distinct id) as ids from {postgres.schema}.leads",
    )
    assert counts == [{"n": 2500, "ids": 2500}]
    # The nested objects are jsonb a user can query with ->> and ?.
    won_by_stage = postgres.rows(
        f"select current_stage->>'slug' as slug, count(*) as n from {postgres.schema}.leads "
        "where custom_fields ? 'lead_line' and owner->>'id' is not null group by 1 order by 1",
    )
    expected: dict[str | None, int] = {}
    for lead in emulator.leads:
        if "lead_line" in (lead["custom_fields"] or {}) and lead["owner"] is not None:
            slug = (lead["current_stage"] or {}).get("slug")
            expected[slug] = expected.get(slug, 0) + 1
    assert {row["slug"]: row["n"] for row in won_by_stage} == expected
    first_bookmark = meltano_bookmark(meltano_project, state_id, env)
    assert first_bookmark == max(row["updated_at"] for row in truth(emulator).values())

    flagged, won, added = change_leads(emulator)
    requests_before = emulator.request_count
    meltano_run(meltano_project, "target-postgres", env)

    sample, *walk, check_since, check_all = emulator.requests[requests_before:]
    # Meltano's discovery: one request for the custom fields, before the sync's walk.
    assert sample.params["sort_dir"] == "desc"
    assert all(request.params["sort_dir"] == "asc" for request in walk)
    # After the walk, the reconcile check's two counts; no lead vanished, so no pass.
    assert "created_since" in check_since.params
    assert "created_since" not in check_all.params
    assert {(r.params["sort_by"], r.params["sort_dir"]) for r in (check_since, check_all)} == {
        ("created_at", "desc")
    }
    # The default lookback re-reads the last minutes; the merge on `id` absorbs them.
    assert parse_timestamp(walk[0].params["updated_since"]) == parse_timestamp(
        first_bookmark
    ) - dt.timedelta(seconds=DEFAULT_LOOKBACK_SECONDS)
    loaded = postgres_leads(postgres)
    assert loaded == truth(emulator)
    assert len(loaded) == 2550
    assert all(loaded[i]["custom_fields"]["e2e_flag"] == "changed" for i in flagged)
    assert all(loaded[i]["status"] == "won" and loaded[i]["score"] == 99 for i in won)
    assert set(added) <= set(loaded)
    counts = postgres.rows(
        f"select count(*) as n, count(distinct id) as ids from {postgres.schema}.leads",
    )
    assert counts == [{"n": 2550, "ids": 2550}]
    assert meltano_bookmark(meltano_project, state_id, env) == max(
        row["updated_at"] for row in truth(emulator).values()
    )


def column_types(database: Postgres, table: str) -> dict[str, str]:
    rows = database.rows(
        "select column_name, data_type from information_schema.columns "
        f"where table_schema = '{database.schema}' and table_name = '{table}'",
    )
    return {row["column_name"]: row["data_type"] for row in rows}


@pytest.mark.postgres
def test_readme_custom_fields_schema_command_sets_the_setting(
    meltano_project: MeltanoProject,
    tmp_path: Path,
) -> None:
    """README's `meltano config ... custom_fields_schema` line, pasted as it is."""
    import shlex  # noqa: PLC0415 - only this test

    import yaml  # noqa: PLC0415 - only this test

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    [line] = [
        row
        for row in readme.splitlines()
        if row.startswith("meltano config") and "custom_fields_schema" in row
    ]
    shutil.copy(ROOT / "meltano.yml", tmp_path / "meltano.yml")  # config set rewrites it
    env = meltano_project.env(tmp_path / "meltano.db")

    completed = meltano_project.run(*shlex.split(line)[1:], env=env, cwd=tmp_path)

    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    project = yaml.safe_load((tmp_path / "meltano.yml").read_text(encoding="utf-8"))
    [tap] = [p for p in project["plugins"]["extractors"] if p["name"] == "tap-mega"]
    assert tap["config"]["custom_fields_schema"] == {
        "budget": "number",
        "preapproved": "boolean",
        "timeline": "string",
    }


def test_columns_environment_loads_each_custom_field_as_a_typed_column(
    meltano_project: MeltanoProject,
    make_emulator: Callable[..., MegaEmulator],
    postgres: Postgres,
    tmp_path: Path,
) -> None:
    emulator = make_emulator(n_leads=600, seed=44)
    env = meltano_project.env(tmp_path / "meltano.db", **tap_env(emulator), **postgres.target_env())
    completed = meltano_project.run(
        "--environment=columns", "run", "tap-mega", "target-postgres", env=env
    )
    assert completed.returncode == 0, completed.stderr[-3000:]

    types = column_types(postgres, "leads")
    assert "custom_fields" not in types
    assert {name: kind for name, kind in types.items() if name.startswith("custom_fields__")} == {
        "custom_fields__lead_line": "text",
        "custom_fields__budget": "bigint",
        "custom_fields__price_per_sqft": "numeric",
        "custom_fields__preapproved": "boolean",
        "custom_fields__timeline": "text",
        "custom_fields__notes": "text",
        "custom_fields__bedrooms": "text",  # integers and text: the mixed slug
        "custom_fields__preferred_contact": "text",  # only on recently updated leads
    }
    columns = ", ".join(f"custom_fields__{slug}" for slug in EMULATOR_CUSTOM_FIELDS)
    rows = postgres.rows(f"select id, {columns} from {postgres.schema}.leads")
    assert len(rows) == len(emulator.leads)
    loaded = {row["id"]: row for row in rows}
    for lead in emulator.leads:
        row = loaded[lead["id"]]
        for slug in EMULATOR_CUSTOM_FIELDS:
            value = lead["custom_fields"].get(slug)
            # The mixed slug lands as each value's JSON text: 3 as '3', studio as 'studio'.
            expected = json.dumps(value) if slug == "bedrooms" and isinstance(value, int) else value
            assert row[f"custom_fields__{slug}"] == expected, (lead["id"], slug)


# --------------------------------------------------------------------------- #
# The embedded default (DuckDB, no server)
# --------------------------------------------------------------------------- #
DUCKDB_DUMP = """
import json, sys
import duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
cur = con.execute("select * from tap_mega.leads")
names = [d[0] for d in cur.description]
print(json.dumps([dict(zip(names, row)) for row in cur.fetchall()], default=str))
"""


def duckdb_leads(project: MeltanoProject, path: Path) -> list[dict[str, t.Any]]:
    completed = subprocess.run(
        [str(project.loader_python("target-duckdb")), "-c", DUCKDB_DUMP, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return t.cast("list[dict[str, t.Any]]", json.loads(completed.stdout))


def as_loaded(row: dict[str, t.Any]) -> dict[str, t.Any]:
    """A DuckDB row in the emulator's terms: JSON text parsed, timestamps canonical UTC."""
    out = {name: row.get(name) for name in COMPARED}
    for name in ("custom_fields", "current_stage", "owner"):
        if isinstance(out[name], str):
            out[name] = json.loads(out[name])
    for name in TIMESTAMPS:
        if out[name] is not None:
            out[name] = normalize_timestamp(str(out[name]).replace(" ", "T"))
    return out


def test_embedded_default_keeps_every_lead_once_with_latest_values(
    meltano_project: MeltanoProject,
    make_emulator: Callable[..., MegaEmulator],
    tmp_path: Path,
) -> None:
    emulator = make_emulator(n_leads=2500, seed=43)
    warehouse = tmp_path / "warehouse.duckdb"
    # A machine whose local zone is not UTC must still store the same instants.
    env = meltano_project.env(
        tmp_path / "meltano.db",
        **tap_env(emulator),
        TARGET_DUCKDB_PATH=str(warehouse),
        TZ="America/New_York",
    )

    meltano_run(meltano_project, dev.EMBEDDED_LOADER, env)
    first = duckdb_leads(meltano_project, warehouse)
    assert len(first) == 2500
    assert {row["id"]: as_loaded(row) for row in first} == truth(emulator)

    change_leads(emulator)
    meltano_run(meltano_project, dev.EMBEDDED_LOADER, env)

    rows = duckdb_leads(meltano_project, warehouse)
    assert len(rows) == len(emulator.leads) == 2550
    assert {row["id"]: as_loaded(row) for row in rows} == truth(emulator)


def test_fresh_clone_meltano_run_into_duckdb_without_dev_py(
    meltano_project: MeltanoProject,
    make_emulator: Callable[..., MegaEmulator],
    tmp_path: Path,
) -> None:
    """The obvious command in a Meltano project, in a clone where dev.py never ran.

    The default loader path is `$MELTANO_PROJECT_ROOT/output/dev.duckdb`: DuckDB
    cannot create a file in a folder that does not exist, so the clone must bring
    `output/` with it. (The plugins come from the session's `meltano install`, as
    they would from the user's own `meltano install`.)
    """
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout")
    clone = tmp_path / "tap-mega"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    emulator = make_emulator(n_leads=300, seed=48)
    env = meltano_project.env(tmp_path / "meltano.db", **tap_env(emulator))

    completed = meltano_project.run("run", "tap-mega", dev.EMBEDDED_LOADER, env=env, cwd=clone)

    assert completed.returncode == 0, completed.stderr[-3000:]
    rows = duckdb_leads(meltano_project, clone / "output" / "dev.duckdb")
    assert {row["id"]: as_loaded(row) for row in rows} == truth(emulator)


# --------------------------------------------------------------------------- #
# A newcomer's path: a clean clone and the README's two commands
# --------------------------------------------------------------------------- #
def bare_python() -> str:
    """The interpreter behind this venv: what `python3` is on a fresh machine."""
    return getattr(sys, "_base_executable", sys.executable)


def test_newcomer_clone_then_readme_commands(
    tmp_path: Path,
    make_emulator: Callable[..., MegaEmulator],
) -> None:
    """`git clone`, `python3 dev.py sync`, `python3 dev.py test` in a clean clone.

    The clone's `dev.py test` runs a bounded selection (collection of the whole
    suite, then one fast file): the full suite would run this test again inside
    itself, and the suite is already running here. The clone also serves for
    `sync` after a pasted emulator `export` line, which must stay out of `dev`.
    """
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout")
    clone = tmp_path / "tap-mega"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TAP_MEGA_", "MELTANO_", "VIRTUAL_ENV"))
    }

    def readme_command(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [bare_python(), "dev.py", *args],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )

    synced = readme_command("sync")
    assert synced.returncode == 0, synced.stdout[-2000:] + synced.stderr[-2000:]
    assert f"rows: {dev.DEMO_LEADS} ({dev.DEMO_LEADS} distinct lead ids)" in synced.stdout
    assert "leads by status:" in synced.stdout
    assert '"replication_key_value"' in synced.stdout

    # A pasted emulator `export` line (issue 10): credentials and a loopback
    # api_url are a demo, never the `dev` environment a real account loads.
    account = make_emulator(
        n_leads=700,
        seed=47,
        token="mega_" + "5" * 64,
        customer_id=str(uuid.uuid4()),
    )
    env.update(tap_env(account))
    pasted = readme_command("sync")
    assert pasted.returncode == 0, pasted.stdout[-2000:] + pasted.stderr[-2000:]
    assert "syncing your MEGA account" not in pasted.stdout
    assert "is on this machine, an emulator" in pasted.stdout
    assert "Landed in output/demo.duckdb" in pasted.stdout
    assert not (clone / "output" / "dev.duckdb").exists()
    newest = max(normalize_timestamp(lead["updated_at"]) for lead in account.leads)
    assert "bookmark (demo:tap-mega-to-target-duckdb): " in pasted.stdout
    assert newest in pasted.stdout
    assert account.request_count >= 7, "a full read of its 700 leads"
    assert account.token not in pasted.stdout + pasted.stderr
    for name in ("TAP_MEGA_API_URL", "TAP_MEGA_TOKEN", "TAP_MEGA_CUSTOMER_ID"):
        del env[name]

    collected = readme_command("test", "--collect-only", "-q")
    assert collected.returncode == 0, collected.stdout[-2000:]
    tested = readme_command("test", "tests/test_timestamps.py", "-q")
    assert tested.returncode == 0, tested.stdout[-2000:]
    assert " passed" in tested.stdout


def test_embedded_default_after_sigkills_holds_exactly_the_emulator_leads(
    meltano_project: MeltanoProject,
    make_emulator: Callable[..., MegaEmulator],
    tmp_path: Path,
) -> None:
    """The crash test's output, each run piped into its own target-duckdb process.

    What a scheduler does after `kill -9`: the next run starts from the last STATE
    the target received; the warehouse ends with every lead exactly once.
    """
    from tests.helpers.crash import crash_and_resume  # noqa: PLC0415

    emulator = make_emulator(n_leads=8000, seed=44)
    target, kills = crash_and_resume(emulator, tmp_path, seed=3)
    assert kills >= 1
    warehouse = tmp_path / "warehouse.duckdb"
    config = tmp_path / "target-duckdb.json"
    config.write_text(json.dumps({"path": str(warehouse), "default_target_schema": "tap_mega"}))
    executable = meltano_project.sys_dir / "loaders" / dev.EMBEDDED_LOADER / "venv" / "bin"
    for lines in target.runs:
        loaded = subprocess.run(
            [str(executable / dev.EMBEDDED_LOADER), "--config", str(config)],
            input="".join(lines),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert loaded.returncode == 0, loaded.stderr[-3000:]

    rows = duckdb_leads(meltano_project, warehouse)
    assert len(rows) == len(emulator.leads) == 8000
    assert {row["id"]: as_loaded(row) for row in rows} == truth(emulator)


# --------------------------------------------------------------------------- #
# tap-mega-doctor through Meltano
# --------------------------------------------------------------------------- #
def test_meltano_invoke_doctor_reads_the_extractors_settings(
    meltano_project: MeltanoProject,
    make_emulator: Callable[..., MegaEmulator],
    tmp_path: Path,
) -> None:
    """`meltano invoke tap-mega:doctor`, as the README documents it: the plugin's own settings."""
    from tap_mega.testing.emulator import RateWindow  # noqa: PLC0415 - only this test

    emulator = make_emulator(
        n_leads=300, seed=49, rate_windows=[RateWindow(60, 60), RateWindow(1000, 3600)]
    )
    env = meltano_project.env(tmp_path / "meltano.db", **tap_env(emulator))

    completed = meltano_project.run("invoke", "tap-mega:doctor", "--json", env=env)

    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    report = json.loads(completed.stdout)
    assert report["summary"] == "all ok"
    assert report["sections"]["leads"][0]["data"]["total"] == 300
    assert emulator.request_count == report["requests"] <= 3
    assert emulator.token not in completed.stdout + completed.stderr


def test_meltano_invoke_doctor_counts_the_discovery_it_caused(
    meltano_project: MeltanoProject,
    make_emulator: Callable[..., MegaEmulator],
    tmp_path: Path,
) -> None:
    """With no argument of the user's, Meltano discovers first: that request is the doctor's."""
    from tap_mega.testing.emulator import RateWindow  # noqa: PLC0415 - only this test

    emulator = make_emulator(
        n_leads=300, seed=49, rate_windows=[RateWindow(60, 60), RateWindow(1000, 3600)]
    )
    env = meltano_project.env(tmp_path / "meltano.db", **tap_env(emulator))

    completed = meltano_project.run("invoke", "tap-mega:doctor", env=env)

    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    header = completed.stdout.splitlines()[0]
    spent = emulator.request_count
    assert f"({spent} requests: {spent - 1} by the doctor, 1 by Meltano's discovery" in header
    assert re.search(r"others +0 of 60 used", completed.stdout), completed.stdout
    assert emulator.token not in completed.stdout + completed.stderr


#: A Meltano project of its own, no plugin to install: the tap from this checkout as a
#: custom extractor, and a loader that hands each STATE back for Meltano to save.
ACCOUNT_PROJECT = """\
version: 1
project_id: 5b0c2f4e-1d7a-4c3b-9e8f-0a1b2c3d4e5f
send_anonymous_usage_stats: false
default_environment: dev
environments:
- name: dev
plugins:
  extractors:
  - name: tap-mega
    namespace: tap_mega
    executable: {tap}
    capabilities: [catalog, discover, state]
    settings:
    - name: token
      kind: password
    - name: customer_id
    - name: api_url
  loaders:
  - name: target-states
    namespace: target_states
    executable: {target}
"""
FORWARD_STATES = (
    "import json, sys\n"
    "for line in sys.stdin:\n"
    "    message = json.loads(line)\n"
    "    if message.get('type') == 'STATE':\n"
    "        print(json.dumps(message['value']), flush=True)\n"
)


def account_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    tap, target = project / "tap-mega", project / "target-states"
    # Meltano clears PYTHONPATH for its plugins: the script names this checkout itself.
    tap.write_text(
        f'#!/bin/sh\nPYTHONPATH={ROOT} exec {sys.executable} -m tap_mega.cli.main "$@"\n'
    )
    target.write_text(f"#!{sys.executable}\n{FORWARD_STATES}")
    for script in (tap, target):
        script.chmod(0o755)
    (project / "meltano.yml").write_text(ACCOUNT_PROJECT.format(tap=tap, target=target))
    return project


def test_another_accounts_state_stops_meltano_run_before_any_request(
    meltano_project: MeltanoProject,
    make_emulator: Callable[..., MegaEmulator],
    tmp_path: Path,
) -> None:
    """Meltano passes its state to discovery too: the sample must not go out first."""
    first = make_emulator(n_leads=50, seed=61)
    second = make_emulator(n_leads=50, seed=62, customer_id=str(uuid.uuid4()))
    project = account_project(tmp_path)
    base = dev.meltano_env(MELTANO_DATABASE_URI=f"sqlite:///{tmp_path / 'meltano.db'}")

    def meltano(emulator: MegaEmulator, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(meltano_project.executable), *args],
            cwd=project,
            env={**base, **tap_env(emulator)},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    synced = meltano(first, "run", "tap-mega", "target-states")
    assert synced.returncode == 0, synced.stderr[-3000:]
    assert first.request_count > 1  # discovery's sample, then the walk

    refused = meltano(second, "run", "tap-mega", "target-states")

    assert refused.returncode != 0
    assert f"the state is for customer {first.customer_id}" in refused.stderr
    assert second.request_count == 0
    assert second.token not in refused.stdout + refused.stderr

    # `invoke` passes the state.json that run left, though it looked nothing up for --test.
    tested = meltano(second, "invoke", "tap-mega", "--test")

    assert tested.returncode == 0, tested.stderr[-3000:]
    assert "Ignoring --state" in tested.stderr
    assert second.request_count == 1
