"""Alerts: a failed run (or a stale lake) posts one readable message to a local webhook."""

from __future__ import annotations

import json
import threading
from datetime import date, timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from dvol_pipeline import alerts
from dvol_pipeline.alerts import (
    WEBHOOK_ENV,
    StaleTable,
    StepFailure,
    failure_message,
    post_webhook,
    run_failure_alert_sensor,
    stale_lake_alert_sensor,
    stale_message,
)
from dvol_pipeline.assets.freshness import raw_freshness_checks
from dvol_pipeline.contracts.tables import RAW_TABLES
from dvol_pipeline.definitions import defs
from dvol_pipeline_tests.lake_paths import partition_file


class Webhook:
    """A chat webhook on 127.0.0.1 that records every JSON body and answers `status`."""

    def __init__(self):
        self.bodies: list[dict] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                hook.bodies.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
                self.send_response(hook.status)
                self.end_headers()
                self.wfile.write(b"ok" if hook.status < 400 else b"invalid_payload\nmore")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook(monkeypatch):
    hook = Webhook()
    monkeypatch.setenv(WEBHOOK_ENV, hook.url)
    monkeypatch.delenv(alerts.UI_URL_ENV, raising=False)
    sleeps: list[float] = []
    monkeypatch.setattr(alerts, "post_webhook", partial(post_webhook, sleep=sleeps.append))  # no real back-off
    hook.sleeps = sleeps
    yield hook
    hook.close()


def test_the_message_names_job_partition_steps_and_where_to_look():
    failures = [StepFailure(f"raw_t{i}", f"ValueError: bad {i}") for i in range(7)]
    text = failure_message("eod_job", "run-1", {"dagster/partition": "2024-06-03"}, failures)["text"]
    assert text.splitlines() == [
        "dvol_pipeline: run of eod_job failed (partition 2024-06-03)",
        *[f"- step raw_t{i}: ValueError: bad {i}" for i in range(5)],
        "- and 2 more failed steps",
        "Run run-1: open it in the Dagster UI, http://127.0.0.1:3000/runs/run-1",
    ]
    ranged = {"dagster/asset_partition_range_start": "2024-06", "dagster/asset_partition_range_end": "2024-07"}
    text = failure_message("monthly_job", "r", ranged, [], run_error="DagsterRunLaunchError: no room\ntrace")["text"]
    # a range names both ends; a run-level error gives its first line only (no trace)
    assert text.splitlines() == [
        "dvol_pipeline: run of monthly_job failed (partitions 2024-06..2024-07)",
        "- DagsterRunLaunchError: no room",
        "Run r: open it in the Dagster UI, http://127.0.0.1:3000/runs/r",
    ]


def test_the_ui_address_is_configurable(monkeypatch):
    monkeypatch.setenv(alerts.UI_URL_ENV, "https://dagster.desk.example/")
    assert failure_message("j", "abc", {}, [])["text"].endswith("https://dagster.desk.example/runs/abc")


@dg.asset
def fragile():
    raise ValueError("the source returned nothing for 2024-06-03\nsecond line of detail")


@dg.asset(deps=[fragile])
def downstream():
    return 1


def _failure_context(instance):
    result = dg.materialize([fragile, downstream], instance=instance, raise_on_error=False,
                            tags={"dagster/partition": "2024-06-03"})
    assert not result.success
    return dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert_sensor", dagster_event=result.get_run_failure_event(),
        dagster_instance=instance, dagster_run=result.dagster_run,
    ).for_run_failure(), result.dagster_run


def test_a_failed_run_posts_its_failing_step_and_first_error_line(webhook):
    with dg.DagsterInstance.ephemeral() as instance:
        context, run = _failure_context(instance)
        run_failure_alert_sensor(context)
    (body,) = webhook.bodies
    assert set(body) == {"text"}
    lines = body["text"].splitlines()
    assert lines[0] == "dvol_pipeline: run of __ephemeral_asset_job__ failed (partition 2024-06-03)"
    # the user's error, not Dagster's "Error occurred while executing op" wrapper, and one line of it
    assert lines[1] == "- step fragile: ValueError: the source returned nothing for 2024-06-03"
    assert lines[-1] == f"Run {run.run_id}: open it in the Dagster UI, http://127.0.0.1:3000/runs/{run.run_id}"
    assert "downstream" not in body["text"]  # skipped, not failed


def test_without_a_webhook_nothing_is_sent(webhook, monkeypatch):
    for unset in ("", "   "):
        monkeypatch.setenv(WEBHOOK_ENV, unset)
        with dg.DagsterInstance.ephemeral() as instance:
            context, _ = _failure_context(instance)
            assert run_failure_alert_sensor(context) is None
    monkeypatch.delenv(WEBHOOK_ENV)
    with dg.DagsterInstance.ephemeral() as instance:
        run_failure_alert_sensor(_failure_context(instance)[0])
    assert webhook.bodies == []


def test_a_failing_webhook_is_retried_then_given_up_without_raising(webhook):
    webhook.status = 503
    with dg.DagsterInstance.ephemeral() as instance:
        context, _ = _failure_context(instance)
        run_failure_alert_sensor(context)  # returns: the sensor loop goes on
    assert len(webhook.bodies) == 3 and webhook.sleeps == [0.5, 1.0]
    webhook.status = 400  # a refused payload is not retried
    delivery = post_webhook(webhook.url, {"text": "x"}, sleep=lambda s: None)
    assert (delivery.sent, delivery.attempts, delivery.error) == (False, 1, "HTTP 400: invalid_payload")
    webhook.status = 200
    assert post_webhook(webhook.url, {"text": "x"}).sent


def test_an_unreachable_webhook_is_given_up_too():
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as closed:
        port = closed.server_address[1]  # nothing listens on it once closed
    sleeps = []
    delivery = post_webhook(f"http://127.0.0.1:{port}/", {"text": "x"}, attempts=2, sleep=sleeps.append)
    assert not delivery.sent and delivery.attempts == 2 and delivery.error.startswith("ConnectError")
    assert sleeps == [0.5]


def test_stale_message_lists_each_table_newest_day_per_coin():
    text = stale_message("r9", [StaleTable("raw_dvol", {"ETH": None, "BTC": "2024-06-05"}, "2024-06-10", 2)])["text"]
    assert text.splitlines()[:2] == [
        "dvol_pipeline: the lake is stale (1 raw tables)",
        "- raw_dvol: newest BTC 2024-06-05, ETH never (at 2024-06-10, max 2 days)",
    ]


class Ticks:
    """An alert sensor evaluated tick after tick on `instance`, its cursor carried from one tick to the
    next as the daemon does; the first tick (made here) starts the sensor's clock."""

    def __init__(self, sensor, instance):
        self.sensor, self.instance, self.cursor = sensor, instance, None
        self()

    def __call__(self):
        context = dg.build_sensor_context(instance=self.instance, cursor=self.cursor, sensor_name=self.sensor.name)
        result = self.sensor(context)
        self.cursor = context.cursor
        return result


def _freshness_run(instance, lake, today) -> dg.ExecuteInProcessResult:
    run_config = {"ops": {raw_freshness_checks.op.name: {"config": {"today": today.isoformat()}}},
                  "resources": {"lake": {"config": {"root": str(lake)}}}}
    result = defs.resolve_job_def("freshness_check_job").execute_in_process(instance=instance, run_config=run_config)
    assert result.success
    return result


def test_a_stale_lake_posts_the_stale_tables_and_a_fresh_one_posts_nothing(webhook, tmp_path):
    today = date(2024, 6, 10)
    for table in RAW_TABLES:
        for coin in ("BTC", "ETH"):
            path = partition_file(tmp_path, "raw", table, coin, today - timedelta(days=1))
            path.parent.mkdir(parents=True)
            path.write_bytes(b"")
    with dg.instance_for_test() as instance:
        tick = Ticks(stale_lake_alert_sensor, instance)
        _freshness_run(instance, tmp_path, today)
        tick()
        assert webhook.bodies == []
        _freshness_run(instance, tmp_path, today + timedelta(days=5))
        tick()
        tick()  # a second tick without a new run posts nothing again
    (body,) = webhook.bodies
    lines = body["text"].splitlines()
    assert lines[0] == f"dvol_pipeline: the lake is stale ({len(RAW_TABLES)} raw tables)"
    assert "- raw_dvol: newest BTC 2024-06-09, ETH 2024-06-09 (at 2024-06-15, max 2 days)" in lines


def test_an_alert_sensor_judges_only_runs_after_its_first_tick(webhook, tmp_path):
    with dg.instance_for_test() as instance:
        _freshness_run(instance, tmp_path, date(2024, 6, 10))  # stale (an empty lake), but before the sensor
        tick = Ticks(stale_lake_alert_sensor, instance)
        assert isinstance(tick(), dg.SkipReason) and webhook.bodies == []
        _freshness_run(instance, tmp_path, date(2024, 6, 10))
        tick()
    assert len(webhook.bodies) == 1


def test_a_cursor_of_another_format_starts_afresh():
    # the cursor the sensor kept as a run status sensor, or none: a new state, nothing posted yet
    for old in (None, "", '{"__class__": "RunStatusSensorCursor", "record_id": 7}', "not json"):
        assert alerts.AlertCursor.load(old) == alerts.AlertCursor()
    state = alerts.AlertCursor("2024-06-10T00:00:00+00:00", ["a", "b"])
    assert alerts.AlertCursor.load(state.dump()) == state
