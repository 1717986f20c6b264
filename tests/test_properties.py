"""Property-based: any settings, any pages: correct records, or one line and a non-zero exit.

Never a traceback (an exception escaping `main`), never a silent drop (a lead
served but neither emitted nor still ahead of the last STATE).
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import typing as t
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tap_mega.cli import main as cli
from tap_mega.testing.emulator import MegaEmulator
from tap_mega.timestamps import parse_timestamp
from tests.helpers.cli import assert_one_line_failure
from tests.helpers.scripted import assert_nothing_lost, leads_in, script_pages, sorted_leads
from tests.helpers.sync import SyncResult, parse_messages, tap_config

if t.TYPE_CHECKING:
    from collections.abc import Iterator

EXAMPLES = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def run_main(config: dict[str, t.Any]) -> tuple[int, SyncResult, str]:
    """The real entry point in this process: exit code, stdout messages, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.json"
        path.write_text(json.dumps(config))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli.main(["--config", str(path)])
            except SystemExit as exit_:
                code = exit_.code
    assert isinstance(code, int)
    return code, SyncResult(parse_messages(out.getvalue())), err.getvalue()


# -- settings --------------------------------------------------------------- #
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=1),
)


def setting(valid: st.SearchStrategy[t.Any]) -> st.SearchStrategy[t.Any]:
    """Mostly valid values, sometimes anything at all."""
    return st.one_of(valid, valid, JUNK)


@st.composite
def configs(draw: st.DrawFn, emulator: MegaEmulator) -> dict[str, t.Any]:
    choices: dict[str, st.SearchStrategy[t.Any]] = {
        "token": setting(st.just(emulator.token)),
        "customer_id": setting(
            st.sampled_from([emulator.customer_id, emulator.customer_id.upper()])
        ),
        "api_url": setting(
            st.sampled_from(
                [
                    emulator.url,
                    emulator.url + "/",
                    emulator.url.replace("127.0.0.1", "localhost"),
                    "http://example.com",
                    "ftp://127.0.0.1",
                ]
            )
        ),
        "start_date": setting(
            st.sampled_from(["2026-01-06T00:00:00Z", "2026-01-07", "2026-01-06T12:00:00+02:00"])
        ),
        "page_size": setting(st.integers(-5, 150)),
        "include_custom_fields": setting(st.booleans()),
        "request_timeout": setting(st.sampled_from([1, 5, 30.5, 0.5, 0.001, 0, -1])),
        "lookback_window": setting(st.sampled_from([0, 300, "PT5M", "P1D", "-1", "PT"])),
    }
    config: dict[str, t.Any] = {}
    for name, strategy in choices.items():
        required = name in {"token", "customer_id", "api_url"}
        if required or draw(st.booleans()):
            config[name] = draw(strategy)
    if draw(st.booleans()):
        config[draw(st.sampled_from(["tokn", "page-size", "x"]))] = draw(JUNK)
    return config


@pytest.fixture(scope="module")
def settings_emulator() -> Iterator[MegaEmulator]:
    """One emulator for every example: its leads never change, only the settings do."""
    with MegaEmulator(n_leads=120, seed=9, rate_windows=[]) as emulator:
        yield emulator


@EXAMPLES
@given(data=st.data())
def test_any_settings_give_correct_records_or_one_line(
    settings_emulator: MegaEmulator,
    data: st.DataObject,
) -> None:
    emulator = settings_emulator
    config = data.draw(configs(emulator))

    before = emulator.request_count

    code, result, stderr = run_main(config)

    if code != 0:
        line = assert_one_line_failure(code, stderr)
        assert emulator.token not in line
        if emulator.request_count == before:  # refused before any request
            assert "setting `" in line or "not valid JSON" in line, line
        return
    start = config.get("start_date")
    expected = {
        lead["id"]
        for lead in emulator.leads
        if not start or parse_timestamp(lead["updated_at"]) >= parse_timestamp(start)
    }
    assert set(result.ids) == expected
    assert len(result.ids) == len(expected), "a fresh sync emits each lead once"


# -- pages -------------------------------------------------------------------- #
POOL = sorted_leads(40, seed=5)
CURSORS = st.one_of(st.sampled_from(["c1", "c2", "c3", "c4"]), st.none(), st.sampled_from(["", 7]))


@st.composite
def lead(draw: st.DrawFn, index: int) -> dict[str, t.Any]:
    value = dict(POOL[index])
    damage = draw(
        st.sampled_from(
            ["none"] * 6 + ["no-id", "no-updated_at", "bad-updated_at", "older", "int-id"]
        )
    )
    if damage == "no-id":
        del value["id"]
    elif damage == "no-updated_at":
        del value["updated_at"]
    elif damage == "bad-updated_at":
        value["updated_at"] = draw(st.sampled_from(["", "yesterday", 5, None]))
    elif damage == "older":
        value["updated_at"] = POOL[0]["updated_at"]
    elif damage == "int-id":
        value["id"] = 12
    return value


@st.composite
def pages(draw: st.DrawFn) -> list[dict[str, t.Any]]:
    count = draw(st.integers(1, 5))
    cuts = sorted(draw(st.lists(st.integers(0, len(POOL)), min_size=count - 1, max_size=count - 1)))
    bounds = [0, *cuts, len(POOL)]
    bodies = []
    for number in range(count):
        leads = [draw(lead(i)) for i in range(bounds[number], bounds[number + 1])]
        last = number == count - 1
        body: dict[str, t.Any] = {
            "leads": leads,
            "total": len(POOL),
            "limit": 100,
            "offset": 0,
            "next_cursor": None if last else draw(CURSORS),
        }
        for key in list(body):
            if draw(st.integers(0, 30)) == 0:
                del body[key]
        bodies.append(body)
    return bodies


@EXAMPLES
@given(bodies=pages())
def test_any_pages_give_every_lead_or_one_line_and_a_safe_state(
    bodies: list[dict[str, t.Any]],
) -> None:
    with MegaEmulator(leads=[], rate_windows=[]) as emulator:
        script_pages(emulator, bodies)
        config = tap_config(emulator)

        code, result, stderr = run_main(config)

        served = leads_in(bodies[: emulator.request_count])
    if code == 0:
        assert result.ids == [lead["id"] for lead in served], "a lead was dropped"
        # Records carry updated_at as MEGA spelled it; the bookmark is canonical.
        assert [r["updated_at"] for r in result.records] == [lead["updated_at"] for lead in served]
    else:
        assert_one_line_failure(code, stderr)
        # A run that failed before it emitted anything moved no STATE: the next
        # run reads every lead again, and there is nothing to check.
        if result.records or result.states:
            assert_nothing_lost(result, served)


def test_config_or_state_file_that_is_not_json_is_one_line(tmp_path: Path) -> None:
    config_path = tmp_path / "config.json"
    config_path.write_text('{"token": Infinity}')
    state_path = tmp_path / "state.json"
    state_path.write_text("{not json")
    for args in (
        ["--config", str(config_path)],
        ["--config", str(tmp_path / "ok.json"), "--state", str(state_path)],
    ):
        (tmp_path / "ok.json").write_text("{}")
        err = io.StringIO()
        code = 0
        with contextlib.redirect_stderr(err):
            try:
                cli.main(args)
            except SystemExit as exit_:
                code = t.cast("int", exit_.code)
        line = assert_one_line_failure(code, err.getvalue())
        assert "is not valid JSON" in line
