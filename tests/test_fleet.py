"""`python3 dev.py fleet`: many accounts, one emulator each, into a real PostgreSQL.

Each account has its own emulator (own token, own customer), its own schema
`tap_mega_NAME`, and the fleet's own folder under tmp_path, so nothing here
touches the user's .fleet, .meltano or another test's rows. Account names get
a random suffix because other sessions may share the database.
"""

from __future__ import annotations

import itertools as it
import math
import re
import subprocess
import sys
import threading
import time
import typing as t
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tap_mega.testing.emulator import Fault, RateWindow
from tests.helpers.meltano import Postgres, change_leads, postgres_leads, reachable_pg_env, truth
from tests.helpers.sync import SAMPLE

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tap_mega.testing.emulator import MegaEmulator
    from tap_mega.testing.emulator.wire import RecordedRequest
    from tests.helpers.meltano import MeltanoProject

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

LINE = re.compile(
    r"^(?P<name>[a-z0-9_]+)\s+(?P<status>ok|failed)\s+(?P<leads>[\d,]+) leads\s+"
    r"(?P<requests>[\d,]+) requests(?:\s+(?P<reason>.+))?$"
)


@dataclass
class FleetAccount:
    name: str
    emulator: MegaEmulator
    token_env: str
    #: More fields of its entry in the accounts file.
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def schema(self) -> str:
        return f"tap_mega_{self.name}"


@dataclass
class FleetRun:
    code: int
    stdout: str
    stderr: str

    def lines(self) -> dict[str, dict[str, str]]:
        """The one line per account, parsed; fails on any other line but the summary."""
        parsed: dict[str, dict[str, str]] = {}
        for line in self.stdout.splitlines():
            if line.startswith("fleet: "):
                continue
            match = LINE.match(line)
            assert match, f"unexpected output line: {line!r}"
            parsed[match["name"]] = match.groupdict()
        return parsed


def assert_custom_field_sample(request: RecordedRequest) -> None:
    """The one request discovery makes: the 100 most recently updated leads, custom fields."""
    assert request.params == SAMPLE


@pytest.fixture
def pg_env() -> dict[str, str]:
    return reachable_pg_env()


class Fleet:
    """Accounts with their emulators, the accounts file, and `dev.py fleet` runs."""

    def __init__(
        self,
        tmp_path: Path,
        plugins: Path,
        pg_env: dict[str, str],
        make_emulator: Callable[..., MegaEmulator],
    ) -> None:
        self.tmp_path = tmp_path
        self.plugins = plugins
        self.pg_env = pg_env
        self.make_emulator = make_emulator
        self.accounts: list[FleetAccount] = []
        self.tokens: dict[str, str] = {}
        self.suffix = uuid.uuid4().hex[:8]

    def add(self, label: str, n_leads: int, seed: int) -> FleetAccount:
        name = f"{label}_{self.suffix}"
        emulator = self.make_emulator(
            n_leads=n_leads,
            seed=seed,
            token=f"mega_fleet_{uuid.uuid4().hex}",
            customer_id=str(uuid.uuid4()),
        )
        account = FleetAccount(name, emulator, f"MEGA_TOKEN_{name.upper()}")
        self.tokens[account.token_env] = emulator.token
        self.accounts.append(account)
        return account

    def write_file(self) -> Path:
        path = self.tmp_path / "accounts.yml"
        lines = ["accounts:"]
        for account in self.accounts:
            lines += [
                f"  - name: {account.name}",
                f"    customer_id: {account.emulator.customer_id}",
                f"    token_env: {account.token_env}",
                f"    api_url: {account.emulator.url}",
                *(f"    {key}: {value}" for key, value in account.fields.items()),
            ]
        path.write_text("\n".join(lines) + "\n")
        return path

    def run(self, *args: str) -> FleetRun:
        env = {
            **self.pg_env,
            **self.tokens,
            "MELTANO_SYS_DIR_ROOT": str(self.plugins),
            "TAP_MEGA_FLEET_HOME": str(self.tmp_path / "fleet-home"),
            "TAP_MEGA_FLEET_RETRY_DELAY": "1",
            "TARGET_POSTGRES_HOST": self.pg_env["PGHOST"],
            "TARGET_POSTGRES_PORT": self.pg_env["PGPORT"],
            "TARGET_POSTGRES_USER": self.pg_env["PGUSER"],
            "TARGET_POSTGRES_PASSWORD": self.pg_env["PGPASSWORD"],
            "TARGET_POSTGRES_DATABASE": self.pg_env["PGDATABASE"],
        }
        completed = subprocess.run(
            [
                sys.executable,
                str(ROOT / "dev.py"),
                "fleet",
                "--accounts",
                str(self.write_file()),
                *args,
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        output = completed.stdout + completed.stderr
        for token in self.tokens.values():
            assert token not in output
        assert not any(
            token in path.read_text()
            for token in self.tokens.values()
            for path in (self.tmp_path / "fleet-home").rglob("*.log")
        )
        return FleetRun(completed.returncode, completed.stdout, completed.stderr)

    def database(self, account: FleetAccount) -> Postgres:
        return Postgres(self.pg_env, account.schema)


@pytest.fixture
def fleet(
    tmp_path: Path,
    meltano_project: MeltanoProject,
    pg_env: dict[str, str],
    make_emulator: Callable[..., MegaEmulator],
) -> Iterator[Fleet]:
    result = Fleet(tmp_path, meltano_project.sys_dir, pg_env, make_emulator)
    yield result
    for account in result.accounts:
        result.database(account).query(f"drop schema if exists {account.schema} cascade")


def test_one_refused_token_fails_alone_then_every_account_goes_on_from_its_bookmark(
    fleet: Fleet,
) -> None:
    acme = fleet.add("acme", n_leads=1200, seed=1)
    bolt = fleet.add("bolt", n_leads=800, seed=2)
    bolt.fields["reconcile_deletes"] = "false"  # its own; the others keep meltano.yml's mirror
    cove = fleet.add("cove", n_leads=500, seed=3)
    right_token = cove.emulator.token
    fleet.tokens[cove.token_env] = f"mega_revoked_{uuid.uuid4().hex}"

    first = fleet.run()

    assert first.code != 0
    lines = first.lines()
    assert set(lines) == {acme.name, bolt.name, cove.name}
    for account, count in ((acme, 1200), (bolt, 800)):
        assert lines[account.name]["status"] == "ok"
        assert lines[account.name]["leads"] == f"{count:,}"
        assert int(lines[account.name]["requests"]) == account.emulator.request_count
        assert postgres_leads(fleet.database(account)) == truth(account.emulator)
    refused = lines[cove.name]
    assert refused["status"] == "failed"
    assert refused["reason"].startswith("MEGA did not accept the credentials (401")
    # A 401 (here on discovery's custom-field sample) is not retried: one request, one attempt.
    assert cove.emulator.request_count == 1
    assert_custom_field_sample(cove.emulator.requests[0])
    assert refused["requests"] == "1"
    # The 401 answers discovery's sample, before Meltano starts the target: no table, no row.
    assert fleet.database(cove).query(f"select to_regclass('{cove.schema}.leads') is null") == "t"

    fleet.tokens[cove.token_env] = right_token
    deleted = set(acme.emulator.delete_leads(count=30, seed=9))  # all loaded by the first run
    change_leads(acme.emulator)
    change_leads(bolt.emulator)
    before = {account.name: account.emulator.request_count for account in fleet.accounts}

    second = fleet.run()

    assert second.code == 0, second.stdout + second.stderr
    lines = second.lines()
    assert {line["status"] for line in lines.values()} == {"ok"}
    walks = {}
    for account in (acme, bolt):
        sample, *pages = account.emulator.requests[before[account.name] :]
        # `meltano run` discovers first: the custom-field sample spends one request too.
        assert_custom_field_sample(sample)
        walk = list(it.takewhile(lambda request: "updated_since" in request.params, pages))
        # From its own bookmark, not from the start.
        assert 1 <= len(walk) <= 2
        walks[account.name] = (walk, pages[len(walk) :])
        assert int(lines[account.name]["requests"]) == 1 + len(pages)
    # acme has the project's mirror: the check (2 requests, its baseline from the
    # state Meltano kept) saw 30 leads go, a pass over every live lead retired them,
    # and the check after the pass (2 more) counted again.
    rest = walks[acme.name][1]
    checks, reconcile, after = rest[:2], rest[2:-2], rest[-2:]
    assert [request.params["sort_by"] for request in checks + after] == ["created_at"] * 4
    assert len(reconcile) == math.ceil(len(acme.emulator.leads) / 100)
    loaded = postgres_leads(fleet.database(acme))
    assert {key: row for key, row in loaded.items() if key not in deleted} == truth(acme.emulator)
    retired = fleet.database(acme).rows(
        f"select id from {acme.schema}.leads where _sdc_deleted_at is not null"
    )
    assert {row["id"] for row in retired} == deleted
    # bolt turned it off in the accounts file: no check, no pass.
    assert walks[bolt.name][1] == []
    assert postgres_leads(fleet.database(bolt)) == truth(bolt.emulator)
    assert postgres_leads(fleet.database(cove)) == truth(cove.emulator)
    assert lines[cove.name]["leads"] == "500"


def test_twelve_accounts_four_at_a_time_all_load(fleet: Fleet) -> None:
    accounts = [
        fleet.add(f"a{index:02d}", n_leads=300 + 25 * index, seed=index) for index in range(12)
    ]

    result = fleet.run("--max-concurrent", "4")

    assert result.code == 0, result.stdout + result.stderr
    lines = result.lines()
    assert len(lines) == 12
    for account in accounts:
        assert lines[account.name]["status"] == "ok"
        assert int(lines[account.name]["requests"]) == account.emulator.request_count
        assert postgres_leads(fleet.database(account)) == truth(account.emulator)
    assert "fleet: 12 of 12 accounts ok" in result.stdout


def test_two_runs_of_one_account_never_overlap(fleet: Fleet) -> None:
    acme = fleet.add("acme", n_leads=300, seed=4)
    # The first run's first request hangs a while: the second run starts meanwhile.
    acme.emulator.add_fault(Fault("slow", at_request=1, seconds=8))
    runs: list[FleetRun] = []
    first = threading.Thread(target=lambda: runs.append(fleet.run()))
    first.start()
    deadline = time.monotonic() + 120
    while acme.emulator.request_count == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert acme.emulator.request_count == 1

    second = fleet.run()
    first.join(timeout=300)

    line = second.lines()[acme.name]
    assert second.code != 0
    assert line["status"] == "failed"
    assert line["reason"] == f"another run of account '{acme.name}' is still going; not started"
    assert line["requests"] == "0"
    assert runs[0].code == 0, runs[0].stdout + runs[0].stderr
    assert runs[0].lines()[acme.name]["leads"] == "300"
    # Every request the emulator saw belongs to the first run: one walk, in order.
    assert acme.emulator.request_count == int(runs[0].lines()[acme.name]["requests"])
    assert postgres_leads(fleet.database(acme)) == truth(acme.emulator)


def test_a_run_that_fails_on_a_bad_response_is_retried_and_counts_both_attempts(
    fleet: Fleet,
) -> None:
    acme = fleet.add("acme", n_leads=250, seed=5)
    acme.emulator.add_fault(Fault("bad_shape", at_request=1))

    result = fleet.run()

    assert result.code == 0, result.stdout + result.stderr
    line = result.lines()[acme.name]
    assert line["status"] == "ok"
    assert line["leads"] == "250"
    # The failed attempt's request (discovery's sample) spent the budget too: 1 + the
    # retry's sample, the reconcile baseline's count, 3 pages and the check after the pass.
    assert acme.emulator.request_count == 8
    assert line["requests"] == "8"
    # The retry is said as it is decided, not minutes later in the account's line.
    (retry,) = [text for text in result.stderr.splitlines() if text.startswith("fleet: acme")]
    assert re.fullmatch(
        rf"fleet: {acme.name}: attempt 1 of 3 failed: .+; next try in \d+ s", retry
    ), retry
    assert postgres_leads(fleet.database(acme)) == truth(acme.emulator)


def test_a_budget_stopped_account_is_ok_and_says_so(
    fleet: Fleet,
) -> None:
    acme = fleet.add("acme", n_leads=500, seed=6)
    acme.emulator = fleet.make_emulator(
        n_leads=500,
        seed=6,
        token=acme.emulator.token,
        customer_id=acme.emulator.customer_id,
        # Three requests per two hours: discovery's sample, the reconcile baseline's
        # count and one page; the fourth would wait longer than max_wait_seconds.
        rate_windows=[RateWindow(limit=3, seconds=7200)],
    )

    first = fleet.run()

    assert first.code == 0, first.stdout + first.stderr
    line = first.lines()[acme.name]
    assert line["status"] == "ok"
    assert line["leads"] == "100"
    assert line["reason"].startswith("stopped early by the request budget, ETA ")
    assert len(postgres_leads(fleet.database(acme))) == 100
    assert acme.emulator.request_count == 3
    assert line["requests"] == "3"
