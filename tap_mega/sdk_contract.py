"""The singer-sdk private names tap-mega relies on: one list, one test (tests/test_sdk_contract.py).

Everything else goes through public hooks. These have no public equivalent in
singer-sdk 0.54, so each entry says what we rely on, why, and what breaks if an
SDK release renames or reshapes it: the contract test fails with that text, so
an upgrade names what to revisit instead of silently losing the per-page STATE
or the SIGTERM handling. Overrides are also marked `@override`, which
makes mypy fail on a rename; the test adds the shape of the parameters.

`shape` is the parameter list without annotations or defaults (`*` before
keyword-only ones): what we pass or accept. A default added to a parameter does
not break us; a rename, a removal or a new required parameter does.
This module imports nothing of tap-mega: it is documentation the test reads.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from singer_sdk import RESTStream, Stream, Tap
from singer_sdk.plugin_base import PluginBase


@dataclass(frozen=True)
class PrivateName:
    """One private SDK name we override, call or set."""

    owner: type[t.Any]
    name: str
    #: "method" (checked by `shape`), "attribute" (on a built stream) or "classproperty".
    kind: str
    #: The parameters we rely on; methods only.
    shape: str
    #: Why no public hook serves, and what stops working if this changes.
    if_it_breaks: str


CONTRACT: tuple[PrivateName, ...] = (
    PrivateName(
        Stream, "_increment_stream_state", "method", "(self, latest_record, *, context)",
        "LeadsStream keeps the bookmark from moving back during the lookback re-read; "
        "without it the SDK's sort check fails every incremental run with a lookback.",
    ),
    PrivateName(
        Stream, "_write_state_message", "method", "(self)",
        "The walk writes STATE after every page and on the way out (leads.py); without "
        "it a crash loses a whole sync, not one page. LeadsStream overrides it so a "
        "dry run (`--test`) writes no STATE.",
    ),
    PrivateName(
        RESTStream, "_request", "method", "(self, prepared_request, context)",
        "MegaStream.send_request wraps the SDK's send (auth, METRIC log, "
        "validate_response) in our pacing and retries (client.py).",
    ),
    PrivateName(
        Tap, "_validate_config", "method", "(self, *, raise_errors)",
        "TapMega checks settings with one line per problem naming the setting, and "
        "PluginBase.__init__ calls it whatever `validate_config` says (the one gate); "
        "without it bad settings surface as the SDK's log lines or a traceback.",
    ),
    PrivateName(
        Tap, "_handle_termination", "method", "(self, signum, frame)",
        "SIGTERM/SIGINT stop at a safe point and exit 143/130 (termination.py); without "
        "it the SDK writes STATE mid-RECORD and exits 0.",
    ),
    PrivateName(
        PluginBase, "_env_var_config", "classproperty", "",
        "TapMega parses number settings given as environment variables (plugin.py, "
        "NumbersFromEnv); without it TAP_MEGA_REQUEST_TIMEOUT=2.5 is refused.",
    ),
    PrivateName(
        Stream, "_stream_version", "attribute", "",
        "The one way the SDK's record path (`_generate_record_messages`) gives each "
        "RECORD a `version`: set it, and every RECORD after carries it (the mirror's "
        "full pass before ACTIVATE_VERSION; tests/test_record_path.py). Without it "
        "RECORDs would need a writer of our own again.",
    ),
    PrivateName(
        Stream, "state_manager.is_flushed", "attribute", "",
        "Set False after naming the account or moving the resume point or the "
        "bookmark back, so the next STATE is written (leads.py); else a STATE "
        "can be skipped.",
    ),
)
