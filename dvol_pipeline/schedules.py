"""Schedules: the end-of-day run, the monthly walk-forward run and the freshness checks.

All three are STOPPED in code: `make ui` must not start ingesting or training because
someone opened the UI on a laptop. A desk turns them on once, in the UI (Automation) or
with `dagster schedule start -w workspace.yaml eod_schedule`; the state lives in
$DAGSTER_HOME and survives restarts. Times are UTC, after the day's cut-off (DESIGN.md).
"""

from datetime import UTC, date, datetime, timedelta

import dagster as dg

from dvol_pipeline.assets.freshness import raw_freshness_checks
from dvol_pipeline.jobs import eod_job, freshness_check_job, monthly_job
from dvol_pipeline.partitions import FIRST_FOLD

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
TRIGGER_TAG = "dvol/trigger"


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"scheduled time {moment} has no timezone; schedules run in UTC")
    return moment.astimezone(UTC)


def closed_day(moment: datetime) -> date:
    """The UTC day that closed last: at any time on day D it is D-1, never the open day D."""
    return _utc(moment).date() - timedelta(days=1)


def month_key(day: date) -> str:
    return f"{day:%Y-%m}"


def monthly_folds(moment: datetime) -> tuple[str, str]:
    """(first, last) fold keys for the run at `moment`: the month that just closed and the new one.

    The new fold trains the models live signals use this month; the closed fold is run again
    because when it was first run (on its own 1st) none of its days had features yet, so only
    now can it predict every day of its month for the metrics and the backtest.
    """
    new = _utc(moment).date()
    closed = new.replace(day=1) - timedelta(days=1)
    return max(month_key(closed), FIRST_FOLD), month_key(new)


@dg.schedule(
    name="eod_schedule",
    job=eod_job,
    cron_schedule="30 0 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="00:30 UTC: ingest, features, surface, signals for the day that just closed, then the warehouse.",
)
def eod_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day = closed_day(context.scheduled_execution_time).isoformat()
    return dg.RunRequest(run_key=f"eod:{day}", partition_key=day, tags={TRIGGER_TAG: "eod_schedule"})


@dg.schedule(
    name="monthly_schedule",
    job=monthly_job,
    cron_schedule="0 1 1 * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="01:00 UTC on the 1st: complete last month's fold, train this month's, then metrics, "
    "backtests and the warehouse (one run).",
)
def monthly_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    first, last = monthly_folds(context.scheduled_execution_time)
    tags = {TRIGGER_TAG: "monthly_schedule"}
    if first == last:
        return dg.RunRequest(run_key=f"monthly:{last}", partition_key=last, tags=tags)
    return dg.RunRequest(
        run_key=f"monthly:{first}..{last}", tags={**tags, RANGE_START_TAG: first, RANGE_END_TAG: last}
    )


@dg.schedule(
    name="freshness_schedule",
    job=freshness_check_job,
    cron_schedule="0 1 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="01:00 UTC daily, after the end-of-day run (the run queue keeps them in order): "
    "the `fresh` check of every raw table, judged at the tick's UTC day.",
)
def freshness_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    today = _utc(context.scheduled_execution_time).date().isoformat()
    config = {"ops": {raw_freshness_checks.op.name: {"config": {"today": today}}}}
    return dg.RunRequest(run_config=config, tags={TRIGGER_TAG: "freshness_schedule"})


schedules = [eod_schedule, monthly_schedule, freshness_schedule]
