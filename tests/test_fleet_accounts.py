"""Every bad accounts file stops `dev.py fleet` with one line naming the account and field.

In-process through the command's `main`: a bad file must fail before Dagster
is imported or any account runs, so nothing else is needed here.
"""

from __future__ import annotations

import os
import typing as t

import pytest

from tap_mega.fleet.accounts import MEGA_API_URL, load_accounts
from tap_mega.fleet.command import EXIT_BAD_INPUT, main

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tap_mega.testing.emulator import MegaEmulator

CUSTOMER = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
OTHER_CUSTOMER = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
OTHER_VARIABLE = "MEGA_TOKEN_OTHER"
UNSET_VARIABLE = "MEGA_TOKEN_UNSET"
EMPTY_VARIABLE = "MEGA_TOKEN_EMPTY"
TOKEN_IN_FILE = "mega_abc"  # noqa: S105 - the mistake under test, not a secret


def account(name: str = "acme", **fields: str) -> str:
    entry = {"name": name, "customer_id": CUSTOMER, "token_env": "MEGA_TOKEN_ACME", **fields}
    body = "".join(f"    {key}: {value}\n" for key, value in entry.items() if value != "")
    return "  -" + body[3:]


CASES = {
    "duplicate name": (
        "accounts:\n" + account() + account(token_env=OTHER_VARIABLE),
        "account 'acme' (#2): `name` is a duplicate",
    ),
    "bad name": (
        "accounts:\n" + account(name="Acme-West"),
        "account #1: `name` must be lower-case letters, digits and _ (got 'Acme-West')",
    ),
    "missing name": (
        "accounts:\n  - customer_id: " + CUSTOMER + "\n    token_env: MEGA_TOKEN_ACME\n",
        "account #1: `name` must be lower-case letters, digits and _ (got nothing)",
    ),
    "missing customer_id": (
        "accounts:\n" + account(customer_id=""),
        "account 'acme' (#1): `customer_id` is missing",
    ),
    "unset token_env": (
        "accounts:\n" + account() + account("bolt", token_env=UNSET_VARIABLE),
        "account 'bolt' (#2): `token_env` names MEGA_TOKEN_UNSET, which is not set",
    ),
    "empty token_env": (
        "accounts:\n" + account() + account("bolt", token_env=EMPTY_VARIABLE),
        "account 'bolt' (#2): `token_env` names MEGA_TOKEN_EMPTY, which is set but empty",
    ),
    "same customer and api_url": (
        # No api_url is MEGA's: the same API as the one written out, trailing / or not.
        "accounts:\n"
        + account()
        + account("bolt", customer_id=OTHER_CUSTOMER)
        + account("cove", token_env=OTHER_VARIABLE, api_url="https://APP.gomega.ai/"),
        (
            "accounts 'acme' (#1) and 'cove' (#3) have the same customer_id and api_url "
            "(https://APP.gomega.ai/): they would share one request budget"
        ),
    ),
    "missing token_env": (
        "accounts:\n" + account(token_env=""),
        "account 'acme' (#1): `token_env` is missing",
    ),
    "token in the file": (
        "accounts:\n" + account(token=TOKEN_IN_FILE),
        "account 'acme' (#1): `token` does not belong in the file",
    ),
    "unknown field": (
        "accounts:\n" + account(start_date="2024-01-01"),
        "account 'acme' (#1): `start_date` is not an account field",
    ),
    "reconcile_deletes not a boolean": (
        "accounts:\n" + account(reconcile_deletes="sometimes"),
        "account 'acme' (#1): `reconcile_deletes` must be true or false (got 'sometimes')",
    ),
    "reconcile_interval not a duration": (
        "accounts:\n" + account(reconcile_interval="weekly"),
        (
            "account 'acme' (#1): `reconcile_interval` must be a number of seconds or an "
            "ISO-8601 duration such as P30D (got 'weekly')"
        ),
    ),
    "name too long": (
        "accounts:\n" + account(name="a" * 55),
        "account #1: `name` is longer than 54 characters",
    ),
    "no accounts list": ("leads: []\n", "expected a top-level `accounts:` list"),
    "empty list": ("accounts: []\n", "`accounts` must be a non-empty list"),
    "not YAML": ("accounts:\n  - name: [acme\n", "not valid YAML (line"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_accounts_file_gives_one_line_naming_account_and_field(
    case: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    text, expected = CASES[case]
    path = tmp_path / "accounts.yml"
    path.write_text(text)
    monkeypatch.setenv("MEGA_TOKEN_ACME", "mega_token_of_acme_0123456789")
    monkeypatch.setenv("MEGA_TOKEN_OTHER", "mega_token_of_other_0123456789")
    monkeypatch.delenv("MEGA_TOKEN_UNSET", raising=False)
    monkeypatch.setenv(EMPTY_VARIABLE, "")

    code = main(["--accounts", str(path)])

    out, err = capsys.readouterr()
    assert code == EXIT_BAD_INPUT
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"fleet: error: {path}: ")
    assert expected in err
    assert "mega_token_of" not in err


def test_missing_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nowhere.yml"

    code = main(["--accounts", str(path)])

    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert err == (
        f"fleet: error: {path}: cannot read the accounts file: No such file or directory\n"
    )


def test_a_bad_account_stops_the_fleet_before_any_account_runs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    make_emulator: Callable[..., MegaEmulator],
) -> None:
    emulator = make_emulator(n_leads=10)
    path = tmp_path / "accounts.yml"
    path.write_text(
        "accounts:\n" + account(api_url=emulator.url) + account(name="bolt", customer_id="")
    )
    monkeypatch.setenv("MEGA_TOKEN_ACME", emulator.token)
    monkeypatch.setenv("TAP_MEGA_FLEET_HOME", str(tmp_path / "home"))

    code = main(["--accounts", str(path)])

    assert code == EXIT_BAD_INPUT
    assert "account 'bolt' (#2): `customer_id` is missing" in capsys.readouterr().err
    assert emulator.request_count == 0
    assert not (tmp_path / "home").exists()


@pytest.mark.parametrize(("flag", "value"), [("--port", "70000"), ("--max-concurrent", "0")])
def test_a_bad_number_option_is_one_usage_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--accounts", str(tmp_path / "accounts.yml"), flag, value])

    err = capsys.readouterr().err.strip().splitlines()
    assert stopped.value.code == 2  # argparse's usage error, before any file is read
    assert flag in err[-1]
    assert "expected" in err[-1]


def test_one_customer_on_two_apis_is_two_accounts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "accounts.yml"
    # The same customer on MEGA and on an emulator: two budgets, two accounts.
    path.write_text("accounts:\n" + account() + account("bolt", api_url="http://127.0.0.1:8798"))
    monkeypatch.setenv("MEGA_TOKEN_ACME", "mega_token_of_acme_0123456789")

    accounts = load_accounts(path, os.environ)

    assert [(entry.name, entry.url) for entry in accounts] == [
        ("acme", MEGA_API_URL),
        ("bolt", "http://127.0.0.1:8798"),
    ]
