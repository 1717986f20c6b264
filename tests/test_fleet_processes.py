"""Stopping `python3 dev.py fleet` stops everything it started; a taken UI port is one line.

Real processes throughout: `dev.py fleet` is started as a user starts it, every
process below it is recorded from /proc while it runs (Dagster's webserver,
daemon and code servers; the run workers, Meltano, the tap and the target), then
dev.py alone gets the signal, as `kill PID` or Ctrl-C would give it. Afterwards
none of the recorded processes may still run, and the UI's port must be free.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import typing as t
import uuid
from pathlib import Path

import pytest

from tap_mega.testing.emulator import Fault
from tests.helpers.meltano import MeltanoProject, Postgres, reachable_pg_env

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from tap_mega.testing.emulator import MegaEmulator

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads processes from /proc"),
]

ROOT = Path(__file__).resolve().parent.parent
CUSTOMER = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
#: "pid (comm) state ppid pgrp ... starttime": fields after the command's closing ")".
STATE, PPID, STARTTIME = 0, 1, 19
UI_TOKEN = "mega_fleet_ui_token"  # noqa: S105 - no run starts, no request is sent
Process = tuple[int, str]  # pid and start time: a pid reused later is another process


def stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return text.rpartition(")")[2].split()


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def descendants(root: int) -> dict[Process, str]:
    """Every process below `root` now, with its command line."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := stat_fields(int(entry.name))):
            children.setdefault(int(fields[PPID]), []).append(int(entry.name))
    found: dict[Process, str] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        fields = stat_fields(pid)
        if fields is None or fields[STATE] in {"Z", "X"}:
            continue
        found[(pid, fields[STARTTIME])] = command_line(pid)
        todo += children.get(pid, [])
    return found


def still_running(processes: Iterable[Process]) -> list[int]:
    """The recorded processes that still run (a zombie nobody reaped has stopped)."""
    running = []
    for pid, started in processes:
        fields = stat_fields(pid)
        if fields is not None and fields[STATE] not in {"Z", "X"} and fields[STARTTIME] == started:
            running.append(pid)
    return running


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether a server could listen on the port now (as the webserver binds it)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class DevFleet:
    """`python3 dev.py fleet ...` as a user starts it, its stdout read line by line."""

    def __init__(self, args: list[str], env: dict[str, str], stderr: Path) -> None:
        self._stderr_path = stderr
        self._stderr = stderr.open("w")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "dev.py"), "fleet", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.seen: dict[Process, str] = {}

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for_line(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.record()
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                assert self.process.poll() is None, f"dev.py exited: {self.stderr()}"
                continue
            self.stdout.append(line)
            if line.startswith(prefix):
                return line
        pytest.fail(f"no line starting {prefix!r} in {timeout} s: {self.stdout}")

    def record(self) -> dict[Process, str]:
        self.seen.update(descendants(self.process.pid))
        return self.seen

    def wait_for_processes(self, *names: str, timeout: float) -> None:
        """Until a process whose command line holds each of `names` has run."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.record().values()
            if all(any(name in line for line in lines) for name in names):
                return
            time.sleep(0.2)
        pytest.fail(f"not all of {names} started: {sorted(set(self.seen.values()))}")

    def stop(self, signum: int, timeout: float) -> int:
        self.record()
        self.process.send_signal(signum)
        code = self.process.wait(timeout=timeout)
        self._stderr.close()
        return code

    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self._stderr_path.read_text()


def fleet_env(tmp_path: Path, plugins: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_MEGA_", "MEGA_TOKEN_"))}
    env.update(
        MELTANO_SYS_DIR_ROOT=str(plugins),
        TAP_MEGA_FLEET_HOME=str(tmp_path / "fleet-home"),
        TAP_MEGA_FLEET_RETRY_DELAY="1",
        **extra,
    )
    return env


def accounts_file(tmp_path: Path, api_url: str, name: str = "acme") -> Path:
    path = tmp_path / "accounts.yml"
    path.write_text(
        f"accounts:\n  - name: {name}\n    customer_id: {CUSTOMER}\n"
        f"    token_env: MEGA_TOKEN_ACME\n    api_url: {api_url}\n"
    )
    return path


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_stopping_dev_py_fleet_ui_stops_dagster_entirely_and_frees_the_port(
    signum: signal.Signals,
    tmp_path: Path,
    meltano_project: MeltanoProject,
) -> None:
    port = free_port()
    env = fleet_env(tmp_path, meltano_project.sys_dir, MEGA_TOKEN_ACME=UI_TOKEN)
    accounts = accounts_file(tmp_path, "http://127.0.0.1:9")
    fleet = DevFleet(
        ["--accounts", str(accounts), "--ui", "--port", str(port)], env, tmp_path / "stderr.txt"
    )
    try:
        line = fleet.wait_for_line("Dagster UI on ", timeout=300)
        assert line == f"Dagster UI on http://127.0.0.1:{port} (Ctrl-C stops it)"
        assert not port_is_free(port)
        fleet.wait_for_processes(
            "dagster_webserver", "dagster._daemon", "dagster api grpc", timeout=120
        )

        code = fleet.stop(signum, timeout=120)
    finally:
        if fleet.process.poll() is None:
            fleet.process.kill()

    assert code == 128 + signum
    assert still_running(fleet.seen) == [], [
        fleet.seen[p] for p in fleet.seen if p[0] in still_running(fleet.seen)
    ]
    assert port_is_free(port)
    assert fleet.stderr().splitlines()[-1] == (
        f"dev.py: fleet stopped by {signum.name}; every process it started has stopped"
    )


def test_a_taken_ui_port_is_one_line_and_exit_1(
    tmp_path: Path,
    meltano_project: MeltanoProject,
) -> None:
    env = fleet_env(tmp_path, meltano_project.sys_dir, MEGA_TOKEN_ACME=UI_TOKEN)
    accounts = accounts_file(tmp_path, "http://127.0.0.1:9")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        completed = subprocess.run(
            [
                sys.executable,
                str(ROOT / "dev.py"),
                "fleet",
                "--accounts",
                str(accounts),
                "--ui",
                "--port",
                str(port),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    assert completed.returncode == 1
    assert "Dagster UI on" not in completed.stdout + completed.stderr
    assert completed.stderr.splitlines() == [
        (
            f"fleet: error: port {port} on 127.0.0.1 is already in use (Address already in "
            "use): stop what listens there (another `dev.py fleet --ui`?) or choose another "
            "with --port"
        ),
    ]
    assert not (tmp_path / "fleet-home").exists()  # nothing was started or written


@pytest.mark.postgres
def test_sigterm_of_dev_py_fleet_mid_run_stops_meltano_the_tap_and_the_target(
    tmp_path: Path,
    meltano_project: MeltanoProject,
    make_emulator: Callable[..., MegaEmulator],
) -> None:
    pg = reachable_pg_env()
    emulator = make_emulator(
        n_leads=300, seed=7, token=f"mega_fleet_{uuid.uuid4().hex}", customer_id=CUSTOMER
    )
    # Discovery's sample answers; the sync's first page hangs: tap and target are running.
    emulator.add_fault(Fault("slow", at_request=2, seconds=60))
    name = f"stop_{uuid.uuid4().hex[:8]}"
    env = fleet_env(
        tmp_path,
        meltano_project.sys_dir,
        MEGA_TOKEN_ACME=emulator.token,
        TARGET_POSTGRES_HOST=pg["PGHOST"],
        TARGET_POSTGRES_PORT=pg["PGPORT"],
        TARGET_POSTGRES_USER=pg["PGUSER"],
        TARGET_POSTGRES_PASSWORD=pg["PGPASSWORD"],
        TARGET_POSTGRES_DATABASE=pg["PGDATABASE"],
    )
    fleet = DevFleet(
        ["--accounts", str(accounts_file(tmp_path, emulator.url, name))],
        env,
        tmp_path / "stderr.txt",
    )
    try:
        deadline = time.monotonic() + 300
        while emulator.request_count < 2 and time.monotonic() < deadline:
            fleet.record()
            assert fleet.process.poll() is None, fleet.stderr()
            time.sleep(0.2)
        fleet.wait_for_processes("meltano", "bin/tap-mega", "bin/target-postgres", timeout=60)

        code = fleet.stop(signal.SIGTERM, timeout=120)
    finally:
        if fleet.process.poll() is None:
            fleet.process.kill()
        Postgres(pg, f"tap_mega_{name}").query(f"drop schema if exists tap_mega_{name} cascade")

    assert code == 128 + signal.SIGTERM
    running = still_running(fleet.seen)
    assert running == [], [line for (pid, _), line in fleet.seen.items() if pid in running]
    assert fleet.stderr().splitlines()[-1] == (
        "dev.py: fleet stopped by SIGTERM; every process it started has stopped"
    )
