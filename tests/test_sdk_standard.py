"""The SDK's standard tap tests, against a live emulator started by a fixture.

`get_tap_test_class` takes its config when the class is built, at import, and
builds a tap from it then only to list the streams: nothing is requested until
the first test runs the suite's sync. So the class is built on `CONFIG`, whose
placeholders name no server, and the class-scoped fixture below starts the
emulator and writes its address and credentials into that same dict (the SDK's
runner keeps the dict, not a copy) before the first test. Building that tap
needs the schema, and discovering custom fields would ask the absent server, so
`CONFIG` declares them by setting (`custom_fields_schema`), which asks nothing.
"""

from __future__ import annotations

import typing as t

import pytest
from singer_sdk.testing import get_tap_test_class
from singer_sdk.testing.suites import (
    tap_stream_attribute_tests,
    tap_stream_tests,
    tap_tests,
)

from tap_mega.tap import TapMega
from tap_mega.testing.emulator import MegaEmulator

if t.TYPE_CHECKING:
    from collections.abc import Iterator

CONFIG: dict[str, t.Any] = {
    # Valid in form, so the tap built at import accepts them; replaced below.
    "token": "mega_" + "0" * 64,
    "customer_id": "00000000-0000-4000-8000-000000000000",
    "api_url": "http://127.0.0.1:9",
    "page_size": 50,
    "custom_fields_schema": {
        "lead_line": "string",
        "budget": "integer",
        "price_per_sqft": "number",
        "preapproved": "boolean",
        "timeline": "string",
        "notes": "string",
    },
}

StandardTapTests = get_tap_test_class(tap_class=TapMega, config=CONFIG)

# The standard tests the SDK leaves out for this tap without a word (an attribute
# test is built only for properties of its type), each with why it does not apply.
# They are reported as skips with that reason (`pytest -rs`).
NOT_APPLICABLE = {
    "test_tap_stream_attribute_is_numeric": (
        "leads has no `number` (non-integer numeric) property: `score` and "
        "`interaction_count` are integers (attribute_is_integer tests them)"
    ),
}


def standard_test_names() -> set[str]:
    """Every test the SDK's tap suites define, named as get_tap_test_class names them."""
    suites = (tap_tests, tap_stream_tests, tap_stream_attribute_tests)
    return {f"test_{suite.kind}_{test.name}" for suite in suites for test in suite.tests}


def not_applicable(reason: str) -> t.Callable[[object], None]:
    def skipped(_self: object) -> None:
        pytest.skip(reason)

    return skipped


class TestTapMega(StandardTapTests):  # type: ignore[misc,valid-type]
    """The standard suite, with the emulator's settings filled in before it syncs."""

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def emulator_settings(cls) -> Iterator[None]:
        """Autouse, so it runs before the suite's class-scoped `runner` syncs."""
        with MegaEmulator(n_leads=120, seed=11, rate_windows=[]) as emulator:
            CONFIG.update(
                token=emulator.token,
                customer_id=emulator.customer_id,
                api_url=emulator.url,
            )
            yield


for _name, _reason in NOT_APPLICABLE.items():
    setattr(TestTapMega, _name, not_applicable(_reason))


def test_every_standard_test_runs_or_says_why_not() -> None:
    """A test a new SDK adds, or leaves out for this tap, must not go unnoticed."""
    built = {name for name in standard_test_names() if hasattr(StandardTapTests, name)}
    left_out = standard_test_names() - built
    assert left_out == set(NOT_APPLICABLE), "give each left-out test its reason here"
