"""Where the fleet's pieces are: the accounts file, its home folder, the Meltano project.

One source for both ways in: the `fleet` command sets these variables and the
Dagster code location (loaded by `dagster dev` in another process) reads them,
so the UI runs exactly what the command runs.
"""

from __future__ import annotations

import os
import re
import shutil
import typing as t
from dataclasses import dataclass
from pathlib import Path

from tap_mega.fleet.accounts import MEGA_API_URL
from tap_mega.fleet.runner import FleetPaths

if t.TYPE_CHECKING:
    from collections.abc import Mapping

ACCOUNTS_VARIABLE = "TAP_MEGA_FLEET_ACCOUNTS"
HOME_VARIABLE = "TAP_MEGA_FLEET_HOME"
PROJECT_VARIABLE = "TAP_MEGA_FLEET_PROJECT"
MELTANO_VARIABLE = "TAP_MEGA_FLEET_MELTANO"
#: The Meltano system folder with the installed plugins (default: MELTANO_SYS_DIR_ROOT, .meltano).
PLUGINS_VARIABLE = "TAP_MEGA_FLEET_PLUGINS"
#: Seconds before the first retry of a failed account (doubling, with jitter, each time).
RETRY_DELAY_VARIABLE = "TAP_MEGA_FLEET_RETRY_DELAY"
DEFAULT_ACCOUNTS_FILE = "fleet-accounts.yml"
#: One account's URL (often an emulator's): the fleet never hands it to its accounts.
API_URL_VARIABLE = "TAP_MEGA_API_URL"
DOTENV_API_URL = re.compile(rf"^\s*(?:export\s+)?{API_URL_VARIABLE}\s*=", re.MULTILINE)
DEFAULT_RETRY_DELAY = 60.0


@dataclass(frozen=True)
class FleetSettings:
    """The fleet's files; every path absolute, so a run worker in any cwd finds them."""

    accounts_file: Path
    home: Path
    project: Path
    meltano: str
    plugins: Path

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> FleetSettings:
        """Read the variables the command sets; defaults suit a repository checkout."""
        env = os.environ if environ is None else environ
        project = Path(env.get(PROJECT_VARIABLE) or Path.cwd()).resolve()
        accounts = Path(env.get(ACCOUNTS_VARIABLE) or project / DEFAULT_ACCOUNTS_FILE)
        home = Path(env.get(HOME_VARIABLE) or project / ".fleet")
        return cls(
            accounts_file=accounts.resolve(),
            home=home.resolve(),
            project=project,
            meltano=env.get(MELTANO_VARIABLE) or default_meltano(project),
            plugins=Path(
                env.get(PLUGINS_VARIABLE) or env.get("MELTANO_SYS_DIR_ROOT") or project / ".meltano"
            ).resolve(),
        )

    def environment(self) -> dict[str, str]:
        """The variables that hand these settings to another process."""
        return {
            ACCOUNTS_VARIABLE: str(self.accounts_file),
            HOME_VARIABLE: str(self.home),
            PROJECT_VARIABLE: str(self.project),
            MELTANO_VARIABLE: self.meltano,
            PLUGINS_VARIABLE: str(self.plugins),
            "DAGSTER_HOME": str(self.dagster_home),
        }

    @property
    def dagster_home(self) -> Path:
        """Dagster's instance folder: its runs, logs, partitions and dagster.yaml."""
        return self.home / "dagster"

    def paths(self) -> FleetPaths:
        """What one account's run needs to know."""
        return FleetPaths(
            home=self.home, project=self.project, meltano=self.meltano, plugins=self.plugins
        )


def default_meltano(project: Path) -> str:
    """The project's own .venv-meltano (what dev.py installs), else `meltano` on PATH."""
    bundled = project / ".venv-meltano" / "bin" / "meltano"
    if bundled.exists():
        return str(bundled)
    return shutil.which("meltano") or "meltano"


def retry_delay(environ: Mapping[str, str] | None = None) -> float:
    """The first retry's delay; tests shorten it, production keeps a minute."""
    env = os.environ if environ is None else environ
    text = env.get(RETRY_DELAY_VARIABLE)
    if not text:
        return DEFAULT_RETRY_DELAY
    try:
        return max(float(text), 0.0)
    except ValueError:
        return DEFAULT_RETRY_DELAY


def ignored_api_url_line(project: Path, environ: Mapping[str, str] | None = None) -> str | None:
    """The notice that a TAP_MEGA_API_URL is set and not used, naming where; else None.

    Meltano reads the project's `.env` for every run, so a single-account
    TAP_MEGA_API_URL there (or exported) would reach every account without an
    `api_url`; the fleet sets each account's instead, and says so.
    """
    env = os.environ if environ is None else environ
    where = None
    if env.get(API_URL_VARIABLE):
        where = "the environment"
    else:
        dotenv = project / ".env"
        try:
            if DOTENV_API_URL.search(dotenv.read_text(encoding="utf-8", errors="replace")):
                where = str(dotenv)
        except OSError:
            pass
    if where is None:
        return None
    return (
        f"{API_URL_VARIABLE} in {where} is not used: each account reads its own `api_url`, "
        f"else MEGA's {MEGA_API_URL}"
    )
