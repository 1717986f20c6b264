"""SIGTERM and SIGINT: whole lines on stdout, a consistent last STATE, a non-zero exit."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import typing as t

import pytest

from tap_mega.termination import Terminated, TerminationGuard
from tap_mega.testing.emulator import Fault, RateWindow
from tap_mega.timestamps import normalize_timestamp
from tests.helpers.cli import error_lines, spawn_cli
from tests.helpers.sync import SyncResult, bookmark, run_sync, tap_config

if t.TYPE_CHECKING:
    from pathlib import Path

    from tap_mega.testing.emulator import MegaEmulator


class LineReader:
    """Collects a child's stdout (or stderr) lines as they come, so a test can act mid-sync."""

    def __init__(self, proc: subprocess.Popen[str], *, stderr: bool = False) -> None:
        self.lines: list[str] = []
        stream = proc.stderr if stderr else proc.stdout
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: t.IO[str] | None) -> None:
        assert stream is not None
        for line in stream:
            self.lines.append(line)

    def wait_for(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(self.lines) < count:
            assert time.monotonic() < deadline, "the tap wrote too little"
            time.sleep(0.005)

    def wait_for_match(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        """The first line matching `pattern`, once the child has written it."""
        deadline = time.monotonic() + timeout
        while True:
            for line in list(self.lines):
                if match := re.search(pattern, line):
                    return match
            assert time.monotonic() < deadline, f"the tap never logged {pattern!r}"
            time.sleep(0.005)

    def finish(self) -> str:
        self._thread.join(timeout=30)
        return "".join(self.lines)


def finish(
    proc: subprocess.Popen[str],
    reader: LineReader | SlowReader,
    err_reader: LineReader | None = None,
) -> tuple[int, str, str]:
    assert proc.stderr is not None
    stderr = proc.stderr.read() if err_reader is None else ""
    code = proc.wait(timeout=30)
    if err_reader is not None:
        stderr = err_reader.finish()
    stdout = reader.finish()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    return code, stdout, stderr


def assert_clean_stop(code: int, stdout: str, stderr: str, signum: int) -> SyncResult:
    assert code == 128 + signum, stderr
    errors = error_lines(stderr)
    name = signal.Signals(signum).name
    expected = (
        f"tap-mega: error: interrupted by {name}: stopped; the last STATE written "
        "is where the next run resumes"
    )
    assert errors == [expected]
    assert "Traceback" not in stderr
    assert stdout.endswith("\n"), "stdout must end on a whole line"
    messages = [json.loads(line) for line in stdout.splitlines()]  # every line whole
    # Not necessarily the last line: the SDK skips a STATE equal to the one before
    # (records tied on updated_at leave the bookmark where it was).
    assert any(message["type"] == "STATE" for message in messages)
    return SyncResult(messages)


def assert_resumable(emulator: MegaEmulator, config: dict[str, t.Any], stopped: SyncResult) -> None:
    """The last STATE is at or before every lead not emitted; resuming completes the set."""
    mark = bookmark(stopped.final_state).get("replication_key_value")
    missing = [lead for lead in emulator.leads if lead["id"] not in set(stopped.ids)]
    if mark is not None:
        assert all(mark <= normalize_timestamp(lead["updated_at"]) for lead in missing)
    resumed = run_sync(config, state=stopped.final_state)
    assert set(stopped.ids) | set(resumed.ids) == {lead["id"] for lead in emulator.leads}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_while_waiting_on_mega_stops_at_once(
    make_emulator: t.Callable[..., MegaEmulator], tmp_path: Path, signum: int
) -> None:
    emulator = make_emulator(n_leads=1000, seed=5)
    emulator.add_fault(Fault("slow", at_request=4, seconds=30))
    config = tap_config(emulator, page_size=100)
    proc = spawn_cli(config, tmp_path)
    reader = LineReader(proc)
    reader.wait_for(300)  # pages 1-3 are out; request 4 hangs
    while emulator.request_count < 4:
        time.sleep(0.005)
    started = time.monotonic()

    proc.send_signal(signum)
    code, stdout, stderr = finish(proc, reader)

    assert time.monotonic() - started < 10, "a held request must not delay the stop"
    stopped = assert_clean_stop(code, stdout, stderr, signum)
    assert len(stopped.records) == 300
    assert_resumable(emulator, config, stopped)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_while_the_pacer_waits_for_the_budget_stops_at_once(
    make_emulator: t.Callable[..., MegaEmulator], tmp_path: Path, signum: int
) -> None:
    skipped = [0.0]  # seconds the emulator's rate clock is moved on, to end the window
    emulator = make_emulator(
        n_leads=700,
        seed=5,
        rate_windows=[RateWindow(limit=5, seconds=60)],
        clock=lambda: time.monotonic() + skipped[0],
    )
    config = tap_config(emulator, page_size=100, max_wait_seconds=3600)
    proc = spawn_cli(config, tmp_path)
    reader, err_reader = LineReader(proc), LineReader(proc, stderr=True)
    wait = err_reader.wait_for_match(r"Rate limit: waiting ([\d.]+)s because the 5/1m window")
    assert float(wait.group(1)) > 30, "the pacer is in a long wait, not a blip"
    started = time.monotonic()

    proc.send_signal(signum)
    code, stdout, stderr = finish(proc, reader, err_reader)

    assert time.monotonic() - started < 10, "the budget wait must not delay the stop"
    stopped = assert_clean_stop(code, stdout, stderr, signum)
    assert len(stopped.records) == 500
    assert emulator.request_count == 5, "nothing was sent after the signal"
    skipped[0] += 60  # the window has passed for the resumed run
    assert_resumable(emulator, config, stopped)


@pytest.mark.parametrize("seed", range(4))
def test_sigterm_while_records_stream_out_keeps_whole_lines(
    make_emulator: t.Callable[..., MegaEmulator], tmp_path: Path, seed: int
) -> None:
    emulator = make_emulator(n_leads=5000, seed=seed)
    config = tap_config(emulator, page_size=100)
    proc = spawn_cli(config, tmp_path)
    reader = LineReader(proc)
    reader.wait_for(200 + 700 * seed)

    proc.send_signal(signal.SIGTERM)
    code, stdout, stderr = finish(proc, reader)

    stopped = assert_clean_stop(code, stdout, stderr, signal.SIGTERM)
    assert len(stopped.records) < 5000, "the signal came mid-sync"
    assert_resumable(emulator, config, stopped)


class SlowReader:
    """Reads a child's stdout a little at a time, so the child blocks on a full pipe."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        self._fd = proc.stdout.fileno()
        self.chunks: list[bytes] = []
        self.received = 0
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while chunk := os.read(self._fd, 4096):
            self.chunks.append(chunk)
            self.received += len(chunk)
            time.sleep(0.002)

    def finish(self) -> str:
        self._thread.join(timeout=60)
        return b"".join(self.chunks).decode()


@pytest.mark.parametrize("seed", range(3))
def test_sigterm_on_a_full_stdout_loses_no_bytes_even_with_pythonunbuffered(
    make_emulator: t.Callable[..., MegaEmulator], tmp_path: Path, seed: int
) -> None:
    # PYTHONUNBUFFERED=1, which containers often set, makes Python's stdout drop
    # the rest of a write that a signal cuts short: half a RECORD, then the end.
    emulator = make_emulator(n_leads=5000, seed=seed)
    config = tap_config(emulator, page_size=100)
    proc = spawn_cli(config, tmp_path, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    reader = SlowReader(proc)
    deadline = time.monotonic() + 30
    while reader.received < 150_000 + 100_000 * seed:  # the tap is now blocked writing
        assert time.monotonic() < deadline, "the tap wrote too little"
        time.sleep(0.005)

    proc.send_signal(signal.SIGTERM)
    code, stdout, stderr = finish(proc, reader)

    stopped = assert_clean_stop(code, stdout, stderr, signal.SIGTERM)
    assert_resumable(emulator, config, stopped)


def test_guard_holds_a_signal_until_a_safe_point() -> None:
    guard = TerminationGuard()
    guard.handle(signal.SIGTERM)  # e.g. while a RECORD is being written
    assert guard.pending == signal.SIGTERM
    with pytest.raises(Terminated) as raised:
        guard.raise_if_pending()
    assert raised.value.exit_code == 143


def test_guard_stops_at_once_while_waiting_and_on_a_second_signal() -> None:
    guard = TerminationGuard()
    with pytest.raises(Terminated), guard.interruptible():
        guard.handle(signal.SIGINT)
    other = TerminationGuard()
    other.handle(signal.SIGTERM)
    with pytest.raises(Terminated) as raised:
        other.handle(signal.SIGTERM)
    assert raised.value.exit_code == 143


def test_source_mega_read_stops_on_sigterm_as_a_transient_error(
    make_emulator: t.Callable[..., MegaEmulator], tmp_path: Path
) -> None:
    emulator = make_emulator(n_leads=1000, seed=6)
    emulator.add_fault(Fault("slow", at_request=3, seconds=30))
    (tmp_path / "config.json").write_text(json.dumps(tap_config(emulator)))
    (tmp_path / "catalog.json").write_text(
        json.dumps(
            {
                "streams": [
                    {
                        "stream": {
                            "name": "leads",
                            "json_schema": {},
                            "supported_sync_modes": ["incremental"],
                        },
                        "sync_mode": "incremental",
                        "destination_sync_mode": "append_dedup",
                        "cursor_field": ["updated_at"],
                        "primary_key": [["id"]],
                    }
                ]
            }
        )
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from tap_mega.airbyte import main; main()",
            "read",
            "--config",
            str(tmp_path / "config.json"),
            "--catalog",
            str(tmp_path / "catalog.json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reader = LineReader(proc)
    reader.wait_for(200)
    while emulator.request_count < 3:
        time.sleep(0.005)

    proc.send_signal(signal.SIGTERM)
    code, stdout, _ = finish(proc, reader)

    assert code == 143
    messages = [json.loads(line) for line in stdout.splitlines()]
    [error] = [m["trace"]["error"] for m in messages if m["type"] == "TRACE"]
    assert error["failure_type"] == "transient_error"
    assert error["message"].startswith("interrupted by SIGTERM")
    states = [m for m in messages if m["type"] == "STATE"]
    assert states, "the pages delivered were checkpointed"
