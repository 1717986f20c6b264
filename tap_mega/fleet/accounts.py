"""The accounts file: which MEGA accounts the fleet syncs, checked before any runs.

Every mistake is found up front and told in one line naming the file, the
account and the field, because a fleet that starts eleven accounts and then
trips on the twelfth's typo has already spent eleven accounts' budget.
Tokens never sit in the file: each account names the environment variable
that holds its token, and that variable must be set (and not empty).

An account's `api_url` is its own or MEGA's: never TAP_MEGA_API_URL from the
shell or the project's `.env`, which name one account's URL (often an emulator)
and would otherwise feed every account without one.

Every other tap setting is the fleet's, but for the two whose cost grows with
the account (`RECONCILE_SETTINGS`): a reconcile pass spends one request per page
of the account's leads from the account's own budget, so a large account may want
passes less often, or none, while the others keep the fleet's.
"""

from __future__ import annotations

import re
import typing as t
from dataclasses import dataclass
from urllib.parse import urlsplit

import yaml

from tap_mega.cli.checks import api_url_problem, is_uuid
from tap_mega.timestamps import DurationError, parse_duration

if t.TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

NAME_PATTERN = re.compile(r"[a-z0-9_]+")
SCHEMA_PREFIX = "tap_mega_"
#: PostgreSQL truncates identifiers longer than this; two accounts could then share a schema.
MAX_IDENTIFIER_LENGTH = 63
MAX_NAME_LENGTH = MAX_IDENTIFIER_LENGTH - len(SCHEMA_PREFIX)
SHOWN_LENGTH = 40
REQUIRED_FIELDS = ("name", "customer_id", "token_env")
#: The tap settings an account may set for itself, each to the variable Meltano reads it from.
RECONCILE_SETTINGS = {
    "reconcile_deletes": "TAP_MEGA_RECONCILE_DELETES",
    "reconcile_interval": "TAP_MEGA_RECONCILE_INTERVAL",
}
KNOWN_FIELDS = frozenset({*REQUIRED_FIELDS, "api_url", *RECONCILE_SETTINGS})
#: The tap's default `api_url` (tests/test_fleet_accounts.py holds it to `tap-mega --about`).
MEGA_API_URL = "https://app.gomega.ai"


class AccountsFileError(Exception):
    """The accounts file cannot be used; the message is the one line to show."""


@dataclass(frozen=True)
class Account:
    """One MEGA account: the partition key, its customer and where its token lives."""

    name: str
    customer_id: str
    token_env: str
    api_url: str | None = None
    #: The account's own `reconcile_deletes` and `reconcile_interval`, as Meltano reads
    #: them from the environment; the fleet's (the shell's, `.env`, meltano.yml) otherwise.
    tap_settings: tuple[tuple[str, str], ...] = ()

    @property
    def schema(self) -> str:
        """The warehouse schema this account alone writes to."""
        return f"{SCHEMA_PREFIX}{self.name}"

    @property
    def url(self) -> str:
        """The MEGA API this account reads: its `api_url`, else MEGA's own."""
        return self.api_url or MEGA_API_URL

    def token(self, environ: Mapping[str, str]) -> str:
        """The account's token, from the variable `token_env` names."""
        return environ[self.token_env]


def load_accounts(path: Path, environ: Mapping[str, str]) -> list[Account]:
    """Read and check the whole file; raise AccountsFileError on the first problem."""
    entries = _entries(path, _parsed(path))
    accounts: list[Account] = []
    seen: set[str] = set()
    customers: dict[tuple[str, str], tuple[int, Account]] = {}
    for position, entry in enumerate(entries, start=1):
        account = _account(path, position, entry, environ)
        if account.name in seen:
            msg = (
                f"{path}: account '{account.name}' (#{position}): `name` is a duplicate; "
                "each account needs its own name"
            )
            raise AccountsFileError(msg)
        seen.add(account.name)
        customer = (account.customer_id.lower(), _same_url(account.url))
        if customer in customers:
            first_position, first = customers[customer]
            msg = (
                f"{path}: accounts '{first.name}' (#{first_position}) and '{account.name}' "
                f"(#{position}) have the same customer_id and api_url ({account.url}): they "
                "would share one request budget and load the same leads twice; keep one"
            )
            raise AccountsFileError(msg)
        customers[customer] = (position, account)
        accounts.append(account)
    return accounts


def _same_url(url: str) -> str:
    """The URL as MEGA is reached: scheme and host in any case, a trailing / or not."""
    parts = urlsplit(url.strip())
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


def _parsed(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"{path}: cannot read the accounts file: {exc.strerror}"
        raise AccountsFileError(msg) from exc
    except UnicodeDecodeError as exc:
        msg = f"{path}: the accounts file is not UTF-8 text"
        raise AccountsFileError(msg) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        msg = f"{path}: not valid YAML{line}: {problem}"
        raise AccountsFileError(msg) from exc


def _entries(path: Path, document: object) -> list[object]:
    if not isinstance(document, dict) or "accounts" not in document:
        msg = f"{path}: expected a top-level `accounts:` list"
        raise AccountsFileError(msg)
    entries = document["accounts"]
    if not isinstance(entries, list) or not entries:
        msg = f"{path}: `accounts` must be a non-empty list of accounts"
        raise AccountsFileError(msg)
    return entries


def _account(path: Path, position: int, entry: object, environ: Mapping[str, str]) -> Account:
    where = f"{path}: account #{position}"
    if not isinstance(entry, dict):
        msg = f"{where}: expected a mapping with name, customer_id, token_env"
        raise AccountsFileError(msg)
    name = entry.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        msg = f"{where}: `name` must be lower-case letters, digits and _ (got {_shown(name)})"
        raise AccountsFileError(msg)
    if len(name) > MAX_NAME_LENGTH:
        msg = (
            f"{where}: `name` is longer than {MAX_NAME_LENGTH} characters, too long for "
            f"the schema name {SCHEMA_PREFIX}NAME"
        )
        raise AccountsFileError(msg)
    where = f"{path}: account '{name}' (#{position})"
    _check_fields(where, entry)
    customer_id = _text_field(where, entry, "customer_id")
    token_env = _text_field(where, entry, "token_env")
    if token_env not in environ:
        msg = f"{where}: `token_env` names {token_env}, which is not set in the environment"
        raise AccountsFileError(msg)
    if not environ[token_env].strip():
        msg = f"{where}: `token_env` names {token_env}, which is set but empty"
        raise AccountsFileError(msg)
    api_url = entry.get("api_url")
    if api_url is not None and (not isinstance(api_url, str) or not api_url.strip()):
        msg = f"{where}: `api_url` must be a URL when given"
        raise AccountsFileError(msg)
    # The tap's own checks, so the file fails here, not in one account's run.
    if not is_uuid(customer_id):
        msg = f"{where}: `customer_id` must be a UUID, got {customer_id!r}"
        raise AccountsFileError(msg)
    if (problem := api_url_problem(api_url)) is not None:
        msg = f"{where}: {problem.removeprefix('setting ')}"
        raise AccountsFileError(msg)
    return Account(
        name=name,
        customer_id=customer_id,
        token_env=token_env,
        api_url=api_url.strip() if api_url else None,
        tap_settings=_reconcile_settings(where, entry),
    )


def _reconcile_settings(where: str, entry: Mapping[object, object]) -> tuple[tuple[str, str], ...]:
    """The account's reconcile settings as Meltano's variables, checked as the tap checks them."""
    settings: list[tuple[str, str]] = []
    deletes = entry.get("reconcile_deletes")
    if deletes is not None:
        if not isinstance(deletes, bool):
            msg = f"{where}: `reconcile_deletes` must be true or false (got {_shown(deletes)})"
            raise AccountsFileError(msg)
        settings.append((RECONCILE_SETTINGS["reconcile_deletes"], str(deletes).lower()))
    interval = entry.get("reconcile_interval")
    if interval is not None:
        try:
            parse_duration(interval, "reconcile_interval", 0)
        except DurationError:
            msg = (
                f"{where}: `reconcile_interval` must be a number of seconds or an ISO-8601 "
                f"duration such as P30D (got {_shown(interval)})"
            )
            raise AccountsFileError(msg) from None
        settings.append((RECONCILE_SETTINGS["reconcile_interval"], str(interval).strip()))
    return tuple(settings)


def _check_fields(where: str, entry: Mapping[object, object]) -> None:
    if "token" in entry:
        msg = (
            f"{where}: `token` does not belong in the file; put the token in an environment "
            "variable and name it in `token_env`"
        )
        raise AccountsFileError(msg)
    unknown = sorted(str(key) for key in entry if key not in KNOWN_FIELDS)
    if unknown:
        msg = (
            f"{where}: `{unknown[0]}` is not an account field "
            "(name, customer_id, token_env, api_url, reconcile_deletes, reconcile_interval)"
        )
        raise AccountsFileError(msg)


def _text_field(where: str, entry: Mapping[object, object], field: str) -> str:
    value = entry.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        msg = f"{where}: `{field}` is missing"
        raise AccountsFileError(msg)
    if not isinstance(value, str):
        msg = f"{where}: `{field}` must be a string (got {_shown(value)})"
        raise AccountsFileError(msg)
    return value.strip()


def _shown(value: object) -> str:
    """A value as a user would recognise it from the file, kept short."""
    if value is None:
        return "nothing"
    text = repr(value)
    return text if len(text) <= SHOWN_LENGTH else text[: SHOWN_LENGTH - 3] + "..."
