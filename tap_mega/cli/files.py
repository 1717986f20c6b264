"""The JSON files a user hands either command: a failure names the file, never its content."""

from __future__ import annotations

import json
import re
import typing as t
from pathlib import Path

from tap_mega.errors import InputError


def read_json(path: str, what: str) -> t.Any:
    """Parse a JSON input file; None for an empty one. `what`: how the user named it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"cannot read the {what} file {path}: {exc.strerror or exc}"
        raise InputError(msg) from exc
    except UnicodeDecodeError as exc:  # JSON is UTF-8 text (RFC 8259)
        msg = f"the {what} file {path} is not valid JSON: not UTF-8 text"
        raise InputError(msg) from exc
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        msg = f"the {what} file {path} is not valid JSON"
        raise InputError(msg) from exc


def read_state_json(path: str, what: str) -> t.Any:
    """A state file's JSON; an empty one is a write cut short or a wrong path, never no state."""
    value = read_json(path, what)
    if value is None:
        msg = (
            f"the {what} file {path} is empty: it holds no state, and reading it as "
            "none would re-read every lead; to start from scratch run without it"
        )
        raise InputError(msg)
    return value


#: The --config file Meltano writes for each command, in its run directory.
MELTANO_CONFIG_FILE = re.compile(r"tap\.[0-9a-f-]+\.config\.json")


def meltano_leftover(state: str, configs: t.Sequence[str]) -> bool:
    """Whether `state` is the state.json an earlier Meltano command left, not this one's.

    Meltano rewrites `.meltano/run/tap-mega/state.json` only for a sync, after the
    command's config file, yet passes it to `--test` and `--discover` too: older
    than that config file, it was not looked up for this command.
    """
    path = Path(state)
    if path.name != "state.json":
        return False
    for config in map(Path, configs):
        if config.parent == path.parent and MELTANO_CONFIG_FILE.fullmatch(config.name):
            try:
                return config.stat().st_mtime_ns > path.stat().st_mtime_ns
            except OSError:
                return False
    return False


def read_json_object(path: str, what: str) -> dict[str, t.Any]:
    """A JSON file that must hold one object (a config, a catalog)."""
    value = read_json(path, what)
    if not isinstance(value, dict):
        msg = f"the {what} file {path} must hold a JSON object, not {json_kind(value)}"
        raise InputError(msg)
    return value


def json_kind(value: t.Any) -> str:
    """What a JSON value is, in words, without quoting it."""
    if value is None:
        return "nothing (the file is empty or null)"
    kinds = {dict: "an object", list: "a list", bool: "a boolean", str: "a string"}
    return kinds.get(type(value), "a number")
