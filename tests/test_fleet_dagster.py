"""The Dagster definitions: the hourly schedule, the account partitions, the run queue's limits."""

from __future__ import annotations

import typing as t

import dagster as dg
import pytest

from tap_mega.fleet.command import prepare_instance
from tap_mega.fleet.definitions import (
    JOB_NAME,
    MAX_RETRIES,
    PARTITION_TAG,
    PARTITIONS,
    SCHEDULE_NAME,
    Fleet,
    build_definitions,
    hourly,
    leads,
    retry_line,
    retry_wait,
)
from tap_mega.fleet.settings import FleetSettings

if t.TYPE_CHECKING:
    from pathlib import Path

NAMES = ("acme", "bolt_west", "cove2")


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FleetSettings:
    path = tmp_path / "accounts.yml"
    lines = ["accounts:"]
    for index, name in enumerate(NAMES):
        lines += [
            f"  - name: {name}",
            f"    customer_id: 00000000-0000-0000-0000-00000000000{index}",
            f"    token_env: MEGA_TOKEN_{name.upper()}",
        ]
        monkeypatch.setenv(f"MEGA_TOKEN_{name.upper()}", f"mega_token_{name}_0123456789")
    path.write_text("\n".join(lines) + "\n")
    return FleetSettings(
        accounts_file=path,
        home=tmp_path / "home",
        project=tmp_path,
        meltano="meltano",
        plugins=tmp_path / ".meltano",
    )


def test_the_schedule_requests_one_run_per_account_hourly(settings: FleetSettings) -> None:
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance,
            resources={"fleet": Fleet.from_settings(settings)},
        )

        requests = hourly(context)

        assert [request.partition_key for request in requests] == list(NAMES)
        assert [request.tags[PARTITION_TAG] for request in requests] == list(NAMES)
        # New accounts in the file become partitions the runs can target.
        assert instance.get_dynamic_partitions(PARTITIONS.name or "") == list(NAMES)

        hourly(context)  # the next hour: the same runs, no duplicate partitions
        assert instance.get_dynamic_partitions(PARTITIONS.name or "") == list(NAMES)

    definitions = build_definitions(settings)
    schedule = definitions.resolve_schedule_def(SCHEDULE_NAME)
    assert schedule.cron_schedule == "0 * * * *"
    assert schedule.job_name == JOB_NAME


def test_the_run_queue_allows_one_run_per_account_and_the_global_limit(
    settings: FleetSettings,
) -> None:
    prepare_instance(settings, max_concurrent=3)

    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        queue = instance.get_concurrency_config().run_queue_config

    assert queue is not None
    assert queue.max_concurrent_runs == 3
    assert queue.tag_concurrency_limits == [
        {"key": PARTITION_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1},
    ]


def test_the_leads_asset_is_partitioned_by_account_and_retries_with_backoff() -> None:
    assert leads.partitions_def == PARTITIONS
    assert MAX_RETRIES == 2
    # About a minute, then about two: the first delay doubled, give or take a quarter.
    for _ in range(200):
        assert 45 <= retry_wait(0, 60.0) <= 75
        assert 90 <= retry_wait(1, 60.0) <= 150
    assert retry_line("acme", 1, "MEGA answered 503 five times", 47.4) == (
        "fleet: acme: attempt 1 of 3 failed: MEGA answered 503 five times; next try in 47 s"
    )
