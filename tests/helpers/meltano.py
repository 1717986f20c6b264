"""Real Meltano and a real PostgreSQL, shared by the Meltano and fleet tests.

PostgreSQL comes from PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE
(defaults 127.0.0.1, 5432, tap_mega, tap_mega, tap_mega: what `.ci/run` sets
up). Without a reachable server the tests that need it skip locally and fail
under CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import typing as t
from dataclasses import dataclass
from pathlib import Path

import pytest

from tap_mega.timestamps import normalize_timestamp

if t.TYPE_CHECKING:
    from types import TracebackType

    from tap_mega.testing.emulator import MegaEmulator

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import dev  # noqa: E402 - dev.py is a script at the root, stdlib only

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_DEFAULTS = {
    "PGHOST": "127.0.0.1",
    "PGPORT": "5432",
    "PGUSER": "tap_mega",
    "PGPASSWORD": "tap_mega",
    "PGDATABASE": "tap_mega",
}
# What a lead looks like in a warehouse row: the fields a user queries.
COMPARED = (
    "id",
    "status",
    "score",
    "qualified",
    "interaction_count",
    "contact_name",
    "custom_fields",
    "current_stage",
    "owner",
    "created_at",
    "updated_at",
    "last_interaction_at",
)
TIMESTAMPS = ("created_at", "updated_at", "last_interaction_at")
#: The rows a user queries as MEGA's leads, once ACTIVATE_VERSION retires the others.
LIVE = "_sdc_deleted_at is null"


def expected_row(lead: dict[str, t.Any]) -> dict[str, t.Any]:
    """The emulator's lead as it should land: timestamps as canonical UTC instants."""
    row = {name: lead.get(name) for name in COMPARED}
    for name in TIMESTAMPS:
        if row[name] is not None:
            row[name] = normalize_timestamp(row[name])
    return row


def truth(emulator: MegaEmulator) -> dict[str, dict[str, t.Any]]:
    return {lead["id"]: expected_row(lead) for lead in emulator.leads}


def tap_env(emulator: MegaEmulator) -> dict[str, str]:
    """The tap's settings as a scheduler would pass them: environment variables."""
    return {
        "TAP_MEGA_API_URL": emulator.url,
        "TAP_MEGA_TOKEN": emulator.token,
        "TAP_MEGA_CUSTOMER_ID": emulator.customer_id,
    }


@dataclass
class MeltanoProject:
    """The repository's meltano.yml with plugins installed under `sys_dir`."""

    executable: Path
    sys_dir: Path

    def env(self, database: Path, **extra: str) -> dict[str, str]:
        return dev.meltano_env(
            MELTANO_SYS_DIR_ROOT=str(self.sys_dir),
            MELTANO_DATABASE_URI=f"sqlite:///{database}",
            **extra,
        )

    def run(
        self,
        *args: str,
        env: dict[str, str],
        cwd: Path = ROOT,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.executable), *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    def loader_python(self, loader: str) -> Path:
        return self.sys_dir / "loaders" / loader / "venv" / "bin" / "python"


def change_leads(emulator: MegaEmulator) -> tuple[list[str], list[str], list[str]]:
    """Update 100 leads (three kinds of change) and add 50, as a day in the CRM would."""
    ids = [lead["id"] for lead in emulator.leads]
    picked = ids[::25][:100]
    emulator.update_leads(ids=picked[:40], custom_fields={"e2e_flag": "changed"})
    emulator.update_leads(ids=picked[40:70], status="won", score=99)
    emulator.update_leads(ids=picked[70:])  # an interaction: count + 1, last_interaction_at
    added = [lead["id"] for lead in emulator.insert_leads(50, seed=5)]
    return picked[:40], picked[40:70], added


@dataclass
class Postgres:
    env: dict[str, str]
    schema: str

    def query(self, sql: str) -> str:
        completed = subprocess.run(
            ["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert completed.returncode == 0, completed.stderr
        return completed.stdout.strip()

    def rows(self, select: str) -> list[dict[str, t.Any]]:
        """Rows of a SELECT, through json_agg so JSON columns arrive as JSON."""
        text = self.query(f"select coalesce(json_agg(r), '[]') from ({select}) r")
        return t.cast("list[dict[str, t.Any]]", json.loads(text))

    def target_env(self) -> dict[str, str]:
        return {
            "TARGET_POSTGRES_HOST": self.env["PGHOST"],
            "TARGET_POSTGRES_PORT": self.env["PGPORT"],
            "TARGET_POSTGRES_USER": self.env["PGUSER"],
            "TARGET_POSTGRES_PASSWORD": self.env["PGPASSWORD"],
            "TARGET_POSTGRES_DATABASE": self.env["PGDATABASE"],
            "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": self.schema,
        }


def unreachable_reason(env: dict[str, str]) -> str | None:
    """Why PostgreSQL cannot be used, or None when `select 1` works."""
    if shutil.which("psql") is None:
        return "psql is not installed"
    completed = subprocess.run(
        ["psql", "-X", "-At", "-c", "select 1"],
        env={**env, "PGCONNECT_TIMEOUT": "5"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if completed.returncode != 0:
        lines = completed.stderr.strip().splitlines()
        return lines[0] if lines else "no answer"
    return None


def reachable_pg_env() -> dict[str, str]:
    """The PG* environment of the test server; skip locally without one, fail in CI."""
    env = dict(os.environ)
    for name, default in PG_DEFAULTS.items():
        env.setdefault(name, default)
    reason = unreachable_reason(env)
    if reason is not None:
        where = f"{env['PGUSER']}@{env['PGHOST']}:{env['PGPORT']}/{env['PGDATABASE']}"
        message = (
            f"PostgreSQL not reachable at {where} ({reason}). Run `bash .ci/run` once as "
            "root (installs and starts PostgreSQL with that user), or point PGHOST, PGPORT, "
            "PGUSER, PGPASSWORD, PGDATABASE at a server."
        )
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return env


def postgres_leads(
    database: Postgres,
    columns: t.Sequence[str] = COMPARED,
    where: str = "true",
) -> dict[str, dict[str, t.Any]]:
    """The loaded table's `columns` (`id` among them) by id, timestamps as canonical UTC instants.

    `where` narrows the rows: `_sdc_deleted_at is null` is what a user queries as live.
    """
    iso = """'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'"""
    selected = ", ".join(
        f"to_char({name}, {iso}) as {name}" if name in TIMESTAMPS else name for name in columns
    )
    rows = database.rows(f"select {selected} from {database.schema}.leads where {where}")
    return {row["id"]: row for row in rows}


def retired(database: Postgres) -> set[str]:
    """The ids of the rows stamped deleted."""
    rows = database.rows(f"select id from {database.schema}.leads where not ({LIVE})")
    return {row["id"] for row in rows}


def versions(database: Postgres, where: str = "true") -> set[int]:
    """The `_sdc_table_version`s among the rows `where` picks: which passes carried them."""
    rows = database.rows(
        f"select distinct _sdc_table_version as v from {database.schema}.leads where {where}"
    )
    return {row["v"] for row in rows}


class DeletionWatch:
    """Every id the table showed as deleted, sampled four times a second while runs go on.

    A live lead marked deleted and restored later in the same run is still
    wrong: reports read the table at any moment.
    """

    def __init__(self, database: Postgres) -> None:
        self.database = database
        self.seen: set[str] = set()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> DeletionWatch:  # noqa: PYI034 - typing.Self needs 3.11
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _watch(self) -> None:
        sql = f"select id from {self.database.schema}.leads where not ({LIVE})"
        while not self._stop.wait(0.25):
            completed = subprocess.run(
                ["psql", "-X", "-At", "-c", sql],
                env=self.database.env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if completed.returncode == 0:  # before the first load, there is no table
                self.seen.update(completed.stdout.split())
                self.samples += 1


def install_meltano(sys_dir: Path) -> MeltanoProject:
    """`meltano install` into `sys_dir`, out of the user's own .meltano folder."""
    return MeltanoProject(dev.ensure_meltano(sys_dir=sys_dir), sys_dir)
