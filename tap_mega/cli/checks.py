"""Checks on settings that JSON Schema alone words badly or cannot express.

Every problem is one line that names the setting, so a user reading a scheduler's
log knows what to fix without reading a traceback.
"""

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

from tap_mega.state.lookback import LookbackError, parse_lookback
from tap_mega.timestamps import InvalidTimestampError, parse_timestamp

if t.TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

ENV_HINTS = {"token": "TAP_MEGA_TOKEN", "customer_id": "TAP_MEGA_CUSTOMER_ID"}
SECRET_SETTINGS = frozenset({"token"})
#: What can travel in an HTTP header: anything else fails deep inside http.client.
TOKEN_CHARACTERS = re.compile(r"[\x21-\x7e]+")


def find_problems(
    config: Mapping[str, t.Any],
    schema: dict[str, t.Any],
    *,
    environment_read: bool = False,
) -> list[str]:
    """Every problem with `config`, most basic first (misspelt, missing, type, meaning).

    `environment_read`: whether the settings came from the environment too
    (`--config=ENV`), so a missing one is explained truthfully.
    """
    problems = list(misspelt_settings(config, schema))
    if problems:
        return problems
    problems = list(missing_required(config, schema, environment_read=environment_read))
    if problems:
        return problems
    problems = [*null_defaults(config, schema), *schema_violations(config, schema)]
    if problems:
        return problems
    return list(meaning_problems(config))


def null_defaults(config: Mapping[str, t.Any], schema: dict[str, t.Any]) -> Iterator[str]:
    """Settings with a default given as null.

    The SDK's schema allows null everywhere, but the code would then use None,
    not the default (an api_url of "None", a timeout of None).
    """
    for name, spec in schema.get("properties", {}).items():
        if name in config and config[name] is None and "default" in spec:
            yield (
                f"setting `{name}` is null: leave it out to use its default "
                f"({spec['default']!r})"
            )


def missing_required(
    config: Mapping[str, t.Any],
    schema: dict[str, t.Any],
    *,
    environment_read: bool = False,
) -> Iterator[str]:
    """Required settings that are absent or empty."""
    for name in schema.get("required", []):
        if is_blank(config.get(name)):
            yield f"setting `{name}` is required: {where_to_set(name, environment_read)}"


def where_to_set(name: str, environment_read: bool) -> str:  # noqa: FBT001
    """Where a missing setting goes, true to whether the environment was read.

    An exported variable is only read with `--config=ENV`: telling a user who
    has exported it to set it would send them in circles.
    """
    variable = ENV_HINTS.get(name)
    if variable is None:
        return "set it in the config"
    if environment_read:
        return f"set it in the config or the environment variable {variable}"
    if os.environ.get(variable):
        return (
            f"{variable} is set in the environment, but tap-mega reads the environment "
            "only with `--config=ENV`: add `--config=ENV`, or set it in the config file"
        )
    return f"set it in the config file, or export {variable} and run with `--config=ENV`"


def schema_violations(config: Mapping[str, t.Any], schema: dict[str, t.Any]) -> Iterator[str]:
    """Type and range errors, worded per setting and never echoing a secret."""
    for error in sorted(Draft7Validator(schema).iter_errors(dict(config)), key=str):
        name = str(error.path[0]) if error.path else "config"
        if name in SECRET_SETTINGS:
            yield f"setting `{name}` is invalid: it must be a non-empty string"
        else:
            yield f"setting `{name}` is invalid: {error.message}"


def meaning_problems(config: Mapping[str, t.Any]) -> Iterator[str]:
    """Checks of meaning: a UUID, a timestamp, a URL that may carry the token, a duration."""
    token = config.get("token")
    if isinstance(token, str) and not TOKEN_CHARACTERS.fullmatch(token):
        # Never echo it: the value is a secret even when it is malformed.
        yield (
            "setting `token` must be printable ASCII without spaces or line breaks, "
            "as MEGA issues it (check for a stray character when it was pasted)"
        )
    for name in ("customer_id", "stage_id"):
        value = config.get(name)
        if not is_blank(value) and not is_uuid(str(value)):
            yield f"setting `{name}` must be a UUID, got {value!r}"
    start_date = config.get("start_date")
    if not is_blank(start_date):
        try:
            parse_timestamp(str(start_date))
        except InvalidTimestampError:
            yield f"setting `start_date` must be an ISO-8601 date-time, got {start_date!r}"
    if (problem := api_url_problem(config.get("api_url"))) is not None:
        yield problem
    try:
        parse_lookback(config.get("lookback_window"))
    except LookbackError as exc:
        yield str(exc)
    if config.get("custom_fields_schema") and config.get("include_custom_fields") is False:
        # Its columns would be declared and stay empty: MEGA is not asked for the fields.
        yield (
            "setting `custom_fields_schema` declares custom fields, but "
            "`include_custom_fields` is false, so MEGA sends none: drop one of the two"
        )


def numbers_from_env(config: dict[str, t.Any], schema: dict[str, t.Any]) -> dict[str, t.Any]:
    """`config` with number settings given as text (environment variables) parsed.

    The SDK parses integers and booleans from the environment but leaves numbers
    as text, which its schema then refuses. Text that is not a number is kept as
    it is, so validation names the setting.
    """
    parsed = dict(config)
    for name, value in config.items():
        types = schema.get("properties", {}).get(name, {}).get("type", [])
        if isinstance(value, str) and "number" in types:
            try:
                parsed[name] = float(value)
            except ValueError:
                continue
    return parsed


def environment_problem(
    schema: dict[str, t.Any], prefix: str, environ: Mapping[str, str]
) -> str | None:
    """The `<prefix><NAME>` variable the SDK could not parse, named with its setting.

    The SDK parses integer settings with `int()` and object ones as JSON, and lets
    the error out: a traceback, or a line blaming "a --config file" for an
    environment variable. None when every variable parses.
    """
    for name, spec in schema.get("properties", {}).items():
        variable = prefix + name.upper().replace("-", "_")
        if variable not in environ:
            continue
        types = spec.get("type", [])
        types = [types] if isinstance(types, str) else types
        try:
            if "integer" in types:
                int(environ[variable])
            elif "object" in types or "array" in types:
                json.loads(environ[variable])
        except ValueError:
            wanted = "a whole number" if "integer" in types else "JSON text"
            return f"setting `{name}` (from {variable}) must be {wanted}"
    return None


def is_blank(value: t.Any) -> bool:
    """Unset or empty; safe for any JSON value (a list is not hashable)."""
    return value is None or (isinstance(value, str) and value == "")


def is_uuid(value: str) -> bool:
    """Whether `value` is a UUID in any of its usual spellings."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def api_url_problem(value: t.Any) -> str | None:
    """Refuse a URL that would send the token in clear text.

    Plain http is allowed only to loopback addresses, where the emulator runs.
    """
    if is_blank(value):
        return None
    parsed = urlparse(str(value))
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        return f"setting `api_url` must be an http(s) URL, got {value!r}"
    if parsed.scheme == "http" and not is_loopback(parsed.hostname):
        return (
            f"setting `api_url` must use https (the token would travel in clear "
            f"text); plain http is only allowed to loopback addresses, got {value!r}"
        )
    if ENDPOINT_PATH in parsed.path.rstrip("/") + "/":
        # Pasted from MEGA's docs: every request would go to .../leads/api/agents/crm/leads.
        return (
            f"setting `api_url` is the base URL, without the endpoint's path "
            f"(such as https://app.gomega.ai), got {value!r}"
        )
    return None


#: The start of MEGA's endpoint paths, which the tap appends to `api_url` itself.
ENDPOINT_PATH = "/api/agents/"


def is_loopback(host: str) -> bool:
    """Whether `host` is this machine: localhost or a loopback address."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def unknown_settings(config: Mapping[str, t.Any], schema: dict[str, t.Any]) -> list[str]:
    """Names in `config` that no setting declares: usually a typo worth a warning."""
    known = set(schema.get("properties", {}))
    return sorted(name for name in config if name not in known)


#: How alike an unknown name and a setting must be to count as a misspelling of it.
MISSPELLING_CUTOFF = 0.8


def misspelt_settings(config: Mapping[str, t.Any], schema: dict[str, t.Any]) -> Iterator[str]:
    """Unknown names that are a near miss of a setting the config does not give.

    Ignored with a warning, a misspelt `start_date` reads everything and a misspelt
    `custom_fields_schema` discovers instead: the run spends hours of budget doing
    what the user did not ask for, with the warning lost in a scheduler's log.
    A name far from every setting stays a warning (`unknown_settings`).
    """
    known = {name.lower(): name for name in schema.get("properties", {})}
    for name in unknown_settings(config, schema):
        close = difflib.get_close_matches(name.lower(), known, n=1, cutoff=MISSPELLING_CUTOFF)
        if close and known[close[0]] not in config:
            yield (
                f"setting `{name}` is unknown: did you mean `{known[close[0]]}`? "
                "(a misspelt setting would be ignored)"
            )


def without_sample(config: Mapping[str, t.Any]) -> dict[str, t.Any]:
    """`config` for a tap that needs no custom-field declarations: it asks MEGA nothing.

    For commands that never read custom fields' types (source-mega's `check` and
    `read`, the doctor): declaring none, or the user's own `custom_fields_schema`,
    skips discovery's sample request.
    """
    return {**config, "custom_fields_schema": config.get("custom_fields_schema") or {}}
