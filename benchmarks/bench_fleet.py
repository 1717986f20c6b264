"""Benchmark: twelve accounts through `dev.py fleet`, four at a time against one at a time.

Each account has its own emulator (own token and customer) and lands in its own
schema of a real PostgreSQL. Both contenders do the same work: a first load of
every account into empty schemas, from a fresh fleet folder (no bookmarks).
The ratio is the serial wall time over the concurrent one.

Usage, from the repository root, with PostgreSQL as tests/test_fleet.py wants it
(PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE; defaults those of .ci/run):
    .venv/bin/python benchmarks/bench_fleet.py [--accounts 12] [--leads 2000] [--latency 0.5]

`--latency` makes every emulated page take that long, as MEGA's do over the
internet; with 0 the runs are pure CPU (Meltano, tap and target start-up),
which on a small machine leaves concurrency little to win.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import harness

from tap_mega.testing.emulator import Fault, MegaEmulator

ROOT = harness.HERE.parent
PG_DEFAULTS = {
    "PGHOST": "127.0.0.1",
    "PGPORT": "5432",
    "PGUSER": "tap_mega",
    "PGPASSWORD": "tap_mega",
    "PGDATABASE": "tap_mega",
}


def pg_env() -> dict[str, str]:
    env = dict(os.environ)
    for name, default in PG_DEFAULTS.items():
        env.setdefault(name, default)
    env.update(
        TARGET_POSTGRES_HOST=env["PGHOST"],
        TARGET_POSTGRES_PORT=env["PGPORT"],
        TARGET_POSTGRES_USER=env["PGUSER"],
        TARGET_POSTGRES_PASSWORD=env["PGPASSWORD"],
        TARGET_POSTGRES_DATABASE=env["PGDATABASE"],
    )
    return env


def drop_schemas(env: dict[str, str], names: list[str]) -> None:
    sql = "; ".join(f"drop schema if exists tap_mega_{name} cascade" for name in names)
    subprocess.run(["psql", "-X", "-q", "-c", sql], env=env, check=True, capture_output=True)


def write_accounts(path: Path, names: list[str], emulators: list[MegaEmulator]) -> dict[str, str]:
    lines, tokens = ["accounts:"], {}
    for name, emulator in zip(names, emulators, strict=True):
        variable = f"MEGA_TOKEN_{name.upper()}"
        tokens[variable] = emulator.token
        lines += [
            f"  - name: {name}",
            f"    customer_id: {emulator.customer_id}",
            f"    token_env: {variable}",
            f"    api_url: {emulator.url}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return tokens


def run_fleet(
    accounts: Path, env: dict[str, str], home: Path, concurrent: int
) -> tuple[float, str, int]:
    command = [
        "python3",
        "dev.py",
        "fleet",
        "--accounts",
        str(accounts),
        "--max-concurrent",
        str(concurrent),
    ]
    started = time.monotonic()
    completed = subprocess.run(
        command,
        cwd=ROOT,
        env={**env, "TAP_MEGA_FLEET_HOME": str(home)},
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    summary = completed.stdout.strip().splitlines()[-1] if completed.stdout.strip() else ""
    if completed.returncode != 0:
        print(completed.stdout, completed.stderr, file=sys.stderr)
    return seconds, summary, completed.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=12)
    parser.add_argument("--leads", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per page")
    args = parser.parse_args()
    suffix = uuid.uuid4().hex[:6]
    names = [f"bench{index:02d}_{suffix}" for index in range(args.accounts)]
    emulators = [
        MegaEmulator(
            n_leads=args.leads,
            seed=index,
            token=f"mega_bench_{uuid.uuid4().hex}",
            customer_id=str(uuid.uuid4()),
            rate_windows=[],
        ).start()
        for index in range(args.accounts)
    ]
    if args.latency > 0:
        for emulator in emulators:
            emulator.add_fault(Fault("slow", probability=1.0, seconds=args.latency))
    env = pg_env()
    rows = []
    try:
        with tempfile.TemporaryDirectory() as scratch:
            accounts = Path(scratch) / "accounts.yml"
            env.update(write_accounts(accounts, names, emulators))
            for concurrent in (1, 4):
                drop_schemas(env, names)
                home = Path(scratch) / f"home-{concurrent}"
                seconds, summary, code = run_fleet(accounts, env, home, concurrent)
                rows.append((concurrent, seconds, summary, code))
                print(f"--max-concurrent {concurrent}: {seconds:.1f} s, {summary}, exit {code}")
    finally:
        drop_schemas(env, names)
        for emulator in emulators:
            emulator.stop()
    serial = rows[0][1]
    table = "\n".join(
        f"| --max-concurrent {concurrent} | {seconds:.1f} s | {serial / seconds:.2f} | "
        f"{summary.removeprefix('fleet: ')} | {code} |"
        for concurrent, seconds, summary, code in rows
    )
    load = os.getloadavg()[0]
    harness.append_results(
        f"## Fleet: {args.accounts} accounts, {args.leads:,} leads each, "
        f"{args.latency:g} s per page, into PostgreSQL\n\n"
        f"{harness.machine()}; load average {load:.1f} at the end.\n\n"
        "`python3 dev.py fleet` on a fresh fleet folder and empty schemas each time;\n"
        "one emulator per account, no rate limit. Ratio: serial wall time / this one.\n\n"
        "| contender | wall time | ratio | result | exit |\n| --- | --- | --- | --- | --- |\n"
        f"{table}\n\n"
        "Each account's run is a `meltano run` (Meltano, tap and target start-up: several\n"
        "CPU-seconds) plus a Dagster run; with 2 cores, four at a time cannot be four\n"
        "times faster. The budget, not the machine, bounds a real account's sync.\n"
    )


if __name__ == "__main__":
    main()
