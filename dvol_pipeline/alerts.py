"""Alerts: a failed run, a stale lake or a surface event posts one short message to a chat webhook.

Market and data events (an ATM IV spike, a skew inversion, the DVOL replica drifting, a
stale table) are posted ONCE PER EVENT, not once per evaluation: each event has a key
(check, coin, day) and the keys already posted are kept in the sensor's own cursor (with the
last run it judged), so the hourly freshness run that finds the same stale day again stays
quiet, and a re-materialized day does not post its spike twice. Those two sensors are plain
sensors over the run history (a run status sensor's cursor belongs to Dagster); the failure
alert keeps no state and stays a run failure sensor.

The webhook is `$DVOL_ALERT_WEBHOOK_URL` (Slack-compatible: a JSON body {"text": ...});
unset or empty means no alerts, so both sensors are RUNNING by default and cost nothing
until a desk sets it. A webhook that is down is retried briefly, then logged and given up:
a sensor that raised would be evaluated again on every tick, forever.
"""

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import dagster as dg
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from dvol_pipeline.assets.freshness import FRESH_CHECK
from dvol_pipeline.jobs import eod_job, freshness_check_job
from dvol_pipeline.settings import DAGSTER_UI_URL_ENV, dagster_ui_url

WEBHOOK_ENV = "DVOL_ALERT_WEBHOOK_URL"
UI_URL_ENV = DAGSTER_UI_URL_ENV
MAX_STEPS_LISTED = 5


@dataclass(frozen=True)
class StepFailure:
    step: str
    error: str  # first line of the error the user's code raised


@dataclass(frozen=True)
class StaleTable:
    table: str
    newest_by_coin: dict[str, str | None]
    today: str
    max_age_days: int


@dataclass(frozen=True)
class Delivery:
    sent: bool
    attempts: int
    error: str | None = None


def first_line(text: str | None) -> str:
    return next((line.strip() for line in (text or "").splitlines() if line.strip()), "")


def user_error(error) -> str:
    """First line of the error the code raised, not Dagster's "error while executing op" wrapper."""
    while error.cause is not None and error.cls_name.startswith("Dagster"):
        error = error.cause
    return first_line(error.message)


def partition_label(tags: Mapping[str, str]) -> str | None:
    if "dagster/partition" in tags:
        return f"partition {tags['dagster/partition']}"
    start, end = tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")
    if start and end:
        return f"partitions {start}..{end}"
    return None


def run_link(run_id: str) -> str:
    return f"{dagster_ui_url()}/runs/{run_id}"


def failure_message(
    job: str, run_id: str, tags: Mapping[str, str], failures: Sequence[StepFailure], run_error: str | None = None
) -> dict[str, str]:
    """The Slack-compatible body for a failed run: what failed, where, and where to look."""
    where = partition_label(tags)
    lines = [f"dvol_pipeline: run of {job} failed" + (f" ({where})" if where else "")]
    lines += [f"- step {f.step}: {f.error}" for f in failures[:MAX_STEPS_LISTED]]
    if len(failures) > MAX_STEPS_LISTED:
        lines.append(f"- and {len(failures) - MAX_STEPS_LISTED} more failed steps")
    if not failures and run_error:
        lines.append(f"- {first_line(run_error)}")
    lines.append(f"Run {run_id}: open it in the Dagster UI, {run_link(run_id)}")
    return {"text": "\n".join(lines)}


def stale_message(run_id: str, stale: Sequence[StaleTable]) -> dict[str, str]:
    """The body for failed `fresh` checks: each stale table's newest day per coin."""
    lines = [f"dvol_pipeline: the lake is stale ({len(stale)} raw tables)"]
    for t in stale:
        newest = ", ".join(f"{coin} {day or 'never'}" for coin, day in sorted(t.newest_by_coin.items()))
        lines.append(f"- {t.table}: newest {newest or 'nothing ingested'} (at {t.today}, max {t.max_age_days} days)")
    lines.append("Run eod_job (or materialize group:raw) for the missing days.")
    lines.append(f"Freshness run {run_id}: {run_link(run_id)}")
    return {"text": "\n".join(lines)}


def post_webhook(
    url: str,
    payload: Mapping[str, str],
    *,
    attempts: int = 3,
    timeout: float = 5.0,
    backoff: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """POST `payload` as JSON; never raises. Retries transport errors, 429 and 5xx."""
    import httpx  # here, not at the top: its import (~0.2 s, rich) is paid by every `eod`, which posts nothing

    tries = 0
    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=backoff, max=4 * backoff),
        retry=retry_if_exception_type(httpx.HTTPError),
        sleep=sleep,
        reraise=True,
    )
    try:
        for attempt in retrying:
            with attempt:
                tries += 1
                response = httpx.post(url, json=dict(payload), timeout=timeout)
                if response.status_code == 429 or response.status_code >= 500:
                    response.raise_for_status()
        if response.status_code >= 400:
            return Delivery(False, tries, f"HTTP {response.status_code}: {first_line(response.text)[:200]}")
        return Delivery(True, tries)
    except httpx.HTTPError as err:
        return Delivery(False, tries, f"{type(err).__name__}: {err}")


def deliver(log, payload: Mapping[str, str]) -> Delivery | None:
    """Post to the configured webhook, or do nothing when none is configured."""
    url = os.environ.get(WEBHOOK_ENV, "").strip()
    if not url:
        log.info(f"${WEBHOOK_ENV} is not set: alert not sent:\n{payload['text']}")
        return None
    delivery = post_webhook(url, payload)
    if delivery.sent:
        log.info(f"alert posted after {delivery.attempts} attempt(s)")
    else:
        log.warning(f"alert NOT delivered after {delivery.attempts} attempt(s) ({delivery.error}):\n{payload['text']}")
    return delivery


def failure_payload(context: dg.RunFailureSensorContext) -> dict[str, str]:
    run = context.dagster_run
    failures = [
        StepFailure(e.step_key or "?", user_error(e.event_specific_data.error))
        for e in context.get_step_failure_events()
    ]
    job_error = getattr(context.failure_event.event_specific_data, "error", None)
    run_error = user_error(job_error) if job_error is not None else context.failure_event.message
    return failure_message(run.job_name, run.run_id, run.tags, failures, run_error)


@dg.run_failure_sensor(
    name="run_failure_alert_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=f"Any failed run posts job, partition, failing step and error to ${WEBHOOK_ENV} (if set).",
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext):
    deliver(context.log, failure_payload(context))


def stale_tables(instance: dg.DagsterInstance, run_id: str) -> list[StaleTable]:
    """Every failed `fresh` check evaluated in the run, from its metadata."""
    records = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    failed = [r.dagster_event.event_specific_data for r in records]
    failed = [e for e in failed if e.check_name == FRESH_CHECK and not e.passed]
    meta = [{k: v.value for k, v in e.metadata.items()} for e in failed]
    return [
        StaleTable(e.asset_key.path[-1], m.get("newest_by_coin") or {}, m.get("today", "?"), m.get("max_age_days", 0))
        for e, m in zip(failed, meta, strict=True)
    ]


POSTED_KEPT = 5000
"""Event keys remembered (oldest forgotten first): years of daily events per coin and check."""
SURFACE_ALERTS = {"atm_iv_spike": "WARN", "skew_inversion": "WARN", "dvol_replica": "ERROR"}
"""The surface checks whose events are posted, with the severity shown."""
MAX_EVENTS_LISTED = 10
RUNS_PER_TICK = 20
"""Runs judged per sensor tick, oldest first; the next tick goes on where this one stopped."""


@dataclass
class AlertCursor:
    """An alert sensor's state, kept in its cursor: the update time of the newest run it judged
    and the event keys it posted (the newest POSTED_KEPT)."""

    after: str | None = None
    posted: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, cursor: str | None) -> "AlertCursor":
        """The state in `cursor`; a fresh one for no cursor or another format (e.g. the cursor the
        sensor kept when it was a run status sensor)."""
        try:
            value = json.loads(cursor) if cursor else None
        except ValueError:
            value = None
        if not isinstance(value, dict) or set(value) != {"after", "posted"}:
            return cls()
        return cls(value["after"], list(value["posted"]))

    def dump(self) -> str:
        return json.dumps({"after": self.after, "posted": self.posted[-POSTED_KEPT:]})


def only_new(posted: list[str], keys: Sequence[str]) -> set[str]:
    """The keys not in `posted`; appends them to it (the caller keeps it in the sensor's cursor)."""
    seen = set(posted)
    new = [k for k in dict.fromkeys(keys) if k not in seen]
    posted.extend(new)
    return set(new)


def succeeded_runs(instance: dg.DagsterInstance, job_name: str, after: str) -> list[dg.RunRecord]:
    """The runs of `job_name` that succeeded after the update time `after` (ISO), oldest first."""
    since = dg.RunsFilter(job_name=job_name, statuses=[dg.DagsterRunStatus.SUCCESS],
                          updated_after=datetime.fromisoformat(after))
    return list(instance.get_run_records(since, limit=RUNS_PER_TICK, order_by="update_timestamp", ascending=True))


def judge_new_runs(context: dg.SensorEvaluationContext, job_name: str,
                   judge: Callable[[dg.DagsterInstance, str, list[str]], dict[str, str] | None]):
    """One tick of an alert sensor: `judge(instance, run_id, posted)` each run of `job_name` that
    succeeded since the last tick and post the message it returns; the cursor keeps where it stopped
    and what was posted. The first tick only starts the clock: runs from before a sensor was
    turned on are not judged (as Dagster's run status sensors do)."""
    state = AlertCursor.load(context.cursor)
    if state.after is None:
        context.update_cursor(AlertCursor(datetime.now(UTC).isoformat(), state.posted).dump())
        return dg.SkipReason(f"started: judging the runs of {job_name} that succeed from now on")
    runs = succeeded_runs(context.instance, job_name, state.after)
    for record in runs:
        payload = judge(context.instance, record.dagster_run.run_id, state.posted)
        if payload:
            deliver(context.log, payload)
        state.after = record.update_timestamp.isoformat()
    context.update_cursor(state.dump())
    return None if runs else dg.SkipReason(f"no run of {job_name} succeeded since {state.after}")


def stale_keys(t: StaleTable) -> dict[str, str]:
    """coin -> event key: a coin stuck at the same newest day is one event, however often judged."""
    return {coin: f"fresh:{t.table}:{coin}:{day or 'never'}" for coin, day in t.newest_by_coin.items()}


def new_stale(posted: list[str], stale: Sequence[StaleTable]) -> list[StaleTable]:
    keys = {t.table: stale_keys(t) for t in stale}
    new = only_new(posted, [k for per in keys.values() for k in per.values()])
    out = []
    for t in stale:
        coins = {c: d for c, d in t.newest_by_coin.items() if keys[t.table][c] in new}
        if coins:
            out.append(StaleTable(t.table, coins, t.today, t.max_age_days))
    return out


@dataclass(frozen=True)
class SurfaceEvent:
    check: str
    severity: str
    asset: str
    day: str
    detail: dict

    @property
    def key(self) -> str:
        return f"{self.check}:{self.asset}:{self.day}"


def surface_events(instance: dg.DagsterInstance, run_id: str) -> list[SurfaceEvent]:
    """Every event listed by a failed surface alert check of the run, from its `events` metadata."""
    records = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    out = []
    for r in records:
        e = r.dagster_event.event_specific_data
        if e.check_name not in SURFACE_ALERTS or e.passed or "events" not in e.metadata:
            continue
        for ev in e.metadata["events"].value.get("events", []):
            detail = {k: v for k, v in ev.items() if k not in ("asset", "date")}
            out.append(SurfaceEvent(e.check_name, SURFACE_ALERTS[e.check_name], ev["asset"], ev["date"], detail))
    return out


def surface_message(run_id: str, events: Sequence[SurfaceEvent]) -> dict[str, str]:
    """The body for new surface events, newest first; each event appears in one message only."""
    ordered = sorted(events, key=lambda e: (e.day, e.asset), reverse=True)
    lines = [f"dvol_pipeline: {len(events)} new surface alert(s)"]
    for e in ordered[:MAX_EVENTS_LISTED]:
        what = ", ".join(f"{k} {v}" for k, v in e.detail.items())
        lines.append(f"- [{e.severity}] {e.check} {e.asset} {e.day}: {what}")
    if len(events) > MAX_EVENTS_LISTED:
        lines.append(f"- and {len(events) - MAX_EVENTS_LISTED} older events (see the checks in the UI)")
    lines.append(f"Run {run_id}: {run_link(run_id)}")
    return {"text": "\n".join(lines)}


def surface_payload(instance: dg.DagsterInstance, run_id: str, posted: list[str]) -> dict[str, str] | None:
    """The message for the run's surface events not posted before, or None."""
    events = surface_events(instance, run_id)
    new = only_new(posted, [e.key for e in events])
    fresh = [e for e in events if e.key in new]
    return surface_message(run_id, fresh) if fresh else None


def stale_payload(instance: dg.DagsterInstance, run_id: str, posted: list[str]) -> dict[str, str] | None:
    """The message for the run's newly stale tables, or None."""
    stale = new_stale(posted, stale_tables(instance, run_id))
    return stale_message(run_id, stale) if stale else None


@dg.sensor(
    name="surface_alert_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=f"New ATM IV spikes, skew inversions and DVOL replica drifts of a successful {eod_job.name} run, "
                f"each posted once to ${WEBHOOK_ENV} (if set).",
)
def surface_alert_sensor(context: dg.SensorEvaluationContext):
    return judge_new_runs(context, eod_job.name, surface_payload)


@dg.sensor(
    name="stale_lake_alert_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=f"A {freshness_check_job.name} run whose `fresh` checks failed posts the newly stale tables to "
                f"${WEBHOOK_ENV} (if set): a coin stuck at the same newest day is posted once, not on every run.",
)
def stale_lake_alert_sensor(context: dg.SensorEvaluationContext):
    return judge_new_runs(context, freshness_check_job.name, stale_payload)


alert_sensors = [run_failure_alert_sensor, stale_lake_alert_sensor, surface_alert_sensor]
