"""The Dagster code location: the `leads` asset partitioned by account, its job, an hourly schedule.

Load it with `dagster dev -m tap_mega.fleet.definitions` (what `dev.py fleet --ui`
does) or from a workspace.yaml on any Dagster deployment. Nothing here assumes
the in-process executor: each partition's run is one step that shells out to
`meltano run`, so the Kubernetes, Celery or Docker executors run it unchanged
as long as the worker image has the project, its .venv-meltano and the tokens.
"""

# No `from __future__ import annotations`: Dagster reads the asset's and the
# schedule's parameter annotations at runtime to find the context and resources.
import os
import random
import sys
import typing as t
from pathlib import Path

import dagster as dg

from tap_mega.fleet.accounts import Account, AccountsFileError, load_accounts
from tap_mega.fleet.runner import AccountBusyError, AccountResult, FleetPaths, sync_account
from tap_mega.fleet.settings import FleetSettings, retry_delay

PARTITIONS = dg.DynamicPartitionsDefinition(name="mega_accounts")
#: Dagster tags every partition's run with this; the run queue limits it to one per value.
PARTITION_TAG = "dagster/partition"
JOB_NAME = "sync_mega_accounts"
SCHEDULE_NAME = "mega_accounts_hourly"
#: A crash or a 5xx storm the tap gave up on: try again later, twice, waiting longer each time.
MAX_RETRIES = 2
#: Each wait is the first delay doubled per retry, give or take this share (runs spread out).
RETRY_JITTER = 0.25


class Fleet(dg.ConfigurableResource):  # type: ignore[type-arg]  # generic only for stubs
    """The accounts file and the fleet's folders, as the runs and the schedule see them."""

    accounts_file: str
    home: str
    project: str
    meltano: str
    plugins: str

    def accounts(self) -> list[Account]:
        """Every account, checked; raises AccountsFileError with the one line to show."""
        return load_accounts(Path(self.accounts_file), os.environ)

    def paths(self) -> FleetPaths:
        """Where a run of one account finds Meltano and keeps its state."""
        return FleetPaths(
            home=Path(self.home),
            project=Path(self.project),
            meltano=self.meltano,
            plugins=Path(self.plugins),
        )

    @classmethod
    def from_settings(cls, settings: FleetSettings) -> "Fleet":
        """The resource for these settings."""
        return cls(
            accounts_file=str(settings.accounts_file),
            home=str(settings.home),
            project=str(settings.project),
            meltano=settings.meltano,
            plugins=str(settings.plugins),
        )


def result_metadata(result: AccountResult) -> dict[str, t.Any]:
    """What the UI shows for one run of one account (the command reads it back too)."""
    metadata: dict[str, t.Any] = {
        "leads_emitted": result.leads,
        "requests": result.requests,
        "bookmark": result.bookmark or "unknown",
        "duration_seconds": round(result.duration, 2),
        "stopped_early": result.stopped_early is not None,
    }
    if result.stopped_early:
        metadata["stopped_early_reason"] = result.stopped_early
        metadata["eta"] = result.eta or "unknown"
    if result.reason:
        metadata["reason"] = result.reason
    return metadata


def retry_wait(retry_number: int, first_delay: float) -> float:
    """Seconds before the next attempt: the first delay, doubled per retry, +/- 25 %."""
    spread = random.uniform(1 - RETRY_JITTER, 1 + RETRY_JITTER)  # noqa: S311 - not crypto
    return first_delay * 2.0**retry_number * spread


def retry_line(name: str, attempt: int, reason: str, wait: float) -> str:
    """`fleet: acme: attempt 1 of 3 failed: <the tap's line>; next try in 47 s`."""
    return (
        f"fleet: {name}: attempt {attempt} of {MAX_RETRIES + 1} failed: {reason}; "
        f"next try in {wait:.0f} s"
    )


def retry_or_fail(
    context: dg.AssetExecutionContext, name: str, reason: str, metadata: dict[str, t.Any]
) -> t.NoReturn:
    """Ask Dagster for another attempt, saying so in one line; fail once none is left.

    The line goes to the step's stderr (the fleet command's, or the run's compute
    log under `dagster dev`) and to the run's event log, so a retried account is
    never minutes of silence.
    """
    if context.retry_number >= MAX_RETRIES:
        raise dg.Failure(description=reason, metadata=metadata, allow_retries=False)
    wait = retry_wait(context.retry_number, retry_delay())
    line = retry_line(name, context.retry_number + 1, reason, wait)
    context.log.warning(line)
    print(line, file=sys.stderr, flush=True)  # noqa: T201 - progress a user waits on
    raise dg.RetryRequested(max_retries=MAX_RETRIES, seconds_to_wait=wait)


@dg.asset(
    partitions_def=PARTITIONS,
    group_name="mega",
    description="One MEGA account's leads in schema tap_mega_<account>, table leads, merged on id.",
)
def leads(context: dg.AssetExecutionContext, fleet: Fleet) -> dg.MaterializeResult[None]:
    """Sync the partition's account; fail at once when a retry cannot help."""
    accounts = _accounts(fleet)
    account = _partition_account(fleet, accounts, context.partition_key)
    # The run's environment gets this account's token only, none of the others'.
    token_envs = {other.token_env for other in accounts}
    try:
        result = sync_account(account, os.environ, fleet.paths(), token_envs)
    except AccountBusyError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    except Exception as exc:  # noqa: BLE001 - Meltano could not be run: retried, and said so
        reason = f"the fleet could not run Meltano: {type(exc).__name__}: {exc}"
        retry_or_fail(context, account.name, reason, {})
    metadata = result_metadata(result)
    # Every attempt, retried or not, spent requests: record each so none goes uncounted.
    context.log_event(
        dg.AssetObservation(
            asset_key=context.asset_key, partition=context.partition_key, metadata=metadata
        )
    )
    if not result.ok:
        reason = result.reason or "the run failed"
        if result.retryable:
            retry_or_fail(context, account.name, reason, metadata)
        raise dg.Failure(description=reason, metadata=metadata, allow_retries=False)
    if result.stopped_early:
        context.log.warning("%s: %s", account.name, result.stopped_early)
    return dg.MaterializeResult(metadata=metadata)


def _accounts(fleet: Fleet) -> list[Account]:
    try:
        return fleet.accounts()
    except AccountsFileError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None


def _partition_account(fleet: Fleet, accounts: list[Account], name: str) -> Account:
    for account in accounts:
        if account.name == name:
            return account
    raise dg.Failure(
        description=f"account '{name}' is not in {fleet.accounts_file} any more",
        allow_retries=False,
    )


SYNC_JOB = dg.define_asset_job(
    JOB_NAME,
    selection=[leads],
    description="Sync one MEGA account (one partition) into its own schema.",
)


@dg.schedule(
    job=SYNC_JOB,
    cron_schedule="0 * * * *",
    name=SCHEDULE_NAME,
    execution_timezone="UTC",
    description="Every hour, one run per account in the accounts file.",
)
def hourly(context: dg.ScheduleEvaluationContext, fleet: Fleet) -> list[dg.RunRequest]:
    """One run request per account; accounts new in the file become partitions first."""
    names = [account.name for account in fleet.accounts()]
    register_partitions(context.instance, names)
    return [dg.RunRequest(partition_key=name, tags={PARTITION_TAG: name}) for name in names]


def register_partitions(instance: dg.DagsterInstance, names: list[str]) -> None:
    """Add the accounts Dagster does not know yet as partitions (none is ever removed)."""
    known = set(instance.get_dynamic_partitions(PARTITIONS.name or ""))
    missing = [name for name in names if name not in known]
    if missing:
        instance.add_dynamic_partitions(PARTITIONS.name or "", missing)


def build_definitions(settings: FleetSettings) -> dg.Definitions:
    """The asset, its job and schedule, bound to these accounts and folders."""
    return dg.Definitions(
        assets=[leads],
        jobs=[SYNC_JOB],
        schedules=[hourly],
        resources={"fleet": Fleet.from_settings(settings)},
    )


defs = build_definitions(FleetSettings.from_environment())
