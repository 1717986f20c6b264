"""The README's sample report is what `tap-mega-doctor` prints for the setup it names."""

from __future__ import annotations

import re
from pathlib import Path

from tap_mega.testing.emulator import MegaEmulator, RateWindow
from tests.helpers.doctor import leads_state, run_doctor
from tests.helpers.sync import tap_config

README = Path(__file__).resolve().parent.parent / "README.md"
#: Lines whose text holds timings or the emulator's port: compared on status only.
TIMED = {"url", "round trip", "duration", "clock", "schedule"}
#: Lines compared whole but for their durations (`2h 4m`), which follow the round trip.
DURATIONS = re.compile(r"\b\d+h(?: \d+m)?|\b\d+m(?: \d+s)?")
PARTLY_TIMED = {"reconcile"}
LINE = re.compile(r"  (\S+) +(\S+(?: \S+)?) {2,}(.*)")


def sample_lines() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Before your first sync") :]
    block = section[section.index("$ tap-mega-doctor") :]
    return block[: block.index("```")].splitlines()[1:]


def test_readme_sample_is_a_real_run(tmp_path):
    with MegaEmulator(
        n_leads=250_000, seed=0, rate_windows=[RateWindow(60, 60), RateWindow(1000, 3600)]
    ) as emulator:
        config = tap_config(emulator, start_date="2026-01-15T00:00:00Z", reconcile_deletes=True)
        run = run_doctor(
            config, tmp_path, "--run-minutes", "30", state=leads_state("2026-04-03T00:00:00.000Z")
        )

    assert run.returncode == 0, run.stdout
    shown, expected = run.stdout.splitlines(), sample_lines()
    assert len(shown) == len(expected)
    for got, want in zip(shown, expected, strict=True):
        got_match, want_match = LINE.fullmatch(got), LINE.fullmatch(want)
        assert bool(got_match) == bool(want_match), (got, want)
        if got_match is None or want_match is None:
            assert re.sub(r":\d+/", "/", got) == re.sub(r":\d+/", "/", want)
            continue
        assert got_match.group(1, 2) == want_match.group(1, 2), (got, want)
        if got_match.group(2) in PARTLY_TIMED:
            assert DURATIONS.sub("<d>", got) == DURATIONS.sub("<d>", want)
        elif got_match.group(2) not in TIMED:
            assert got == want
    assert config["token"] not in run.stdout
