"""`python3 dev.py sync` chooses where a sync lands: an emulator is never `dev` (issue 10);
`--help` of dev.py and of `dev.py sync` is usage on stdout, and starts nothing.

The end-to-end run (a clone, real Meltano) is test_meltano.py's newcomer test;
this is the decision itself, for every shape of environment a shell can hold.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import dev  # noqa: E402 - dev.py is a script at the root, stdlib only

CREDENTIALS = {"TAP_MEGA_TOKEN": "mega_" + "1" * 64, "TAP_MEGA_CUSTOMER_ID": "x"}


@pytest.mark.parametrize(
    ("env", "plan"),
    [
        ({}, ("demo", "bundled")),
        ({"TAP_MEGA_TOKEN": "mega_x"}, ("demo", "bundled")),
        (CREDENTIALS, ("dev", "mega")),
        ({**CREDENTIALS, "TAP_MEGA_API_URL": "https://app.gomega.ai"}, ("dev", "mega")),
        ({**CREDENTIALS, "TAP_MEGA_API_URL": "http://127.0.0.1:8765"}, ("demo", "emulator")),
        ({**CREDENTIALS, "TAP_MEGA_API_URL": "http://localhost:8765"}, ("demo", "emulator")),
        ({**CREDENTIALS, "TAP_MEGA_API_URL": "https://127.8.9.10"}, ("demo", "emulator")),
        ({**CREDENTIALS, "TAP_MEGA_API_URL": "https://[::1]:8443/"}, ("demo", "emulator")),
        ({"TAP_MEGA_API_URL": "http://127.0.0.1:8765"}, ("demo", "bundled")),
    ],
    ids=[
        "nothing",
        "token-only",
        "credentials",
        "mega-url",
        "emulator-export",
        "localhost",
        "loopback-https",
        "ipv6-loopback",
        "url-only",
    ],
)
def test_a_loopback_api_url_is_a_demo_whatever_the_shell_exports(
    env: dict[str, str], plan: tuple[str, str]
) -> None:
    assert dev.sync_plan(env) == plan


def dev_py(*args: str) -> subprocess.CompletedProcess[str]:
    """`python3 dev.py ARGS` as a user types it, from the repository root."""
    return subprocess.run(
        [sys.executable, str(ROOT / "dev.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("flag", ["--help", "-h", "help"])
def test_help_is_usage_on_stdout_and_exit_0(flag: str) -> None:
    completed = dev_py(flag)

    assert completed.returncode == 0
    assert completed.stderr == ""
    assert "usage: python3 dev.py {sync,test,docs,lock,fleet}" in completed.stdout
    for command in ("sync", "test", "docs", "lock", "fleet"):
        assert f"python3 dev.py {command}" in completed.stdout


@pytest.mark.parametrize("args", [(), ("synch",)], ids=["nothing", "unknown"])
def test_no_or_an_unknown_command_is_usage_on_stderr_and_exit_2(args: tuple[str, ...]) -> None:
    completed = dev_py(*args)

    assert completed.returncode == 2
    assert completed.stdout == ""
    assert "usage: python3 dev.py {sync,test,docs,lock,fleet}" in completed.stderr
    if args:
        assert completed.stderr.splitlines()[-1] == "dev.py: unknown command 'synch'"


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_sync_help_prints_help_and_starts_nothing(flag: str) -> None:
    completed = dev_py("sync", flag)

    assert completed.returncode == 0
    assert completed.stderr == ""
    assert completed.stdout.startswith("usage: python3 dev.py sync [--full-refresh]")
    assert "--full-refresh" in completed.stdout
    # No venv made, no emulator started, no sync: none of what a sync prints.
    for sign_of_a_run in ("Installing", "Started the MEGA emulator", "Landed in", "rows:"):
        assert sign_of_a_run not in completed.stdout
