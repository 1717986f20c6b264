"""The `source-mega` command: tap-mega speaking the Airbyte protocol.

Airbyte dropped its Singer bridge, so the tap bridges itself: the same TapMega
and LeadsStream run, and every Singer message the SDK writes is translated on
the way out (RECORD to RECORD, STATE to per-stream STATE, logging to LOG).
Messages are plain JSON built with the stdlib: the protocol is a handful of
dict shapes, and the pydantic-based model packages would cost every Singer user
a heavy dependency for no behaviour.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import sys
import time
import traceback
import typing as t
from pathlib import Path

from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.metrics import METRICS_LOGGER_NAME
from singer_sdk.singerlib import Catalog, RecordMessage, StateMessage
from singer_sdk.singerlib.encoding.base import GenericSingerWriter

from tap_mega import settings
from tap_mega.cli import failure_line
from tap_mega.client import MegaAuthError
from tap_mega.redaction import redact, register_secret
from tap_mega.tap import TapMega
from tap_mega.termination import Terminated
from tap_mega.writer import write_stdout

if t.TYPE_CHECKING:

    from singer_sdk.singerlib import Message

    from tap_mega.streams import LeadsStream

Json = dict[str, t.Any]
EXIT_FAILURE = 1
INCREMENTAL = "incremental"
FULL_REFRESH = "full_refresh"
LOG_LEVELS = {
    logging.CRITICAL: "FATAL",
    logging.ERROR: "ERROR",
    logging.WARNING: "WARN",
    logging.INFO: "INFO",
    logging.DEBUG: "DEBUG",
}
# Failures the user fixes in the connector's settings, not by retrying.
CONFIG_FAILURES = (MegaAuthError, settings.SettingsError, ConfigValidationError)


class InputError(Exception):
    """A --config, --catalog or --state file that cannot be used."""


class Output:
    """One Airbyte message per stdout line, with every secret redacted from free text.

    Records and state carry MEGA's data, never a setting; log and error text can
    quote anything (an exception, a URL), so only those pass through `redact`,
    which knows every secret the tap registered (see redaction.py).
    """

    def emit(self, message: Json) -> None:
        """Write one message as one JSON line, and flush: Airbyte reads as we go."""
        if message["type"] in {"LOG", "TRACE", "CONNECTION_STATUS"}:
            message = redacted(message)
        write_stdout(json.dumps(message, default=str, separators=(",", ":")) + "\n")

    def log(self, level: str, text: str) -> None:
        """A LOG message."""
        self.emit({"type": "LOG", "log": {"level": level, "message": text}})

    def error(self, text: str, failure_type: str, stack_trace: str | None = None) -> None:
        """A TRACE error: how Airbyte learns why a sync failed and whose fault it was."""
        error: Json = {"message": text, "failure_type": failure_type}
        if stack_trace:
            error["internal_message"] = text
            error["stack_trace"] = stack_trace
        self.emit({
            "type": "TRACE",
            "trace": {"type": "ERROR", "emitted_at": now_ms(), "error": error},
        })


def redacted(value: t.Any) -> t.Any:
    """`value` with every secret redacted from its strings, before JSON escapes them.

    Redacting the encoded text would miss a secret that JSON escapes (a pasted
    token with a `"` in it).
    """
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redacted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redacted(item) for item in value]
    return value


def now_ms() -> int:
    """Airbyte's timestamps: epoch milliseconds."""
    return int(time.time() * 1000)


class AirbyteWriter(GenericSingerWriter[str, "Message"]):
    """The Tap's message writer: Singer messages in, Airbyte messages out."""

    def __init__(self, output: Output) -> None:
        """Write through `output`."""
        self.output = output

    def serialize_message(self, message: Message) -> str:
        """The Airbyte lines for `message` (the SDK calls this only for debugging)."""
        return "\n".join(json.dumps(line) for line in translate(message))

    def write_message(self, message: Message) -> None:
        """Emit what Airbyte has a use for; SCHEMA and the rest are dropped."""
        for line in translate(message):
            self.output.emit(line)


def translate(message: Message) -> list[Json]:
    """Airbyte's equivalent of one Singer message; [] when it has none.

    SCHEMA has none: Airbyte learns schemas from `discover` alone.
    """
    if isinstance(message, RecordMessage):
        return [{
            "type": "RECORD",
            "record": {"stream": message.stream, "data": message.record, "emitted_at": now_ms()},
        }]
    if isinstance(message, StateMessage):
        bookmarks = message.value.get("bookmarks", {})
        return [stream_state_message(name, bookmark) for name, bookmark in bookmarks.items()]
    return []


def stream_state_message(name: str, stream_state: Json) -> Json:
    """A per-stream STATE carrying the tap's bookmark for `name` unchanged."""
    return {
        "type": "STATE",
        "state": {
            "type": "STREAM",
            "stream": {"stream_descriptor": {"name": name}, "stream_state": stream_state},
        },
    }


class AirbyteLogHandler(logging.Handler):
    """Everything the tap logs (progress, warnings) as LOG messages on stdout.

    Airbyte shows LOG messages in the sync's log; stderr is not part of the protocol.
    """

    def __init__(self, output: Output) -> None:
        """Write through `output`."""
        super().__init__()
        self.output = output

    def emit(self, record: logging.LogRecord) -> None:
        """One LOG per log record."""
        try:
            level = LOG_LEVELS.get(record.levelno, "INFO")
            self.output.log(level, f"{record.name}: {record.getMessage()}")
        except Exception:  # noqa: BLE001 - logging must never break a sync
            self.handleError(record)


def route_logging(output: Output, level: int = logging.INFO) -> None:
    """Send the root logger, and so the SDK's and the tap's loggers, to LOG messages.

    The SDK's METRIC lines (request timings, record counts) are for Singer tooling;
    Airbyte counts records itself, so they are shown only at DEBUG. A filter, not
    the metrics logger's level: the SDK resets that whenever a tap is built.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = AirbyteLogHandler(output)
    if level > logging.DEBUG:
        handler.addFilter(lambda record: record.name != METRICS_LOGGER_NAME)
    root.addHandler(handler)
    root.setLevel(level)


# --------------------------------------------------------------------------- #
# Inputs
# --------------------------------------------------------------------------- #
def read_json(path: str, what: str) -> t.Any:
    """Parse a JSON input file, refusing it in one line (never echoing its content)."""
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


def read_config(path: str) -> Json:
    """The connector's settings, as Airbyte wrote them."""
    config = read_json(path, "config")
    if not isinstance(config, dict):
        msg = "invalid settings: the config must be a JSON object"
        raise InputError(msg)
    return config


def singer_state(airbyte_state: t.Any) -> Json:
    """The tap's state from Airbyte's: per-stream states, or a legacy object.

    Airbyte sends a list of per-stream states (possibly `[]`); older platforms
    send one legacy object, which for this source is the tap's own state.
    """
    if not airbyte_state:
        return {}
    if isinstance(airbyte_state, dict):
        legacy = airbyte_state.get("data", airbyte_state)
        return legacy if isinstance(legacy, dict) and "bookmarks" in legacy else {}
    if not isinstance(airbyte_state, list):
        msg = "the state must be a list of per-stream states"
        raise InputError(msg)
    if not all(isinstance(entry, dict) for entry in airbyte_state):
        msg = "the state must be a list of per-stream states (JSON objects)"
        raise InputError(msg)
    bookmarks: Json = {}
    for entry in airbyte_state:
        stream = entry.get("stream")
        if not isinstance(stream, dict):
            if entry.get("type") == "LEGACY":
                return singer_state(entry.get("data"))
            continue
        name = stream.get("stream_descriptor", {}).get("name")
        stream_state = stream.get("stream_state")
        if name and isinstance(stream_state, dict) and stream_state:
            bookmarks[name] = stream_state
    return {"bookmarks": bookmarks} if bookmarks else {}


def sync_modes(configured_catalog: t.Any) -> dict[str, str]:
    """Stream name to the sync mode Airbyte asks for."""
    streams = configured_catalog.get("streams") if isinstance(configured_catalog, dict) else None
    if not isinstance(streams, list):
        msg = "the catalog must be a configured catalog with a `streams` list"
        raise InputError(msg)
    try:
        return {entry["stream"]["name"]: entry.get("sync_mode", FULL_REFRESH) for entry in streams}
    except (KeyError, TypeError, AttributeError) as exc:
        msg = "the catalog has a stream entry without `stream.name`"
        raise InputError(msg) from exc


def selected_fields(configured_catalog: Json) -> dict[str, frozenset[str] | None]:
    """Stream name to the top-level fields Airbyte asks for; None: every field.

    The protocol has no field list: Airbyte's column selection prunes the
    configured stream's `json_schema` to the selected columns, so its
    `properties` are the selection. A schema without them (`{}`, common in
    hand-written catalogs) selects everything. Call after `sync_modes`, which
    refuses a catalog of another shape.
    """
    fields: dict[str, frozenset[str] | None] = {}
    for entry in configured_catalog["streams"]:
        schema = entry["stream"].get("json_schema")
        properties = schema.get("properties") if isinstance(schema, dict) else None
        fields[entry["stream"]["name"]] = (
            frozenset(properties) if isinstance(properties, dict) else None
        )
    return fields


# --------------------------------------------------------------------------- #
# Commands
# --------------------------------------------------------------------------- #
def connection_specification() -> Json:
    """The tap's settings schema, secrets flagged the way Airbyte's UI masks them."""
    schema = copy.deepcopy(TapMega.config_jsonschema)
    schema.setdefault("$schema", "http://json-schema.org/draft-07/schema#")
    schema["title"] = "MEGA Spec"
    for name in settings.SECRET_SETTINGS:
        schema["properties"][name]["airbyte_secret"] = True
    return schema


def spec_message() -> Json:
    """The SPEC message."""
    return {
        "type": "SPEC",
        "spec": {
            "documentationUrl": "https://pypi.org/project/tap-mega/",
            "connectionSpecification": connection_specification(),
            "supportsIncremental": True,
        },
    }


def make_tap(config: Json, **kwargs: t.Any) -> TapMega:
    """The tap, configured only by Airbyte's file (no environment variables)."""
    return TapMega(config=config, parse_env_config=False, **kwargs)


def airbyte_stream(tap: TapMega, name: str) -> Json:
    """One stream of the Airbyte catalog, described by the SDK stream itself."""
    stream = tap.streams[name]
    entry: Json = {
        "name": stream.name,
        "json_schema": stream.schema,
        "supported_sync_modes": [FULL_REFRESH],
        "source_defined_primary_key": [[key] for key in stream.primary_keys or ()],
    }
    if stream.replication_key:
        entry["supported_sync_modes"].append(INCREMENTAL)
        entry["source_defined_cursor"] = True
        entry["default_cursor_field"] = [stream.replication_key]
    return entry


def catalog_message(tap: TapMega) -> Json:
    """The CATALOG message."""
    return {
        "type": "CATALOG",
        "catalog": {"streams": [airbyte_stream(tap, name) for name in tap.streams]},
    }


def check(tap: TapMega) -> None:
    """One request for one lead: proves URL, token, customer and scope in one go.

    Same request path as a sync (auth, retries, rate-limit waits, body checks),
    so a check that succeeds means the first page of a sync would too.
    """
    stream = t.cast("LeadsStream", tap.streams["leads"])
    paginator = stream.get_new_paginator()
    prepared = stream._prepare_request(context=None, page=paginator)  # noqa: SLF001
    response = stream.request_decorator(stream._request)(prepared, None)  # noqa: SLF001
    stream.read_page(response)


def singer_catalog(
    tap: TapMega,
    modes: dict[str, str],
    fields: dict[str, frozenset[str] | None],
) -> Catalog:
    """The tap's catalog with exactly the streams and top-level fields Airbyte configured.

    The SDK keeps the primary key and the replication key whatever the selection:
    every record carries `id` and the `updated_at` its bookmark is read from.
    """
    catalog = Catalog.from_dict(tap.catalog_dict)
    for name, entry in catalog.items():
        entry.metadata.root.selected = name in modes
        wanted = fields.get(name)
        if wanted is None:
            continue
        for field in entry.schema.properties or {}:
            entry.metadata[("properties", field)].selected = field in wanted
    return catalog


def read(
    config: Json,
    modes: dict[str, str],
    fields: dict[str, frozenset[str] | None],
    state: Json,
    output: Output,
) -> None:
    """Run the tap's sync; a full refresh starts without the stream's bookmark."""
    bookmarks = {
        name: bookmark
        for name, bookmark in state.get("bookmarks", {}).items()
        if modes.get(name) == INCREMENTAL
    }
    catalog = singer_catalog(make_tap(config, validate_config=False), modes, fields)
    tap = make_tap(
        config,
        catalog=catalog,
        state={"bookmarks": bookmarks} if bookmarks else {},
        message_writer=AirbyteWriter(output),
    )
    tap.sync_all()


def failure_type(exc: BaseException) -> str:
    """Whose move it is: the user's settings (`config_error`) or anything else."""
    return "config_error" if isinstance(exc, (*CONFIG_FAILURES, InputError)) else "system_error"


def describe(exc: BaseException) -> str | None:
    """The one line for a known failure, as `tap-mega` prints it; None for a bug."""
    if isinstance(exc, InputError):
        return str(exc)
    return failure_line(exc)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The four Airbyte commands, their file arguments and airbyte-cdk's `--debug`."""
    parser = argparse.ArgumentParser(prog="source-mega", description=__doc__.splitlines()[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true",
                        help="DEBUG logs, the SDK's METRIC lines included")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("spec", help="print the settings schema", parents=[common])
    for name in ("check", "discover", "read"):
        command = commands.add_parser(name, parents=[common])
        command.add_argument("--config", required=True)
        if name == "read":
            command.add_argument("--catalog", required=True)
            command.add_argument("--state")
    return parser.parse_args(argv)


def debug_requested(args: argparse.Namespace) -> bool:
    """`--debug` or `LOG_LEVEL=debug`: the two switches airbyte-cdk's connectors read."""
    return bool(args.debug) or os.environ.get("LOG_LEVEL", "").lower() == "debug"


def run(args: argparse.Namespace, output: Output) -> None:
    """Carry out one command; failures propagate to `main`."""
    if args.command == "spec":
        output.emit(spec_message())
        return
    config = read_config(args.config)
    for name in settings.SECRET_SETTINGS:
        register_secret(config.get(name))
    if args.command == "check":
        try:
            make_tap(config)  # the user's settings, checked before the page size is overridden
            check(make_tap({**config, "page_size": 1}, validate_config=False))
        except Exception as exc:
            line = describe(exc)
            if line is None:
                raise
            output.emit({"type": "CONNECTION_STATUS",
                         "connectionStatus": {"status": "FAILED", "message": line}})
            return
        output.emit({"type": "CONNECTION_STATUS", "connectionStatus": {"status": "SUCCEEDED"}})
    elif args.command == "discover":
        output.emit(catalog_message(make_tap(config)))
    else:
        configured_catalog = read_json(args.catalog, "catalog")
        modes = sync_modes(configured_catalog)
        fields = selected_fields(configured_catalog)
        state = singer_state(read_json(args.state, "state")) if args.state else {}
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
        line = describe(exc)
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
