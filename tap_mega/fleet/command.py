"""`python3 dev.py fleet --accounts FILE [--max-concurrent N] [--ui]`: every account once.

Each account is one Dagster run of the `leads` asset for its partition,
executed in this process (no daemon, no webserver), up to N at a time; one
line per account is printed as it finishes, and the exit code is 0 only when
every account succeeded. The runs land in the same Dagster instance the UI
(`--ui`) reads, so their logs and metadata are there afterwards.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import sys
import time
import typing as t
import urllib.request
import warnings
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from tap_mega.cli.argtypes import whole_number
from tap_mega.fleet.accounts import Account, AccountsFileError, load_accounts
from tap_mega.fleet.processes import GroupRun
from tap_mega.fleet.settings import FleetSettings, ignored_api_url_line
from tap_mega.redaction import redact

if t.TYPE_CHECKING:
    from collections.abc import Sequence

    import dagster as dg

DEFAULT_MAX_CONCURRENT = 4
DEFAULT_UI_PORT = 3000
UI_HOST = "127.0.0.1"
#: Seconds `dagster dev` gets to answer on its port (it loads the definitions first).
UI_START_TIMEOUT = 180.0
HTTP_OK = 200
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
# The console logger's DEBUG events would bury the one line per account.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass(frozen=True)
class Outcome:
    """One account's run as Dagster recorded it: every attempt's leads and requests summed."""

    account: str
    ok: bool
    leads: int
    requests: int
    reason: str | None
    stopped_early: bool
    eta: str | None

    def line(self, width: int) -> str:
        """`acme  ok      1,234 leads  13 requests` plus why it failed or stopped early."""
        status = "ok" if self.ok else "failed"
        text = (
            f"{self.account:<{width}}  {status:<6}  {self.leads:>9,} leads  "
            f"{self.requests:>6,} requests"
        )
        if not self.ok:
            return f"{text}  {self.reason}"
        if self.stopped_early:
            return f"{text}  stopped early by the request budget, ETA {self.eta or 'unknown'}"
        return text


def parser() -> argparse.ArgumentParser:
    """The command's options."""
    result = argparse.ArgumentParser(
        prog="python3 dev.py fleet",
        description="Sync every MEGA account in an accounts file once, on Dagster in-process.",
    )
    result.add_argument(
        "--accounts",
        type=Path,
        required=True,
        metavar="FILE",
        help="the accounts file (YAML, see README: Many accounts)",
    )
    result.add_argument(
        "--max-concurrent",
        type=whole_number("a whole number of at least 1", 1),
        default=DEFAULT_MAX_CONCURRENT,
        metavar="N",
        help="accounts run at the same time (default 4)",
    )
    result.add_argument(
        "--ui",
        action="store_true",
        help="start the Dagster UI (and its daemon) on the same definitions",
    )
    result.add_argument(
        "--port",
        type=whole_number("a port from 1 to 65535", 1, 65535),
        default=DEFAULT_UI_PORT,
        help="the UI's port on 127.0.0.1 (default 3000)",
    )
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Check the accounts file, then run the fleet or start the UI."""
    args = parser().parse_args(argv)
    base = FleetSettings.from_environment()
    settings = FleetSettings(
        accounts_file=args.accounts.resolve(),
        home=base.home,
        project=base.project,
        meltano=base.meltano,
        plugins=base.plugins,
    )
    try:
        accounts = load_accounts(settings.accounts_file, os.environ)
    except AccountsFileError as exc:
        print(f"fleet: error: {exc}", file=sys.stderr)  # noqa: T201 - the command's output
        return EXIT_BAD_INPUT
    if notice := ignored_api_url_line(settings.project):
        print(f"fleet: {notice}", file=sys.stderr, flush=True)  # noqa: T201
    if problem := meltano_problem(settings.meltano):
        print(f"fleet: error: {problem}", file=sys.stderr)  # noqa: T201
        return EXIT_BAD_INPUT
    if args.ui and (problem := port_problem(args.port)):
        print(f"fleet: error: {problem}", file=sys.stderr)  # noqa: T201
        return EXIT_FAILURE
    os.environ.update(settings.environment())
    prepare_instance(settings, args.max_concurrent)
    if args.ui:
        return start_ui(settings, args.port)
    return run_fleet(settings, accounts, args.max_concurrent)


def meltano_problem(meltano: str) -> str | None:
    """Why the fleet cannot start Meltano, or None."""
    if os.sep in meltano and not Path(meltano).exists():
        return (
            f"Meltano not found at {meltano}; `python3 dev.py fleet` installs it into "
            ".venv-meltano, or set TAP_MEGA_FLEET_MELTANO"
        )
    return None


def prepare_instance(settings: FleetSettings, max_concurrent: int) -> None:
    """Write the instance's dagster.yaml: the run queue's limits, no telemetry.

    The UI's daemon enforces these for scheduled and launched runs: at most
    `max_concurrent` runs, and one per account (the partition tag's value).
    """
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    (settings.dagster_home / "dagster.yaml").write_text(
        "# Written by `dev.py fleet` on every start; edit the command line, not this file.\n"
        "run_queue:\n"
        f"  max_concurrent_runs: {max_concurrent}\n"
        "  tag_concurrency_limits:\n"
        "    - key: dagster/partition\n"
        "      value: {applyLimitPerUniqueValue: true}\n"
        "      limit: 1\n"
        "telemetry:\n"
        "  enabled: false\n",
        encoding="utf-8",
    )


def start_ui(settings: FleetSettings, port: int) -> int:
    """Run `dagster dev` on the same code location and instance until it stops.

    It runs in a process group of its own (webserver, daemon, code servers), so a
    stop signal to this command stops all of it and frees the port. The URL is
    printed once the webserver answers there, never before.
    """
    from tap_mega.fleet.definitions import register_partitions  # noqa: PLC0415 - heavy import

    with _instance(settings) as instance:
        names = [account.name for account in load_accounts(settings.accounts_file, os.environ)]
        register_partitions(instance, names)
    command = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-m",
        "tap_mega.fleet.definitions",
        "--host",
        UI_HOST,
        "--port",
        str(port),
    ]
    with GroupRun(command, env=dict(os.environ)) as ui:
        if ui_started(ui, port):
            print(f"Dagster UI on http://{UI_HOST}:{port} (Ctrl-C stops it)", flush=True)  # noqa: T201
            return ui.wait()
        if ui.signalled is not None:
            return ui.wait()
        code = ui.poll()
        why = (
            f"`dagster dev` exited with code {code}, its output is above"
            if code is not None
            else f"it did not answer within {UI_START_TIMEOUT:.0f} s"
        )
        print(  # noqa: T201
            f"fleet: error: the Dagster UI did not start on {UI_HOST}:{port}: {why}",
            file=sys.stderr,
        )
        return EXIT_FAILURE


def port_problem(port: int) -> str | None:
    """Why the UI cannot listen on `port`, or None: checked before anything starts."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the webserver binds: a port left in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((UI_HOST, port))
        except OSError as exc:
            return (
                f"port {port} on {UI_HOST} is already in use ({exc.strerror}): stop what "
                "listens there (another `dev.py fleet --ui`?) or choose another with --port"
            )
    return None


def ui_started(ui: GroupRun, port: int) -> bool:
    """Whether the webserver answers on `port` before `dagster dev` exits or is stopped."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + UI_START_TIMEOUT
    while ui.poll() is None and ui.signalled is None and time.monotonic() < deadline:
        try:
            with opener.open(f"http://{UI_HOST}:{port}/server_info", timeout=2) as answer:
                if answer.status == HTTP_OK:
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def run_fleet(settings: FleetSettings, accounts: list[Account], max_concurrent: int) -> int:
    """Every account once, `max_concurrent` at a time; 0 only if all succeeded."""
    from tap_mega.fleet.definitions import register_partitions  # noqa: PLC0415 - heavy import

    started = time.monotonic()
    width = max(len(account.name) for account in accounts)
    outcomes: list[Outcome] = []
    with _instance(settings) as instance:
        register_partitions(instance, [account.name for account in accounts])
    with worker_pool(max_concurrent) as pool:
        futures = {pool.submit(run_one, settings, account.name): account for account in accounts}
        for future in as_completed(futures):
            outcome = finished(future, futures[future])
            outcomes.append(outcome)
            line = outcome.line(width)
            for account in accounts:  # the net under "no token in any output"
                line = redact(line, account.token(os.environ))
            print(line, flush=True)  # noqa: T201 - progress as accounts finish
    ok = sum(outcome.ok for outcome in outcomes)
    elapsed = time.monotonic() - started
    print(f"fleet: {ok} of {len(outcomes)} accounts ok in {elapsed:.1f} s", flush=True)  # noqa: T201
    return 0 if ok == len(outcomes) else 1


def finished(future: Future[Outcome], account: Account) -> Outcome:
    """The worker's Outcome; a worker that died is that account's failure, not the fleet's."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - one account's bug must not stop the others
        reason = f"the fleet's worker failed: {type(exc).__name__}: {exc}"
        return Outcome(account.name, False, 0, 0, reason, stopped_early=False, eta=None)


def worker_pool(max_concurrent: int) -> ProcessPoolExecutor:
    """Processes for the runs, forked from a server that has imported Dagster once.

    Processes, not threads: Dagster reconfigures Python logging
    (`logging.config.dictConfig`) as each run starts, which deadlocks against
    another run logging in the same process, so a worker runs its accounts one
    after the other. A fork server pays Dagster's import once instead of once
    per worker, and has no threads to fork.
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["tap_mega.fleet.definitions"])
    return ProcessPoolExecutor(max_workers=max_concurrent, mp_context=context)


def run_one(settings: FleetSettings, name: str) -> Outcome:
    """One Dagster run of one account's partition (in a worker process), as an Outcome."""
    from tap_mega.fleet.definitions import JOB_NAME, build_definitions  # noqa: PLC0415

    job = build_definitions(settings).resolve_job_def(JOB_NAME)
    with _instance(settings) as instance, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = job.execute_in_process(
            run_config=QUIET_RUN_CONFIG,
            instance=instance,
            partition_key=name,
            raise_on_error=False,
        )
        return outcome_of(name, result, instance)


def outcome_of(
    name: str, result: dg.ExecuteInProcessResult, instance: dg.DagsterInstance
) -> Outcome:
    """Read the run back from the instance, as the UI shows it.

    Every attempt's observation is summed (a retried attempt spent requests
    too); the last one says how the run ended.
    """
    events = [
        record.dagster_event
        for record in instance.all_logs(result.run_id)
        if record.dagster_event is not None
    ]
    attempts: list[dict[str, t.Any]] = [
        {
            key: value.value
            for key, value in event.asset_observation_data.asset_observation.metadata.items()
        }
        for event in events
        if event.event_type_value == "ASSET_OBSERVATION"
    ]
    last = attempts[-1] if attempts else {}
    return Outcome(
        account=name,
        ok=result.success,
        leads=sum(_count(attempt, "leads_emitted") for attempt in attempts),
        requests=sum(_count(attempt, "requests") for attempt in attempts),
        reason=None if result.success else failure_reason(events, last),
        stopped_early=bool(last.get("stopped_early")),
        eta=t.cast("str | None", last.get("eta")),
    )


def _count(metadata: dict[str, t.Any], key: str) -> int:
    value = metadata.get(key)
    return value if isinstance(value, int) else 0


def failure_reason(events: list[dg.DagsterEvent], last: dict[str, t.Any]) -> str:
    """The tap's one line when the run got that far, else Dagster's description."""
    if last.get("reason"):
        return str(last["reason"])
    for event in reversed(events):
        if event.is_step_failure and event.step_failure_data is not None:
            data = event.step_failure_data
            if data.user_failure_data is not None and data.user_failure_data.description:
                return data.user_failure_data.description
            if data.error is not None:
                return data.error.message.strip().splitlines()[-1]
    return "the Dagster run failed before the account's sync started"


class _instance:  # noqa: N801 - a context manager
    """The fleet's persistent Dagster instance (DAGSTER_HOME under the fleet's home)."""

    def __init__(self, settings: FleetSettings) -> None:
        self._settings = settings
        self._instance: dg.DagsterInstance | None = None

    def __enter__(self) -> dg.DagsterInstance:
        import dagster as dg  # noqa: PLC0415 - heavy import

        self._instance = dg.DagsterInstance.from_config(str(self._settings.dagster_home))
        return self._instance

    def __exit__(self, *_exc: object) -> None:
        if self._instance is not None:
            self._instance.dispose()
