"""The processes the fleet starts, each command in its own process group, stopped whole.

`dagster dev` starts a webserver, a daemon and code servers; a fleet run starts
worker processes, and each worker a `meltano run` with its tap and target.
Signalling only the process we started leaves the rest running (and the UI's
port taken), so each command starts in a session of its own, a stop signal we
receive (Ctrl-C, SIGTERM, SIGHUP) goes to its whole group, and on the way out
whatever of the group still runs gets SIGTERM, then SIGKILL after a grace period.

Standard library only: `dev.py` loads this file by its path, before any venv exists.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import typing as t
from pathlib import Path

if t.TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: Seconds a group gets to stop on its own before SIGKILL.
DEFAULT_GRACE = 20.0
POLL = 0.1
PROC = Path("/proc")
#: In /proc/PID/stat after "pid (comm)": state, ppid, pgrp, ...
STATE, PGRP = 0, 2


def live_members(pgid: int) -> list[int]:
    """The processes of group `pgid` still running (zombies, which no one reaped, excluded)."""
    if not PROC.is_dir():  # not Linux: the group exists or not, zombies included
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [pgid]
    members = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        fields = stat.rpartition(")")[2].split()
        if len(fields) > PGRP and fields[STATE] not in {"Z", "X"} and int(fields[PGRP]) == pgid:
            members.append(int(entry.name))
    return members


def signal_group(pgid: int, signum: int) -> None:
    """Send `signum` to every process of the group, if any is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def stop_group(pgid: int, signum: int = signal.SIGTERM, grace: float = DEFAULT_GRACE) -> None:
    """Signal the group, wait until none of it runs, SIGKILL what is left after `grace`."""
    if not live_members(pgid):
        return
    signal_group(pgid, signum)
    deadline = time.monotonic() + grace
    while live_members(pgid):
        if time.monotonic() >= deadline:
            signal_group(pgid, signal.SIGKILL)
            return
        time.sleep(POLL)


class GroupRun:
    """A command in its own session; a stop signal to this process stops its whole group.

    Use as a context manager: on entry the signal handlers are installed and the
    command started; `wait()` returns its exit code (128 + the signal's number when
    a signal stopped us); on exit nothing of its group is left running.
    """

    def __init__(
        self, command: Sequence[str], *, grace: float = DEFAULT_GRACE, **popen: t.Any
    ) -> None:
        """`popen` goes to subprocess.Popen (cwd, env, stdout, ...)."""
        self._command = list(command)
        self._grace = grace
        self._popen = popen
        self._previous: dict[int, t.Any] = {}
        self.process: subprocess.Popen[t.Any] | None = None
        self.signalled: int | None = None
        self._signalled_at = 0.0

    def __enter__(self) -> GroupRun:  # noqa: PYI034 - stdlib only, no typing_extensions.Self
        """Install the handlers, then start the command in a new session."""
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._forward)
        self.process = subprocess.Popen(  # noqa: S603 - the caller's own command
            self._command, start_new_session=True, **self._popen
        )
        return self

    def _forward(self, signum: int, _frame: FrameType | None) -> None:
        if self.signalled is None:
            self.signalled = signum
            self._signalled_at = time.monotonic()
        if self.process is not None:
            signal_group(self.process.pid, signum)

    @property
    def pgid(self) -> int:
        """The group's id: the command's pid, as the leader of its new session."""
        assert self.process is not None  # noqa: S101 - only inside `with`
        return self.process.pid

    def poll(self) -> int | None:
        """The exit code once the command ended, else None.

        Once `grace` has passed since a stop signal, the group gets SIGKILL.
        """
        assert self.process is not None  # noqa: S101 - only inside `with`
        code = self.process.poll()
        if (
            code is None
            and self.signalled is not None
            and time.monotonic() - self._signalled_at >= self._grace
        ):
            signal_group(self.pgid, signal.SIGKILL)
        return code

    def wait(self) -> int:
        """Wait for the command; 128 + signal when a stop signal ended it."""
        while (code := self.poll()) is None:
            time.sleep(POLL)
        return 128 + self.signalled if self.signalled is not None else code

    def __exit__(self, *_exc: object) -> None:
        """Stop what is left of the group, then restore the signal handlers."""
        if self.process is not None:
            if self.process.poll() is None:
                signal_group(self.pgid, self.signalled or signal.SIGTERM)
            deadline = time.monotonic() + self._grace
            while self.process.poll() is None and time.monotonic() < deadline:
                time.sleep(POLL)
            stop_group(self.pgid, signal.SIGTERM, max(deadline - time.monotonic(), 0.0))
            if self.process.poll() is None:
                signal_group(self.pgid, signal.SIGKILL)
                self.process.wait()
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
