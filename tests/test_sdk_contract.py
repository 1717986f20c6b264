"""The SDK's private names we rely on (tap_mega/sdk_contract.py) still exist, in the shape we use.

Run on the pinned singer-sdk and on the newest pre-release (the CI's sdk-next
job): a failure names the entry and what to revisit before upgrading.
"""

from __future__ import annotations

import functools
import inspect
import typing as t

import pytest

from tap_mega.sdk_contract import CONTRACT, PrivateName
from tap_mega.tap import TapMega

CONFIG = {
    "token": "mega_contract",
    "customer_id": "00000000-0000-4000-8000-000000000000",
    "api_url": "http://127.0.0.1:9",
    "custom_fields_schema": {},  # no server to discover them from
}


def shape(function: t.Callable[..., t.Any]) -> str:
    """`(self, a, *, b)`: names and kinds only, as sdk_contract.py writes them."""
    parts: list[str] = []
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and "*" not in parts:
            parts.append("*")
        prefix = {inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.VAR_KEYWORD: "**"}
        parts.append(prefix.get(parameter.kind, "") + parameter.name)
    return f"({', '.join(parts)})"


@functools.cache
def leads_stream() -> t.Any:
    """A stream as a sync builds it: instance attributes exist only once built."""
    tap = TapMega(config=CONFIG, parse_env_config=False, validate_config=False)
    return tap.streams["leads"]


def missing(entry: PrivateName) -> str | None:
    """What no longer holds for `entry`, or None."""
    where = f"{entry.owner.__name__}.{entry.name}"
    if entry.kind == "method":
        function = getattr(entry.owner, entry.name, None)
        if not callable(function):
            return f"{where} no longer exists"
        now = shape(function)
        return None if now == entry.shape else f"{where} is now {now}, not {entry.shape}"
    if entry.kind == "log text":
        found = entry.shape in inspect.getsource(getattr(entry.owner, entry.name))
        return None if found else f"{where} no longer logs {entry.shape!r}"
    if entry.kind == "classproperty":
        descriptor = next(
            (vars(k)[entry.name] for k in entry.owner.__mro__ if entry.name in vars(k)), None
        )
        ok = descriptor is not None and isinstance(descriptor.__get__(None, TapMega), dict)
        return None if ok else f"{where} is no longer a class property of a dict"
    target: t.Any = leads_stream()
    for part in entry.name.split("."):
        if not hasattr(target, part):
            return f"a built {entry.owner.__name__} has no {entry.name}"
        target = getattr(target, part)
    return None


@pytest.mark.parametrize("entry", CONTRACT, ids=lambda entry: entry.name)
def test_the_private_sdk_names_we_rely_on_still_hold(entry: PrivateName) -> None:
    problem = missing(entry)
    assert problem is None, f"{problem}. Revisit: {entry.if_it_breaks}"
