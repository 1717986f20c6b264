"""meltano.yml, meltano-hub.yml and the README's settings table agree with the tap itself.

`tap-mega --about` is the truth: a setting added to tap.py must show up in
all three, or these tests name what is missing. On the singer-sdk tap-mega pins
they must match it exactly; on a newer SDK (the CI's sdk-next job) they may
lack the built-in settings and capabilities that release adds, and nothing else.
"""

from __future__ import annotations

import json
import subprocess
import sys
import typing as t
from importlib.metadata import entry_points, requires, version
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

from tap_mega.tap import TapMega

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import dev  # noqa: E402 - dev.py is a script at the root, stdlib only

TAP = "from tap_mega.cli.main import main; main()"
#: The settings tap.py declares; the rest of `--about` are the SDK's built-ins.
TAP_SETTINGS = frozenset(TapMega.config_jsonschema["properties"])


def sdk_is_pinned() -> bool:
    """Whether the installed singer-sdk is within tap-mega's own requirement."""
    pinned = next(
        Requirement(line)
        for line in requires("tap-mega") or []
        if Requirement(line).name == "singer-sdk"
    )
    return pinned.specifier.contains(Version(version("singer-sdk")), prereleases=True)


def assert_lists_what_about_lists(source: str, listed: set[str], about: set[str]) -> None:
    """Exactly `about` on the pinned SDK; on a newer one, less only what the SDK added."""
    assert TAP_SETTINGS & about <= listed, f"{source} lacks {sorted(TAP_SETTINGS & about - listed)}"
    assert listed <= about, f"{source} lists what --about does not: {sorted(listed - about)}"
    if sdk_is_pinned():
        assert sorted(listed) == sorted(about), f"{source} differs from --about"


def about(fmt: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", TAP, "--about", f"--format={fmt}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


@pytest.fixture(scope="module")
def about_json() -> dict[str, t.Any]:
    return t.cast("dict[str, t.Any]", json.loads(about("json")))


def meltano_project() -> dict[str, t.Any]:
    return t.cast("dict[str, t.Any]", yaml.safe_load((ROOT / "meltano.yml").read_text()))


def meltano_extractor() -> dict[str, t.Any]:
    extractors = meltano_project()["plugins"]["extractors"]
    return t.cast("dict[str, t.Any]", next(p for p in extractors if p["name"] == "tap-mega"))


def hub_definition() -> dict[str, t.Any]:
    return t.cast("dict[str, t.Any]", yaml.safe_load((ROOT / "meltano-hub.yml").read_text()))


def fitting_kind(prop: dict[str, t.Any]) -> str:
    """The Meltano setting kind that carries a JSON-schema property without loss."""
    if prop.get("secret"):
        return "password"
    if "enum" in prop:
        return "options"
    if prop.get("format") == "date-time":
        return "date_iso8601"
    json_type = next(name for name in prop["type"] if name != "null")
    kinds = {
        "integer": "integer",
        "number": "decimal",
        "boolean": "boolean",
        "object": "object",
        "array": "array",
    }
    return kinds.get(json_type, "string")


DEFINITIONS = {"meltano.yml": meltano_extractor, "meltano-hub.yml": hub_definition}


@pytest.mark.parametrize("source", sorted(DEFINITIONS))
def test_definition_declares_every_setting_with_a_fitting_kind(
    source: str,
    about_json: dict[str, t.Any],
) -> None:
    properties = about_json["settings"]["properties"]
    declared = {setting["name"]: setting for setting in DEFINITIONS[source]()["settings"]}

    assert_lists_what_about_lists(source, set(declared), set(properties))
    for name, setting in declared.items():
        prop = properties[name]
        assert setting["kind"] == fitting_kind(prop), f"{source}: kind of {name}"
        assert bool(setting.get("sensitive")) == bool(prop.get("secret")), f"{source}: {name}"
        if "enum" in prop:
            assert [o["value"] for o in setting["options"]] == prop["enum"], f"{source}: {name}"
        if "default" in prop:
            assert setting.get("value") == prop["default"], f"{source}: default of {name}"


@pytest.mark.parametrize("source", sorted(DEFINITIONS))
def test_definition_lists_the_tap_capabilities(source: str, about_json: dict[str, t.Any]) -> None:
    listed = set(DEFINITIONS[source]()["capabilities"])
    assert listed <= set(about_json["capabilities"]), f"{source} lists capabilities the tap lacks"
    if sdk_is_pinned():
        assert sorted(listed) == sorted(about_json["capabilities"]), f"{source}: capabilities"


def test_token_is_sensitive_and_never_written_in_meltano_yml() -> None:
    project = meltano_project()
    token = next(s for s in meltano_extractor()["settings"] if s["name"] == "token")
    assert token["sensitive"] is True
    assert "token" not in meltano_extractor().get("config", {})
    assert "mega_" not in (ROOT / "meltano.yml").read_text().replace("(mega_...)", "")
    assert project["send_anonymous_usage_stats"] is False
    assert project["project_id"]


def test_every_plugin_is_a_custom_definition_so_meltano_never_asks_the_hub() -> None:
    for kind, plugins in meltano_project()["plugins"].items():
        for plugin in plugins:
            assert plugin.get("namespace"), f"{kind} {plugin['name']} needs a namespace"
            assert plugin.get("pip_url"), f"{kind} {plugin['name']} needs a pip_url"


def test_hourly_schedule_loads_postgres() -> None:
    project = meltano_project()
    jobs = {job["name"]: job["tasks"] for job in project["jobs"]}
    schedule = next(s for s in project["schedules"] if s.get("job") in jobs)
    assert schedule["interval"] == "@hourly"
    assert jobs[schedule["job"]] == ["tap-mega target-postgres"]


def test_readme_settings_table_is_the_about_output() -> None:
    """Fails when a setting changed without `python3 dev.py docs`."""
    table = [line for line in about("markdown").splitlines() if line.startswith("|")]
    readme = (ROOT / "README.md").read_text()
    start = readme.index(dev.SETTINGS_START) + len(dev.SETTINGS_START)
    in_readme = readme[start : readme.index(dev.SETTINGS_END)].strip().splitlines()
    if sdk_is_pinned():
        assert in_readme == table, "README settings table is stale: run `python3 dev.py docs`"
        return

    # A newer SDK adds and rewords its own built-ins: the tap's own rows must still match.
    def own(rows: list[str]) -> list[str]:
        return [row for row in rows if row.split("|")[1].strip() in TAP_SETTINGS]

    assert own(in_readme) == own(table), "README rows for tap-mega's settings are stale"


@pytest.mark.parametrize("source", DEFINITIONS)
def test_definition_exposes_the_doctor_with_the_plugins_settings(source: str) -> None:
    """`meltano invoke tap-mega:doctor`: Meltano passes settings as TAP_MEGA_* variables."""
    doctor = DEFINITIONS[source]()["commands"]["doctor"]
    assert doctor["executable"] == "tap-mega-doctor"
    assert doctor["args"] == "--config=ENV"
    (script,) = entry_points(group="console_scripts", name="tap-mega-doctor")
    assert script.value == "tap_mega.doctor:main"
