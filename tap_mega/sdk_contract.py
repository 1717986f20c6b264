"""The singer-sdk private names tap-mega relies on (none public in 0.54), checked by a test.

tests/test_sdk_contract.py fails with an entry's `if_it_breaks`, naming what to revisit.
"""

from __future__ import annotations

import typing as t

from singer_sdk import Stream, Tap
from singer_sdk.plugin_base import PluginBase

#: How the SDK's `Stream.sync` starts the ERROR it logs for any exception.
SDK_UNHANDLED_ERROR = "An unhandled error occurred while syncing"


class PrivateName(t.NamedTuple):
    """One private SDK name we override, call or set, or a text of the SDK we match."""

    owner: type[t.Any]
    name: str
    kind: str  # "method", "attribute" (on a built stream), "classproperty" or "log text"
    #: A method's parameter names and kinds (`*` before keyword-only ones): a new default
    #: does not break us, a rename or a new required one does. For "log text": the text.
    shape: str
    if_it_breaks: str


CONTRACT: tuple[PrivateName, ...] = (
    PrivateName(
        Stream,
        "_increment_stream_state",
        "method",
        "(self, latest_record, *, context)",
        "LeadsStream keeps the bookmark from moving back in the lookback re-read; else "
        "the SDK's sort check fails every incremental run with a lookback.",
    ),
    PrivateName(
        Stream,
        "_write_state_message",
        "method",
        "(self)",
        "The walk writes STATE after every page (walk.py), and the mirror after its "
        "check and ACTIVATE_VERSION (reconcile.py), so a crash loses one page, not a "
        "sync; LeadsStream overrides it so `--test` writes none.",
    ),
    PrivateName(
        Tap,
        "_validate_config",
        "method",
        "(self, *, raise_errors)",
        "TapMega's one settings gate (one line naming the setting): PluginBase.__init__ "
        "calls it whatever `validate_config` says.",
    ),
    PrivateName(
        Tap,
        "_handle_termination",
        "method",
        "(self, signum, frame)",
        "SIGTERM/SIGINT stop at a safe point, exit 143/130 (termination.py); the SDK's "
        "writes STATE mid-RECORD and exits 0.",
    ),
    PrivateName(
        PluginBase,
        "_env_var_config",
        "classproperty",
        "",
        "NumbersFromEnv (plugin.py) parses number settings from the environment; "
        "else TAP_MEGA_REQUEST_TIMEOUT=2.5 is refused.",
    ),
    PrivateName(
        Stream,
        "_stream_version",
        "attribute",
        "",
        "The SDK's one way to give every RECORD a `version`: the reconcile pass's, "
        "before its ACTIVATE_VERSION (leads.py; tests/test_record_path.py).",
    ),
    PrivateName(
        Stream,
        "state_manager.is_flushed",
        "attribute",
        "",
        "Set False after naming the account or moving the resume point or the bookmark "
        "back, or the mirror changing, so the next STATE is written (client.py).",
    ),
    PrivateName(
        Stream,
        "sync",
        "log text",
        SDK_UNHANDLED_ERROR,
        "MegaStream.log drops that ERROR for a failure the tap explains in one line "
        "(client.py); else it is back beside that line, reading like a bug.",
    ),
)
