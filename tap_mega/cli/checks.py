"""Checks on settings that JSON Schema words badly or cannot express, each one line naming it."""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
import typing as t
import uuid
from urllib.parse import urlparse

from jsonschema import Draft7Validator

from tap_mega.state.lookback import parse_lookback
from tap_mega.timestamps import (
    DurationError,
    InvalidTimestampError,
    parse_duration,
    parse_timestamp,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

SECRET_SETTINGS = frozenset({"token"})
#: What can travel in an HTTP header: anything else fails deep inside http.client.
TOKEN_CHARACTERS = re.compile(r"[\x21-\x7e]+")


def find_problems(
    config: Mapping[str, t.Any], schema: dict[str, t.Any], *, environment_read: bool
) -> list[str]:
    """Every problem with `config`, most basic first: a fix there may explain the rest."""
    if problems := list(misspelt_settings(config, schema)):
        return problems
    if problems := list(missing_required(config, schema, environment_read=environment_read)):
        return problems
    if problems := [*null_defaults(config, schema), *schema_violations(config, schema)]:
        return problems
    return list(meaning_problems(config))


def null_defaults(config: Mapping[str, t.Any], schema: dict[str, t.Any]) -> Iterator[str]:
    """Settings with a default given as null: the SDK's schema allows it; we would use None."""
    for name, spec in schema["properties"].items():
        if name in config and config[name] is None and "default" in spec:
            yield f"setting `{name}` is null: leave it out to use its default ({spec['default']!r})"


def missing_required(
    config: Mapping[str, t.Any], schema: dict[str, t.Any], *, environment_read: bool
) -> Iterator[str]:
    """Required settings that are absent or empty, and where to set them.

    An exported variable is read only with `--config=ENV`: telling a user who
    exported it to set it would send them in circles.
    """
    for name in schema.get("required", []):
        if config.get(name) not in (None, ""):
            continue
        variable = f"TAP_MEGA_{name.upper()}"
        if environment_read:
            where = f"set it in the config or the environment variable {variable}"
        elif os.environ.get(variable):
            where = (
                f"{variable} is set in the environment, but tap-mega reads the environment "
                "only with `--config=ENV`: add `--config=ENV`, or set it in the config file"
            )
        else:
            where = f"set it in the config file, or export {variable} and run with `--config=ENV`"
        yield f"setting `{name}` is required: {where}"


def schema_violations(config: Mapping[str, t.Any], schema: dict[str, t.Any]) -> Iterator[str]:
    """Type and range errors, worded per setting and never echoing a secret."""
    for error in sorted(Draft7Validator(schema).iter_errors(dict(config)), key=str):
        name = str(error.path[0]) if error.path else "config"
        if name in SECRET_SETTINGS:
            yield f"setting `{name}` is invalid: it must be a non-empty string"
        else:
            yield f"setting `{name}` is invalid: {error.message}"


def meaning_problems(config: Mapping[str, t.Any]) -> Iterator[str]:
    """What a type cannot say: a UUID, a timestamp, a URL that may carry the token, a duration."""
    if not TOKEN_CHARACTERS.fullmatch(config["token"]):  # a string: the schema checked it
        # Never echo it: the value is a secret even when it is malformed.
        yield (
            "setting `token` must be printable ASCII without spaces or line breaks, "
            "as MEGA issues it (check for a stray character when it was pasted)"
        )
    for name in ("customer_id", "stage_id"):
        if config.get(name) and not is_uuid(config[name]):
            yield f"setting `{name}` must be a UUID, got {config[name]!r}"
    if start_date := config.get("start_date"):
        try:
            parse_timestamp(start_date)
        except InvalidTimestampError:
            yield f"setting `start_date` must be an ISO-8601 date-time, got {start_date!r}"
    if (problem := api_url_problem(config.get("api_url"))) is not None:
        yield problem
    try:
        parse_lookback(config.get("lookback_window"))
        parse_duration(config.get("reconcile_interval"), "reconcile_interval", 0)
    except DurationError as exc:
        yield str(exc)
    if config.get("custom_fields_schema") and config.get("include_custom_fields") is False:
        # Its columns would be declared and stay empty: MEGA is not asked for the fields.
        yield (
            "setting `custom_fields_schema` declares custom fields, but "
            "`include_custom_fields` is false, so MEGA sends none: drop one of the two"
        )


def environment_problem(schema: dict[str, t.Any]) -> str:
    """The TAP_MEGA_* variable the SDK's `int()` or JSON parse failed on, with its setting."""
    for name, spec in schema["properties"].items():
        variable = f"TAP_MEGA_{name.upper()}"
        types = spec.get("type", [])
        try:
            if variable in os.environ and "integer" in types:
                int(os.environ[variable])
            elif variable in os.environ and ("object" in types or "array" in types):
                json.loads(os.environ[variable])
        except ValueError:
            wanted = "a whole number" if "integer" in types else "JSON text"
            return f"setting `{name}` (from {variable}) must be {wanted}"
    return "a TAP_MEGA_* variable does not parse"


def is_uuid(value: str) -> bool:
    """Whether `value` is a UUID in any of its usual spellings."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def api_url_problem(value: t.Any) -> str | None:
    """Refuse a URL that sends the token in clear text (http off loopback), or to a wrong path."""
    if value in (None, ""):
        return None
    parsed = urlparse(str(value))
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        return f"setting `api_url` must be an http(s) URL, got {value!r}"
    if parsed.scheme == "http" and not is_loopback(parsed.hostname):
        return (
            f"setting `api_url` must use https (the token would travel in clear "
            f"text); plain http is only allowed to loopback addresses, got {value!r}"
        )
    if "/api/agents/" in parsed.path.rstrip("/") + "/":
        # Pasted from MEGA's docs: the tap appends the endpoint's path itself.
        return (
            f"setting `api_url` is the base URL, without the endpoint's path "
            f"(such as https://app.gomega.ai), got {value!r}"
        )
    return None


def is_loopback(host: str) -> bool:
    """Whether `host` is this machine: localhost or a loopback address."""
    try:
        return host.lower() == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def misspelt_settings(config: Mapping[str, t.Any], schema: dict[str, t.Any]) -> Iterator[str]:
    """Unknown names that are a near miss of a setting the config does not give.

    Only warned of, a misspelt `start_date` would spend hours of budget reading everything.
    """
    known = {name.lower(): name for name in schema["properties"]}
    for name in sorted(set(config) - set(schema["properties"])):
        close = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.8)
        if close and known[close[0]] not in config:
            yield (
                f"setting `{name}` is unknown: did you mean `{known[close[0]]}`? "
                "(a misspelt setting would be ignored)"
            )


def without_sample(config: Mapping[str, t.Any]) -> dict[str, t.Any]:
    """`config` declaring its custom fields (none, or the user's): discovery asks MEGA nothing.

    For commands that never read custom fields' types: source-mega's `check` and `read`, the doctor.
    """
    return {**config, "custom_fields_schema": config.get("custom_fields_schema") or {}}
