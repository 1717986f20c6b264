"""Each fleet account reads its own `api_url`, else MEGA's: never a TAP_MEGA_API_URL from
the shell or the project's `.env`, which name one account's URL (often an emulator's).

Meltano reads the project's `.env` for every run, below the environment: the
test asks real Meltano (`meltano config print`) what the tap would be given,
in a project of its own, so nothing is sent anywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest

from tap_mega.fleet.accounts import MEGA_API_URL, Account
from tap_mega.fleet.runner import FleetPaths, account_environment, prepare_system_folder

if t.TYPE_CHECKING:
    from tests.helpers.meltano import MeltanoProject

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import dev  # noqa: E402 - dev.py is a script at the root, stdlib only

ACME = Account("acme", "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "MEGA_TOKEN_ACME")
BOLT = Account(
    "bolt",
    "7c9e6679-7425-40de-944b-e07fc1f90ae7",
    "MEGA_TOKEN_BOLT",
    api_url="http://127.0.0.1:8799",
)
ELSEWHERE = "http://127.0.0.1:8798"  # one account's emulator, as a pasted `export` leaves it


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A Meltano project: the repository's meltano.yml, nothing else yet."""
    folder = tmp_path / "project"
    folder.mkdir()
    shutil.copy(ROOT / "meltano.yml", folder / "meltano.yml")
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("source", [".env", "shell"])
def test_an_account_without_api_url_reads_mega_whatever_env_or_dotenv_say(
    source: str,
    project: Path,
    meltano_project: MeltanoProject,
    tmp_path: Path,
) -> None:
    environ = {**os.environ, ACME.token_env: "mega_acme_token", BOLT.token_env: "mega_bolt"}
    if source == ".env":
        (project / ".env").write_text(f"TAP_MEGA_API_URL={ELSEWHERE}\n")
        environ.pop("TAP_MEGA_API_URL", None)
    else:
        environ["TAP_MEGA_API_URL"] = ELSEWHERE
    paths = FleetPaths(
        home=tmp_path / "fleet-home",
        project=project,
        meltano=str(dev.MELTANO),
        plugins=meltano_project.sys_dir,
    )
    given: dict[str, str] = {}
    for account in (ACME, BOLT):
        prepare_system_folder(paths, account)
        env = account_environment(account, environ, paths, {ACME.token_env, BOLT.token_env})
        printed = subprocess.run(
            [paths.meltano, "config", "print", "tap-mega"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        given[account.name] = json.loads(printed.stdout)["api_url"]

    assert given == {"acme": MEGA_API_URL, "bolt": BOLT.api_url}


def test_the_fleets_mega_url_is_the_taps_default() -> None:
    about = subprocess.run(
        [sys.executable, "-m", "tap_mega", "--about", "--format=json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(about.stdout)["settings"]["properties"]["api_url"]["default"] == MEGA_API_URL


def fleet_command(
    accounts: Path, project: Path, **environ: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if k != "TAP_MEGA_API_URL"},
        "TAP_MEGA_FLEET_PROJECT": str(project),
        # Stops the command right after its notices, before Dagster or any account.
        "TAP_MEGA_FLEET_MELTANO": str(project / "no-such-folder" / "meltano"),
        **environ,
    }
    return subprocess.run(
        [sys.executable, "-m", "tap_mega.fleet", "--accounts", str(accounts)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("source", [".env", "shell"])
def test_the_command_says_which_api_url_it_does_not_use(
    source: str, project: Path, tmp_path: Path
) -> None:
    accounts = tmp_path / "accounts.yml"
    accounts.write_text(
        f"accounts:\n  - name: acme\n    customer_id: {ACME.customer_id}\n"
        f"    token_env: {ACME.token_env}\n"
    )
    extra = {ACME.token_env: "mega_acme_token"}
    if source == ".env":
        (project / ".env").write_text(f"# one account\nexport TAP_MEGA_API_URL={ELSEWHERE}\n")
        where = str(project / ".env")
    else:
        extra["TAP_MEGA_API_URL"] = ELSEWHERE
        where = "the environment"

    completed = fleet_command(accounts, project, **extra)

    notice, error = completed.stderr.splitlines()
    assert notice == (
        f"fleet: TAP_MEGA_API_URL in {where} is not used: each account reads its own "
        f"`api_url`, else MEGA's {MEGA_API_URL}"
    )
    assert error.startswith("fleet: error: Meltano not found at ")
    assert completed.returncode == 2


def test_no_notice_without_a_stray_api_url(project: Path, tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.yml"
    accounts.write_text(
        f"accounts:\n  - name: acme\n    customer_id: {ACME.customer_id}\n"
        f"    token_env: {ACME.token_env}\n"
    )
    (project / ".env").write_text("TARGET_POSTGRES_PASSWORD=secret\n")

    completed = fleet_command(accounts, project, **{ACME.token_env: "mega_acme_token"})

    assert [line.split(":")[1] for line in completed.stderr.splitlines()] == [" error"]
