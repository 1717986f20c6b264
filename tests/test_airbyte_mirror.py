"""`source-mega` and the mirror (issue 20): versions, ACTIVATE_VERSION and mid-stream SCHEMAs.

Airbyte has no ACTIVATE_VERSION and fixes a sync's schema at its start, so
source-mega turns reconcile checks and passes off unless asked, and when asked
drops the message with one LOG line; a custom field declared mid-stream reaches
the destination inside `custom_fields`. Each read is its own process, as
Airbyte runs it.
"""

from __future__ import annotations

import typing as t

from tests.helpers.airbyte import Run, configured_catalog, per_stream_state, source
from tests.helpers.sync import tap_config

if t.TYPE_CHECKING:
    from pathlib import Path

    from tap_mega.testing.emulator import MegaEmulator

VARIANT = "__v_"


def logs(run: Run) -> list[str]:
    return [message["log"]["message"] for message in run.of_type("LOG")]


def check_requests(emulator: MegaEmulator, since: int = 0) -> int:
    """The reconcile check's requests (newest created first) among `emulator`'s since `since`."""
    return sum(r.params.get("sort_by") == "created_at" for r in emulator.requests[since:])


def stream_state(run: Run) -> dict[str, t.Any]:
    return t.cast("dict[str, t.Any]", run.states[-1]["stream"]["stream_state"])


def discovered_catalog(tmp_path: Path, config: dict[str, t.Any]) -> dict[str, t.Any]:
    """The configured catalog Airbyte builds from `discover`: the schema fixed at sync start."""
    [stream] = source(tmp_path, "discover", config).of_type("CATALOG")[0]["catalog"]["streams"]
    catalog = configured_catalog()
    catalog["streams"][0]["stream"] = stream
    return catalog


def values(custom_fields: dict[str, t.Any]) -> dict[str, t.Any]:
    """The non-null values of a record's custom fields, each under its own slug again."""
    return {
        slug.split(VARIANT)[0]: value for slug, value in custom_fields.items() if value is not None
    }


def assert_nothing_lost(run: Run, emulator: MegaEmulator) -> None:
    """Every record carries its lead's custom field values, a variant's under its slug."""
    truth = {lead["id"]: lead for lead in emulator.leads}
    for record in run.records:
        lead = truth[record["data"]["id"]]
        assert values(record["data"]["custom_fields"]) == values(lead["custom_fields"])


def test_source_mega_leaves_reconcile_off_unless_asked(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    config = tap_config(emulator)
    del config["reconcile_deletes"]
    spec = source(tmp_path, "spec").messages[0]["spec"]["connectionSpecification"]

    first = source(tmp_path, "read", config, configured_catalog(), state=[])
    emulator.delete_leads(count=5, seed=3)
    second = source(tmp_path, "read", config, configured_catalog(), per_stream_state(first))

    assert spec["properties"]["reconcile_deletes"]["default"] is False
    assert first.returncode == second.returncode == 0, second.stdout[-2000:]
    assert len(first.records) == 250
    assert check_requests(emulator) == 0, "no reconcile check"
    assert not [line for line in logs(first) + logs(second) if "econcile" in line]
    assert "mirror" not in stream_state(second)
    assert "custom_fields" in stream_state(second), "declared types are kept all the same"


def test_a_mirrored_read_keeps_its_state_drops_activate_version_and_loses_no_field(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    config = tap_config(emulator, reconcile_deletes=True)
    del config["custom_fields_schema"]  # discovered, as Airbyte's catalog is
    catalog = discovered_catalog(tmp_path, config)

    first = source(tmp_path, "read", config, catalog, state=[])

    assert first.returncode == 0, first.stdout[-2000:]
    assert {m["type"] for m in first.messages} == {"RECORD", "STATE", "LOG"}
    assert len(first.records) == 250
    # The first read declared custom fields mid-stream (a SCHEMA changed), so its pass's
    # ACTIVATE_VERSION waits in the state for the next read, which sends it first.
    assert not [line for line in logs(first) if "dropped ACTIVATE_VERSION" in line]
    saved = stream_state(first)
    version = saved["mirror"]["activate"]
    assert version == saved["mirror"]["version"]
    assert saved["mirror"]["pass"] is None
    assert "bedrooms__v_text" in saved["custom_fields"], "a variant declared mid-stream"
    assert_nothing_lost(first, emulator)

    deleted = emulator.delete_leads(count=5, seed=3)
    changed = emulator.update_leads(
        count=3, seed=4, custom_fields={"budget": "ask me", "garage_spaces": 2}
    )
    before = emulator.request_count

    second = source(tmp_path, "read", config, catalog, per_stream_state(first))

    assert second.returncode == 0, second.stdout[-2000:]
    # The check compared with the baseline the first read's STATE carried, before the
    # pass and after it: 2 requests each.
    assert check_requests(emulator, before) == 4, "before the pass and after it"
    assert any("5 leads created before" in line and "vanished" in line for line in logs(second))
    saved = stream_state(second)
    assert saved["mirror"]["version"] > version
    assert saved["mirror"]["pass"] is None
    assert saved["custom_fields"]["budget"] == stream_state(first)["custom_fields"]["budget"]
    assert {"budget__v_text", "garage_spaces"} <= set(saved["custom_fields"])
    dropped = [line for line in logs(second) if "dropped ACTIVATE_VERSION" in line]
    assert dropped[0].startswith(f"source-mega: dropped ACTIVATE_VERSION {version} of `leads`")
    assert len(dropped) == 1, "its own pass's waits too: a SCHEMA changed in this read"
    assert stream_state(second)["mirror"]["activate"] > version
    emitted = {r["data"]["id"] for r in second.records}
    assert emitted == {lead["id"] for lead in emulator.leads}, "the pass read every live lead"
    assert not emitted & set(deleted)
    for record in (r for r in second.records if r["data"]["id"] in changed):
        fields = record["data"]["custom_fields"]
        assert fields["budget"] is None
        assert fields["budget__v_text"] == "ask me"
        assert fields["garage_spaces"] == 2
    assert_nothing_lost(second, emulator)
