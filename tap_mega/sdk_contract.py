"""The singer-sdk private names tap-mega relies on: one list, checked by tests/test_sdk_contract.py.

None has a public equivalent in singer-sdk 0.54. Each entry says what breaks if a release
renames or reshapes it, and the test fails with that text, so an upgrade names what to
revisit. This module imports nothing of tap-mega: it is documentation the test reads.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from singer_sdk import Stream, Tap
from singer_sdk.plugin_base import PluginBase

#: How the SDK's `Stream.sync` starts the ERROR it logs for any exception.
SDK_UNHANDLED_ERROR = "An unhandled error occurred while syncing"


@dataclass(frozen=True)
class PrivateName:
    """One private SDK name we override, call or set, or a text of the SDK we match."""

    owner: type[t.Any]
    name: str
    #: "method", "attribute" (on a built stream), "classproperty" or "log text".
    kind: str
    #: A method's parameters, without annotations or defaults (`*` before keyword-only
    #: ones): a new default does not break us, a rename or a new required one does.
    #: For "log text": the text the method's source must still contain.
    shape: str
    if_it_breaks: str


CONTRACT: tuple[PrivateName, ...] = (
    PrivateName(
        Stream,
        "_increment_stream_state",
        "method",
        "(self, latest_record, *, context)",
        "LeadsStream keeps the bookmark from moving back during the lookback re-read; "
        "without it the SDK's sort check fails every incremental run with a lookback.",
    ),
    PrivateName(
        Stream,
        "_write_state_message",
        "method",
        "(self)",
        "The walk writes STATE after every page and on the way out (leads.py); without "
        "it a crash loses a whole sync, not one page. LeadsStream overrides it so a "
        "dry run (`--test`) writes no STATE.",
    ),
    PrivateName(
        Tap,
        "_validate_config",
        "method",
        "(self, *, raise_errors)",
        "TapMega checks settings with one line per problem naming the setting, and "
        "PluginBase.__init__ calls it whatever `validate_config` says (the one gate); "
        "without it bad settings surface as the SDK's log lines or a traceback.",
    ),
    PrivateName(
        Tap,
        "_handle_termination",
        "method",
        "(self, signum, frame)",
        "SIGTERM/SIGINT stop at a safe point and exit 143/130 (termination.py); without "
        "it the SDK writes STATE mid-RECORD and exits 0.",
    ),
    PrivateName(
        PluginBase,
        "_env_var_config",
        "classproperty",
        "",
        "TapMega parses number settings given as environment variables (plugin.py, "
        "NumbersFromEnv); without it TAP_MEGA_REQUEST_TIMEOUT=2.5 is refused.",
    ),
    PrivateName(
        Stream,
        "_stream_version",
        "attribute",
        "",
        "The one way the SDK's record path (`_generate_record_messages`) gives each "
        "RECORD a `version`: set it, and every RECORD after carries it (the mirror's "
        "full pass before ACTIVATE_VERSION; tests/test_record_path.py). Without it "
        "RECORDs would need a writer of our own again.",
    ),
    PrivateName(
        Stream,
        "state_manager.is_flushed",
        "attribute",
        "",
        "Set False after naming the account or moving the resume point or the "
        "bookmark back, so the next STATE is written (leads.py); else a STATE "
        "can be skipped.",
    ),
    PrivateName(
        Stream,
        "sync",
        "log text",
        SDK_UNHANDLED_ERROR,
        "MegaStream.log drops that ERROR for a failure the tap explains in one line "
        "(client.py); if the text changes, the ERROR is back beside that line, reading "
        "like a bug.",
    ),
)
