"""Custom fields as declared properties: discovered from one sample, or fixed by a setting.

What a user sees: the catalog's `custom_fields.properties`, how many requests
discovery made, the SCHEMA and RECORD messages of a sync, and one error line
when the sample fails.
"""

from __future__ import annotations

import json
import typing as t

import jsonschema
import pytest

from tap_mega.streams.schema import ANY_SCALAR, declared_type, lead_schema, sampled_custom_fields
from tap_mega.testing.emulator import Fault, MegaEmulator, RateWindow
from tap_mega.timestamps import normalize_timestamp
from tests.helpers.cli import assert_one_line_failure, run_main
from tests.helpers.sync import EMULATOR_CUSTOM_FIELDS, SAMPLE, bookmark, tap_config

if t.TYPE_CHECKING:
    from pathlib import Path


NULLABLE = {
    "string": {"type": ["string", "null"]},
    "integer": {"type": ["integer", "null"]},
    "number": {"type": ["number", "null"]},
    "boolean": {"type": ["boolean", "null"]},
}


def discovering_config(emulator: MegaEmulator, **overrides: t.Any) -> dict[str, t.Any]:
    """Settings without `custom_fields_schema`: discovery samples, as a user's would."""
    config = tap_config(emulator)
    del config["custom_fields_schema"]
    return {**config, **overrides}


def moved(states: list[dict[str, t.Any]]) -> list[tuple[t.Any, t.Any]]:
    """What each STATE says about progress: the bookmark and the cursor to resume at."""
    marks = [bookmark(state) for state in states]
    return [
        (mark["replication_key_value"], (mark.get("resume_from") or {}).get("cursor"))
        for mark in marks
    ]


def custom_field_properties(catalog: dict[str, t.Any]) -> dict[str, t.Any]:
    [stream] = catalog["streams"]
    return t.cast("dict[str, t.Any]", stream["schema"]["properties"]["custom_fields"])


@pytest.fixture
def recent_emulator() -> t.Iterator[MegaEmulator]:
    """300 leads: enough that `preferred_contact` is on the recent leads only."""
    with MegaEmulator(n_leads=300, seed=1, rate_windows=[]) as emulator:
        yield emulator


# -- the pure declaration ----------------------------------------------------- #
@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1, 2, None], NULLABLE["integer"]),
        ([1, 2.5], NULLABLE["number"]),
        ([0.5], NULLABLE["number"]),
        ([True, False, None], NULLABLE["boolean"]),
        (["a", None], NULLABLE["string"]),
        ([None], ANY_SCALAR),
        ([1, "studio"], ANY_SCALAR),
        ([True, 1], ANY_SCALAR),
        ([True, "yes", 2.5], ANY_SCALAR),
    ],
    ids=[
        "integer",
        "int-and-float",
        "float",
        "boolean",
        "string",
        "only-null",
        "int-and-text",
        "bool-and-int",
        "three-types",
    ],
)
def test_each_slug_is_declared_with_the_json_type_of_its_values(
    values: list[t.Any], expected: dict[str, t.Any]
) -> None:
    leads = [{"custom_fields": {"slug": value}} for value in values]
    declared = sampled_custom_fields([*leads, {"custom_fields": None}, {}])

    assert declared == {"slug": expected}
    assert "null" in declared["slug"]["type"]
    validator = jsonschema.Draft7Validator(declared["slug"])
    assert all(validator.is_valid(value) for value in [*values, None])


def test_a_bool_is_never_taken_for_an_integer() -> None:
    assert declared_type({"boolean"}) == NULLABLE["boolean"]
    assert sampled_custom_fields([{"custom_fields": {"x": True}}, {"custom_fields": {"x": 1}}]) == {
        "x": ANY_SCALAR
    }


def test_the_declaration_keeps_additional_properties() -> None:
    schema = lead_schema({"budget": NULLABLE["integer"]})
    custom_fields = schema["properties"]["custom_fields"]

    assert custom_fields["properties"] == {"budget": NULLABLE["integer"]}
    assert custom_fields["additionalProperties"] == ANY_SCALAR
    assert "null" in custom_fields["type"]


# -- requests: none or one ---------------------------------------------------- #
def test_about_makes_no_request(emulator: MegaEmulator, tmp_path: Path) -> None:
    run = run_main(discovering_config(emulator), tmp_path, "--about", "--format", "json")

    assert run.returncode == 0, run.stderr
    assert emulator.requests == []


def test_discover_makes_one_request_for_the_most_recent_leads(
    recent_emulator: MegaEmulator, tmp_path: Path
) -> None:
    run = run_main(discovering_config(recent_emulator), tmp_path, "--discover")

    assert run.returncode == 0, run.stderr
    [request] = recent_emulator.requests
    assert request.params == SAMPLE
    assert custom_field_properties(json.loads(run.stdout))["properties"]


@pytest.mark.parametrize(
    "overrides",
    [{"include_custom_fields": False}, {"custom_fields_schema": {"budget": "integer"}}],
    ids=["custom-fields-off", "explicit-schema"],
)
def test_discover_without_a_sample_makes_no_request(
    emulator: MegaEmulator, tmp_path: Path, overrides: dict[str, t.Any]
) -> None:
    run = run_main(discovering_config(emulator, **overrides), tmp_path, "--discover")

    assert run.returncode == 0, run.stderr
    assert emulator.requests == []


def test_a_sync_without_a_catalog_samples_once_and_with_one_never(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    config = discovering_config(emulator)
    discovered = run_main(config, tmp_path, "--discover")
    (tmp_path / "catalog.json").write_text(discovered.stdout)
    before = emulator.request_count

    without = run_main(config, tmp_path)
    sample, *walk = emulator.requests[before:]
    between = emulator.request_count
    with_catalog = run_main(config, tmp_path, "--catalog", str(tmp_path / "catalog.json"))
    catalog_requests = emulator.requests[between:]

    assert without.returncode == with_catalog.returncode == 0, without.stderr
    assert sample.params == SAMPLE
    assert all(request.params["sort_dir"] == "asc" for request in walk + catalog_requests)
    assert len(catalog_requests) == len(walk)
    # The sample moves nothing: the same records and STATEs either way.
    assert without.result.records == with_catalog.result.records
    assert moved(without.result.states) == moved(with_catalog.result.states)
    assert without.result.schemas == with_catalog.result.schemas


def test_a_catalog_without_the_stream_makes_no_request(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    (tmp_path / "catalog.json").write_text(json.dumps({"streams": []}))

    run = run_main(
        discovering_config(emulator), tmp_path, "--catalog", str(tmp_path / "catalog.json")
    )

    assert run.returncode == 0, run.stderr
    assert run.result.records == []
    assert emulator.requests == []


# -- what is declared --------------------------------------------------------- #
def test_declared_types_match_the_emulators_data(
    recent_emulator: MegaEmulator, tmp_path: Path
) -> None:
    run = run_main(discovering_config(recent_emulator), tmp_path, "--discover")
    declared = custom_field_properties(json.loads(run.stdout))["properties"]

    assert declared == {
        "lead_line": NULLABLE["string"],
        "budget": NULLABLE["integer"],
        "price_per_sqft": NULLABLE["number"],
        "preapproved": NULLABLE["boolean"],
        "timeline": NULLABLE["string"],
        "notes": NULLABLE["string"],
        "bedrooms": ANY_SCALAR,  # integers and text: the mixed slug
        "preferred_contact": NULLABLE["string"],  # only on the recent leads
    } | {slug: declared[slug] for slug in declared if slug not in EMULATOR_CUSTOM_FIELDS}
    assert set(declared) == set(EMULATOR_CUSTOM_FIELDS)
    oldest = sorted(recent_emulator.leads, key=lambda lead: lead["updated_at"])[:100]
    assert not any("preferred_contact" in lead["custom_fields"] for lead in oldest)


def test_every_emitted_record_validates_against_the_discovered_schema(
    recent_emulator: MegaEmulator, tmp_path: Path
) -> None:
    run = run_main(discovering_config(recent_emulator), tmp_path)

    assert run.returncode == 0, run.stderr
    [schema] = run.result.schemas
    validator = jsonschema.Draft7Validator(schema["schema"])
    assert len(run.result.records) == len(recent_emulator.leads)
    for record in run.result.records:
        validator.validate(record)


def test_a_field_added_after_discovery_still_arrives_in_custom_fields(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    config = discovering_config(emulator)
    (tmp_path / "catalog.json").write_text(run_main(config, tmp_path, "--discover").stdout)
    [lead_id] = emulator.update_leads(count=1, seed=3, custom_fields={"added_later": 7})

    run = run_main(config, tmp_path, "--catalog", str(tmp_path / "catalog.json"))

    assert run.returncode == 0, run.stderr
    [record] = [r for r in run.result.records if r["id"] == lead_id]
    assert record["custom_fields"]["added_later"] == 7
    # Declared in the same run, by a SCHEMA the record follows (test_custom_field_types.py).
    first, latest = run.result.schemas
    assert "added_later" not in first["schema"]["properties"]["custom_fields"]["properties"]
    added = latest["schema"]["properties"]["custom_fields"]["properties"]["added_later"]
    assert added == NULLABLE["number"]
    jsonschema.Draft7Validator(latest["schema"]).validate(record)


def test_the_explicit_setting_declares_exactly_its_fields(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    setting = {"budget": "number", "vip": "boolean", "tier": "any"}
    run = run_main(discovering_config(emulator, custom_fields_schema=setting), tmp_path)

    assert run.returncode == 0, run.stderr
    assert all(request.params["sort_dir"] == "asc" for request in emulator.requests)
    schema = run.result.schemas[0]
    assert schema["schema"]["properties"]["custom_fields"]["properties"] == {
        "budget": NULLABLE["number"],
        "vip": NULLABLE["boolean"],
        "tier": ANY_SCALAR,
    }
    # Slugs the setting leaves out still arrive, declared when first seen.
    assert any("timeline" in r["custom_fields"] for r in run.result.records)
    latest = run.result.schemas[-1]["schema"]["properties"]["custom_fields"]["properties"]
    assert latest["timeline"] == NULLABLE["string"]


def test_a_bad_type_in_the_explicit_setting_is_one_line(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    run = run_main(
        discovering_config(emulator, custom_fields_schema={"budget": "money"}),
        tmp_path,
        "--discover",
    )

    assert_one_line_failure(run.returncode, run.stderr, "custom_fields_schema", "money")
    assert emulator.requests == []


@pytest.mark.parametrize(
    ("declared", "says"),
    [
        ({"lead_line": "integer"}, "reserved `lead_line` is `buyer` or `seller`"),
        ({"": "string"}, "blank slug"),
    ],
    ids=["lead-line-not-text", "blank-slug"],
)
def test_a_declaration_no_lead_can_satisfy_is_one_line(
    declared: dict[str, str], says: str, emulator: MegaEmulator, tmp_path: Path
) -> None:
    # Accepted, `lead_line: integer` made a target refuse every buyer or seller lead.
    run = run_main(
        discovering_config(emulator, custom_fields_schema=declared), tmp_path, "--discover"
    )

    assert_one_line_failure(run.returncode, run.stderr, "custom_fields_schema", says)
    assert emulator.requests == []


def test_declared_fields_with_include_custom_fields_false_is_one_line(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    # Accepted, the declared columns stayed empty: MEGA was never asked for the fields.
    config = tap_config(emulator, include_custom_fields=False)

    run = run_main(config, tmp_path)

    assert_one_line_failure(
        run.returncode, run.stderr, "`custom_fields_schema`", "`include_custom_fields` is false"
    )
    assert emulator.requests == []


# -- a failed sample ---------------------------------------------------------- #
def test_a_refused_sample_fails_discovery_with_one_line_and_no_catalog(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    config = discovering_config(emulator, token="mega_" + "f" * 64)

    run = run_main(config, tmp_path, "--discover")

    assert_one_line_failure(run.returncode, run.stderr, "did not accept the credentials", "`token`")
    assert run.stdout == ""


def test_an_unreachable_sample_fails_with_a_syncs_line(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    emulator.add_fault(Fault("drop", at_request=1, count=100))

    discover = run_main(discovering_config(emulator), tmp_path, "--discover")
    sync = run_main(discovering_config(emulator), tmp_path)

    assert_one_line_failure(discover.returncode, discover.stderr, "could not reach MEGA")
    assert_one_line_failure(sync.returncode, sync.stderr, "could not reach MEGA")
    assert discover.stdout == sync.stdout == ""


def test_a_retried_sample_is_paced_and_moves_no_state(
    make_emulator: t.Callable[..., MegaEmulator], tmp_path: Path
) -> None:
    emulator = make_emulator(n_leads=120, seed=5, rate_windows=[RateWindow(4, 1.0)])
    emulator.add_fault(Fault("status", at_request=1, count=2, status=503))
    config = discovering_config(emulator, page_size=40, lookback_window=0)
    middle = sorted(normalize_timestamp(lead["updated_at"]) for lead in emulator.leads)[60]
    state = {
        "bookmarks": {"leads": {"replication_key": "updated_at", "replication_key_value": middle}}
    }

    run = run_main(config, tmp_path, state=state)

    assert run.returncode == 0, run.stderr
    assert [r.params["sort_dir"] for r in emulator.requests[:3]] == ["desc"] * 3
    assert all(r.params["sort_dir"] == "asc" for r in emulator.requests[3:])
    assert run.stderr.count("Retrying in") == 2
    assert all(r.status != 429 for r in emulator.requests)  # paced, sample included
    # Records carry updated_at as MEGA spelled it; the bookmark is canonical.
    stamps = [normalize_timestamp(r["updated_at"]) for r in run.result.records]
    assert min(stamps) >= middle
    assert bookmark(run.result.final_state)["replication_key_value"] == max(stamps)


# -- selection ---------------------------------------------------------------- #
def test_deselecting_one_custom_field_drops_it_and_keeps_the_others(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    config = discovering_config(emulator)
    catalog = json.loads(run_main(config, tmp_path, "--discover").stdout)
    for entry in catalog["streams"][0]["metadata"]:
        if entry["breadcrumb"] == ["properties", "custom_fields", "properties", "budget"]:
            entry["metadata"]["selected"] = False
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))

    run = run_main(config, tmp_path, "--catalog", str(tmp_path / "catalog.json"))

    assert run.returncode == 0, run.stderr
    assert len(run.result.records) == len(emulator.leads)
    assert not any("budget" in r["custom_fields"] for r in run.result.records)
    assert any("timeline" in r["custom_fields"] for r in run.result.records)
    expected = {
        lead["id"]: {k: v for k, v in lead["custom_fields"].items() if k != "budget"}
        for lead in emulator.leads
    }
    assert all(r["custom_fields"] == expected[r["id"]] for r in run.result.records)
