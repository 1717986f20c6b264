"""One account's sync: `meltano run tap-mega target-postgres` with that account's settings.

Each account gets its own token (and no other account's), its own warehouse
schema, its own state id suffix, and its own Meltano system folder
(MELTANO_SYS_DIR_ROOT): Meltano writes a run's state.json and catalog to fixed
names under `.meltano/run/`, and keeps state in one SQLite file, so two
accounts sharing one folder could read each other's bookmark or meet
"database is locked". The account's folder links to the shared plugin
installs (`extractors/`, `loaders/`), so nothing is installed twice.
A lock file per account keeps two runs of one account from ever overlapping,
whoever launched them.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import sqlite3
import subprocess
import time
import typing as t
from dataclasses import dataclass

from tap_mega.fleet.tapoutput import RunReport, read_report
from tap_mega.redaction import redact

if t.TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from tap_mega.fleet.accounts import Account

EXTRACTOR = "tap-mega"
LOADER = "target-postgres"
#: The Meltano environment the fleet's state ids live in.
ENVIRONMENT = "dev"
#: Settings each account sets for itself; inherited values would leak across accounts.
#: Set in the run's environment, they also win over the project's `.env` in Meltano.
ACCOUNT_VARIABLES = (
    "TAP_MEGA_TOKEN",
    "TAP_MEGA_CUSTOMER_ID",
    "TAP_MEGA_API_URL",
    "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA",
    "MELTANO_SYS_DIR_ROOT",
    "MELTANO_DATABASE_URI",
)
#: A shared state backend (s3://, gs://, ...) is passed through: state ids differ per account.
STATE_BACKEND_VARIABLE = "MELTANO_STATE_BACKEND_URI"
#: The folders of Meltano's system folder that hold plugin installs, shared by all accounts.
SHARED_FOLDERS = ("extractors", "loaders")


@dataclass(frozen=True)
class FleetPaths:
    """Where the fleet keeps its files, and the Meltano it runs."""

    home: Path
    project: Path
    meltano: str
    #: The Meltano system folder whose plugin installs every account uses.
    plugins: Path

    def system_folder(self, account: Account) -> Path:
        """The account's own Meltano system folder (MELTANO_SYS_DIR_ROOT)."""
        return self.home / "meltano" / account.name

    def system_database(self, account: Account) -> Path:
        """The account's own Meltano system database (its state and run history)."""
        return self.system_folder(account) / "meltano.db"

    def log_file(self, account: Account) -> Path:
        """Meltano's whole output for the account's last run, token redacted."""
        return self.home / "logs" / f"{account.name}.log"

    def lock_file(self, account: Account) -> Path:
        """The file whose lock one run of the account holds."""
        return self.home / "locks" / f"{account.name}.lock"


@dataclass(frozen=True)
class AccountResult:
    """How one account's run ended, ready for a line of output or asset metadata."""

    account: str
    ok: bool
    leads: int
    requests: int
    duration: float
    reason: str | None = None
    stopped_early: str | None = None
    eta: str | None = None
    bookmark: str | None = None
    retryable: bool = False


class AccountBusyError(Exception):
    """Another run of the same account holds its lock."""


def state_id(account: Account) -> str:
    """Meltano's state id for the account: `--state-id-suffix NAME` on the usual id."""
    return f"{ENVIRONMENT}:{EXTRACTOR}-to-{LOADER}:{account.name}"


def account_environment(
    account: Account, environ: Mapping[str, str], paths: FleetPaths, all_token_envs: set[str]
) -> dict[str, str]:
    """The environment of the account's `meltano run`: only its own token, its schema.

    Its api_url too, MEGA's when the file gives none: a TAP_MEGA_API_URL in the
    shell or in the project's `.env` (which Meltano reads, below the environment)
    names one account's URL and must not feed every account.
    """
    env = {
        name: value
        for name, value in environ.items()
        if name not in all_token_envs and name not in ACCOUNT_VARIABLES
    }
    env.update(
        TAP_MEGA_TOKEN=account.token(environ),
        TAP_MEGA_CUSTOMER_ID=account.customer_id,
        TAP_MEGA_API_URL=account.url,
        TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA=account.schema,
        MELTANO_PROJECT_ROOT=str(paths.project),
        MELTANO_SYS_DIR_ROOT=str(paths.system_folder(account)),
        MELTANO_DATABASE_URI=f"sqlite:///{paths.system_database(account)}",
        MELTANO_ENVIRONMENT=ENVIRONMENT,
        MELTANO_CLI_DISABLE_VERSION_CHECK="true",
        MELTANO_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    env.update(account.tap_settings)  # over the fleet's own, from the shell
    return env


def meltano_command(paths: FleetPaths, account: Account) -> list[str]:
    """The run, logging one JSON event per line so the tap's lines can be read back."""
    return [
        paths.meltano,
        "--log-format=json",
        "run",
        "--state-id-suffix",
        account.name,
        EXTRACTOR,
        LOADER,
    ]


def sync_account(
    account: Account,
    environ: Mapping[str, str],
    paths: FleetPaths,
    all_token_envs: set[str],
    *,
    timeout: float | None = None,
) -> AccountResult:
    """Run the account once; raise AccountBusyError if a run of it is already going."""
    token = account.token(environ)
    started = time.monotonic()
    with account_lock(paths.lock_file(account), account):
        prepare_system_folder(paths, account)
        completed = subprocess.run(  # noqa: S603 - our own meltano, arguments we built
            meltano_command(paths, account),
            cwd=paths.project,
            env=account_environment(account, environ, paths, all_token_envs),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    output = redact(completed.stdout + completed.stderr, token)
    paths.log_file(account).parent.mkdir(parents=True, exist_ok=True)
    paths.log_file(account).write_text(output, encoding="utf-8")
    report = read_report(output.splitlines())
    result = _result(account, paths, report, completed.returncode, time.monotonic() - started)
    if environ.get(STATE_BACKEND_VARIABLE):
        # The bookmark is in the shared backend, not in the account's SQLite file.
        return dataclasses.replace(result, bookmark=None)
    return result


def prepare_system_folder(paths: FleetPaths, account: Account) -> None:
    """The account's Meltano folder, its plugin folders linked to the shared installs."""
    folder = paths.system_folder(account)
    folder.mkdir(parents=True, exist_ok=True)
    for name in SHARED_FOLDERS:
        link, shared = folder / name, paths.plugins / name
        if link.is_symlink() and link.resolve() == shared.resolve():
            continue
        if link.is_symlink():
            link.unlink()
        link.symlink_to(shared, target_is_directory=True)


def _result(
    account: Account, paths: FleetPaths, report: RunReport, exit_code: int, duration: float
) -> AccountResult:
    ok = exit_code == 0
    return AccountResult(
        account=account.name,
        ok=ok,
        leads=report.leads,
        requests=report.requests,
        duration=duration,
        reason=None if ok else report.reason(exit_code),
        stopped_early=report.stopped_early,
        eta=report.eta,
        bookmark=read_bookmark(paths.system_database(account), state_id(account)),
        retryable=not ok and report.retryable(),
    )


class account_lock:  # noqa: N801 - used as a context manager, reads as one
    """An exclusive, non-blocking lock on the account's lock file for one run.

    The kernel drops a flock when its holder dies, so a crashed run never
    leaves the account locked, unlike a "running" row in a database.
    """

    def __init__(self, path: Path, account: Account) -> None:
        """Lock `path` on entry; `account` names the account in the error."""
        self._path = path
        self._account = account
        self._fd: int | None = None

    def __enter__(self) -> None:
        """Take the lock or raise AccountBusyError at once."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            msg = f"another run of account '{self._account.name}' is still going; not started"
            raise AccountBusyError(msg) from None
        self._fd = fd

    def __exit__(self, *_exc: object) -> None:
        """Release the lock."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def read_bookmark(database: Path, state: str) -> str | None:
    """The leads bookmark Meltano saved for the account, or None when there is none yet."""
    if not database.exists():
        return None
    try:
        with _readonly(database) as connection:
            row = connection.execute(
                "select completed_state from state where state_id = ?", (state,)
            ).fetchone()
    except sqlite3.Error:
        return None
    return _bookmark_value(row[0] if row else None)


def _bookmark_value(completed_state: object) -> str | None:
    import json  # noqa: PLC0415 - only needed here

    if not isinstance(completed_state, str):
        return None
    try:
        state = json.loads(completed_state)
        value = state["singer_state"]["bookmarks"]["leads"]["replication_key_value"]
    except (ValueError, KeyError, TypeError):
        return None
    return str(value) if value is not None else None


class _readonly:  # noqa: N801 - a context manager
    """A read-only SQLite connection that is closed on exit (sqlite3's own is not)."""

    def __init__(self, database: Path) -> None:
        self._connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)

    def __enter__(self) -> sqlite3.Connection:
        return self._connection

    def __exit__(self, *_exc: object) -> None:
        self._connection.close()
