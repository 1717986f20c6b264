#!/usr/bin/env python3
"""The project's commands, runnable on a fresh machine with only Python 3.10+.

usage: python3 dev.py {sync,test,docs,lock,fleet} [ARGS]   (or --help: this text)

    python3 dev.py sync   # the main job: a sync into the embedded default warehouse
    python3 dev.py test   # the whole test suite (what CI runs)
    python3 dev.py test --fast  # the fast lane: no Meltano, no PostgreSQL, under 2 minutes
    python3 dev.py docs   # rewrite README's settings table from `tap-mega --about`
    python3 dev.py lock   # re-resolve the pinned versions in .ci/locks/ (maintainers)
    python3 dev.py fleet --accounts FILE [--max-concurrent N] [--ui]
                          # every account in FILE once, on Dagster (README: Many accounts)

Each creates what it needs (the .venv, the package and its test tools, Meltano
in .venv-meltano, the Meltano plugins) on first use, at the versions pinned in
.ci/locks/, and skips that work on the next run unless pyproject.toml, a lock or
meltano.yml changed.

`sync` without TAP_MEGA_TOKEN and TAP_MEGA_CUSTOMER_ID starts the bundled
emulator and loads it in Meltano's `demo` environment (its own state and
warehouse file); with both set it syncs the real MEGA account in `dev`. A
TAP_MEGA_API_URL on this machine (a pasted emulator `export` line) is a demo
too, whatever else is exported: an emulator's leads never land in `dev`.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import venv
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

if TYPE_CHECKING:
    from types import ModuleType

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".tap-mega-installed"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
# PyAirbyte and airbyte-cdk (about 800 MB, Python below 3.13) get their own venv,
# so the tap's own .venv stays what a Singer user installs.
AIRBYTE_VENV = ROOT / ".venv-airbyte"
AIRBYTE_STAMP = AIRBYTE_VENV / ".tap-mega-installed"
AIRBYTE_PYTHON = AIRBYTE_VENV / ("Scripts" if os.name == "nt" else "bin") / "python"
AIRBYTE_INTERPRETERS = ("python3.12", "python3.11", "python3.10")

# Meltano lives in its own venv: it pins many libraries of its own, and it
# installs the tap into a plugin venv anyway, so keeping it out of .venv means
# it can never change what the tap's tests run against.
MELTANO_REQUIREMENT = "meltano~=4.4"
MELTANO_VENV = ROOT / ".venv-meltano"
MELTANO_BIN = MELTANO_VENV / ("Scripts" if os.name == "nt" else "bin")
MELTANO = MELTANO_BIN / "meltano"
MELTANO_STAMP = MELTANO_VENV / ".tap-mega-installed"
EMBEDDED_LOADER = "target-duckdb"
DEMO_LEADS = 3000
README = ROOT / "README.md"
# Pinned versions of every venv dev.py builds, as pip constraints files: plain
# pip reads them (`pip install -c FILE ...`), so using them needs only Python.
# One universal resolution per venv, with markers where Python 3.10 to 3.13
# differ. `python3 dev.py lock` writes them with uv, which it installs in a
# temporary venv; nothing else needs uv.
LOCKS = ROOT / ".ci" / "locks"
DEV_LOCK = LOCKS / "dev.txt"
MELTANO_LOCK = LOCKS / "meltano.txt"
AIRBYTE_LOCK = LOCKS / "airbyte.txt"
LOCK_TOOL = "uv==0.13.9"
LOWEST_PYTHON = "3.10"
SETTINGS_START = "<!-- settings:start (python3 dev.py docs) -->"
SETTINGS_END = "<!-- settings:end -->"
FLEET_PROCESSES = ROOT / "tap_mega" / "fleet" / "processes.py"
# More than the fleet command gives `dagster dev` (20 s), so it can stop its own group first.
FLEET_GRACE = 30.0


def run(*command: str | Path, env: dict[str, str] | None = None) -> int:
    """Run a command from the project root, streaming its output."""
    return subprocess.call([str(part) for part in command], cwd=ROOT, env=env)


def requirements_fingerprint(lock: Path = DEV_LOCK) -> str:
    """What a venv was built from (pyproject.toml and its lock); a change means reinstall."""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    digest.update(lock.read_bytes())
    return digest.hexdigest()


def meltano_env(**extra: str) -> dict[str, str]:
    """The environment every Meltano call gets: no version check, no telemetry."""
    env = dict(os.environ)
    env.update(
        MELTANO_CLI_DISABLE_VERSION_CHECK="true",
        MELTANO_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    env.update(extra)
    return env


def ensure_meltano(sys_dir: Path | None = None) -> Path:
    """Create .venv-meltano and run `meltano install`, each once; return `meltano`.

    `sys_dir` moves Meltano's .meltano folder (plugin venvs, state database)
    elsewhere, which tests use to stay out of the user's project state. One
    process at a time: the suite's workers (and a test's own `dev.py sync`)
    would otherwise build .venv-meltano at once ("Text file busy").
    """
    if sys.version_info < (3, 10):
        sys.exit("tap-mega needs Python 3.10 or newer")
    with one_at_a_time("meltano"):
        return install_meltano(sys_dir)


def one_at_a_time(name: str) -> contextlib.AbstractContextManager[object]:
    """An exclusive lock for this checkout's `name` work; a no-op where fcntl is missing."""
    try:
        import fcntl  # noqa: PLC0415 - POSIX only; Windows runs no parallel workers here
    except ImportError:
        return contextlib.nullcontext()
    key = hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
    handle = (Path(tempfile.gettempdir()) / f"tap-mega-{key}-{name}.lock").open("w")
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle  # closing it (the `with` block's end) releases the lock


def install_meltano(sys_dir: Path | None) -> Path:
    """`ensure_meltano`'s work, under its lock."""
    meltano_fingerprint = hashlib.sha256(
        MELTANO_REQUIREMENT.encode() + MELTANO_LOCK.read_bytes(),
    ).hexdigest()
    if not (
        MELTANO.exists()
        and MELTANO_STAMP.exists()
        and MELTANO_STAMP.read_text() == meltano_fingerprint
    ):
        print(f"Installing {MELTANO_REQUIREMENT} into .venv-meltano ...", flush=True)
        venv.create(MELTANO_VENV, with_pip=True)
        quiet = ["--quiet", "--disable-pip-version-check"]
        if (
            run(
                MELTANO_BIN / "python",
                "-m",
                "pip",
                "install",
                *quiet,
                "-c",
                MELTANO_LOCK,
                MELTANO_REQUIREMENT,
            )
            != 0
        ):
            sys.exit("could not install Meltano into .venv-meltano")
        MELTANO_STAMP.write_text(meltano_fingerprint)
    target = sys_dir or ROOT / ".meltano"
    stamp = target / ".tap-mega-installed"
    fingerprint = hashlib.sha256(
        (ROOT / "meltano.yml").read_bytes() + (ROOT / "pyproject.toml").read_bytes(),
    ).hexdigest()
    if not (stamp.exists() and stamp.read_text() == fingerprint):
        print("Installing the Meltano plugins (meltano install) ...", flush=True)
        env = meltano_env(MELTANO_SYS_DIR_ROOT=str(target))
        if run(MELTANO, "install", env=env) != 0:
            sys.exit("meltano install failed")
        stamp.write_text(fingerprint)
    return MELTANO


def ensure_venv(extras: tuple[str, ...] = ("test", "fleet")) -> None:
    """Create .venv and install the package with `extras`, once.

    The fleet's Dagster (about 150 MB, well under a minute) comes with the test
    tools, since its tests run in .venv; `sync` and `docs` ask only for `test`.
    The stamp records the extras installed, so a venv with more is enough.
    """
    if sys.version_info < (3, 10):
        sys.exit("tap-mega needs Python 3.10 or newer")
    if not PYTHON.exists():
        print("Creating .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    fingerprint = requirements_fingerprint()
    stamp = STAMP.read_text().split("\n") if STAMP.exists() else []
    installed = set(stamp[1].split(",")) if len(stamp) > 1 and stamp[0] == fingerprint else set()
    if stamp and stamp[0] == fingerprint and set(extras) <= installed:
        return
    wanted = sorted(set(extras) | installed)
    print(f"Installing tap-mega and its {' and '.join(wanted)} extras into .venv ...", flush=True)
    quiet = ["--quiet", "--disable-pip-version-check"]
    if run(PYTHON, "-m", "pip", "install", *quiet, "--upgrade", "pip") != 0:
        sys.exit("could not upgrade pip in .venv")
    if (
        run(PYTHON, "-m", "pip", "install", *quiet, "-c", DEV_LOCK, "-e", f".[{','.join(wanted)}]")
        != 0
    ):
        sys.exit("could not install tap-mega into .venv")
    STAMP.write_text(f"{fingerprint}\n{','.join(wanted)}")


def airbyte_interpreter() -> str | None:
    """A Python PyAirbyte supports (3.10 to 3.12): this one, or one on PATH."""
    if sys.version_info < (3, 13):
        return sys.executable
    return next(filter(None, map(shutil.which, AIRBYTE_INTERPRETERS)), None)


def ensure_airbyte_venv() -> str | None:
    """Create .venv-airbyte once; None when ready, else why it could not be made.

    A failure does not stop the suite: the test that needs this venv skips with
    the reason locally, and fails under CI=true.
    """
    fingerprint = requirements_fingerprint(AIRBYTE_LOCK)
    if AIRBYTE_STAMP.exists() and AIRBYTE_STAMP.read_text() == fingerprint:
        return None
    interpreter = airbyte_interpreter()
    if interpreter is None:
        return "PyAirbyte needs Python 3.10 to 3.12 and none was found on PATH"
    quiet = ["--quiet", "--disable-pip-version-check"]
    if not AIRBYTE_PYTHON.exists():
        print("Creating .venv-airbyte (PyAirbyte, airbyte-cdk; about 800 MB) ...", flush=True)
        if run(interpreter, "-m", "venv", AIRBYTE_VENV) != 0:
            return f"could not create .venv-airbyte with {interpreter}"
    print("Installing tap-mega and the Airbyte clients into .venv-airbyte ...", flush=True)
    if (
        run(
            AIRBYTE_PYTHON,
            "-m",
            "pip",
            "install",
            *quiet,
            "-c",
            AIRBYTE_LOCK,
            "-e",
            ".[airbyte-test]",
        )
        != 0
    ):
        return "could not install the `airbyte-test` extra into .venv-airbyte"
    AIRBYTE_STAMP.write_text(fingerprint)
    return None


#: What every `dev.py test` passes pytest: the tests on every core (one worker
#: for the end-to-end files, see tests/conftest.py), and the 15 slowest shown.
PYTEST_ARGS = ("-n", "auto", "--dist", "loadgroup", "--durations=15")
FAST_LANE = "--fast"


def test(args: list[str]) -> int:
    """The whole suite, or with --fast its fast lane; 'no tests ran' (exit 5) is a failure.

    The fast lane leaves out the tests marked `slow` (tests/conftest.py), so it
    needs neither the Airbyte venv nor Meltano nor PostgreSQL.
    """
    fast = FAST_LANE in args
    args = [arg for arg in args if arg != FAST_LANE]
    ensure_venv()
    env = dict(os.environ)
    if not fast:
        problem = ensure_airbyte_venv()
        if problem is not None:
            print(f"dev.py: {problem}", file=sys.stderr)
            env["TAP_MEGA_AIRBYTE_VENV_PROBLEM"] = problem
    lane = ["-m", "not slow"] if fast else []
    code = run(PYTHON, "-m", "pytest", *PYTEST_ARGS, *lane, *args, env=env)
    if code == 5:
        print("dev.py: pytest collected no tests: that is a failure", file=sys.stderr)
        return 1
    return code


def start_demo_emulator() -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Start the bundled emulator on a free port; return it and the tap's settings."""
    emulator = subprocess.Popen(
        [str(PYTHON), "-m", "tap_mega.testing.emulator", "--leads", str(DEMO_LEADS), "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    banner = ""
    while emulator.stdout is not None and "export " not in banner:
        line = emulator.stdout.readline()
        if not line:
            sys.exit("the emulator did not start")
        banner += line
    # The banner ends "export TAP_MEGA_API_URL=... TAP_MEGA_TOKEN=... TAP_MEGA_CUSTOMER_ID=...".
    settings = dict(re.findall(r"(TAP_MEGA_[A-Z_]+)=(\S+)", banner))
    print(f"Started the MEGA emulator with {DEMO_LEADS} leads at {settings['TAP_MEGA_API_URL']}")
    return emulator, settings


def meltano_output(*args: str, env: dict[str, str]) -> str:
    """What a Meltano command prints on stdout (its logs go to stderr)."""
    return subprocess.run(
        [str(MELTANO), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    ).stdout


SUMMARY_SCRIPT = """
import json, sys
import duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
rows = con.execute("select count(*), count(distinct id) from tap_mega.leads").fetchone()
by_status = con.execute(
    "select status, count(*) from tap_mega.leads group by status order by 2 desc"
).fetchall()
print(json.dumps({"rows": rows[0], "ids": rows[1], "by_status": by_status}))
"""


def print_summary(environment: str, env: dict[str, str]) -> None:
    """What landed: rows, leads by status, and the bookmark Meltano keeps."""
    warehouse = ROOT / "output" / f"{environment}.duckdb"
    loader_python = ROOT / ".meltano" / "loaders" / EMBEDDED_LOADER / "venv" / "bin" / "python"
    completed = subprocess.run(
        [str(loader_python), "-c", SUMMARY_SCRIPT, str(warehouse)],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        print(f"could not read {warehouse}: {completed.stderr.strip()}", file=sys.stderr)
        return
    summary = json.loads(completed.stdout)
    print(f"\nLanded in {warehouse.relative_to(ROOT)} (table tap_mega.leads):")
    print(f"  rows: {summary['rows']} ({summary['ids']} distinct lead ids)")
    print("  leads by status:")
    for status, count in summary["by_status"]:
        print(f"    {status or '(none)':<10} {count}")
    state_id = f"{environment}:tap-mega-to-{EMBEDDED_LOADER}"
    state = meltano_output("--environment", environment, "state", "get", state_id, env=env)
    print(f"  bookmark ({state_id}): {state.strip() or 'none'}")


def is_this_machine(url: str) -> bool:
    """Whether `url` points at a loopback address: an emulator, never MEGA."""
    host = (urlparse(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def sync_plan(env: dict[str, str]) -> tuple[str, str]:
    """The Meltano environment a sync loads, and what it reads: mega, emulator or bundled.

    `dev` only for a real account: credentials exported and an api_url that is
    not this machine. An api_url on a loopback address is an emulator whatever
    the shell exports, so its made-up leads and bookmark never reach `dev`.
    """
    credentials = bool(env.get("TAP_MEGA_TOKEN") and env.get("TAP_MEGA_CUSTOMER_ID"))
    if not credentials:
        return "demo", "bundled"
    if is_this_machine(env.get("TAP_MEGA_API_URL", "")):
        return "demo", "emulator"
    return "dev", "mega"


SYNC_HELP = f"""usage: python3 dev.py sync [--full-refresh] [MELTANO RUN OPTIONS]

The main job: `meltano run tap-mega {EMBEDDED_LOADER}`, after installing what it needs.
Without TAP_MEGA_TOKEN and TAP_MEGA_CUSTOMER_ID it starts the bundled emulator
({DEMO_LEADS} leads) and loads it in Meltano's `demo` environment (output/demo.duckdb);
with both set it syncs your MEGA account in `dev` (output/dev.duckdb). A
TAP_MEGA_API_URL on this machine (an emulator) is a demo too. A demo always reads
everything again; it ends by printing what landed.

options:
  -h, --help       this text; nothing is started
  --full-refresh   read the whole account again instead of going on from the bookmark
  other options    passed to `meltano run` (see `meltano run --help`)"""


def sync(args: list[str]) -> int:
    """The main job: `meltano run tap-mega <embedded loader>`, on the emulator or MEGA."""
    if {"-h", "--help"} & set(args):
        print(SYNC_HELP)
        return 0
    ensure_venv(("test",))
    meltano = ensure_meltano()
    env = meltano_env()
    environment, source = sync_plan(env)
    emulator = None
    if source == "mega":
        print("TAP_MEGA_TOKEN and TAP_MEGA_CUSTOMER_ID are set: syncing your MEGA account")
    elif source == "emulator":
        print(
            f"TAP_MEGA_API_URL ({env['TAP_MEGA_API_URL']}) is on this machine, an "
            "emulator: a demo, loaded into the `demo` environment, never `dev`"
        )
    else:
        print("No TAP_MEGA_TOKEN/TAP_MEGA_CUSTOMER_ID: syncing the bundled emulator instead")
        emulator, settings = start_demo_emulator()
        env.update(settings)
    if environment == "demo" and "--full-refresh" not in args:
        # An emulator makes its leads up at each start: a bookmark from another
        # one (the bundled demo, or the one pasted last time) would skip leads.
        args = ["--full-refresh", *args]
    (ROOT / "output").mkdir(exist_ok=True)
    try:
        code = run(
            meltano,
            "--environment",
            environment,
            "run",
            *args,
            "tap-mega",
            EMBEDDED_LOADER,
            env=env,
        )
    finally:
        if emulator is not None:
            emulator.terminate()
            emulator.wait(timeout=10)
    if code != 0:
        print(f"dev.py: meltano run failed (exit {code})", file=sys.stderr)
        return code
    print_summary(environment, env)
    return 0


def fleet_processes() -> ModuleType:
    """tap_mega/fleet/processes.py (standard library only), loaded by its path."""
    spec = importlib.util.spec_from_file_location("tap_mega_fleet_processes", FLEET_PROCESSES)
    assert spec is not None  # noqa: S101 - a file of this checkout
    assert spec.loader is not None  # noqa: S101
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fleet(args: list[str]) -> int:
    """Every account of an accounts file once, on Dagster: `python -m tap_mega.fleet`.

    Installs what it needs first (.venv with the fleet extra, Meltano and its
    plugins); MELTANO_SYS_DIR_ROOT, when set, says where the plugins live. The
    command runs in a process group of its own: Ctrl-C or SIGTERM here stops all
    of it (Dagster's webserver, daemon and code servers, the workers, Meltano,
    the taps), and nothing of it outlives this process.
    """
    ensure_venv()
    env = dict(os.environ)
    if not {"-h", "--help"} & set(args):
        sys_dir = os.environ.get("MELTANO_SYS_DIR_ROOT")
        meltano = ensure_meltano(sys_dir=Path(sys_dir) if sys_dir else None)
        env = meltano_env(TAP_MEGA_FLEET_MELTANO=str(meltano), TAP_MEGA_FLEET_PROJECT=str(ROOT))
    processes = fleet_processes()
    command = [str(PYTHON), "-m", "tap_mega.fleet", *args]
    with processes.GroupRun(command, grace=FLEET_GRACE, cwd=ROOT, env=env) as group:
        code = group.wait()
    if group.signalled is not None:
        name = signal.Signals(group.signalled).name
        print(
            f"dev.py: fleet stopped by {name}; every process it started has stopped",
            file=sys.stderr,
            flush=True,
        )
    return code


def about_settings_table() -> str:
    """The settings table of `tap-mega --about --format=markdown`."""
    about = subprocess.run(
        [str(BIN / "tap-mega"), "--about", "--format=markdown"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line for line in about.splitlines() if line.startswith("|")]
    return "\n".join(rows)


def docs(_args: list[str]) -> int:
    """Rewrite README's settings table from the tap itself, so they cannot drift."""
    ensure_venv(("test",))
    text = README.read_text()
    start, end = text.index(SETTINGS_START), text.index(SETTINGS_END)
    block = f"{SETTINGS_START}\n{about_settings_table()}\n"
    README.write_text(text[:start] + block + text[end:])
    print("README.md settings table rewritten from `tap-mega --about --format=markdown`")
    return 0


def compile_lock(
    uv: Path,
    lock: Path,
    inputs: list[str],
    args: list[str],
    stdin: str | None = None,
) -> None:
    """Resolve one lock in a scratch copy, check it, then put it in place.

    The scratch copy starts from the current lock, which uv keeps where it still
    fits (pass --upgrade, or --upgrade-package NAME, to move pins).
    """
    scratch = uv.parents[2] / lock.name  # beside the temporary venv, removed with it
    if lock.exists():
        shutil.copyfile(lock, scratch)
    command = [
        str(uv),
        "pip",
        "compile",
        "--quiet",
        "--no-config",
        "--universal",
        "--python-version",
        LOWEST_PYTHON,
        "--custom-compile-command",
        "python3 dev.py lock",
        "--index-url",
        "https://pypi.org/simple",
        *inputs,
        "--output-file",
        str(scratch),
        *args,
    ]
    completed = subprocess.run(command, cwd=ROOT, input=stdin, text=True, check=False)
    if completed.returncode != 0:
        sys.exit(f"could not resolve {lock.relative_to(ROOT)}")
    text = scratch.read_text()
    local = [
        line
        for line in text.splitlines()
        if "file:" in line or str(scratch.parent) in line or str(ROOT) in line
    ]
    if local:
        sys.exit(f"{lock.relative_to(ROOT)} would name a local path: {local[0]}")
    lock.write_text(text)
    pins = sum(1 for line in text.splitlines() if "==" in line.split(";")[0])
    print(f"wrote {lock.relative_to(ROOT)} ({pins} pins)")


def lock(args: list[str]) -> int:
    """Re-resolve every lock from PyPI, in a temporary venv that holds only uv."""
    LOCKS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        tool_venv = Path(scratch) / "venv"
        venv.create(tool_venv, with_pip=True)
        tool_bin = tool_venv / ("Scripts" if os.name == "nt" else "bin")
        quiet = ["--quiet", "--disable-pip-version-check"]
        if run(tool_bin / "python", "-m", "pip", "install", *quiet, LOCK_TOOL) != 0:
            sys.exit(f"could not install {LOCK_TOOL} into a temporary venv")
        uv = tool_bin / "uv"
        compile_lock(uv, DEV_LOCK, ["--extra", "test", "--extra", "fleet", "pyproject.toml"], args)
        compile_lock(uv, AIRBYTE_LOCK, ["--extra", "airbyte-test", "pyproject.toml"], args)
        compile_lock(uv, MELTANO_LOCK, ["-"], args, stdin=MELTANO_REQUIREMENT + "\n")
    print("the next `python3 dev.py sync` or `test` reinstalls the venvs whose lock changed")
    return 0


def main() -> int:
    """Dispatch `sync`, `test`, `docs`, `lock` or `fleet`."""
    commands = {"sync": sync, "test": test, "docs": docs, "lock": lock, "fleet": fleet}
    if sys.argv[1:2] in (["-h"], ["--help"], ["help"]):
        print(__doc__.strip())
        return 0
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__.strip(), file=sys.stderr)
        if len(sys.argv) > 1:
            print(f"dev.py: unknown command {sys.argv[1]!r}", file=sys.stderr)
        return 2
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
