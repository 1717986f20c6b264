"""The `source-mega` command: tap-mega speaking the Airbyte protocol.

Airbyte dropped its Singer bridge, so the tap bridges itself: the same TapMega
and LeadsStream run, and every Singer message the SDK writes is translated on
the way out (RECORD to RECORD, STATE to per-stream STATE, logging to LOG).

The package reads top-down: this entry point, then `commands` (what each
command does), then `inputs` (the files Airbyte hands us) and `messages` (what
goes out on stdout).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback

from tap_mega.airbyte.commands import (
    catalog_message,
    check_connection,
    failure_type,
    make_tap,
    read,
    spec_message,
    with_airbyte_defaults,
)
from tap_mega.airbyte.inputs import (
    read_config,
    selected_fields,
    singer_state,
    sync_modes,
)
from tap_mega.airbyte.messages import Output, route_logging
from tap_mega.cli.checks import SECRET_SETTINGS, without_sample
from tap_mega.cli.files import read_json, read_state_json
from tap_mega.errors import failure_line
from tap_mega.redaction import register_secret
from tap_mega.termination import Terminated

EXIT_FAILURE = 1


#: Each command and what it does, as `source-mega --help` shows them.
COMMANDS = {
    "spec": "print the connector's specification (the settings schema); reads no file, "
    "sends no request",
    "check": "check the settings, then the URL, token, customer and scope with one "
    "request for one lead; prints CONNECTION_STATUS",
    "discover": "print the catalog (the leads stream and its JSON schema); one request "
    "samples custom fields' types, none with custom_fields_schema set or "
    "include_custom_fields false",
    "read": "sync what an Airbyte configured catalog selects, from --state if given; "
    "prints RECORD, STATE and LOG messages",
}
EPILOG = (
    "Each command prints Airbyte messages, one JSON object a line, on stdout; a failure "
    "is one TRACE error message and exit code 1. `source-mega COMMAND --help` lists "
    "a command's files."
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The four Airbyte commands, their file arguments and airbyte-cdk's `--debug`."""
    parser = argparse.ArgumentParser(
        prog="source-mega",
        description=__doc__.splitlines()[0],
        epilog=EPILOG,
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", help="DEBUG logs, the SDK's METRIC lines included"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, summary in COMMANDS.items():
        command = commands.add_parser(name, help=summary, description=summary, parents=[common])
        if name == "spec":
            continue
        command.add_argument(
            "--config",
            required=True,
            metavar="FILE",
            help="the connector's settings (JSON, as `spec` describes)",
        )
        if name == "read":
            command.add_argument(
                "--catalog",
                required=True,
                metavar="FILE",
                help="an Airbyte configured catalog (JSON): `streams` of "
                "{stream: {name, json_schema}, sync_mode}",
            )
            command.add_argument(
                "--state", metavar="FILE", help="the state Airbyte saved (JSON), to go on from"
            )
    return parser.parse_args(argv)


def debug_requested(args: argparse.Namespace) -> bool:
    """`--debug` or `LOG_LEVEL=debug`: the two switches airbyte-cdk's connectors read."""
    return bool(args.debug) or os.environ.get("LOG_LEVEL", "").lower() == "debug"


def run(args: argparse.Namespace, output: Output) -> None:
    """Carry out one command; failures propagate to `main`."""
    if args.command == "spec":
        output.emit(spec_message())
        return
    config = with_airbyte_defaults(read_config(args.config))
    for name in SECRET_SETTINGS:
        register_secret(config.get(name))
    if args.command == "check":
        try:
            # The user's settings, checked before the page size is overridden.
            make_tap(without_sample(config))
            check_connection(
                make_tap(without_sample({**config, "page_size": 1}), validate_config=False)
            )
        except Exception as exc:
            line = failure_line(exc)
            if line is None:
                raise
            output.emit(
                {
                    "type": "CONNECTION_STATUS",
                    "connectionStatus": {"status": "FAILED", "message": line},
                }
            )
            return
        output.emit({"type": "CONNECTION_STATUS", "connectionStatus": {"status": "SUCCEEDED"}})
    elif args.command == "discover":
        output.emit(catalog_message(make_tap(config)))
    else:
        configured_catalog = read_json(args.catalog, "catalog")
        modes = sync_modes(configured_catalog)
        fields = selected_fields(configured_catalog)
        state = (
            singer_state(read_state_json(args.state, "state"), f"the state file {args.state}")
            if args.state
            else {}
        )
        read(config, modes, fields, state, output)


def main(argv: list[str] | None = None) -> None:
    """Run one Airbyte command; a failure becomes one TRACE error and exit code 1."""
    args = parse_args(argv)
    output = Output()
    route_logging(output, logging.DEBUG if debug_requested(args) else logging.INFO)
    try:
        run(args, output)
    except Terminated as exc:
        # Airbyte stops a sync with SIGTERM: a failure, never a success, and retryable.
        message = f"{exc}: stopped; the last STATE emitted is where the next sync resumes"
        output.error(message, "transient_error")
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - every failure must reach Airbyte as a TRACE
        line = failure_line(exc)
        if line is None:
            output.error(
                f"tap-mega failed unexpectedly: {type(exc).__name__}: {exc}",
                "system_error",
                stack_trace=traceback.format_exc(),
            )
        else:
            output.error(line, failure_type(exc))
        sys.exit(EXIT_FAILURE)


if __name__ == "__main__":
    main()
