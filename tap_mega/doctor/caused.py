"""Requests the doctor caused before it ran: Meltano's discovery under `meltano invoke`.

`meltano invoke tap-mega:doctor` with no arguments of the user's runs the
extractor's before-invoke hooks first, and so `tap-mega --discover`: its
custom-field sample is one request, unless `custom_fields_schema` declares the
fields or `include_custom_fields` is off. That request is the doctor's doing:
it belongs in the doctor's count, not in other integrations' use of the window.
Any argument (`--json`, say) makes Meltano skip the hooks. A cacheable
install (not editable) may reuse a cached catalog instead, and then the count
is not knowable: the report says so.
"""

from __future__ import annotations

import os
import typing as t
from dataclasses import dataclass
from pathlib import Path

if t.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

#: Set by Meltano for every extractor it invokes (its plugin info as variables).
MELTANO_EXTRACTOR = "MELTANO_EXTRACTOR_NAME"
#: Meltano's logging file for the SDK, in the plugin's run directory.
RUN_DIR_FILE = "SINGER_SDK_LOG_CONFIG"
#: Meltano writes it beside the catalog when the catalog may be cached.
CACHE_KEY = "tap.properties.cache_key"


@dataclass(frozen=True)
class Caused:
    """Requests sent before the doctor on its behalf, and how sure that count is."""

    requests: int = 0
    #: Said in the report's header: who sent them, or that it cannot be known.
    note: str = ""


def caused_by_meltano(
    argv: Sequence[str],
    config: Mapping[str, t.Any],
    *,
    from_env: bool,
    env: Mapping[str, str] = os.environ,
) -> Caused:
    """Meltano's discovery before this run, when its hooks ran and the sample was due.

    `config`: the settings files as given, before the doctor declares no custom
    fields for itself; `from_env`: `--config=ENV`, so `TAP_MEGA_*` count too.
    """
    if not env.get(MELTANO_EXTRACTOR) or not only_config(argv):
        return Caused()
    if not discovery_samples(config, env if from_env else {}):
        return Caused()
    run_dir = Path(env[RUN_DIR_FILE]).parent if env.get(RUN_DIR_FILE) else None
    if run_dir is not None and run_dir.is_dir() and not (run_dir / CACHE_KEY).exists():
        return Caused(1, ", 1 by Meltano's discovery before it")
    return Caused(0, "; 1 more by Meltano's discovery before it, unless its catalog was cached")


def discovery_samples(config: Mapping[str, t.Any], env: Mapping[str, str]) -> bool:
    """Whether `tap-mega --discover` with these settings asks MEGA for its sample of leads."""
    declared = env.get("TAP_MEGA_CUSTOM_FIELDS_SCHEMA") or config.get("custom_fields_schema")
    include = env.get("TAP_MEGA_INCLUDE_CUSTOM_FIELDS", config.get("include_custom_fields", True))
    off = include is False or str(include).strip().lower() in {"false", "0", "no", "off"}
    return declared is None and not off


def only_config(argv: Sequence[str]) -> bool:
    """Whether the arguments are only `--config` ones: the command's own, none of the user's."""
    items = iter(argv)
    for item in items:
        if item == "--config":
            next(items, None)
        elif not item.startswith("--config="):
            return False
    return True
