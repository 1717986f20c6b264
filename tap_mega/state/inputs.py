"""The state a run starts from: the shapes people hold, and whose account it is.

Users hold three (`SHAPES`); any other is refused, as "no bookmark" would re-read all.
The bookmark names its account (`ACCOUNT_KEY`): another account's would skip its leads.
"""

from __future__ import annotations

import contextlib
import json
import typing as t
import uuid
from urllib.parse import urlparse

from tap_mega.cli.checks import is_loopback
from tap_mega.cli.files import json_kind
from tap_mega.errors import InputError
from tap_mega.settings import DEFAULT_API_URL

if t.TYPE_CHECKING:
    from collections.abc import Mapping

#: Beside `replication_key_value`, where the SDK, Meltano and source-mega all keep it.
ACCOUNT_KEY = "account"
SHAPES = (
    'a Singer state {"bookmarks": ...}, a STATE message {"type": "STATE", "value": ...} '
    'or Meltano\'s {"singer_state": ...}'
)


def singer_state(value: t.Any, source: str) -> dict[str, t.Any]:
    """The plain Singer state in `value`; `source` ("the --state file x") names it if refused."""
    if value is None or value == {}:
        return {}
    if not isinstance(value, dict):
        problem: str | None = json_kind(value)
    elif value.get("type") == "STATE" and isinstance(value.get("value"), dict):
        return singer_state(value["value"], source)
    elif set(value) == {"singer_state"} and isinstance(value["singer_state"], dict):
        return singer_state(value["singer_state"], source)
    elif (problem := singer_state_problem(value)) is None:
        return value
    msg = f"{source} is not a state tap-mega can read ({problem}); it accepts {SHAPES}"
    raise InputError(msg)


def singer_state_problem(value: dict[str, t.Any]) -> str | None:
    """Why an object is not a plain Singer state; None when it is one."""
    if isinstance(value.get("type"), str):
        return f"a {value['type']} message"
    if unknown := sorted(set(value) - {"bookmarks", "currently_syncing"}):
        return "an object with " + ", ".join(f"`{key}`" for key in unknown[:3])
    bookmarks = value.get("bookmarks", {})
    if not isinstance(bookmarks, dict):
        return f"its `bookmarks` is {json_kind(bookmarks)}, not an object"
    for name, bookmark in bookmarks.items():
        if not isinstance(bookmark, dict):
            return f"its bookmark for `{name}` is {json_kind(bookmark)}, not an object"
    return None


def ignored_bookmark_problem(
    bookmarks: Mapping[str, Mapping[str, t.Any]], replication_keys: Mapping[str, str | None]
) -> str | None:
    """Why the SDK would skip a bookmark in silence, and read everything again; None if not.

    It skips one for a stream it does not have, and a `replication_key_value` without
    its stream's `replication_key` (`replication_keys`, by stream name).
    """
    if unknown := sorted(set(bookmarks) - set(replication_keys)):
        names = ", ".join(f"`{name}`" for name in unknown[:3])
        streams = ", ".join(f"`{name}`" for name in replication_keys)
        return (
            f"the state has a bookmark for {names}, which is no stream of tap-mega "
            f"(it has {streams}): it would be ignored and every lead read again"
        )
    for name, bookmark in bookmarks.items():
        expected = replication_keys[name]
        if "replication_key_value" in bookmark and bookmark.get("replication_key") != expected:
            return (
                f"the state's `{name}` bookmark has a `replication_key_value` but its "
                f"`replication_key` is {json.dumps(bookmark.get('replication_key'))}, not "
                f'"{expected}": it would be ignored and every lead read again; '
                f'add "replication_key": "{expected}" to it'
            )
    return None


def account_of(config: Mapping[str, t.Any]) -> dict[str, str]:
    """The account a run reads: the customer and the API host (the emulator's port changes)."""
    host = urlparse(str(config.get("api_url") or DEFAULT_API_URL)).hostname or ""
    return {"customer_id": str(config.get("customer_id", "")).lower(), "api_host": host.lower()}


def account_problem(
    bookmark: Mapping[str, t.Any], config: Mapping[str, t.Any], stream: str
) -> str | None:
    """Why `bookmark` may not be used with `config`; None when it may (an older tap's has none)."""
    if ACCOUNT_KEY not in bookmark:
        return None
    recorded = bookmark[ACCOUNT_KEY]
    current = account_of(config)
    if not isinstance(recorded, dict) or not all(
        isinstance(recorded.get(key), str) for key in current
    ):
        return (
            f"the state's `{stream}` bookmark has an `{ACCOUNT_KEY}` tap-mega did not write; "
            f"{CLEAR_ADVICE}"
        )
    if canonical_account(recorded) == canonical_account(current):
        return None
    return (
        f"the state is for customer {recorded['customer_id']} at {recorded['api_host']}, "
        f"but the config reads customer {current['customer_id']} at {current['api_host']}: "
        f"its bookmark would skip this account's leads; {CLEAR_ADVICE}"
    )


CLEAR_ADVICE = (
    "to start this account from scratch run without --state (under Meltano: "
    "`meltano state clear <state-id>`, or `meltano run --full-refresh`)"
)


def canonical_account(account: Mapping[str, str]) -> tuple[str, str]:
    """One spelling of an account: a UUID's (case, braces, hyphens); loopback hosts' (emulator)."""
    customer, host = account["customer_id"].lower(), account["api_host"].lower()
    with contextlib.suppress(ValueError):
        customer = str(uuid.UUID(customer))
    return customer, "localhost" if is_loopback(host) else host
