"""Surface alerts: the rules (no look-ahead), the checks' events, and a webhook post once per event."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import polars as pl
import pytest

from dvol_pipeline.alerts import WEBHOOK_ENV, stale_lake_alert_sensor, surface_alert_sensor
from dvol_pipeline.assets.options.surface_alerts import ALERT_CHECK_SPECS, alert_check_results
from dvol_pipeline.contracts.tables import RAW_TABLES
from dvol_pipeline.lake.parquet import write_partitions
from dvol_pipeline.pipeline.options.surface import surface_alerts
from dvol_pipeline.quant.pricing.surface.alerts import iv_spikes, skew_inversions
from dvol_pipeline_tests.lake_paths import partition_file
from dvol_pipeline.jobs import eod_job
from dvol_pipeline_tests.test_alerts import Ticks, Webhook, _freshness_run

D0 = date(2024, 1, 1)


def _features(atm: list[float], rr: list[float] | None = None, coin: str = "BTC", start: date = D0) -> pl.DataFrame:
    days = [start + timedelta(days=i) for i in range(len(atm))]
    return pl.DataFrame({"date": days, "asset": [coin] * len(days), "surf_atm_30d": atm,
                         "surf_rr25_30d": rr if rr is not None else [-1.0] * len(days)})


def test_a_spike_is_over_20_percent_above_the_seven_days_before():
    f = _features([50.0] * 7 + [60.5, 61.0, 50.0])
    spikes = iv_spikes(f)
    # 60.5 > 1.2 x 50 fires; 61 is not above 1.2 x mean(50 x 6, 60.5) = 61.8: the spike raised the bar
    assert spikes["date"].to_list() == [D0 + timedelta(days=7)]
    assert spikes["ratio"][0] == pytest.approx(1.21)
    assert iv_spikes(_features([50.0] * 6 + [70.0])).is_empty()  # six days of history: not judged
    assert iv_spikes(_features([50.0] * 7 + [59.9])).is_empty()  # 19.8 % above: no alert


def test_a_days_alert_does_not_depend_on_later_days():
    base = _features([50.0] * 7 + [61.0] + [55.0] * 5, rr=[-1.0] * 8 + [1.0] + [0.3, -1.0, 1.0, -1.0])
    later = base.with_columns(pl.when(pl.col("date") > D0 + timedelta(days=8)).then(200.0)
                              .otherwise(pl.col("surf_atm_30d")).alias("surf_atm_30d"))
    upto = pl.col("date") <= D0 + timedelta(days=8)
    assert iv_spikes(base).filter(upto).equals(iv_spikes(later).filter(upto))
    assert skew_inversions(base).filter(upto).equals(skew_inversions(later).filter(upto))


def test_a_skew_inversion_is_a_change_of_side_with_hysteresis():
    flips = skew_inversions(_features([50.0] * 6, rr=[-1.0, -0.6, 0.7, 0.6, -0.2, -0.8]))
    assert flips["date"].to_list() == [D0 + timedelta(days=2), D0 + timedelta(days=5)]
    assert flips.select("rr25_before", "rr25").rows() == [(-0.6, 0.7), (0.6, -0.8)]
    wobble = skew_inversions(_features([50.0] * 6, rr=[-1.0, 0.2, -0.3, 0.4, -0.1, -1.2]))
    assert wobble.is_empty()  # inside the 0.5-point band the put side holds: no alert
    slow = skew_inversions(_features([50.0] * 3, rr=[-1.0, 0.1, 1.0]))
    assert slow.select("date", "rr25_before", "rr25").rows() == [(D0 + timedelta(days=2), -1.0, 1.0)]


def test_a_one_day_run_judges_its_day_with_the_lakes_week_before(tmp_path):
    history = _features([50.0] * 7)
    write_partitions(tmp_path, "surface_features", history)
    today = _features([65.0], rr=[0.8], start=D0 + timedelta(days=7))
    spikes, flips = surface_alerts(tmp_path, today)
    assert spikes.select("date", "asset").rows() == [(D0 + timedelta(days=7), "BTC")]
    assert flips.select("date", "asset").rows() == [(D0 + timedelta(days=7), "BTC")]
    spikes, flips = surface_alerts(tmp_path / "empty_lake", today)
    assert spikes.is_empty() and flips.is_empty()  # no history to compare with


@pytest.fixture
def webhook(monkeypatch):
    hook = Webhook()
    monkeypatch.setenv(WEBHOOK_ENV, hook.url)
    yield hook
    hook.close()


def _eod_run(instance, features: pl.DataFrame, job_name: str = eod_job.name):
    """A run of `job_name` (eod_job unless told) that evaluates the real alert checks on `features`
    (as option_surface does)."""

    @dg.asset(name="surface_features", check_specs=ALERT_CHECK_SPECS)
    def stub():
        yield dg.MaterializeResult()
        yield from alert_check_results(iv_spikes(features), skew_inversions(features))

    job = dg.Definitions(assets=[stub], jobs=[dg.define_asset_job(job_name)]).resolve_job_def(job_name)
    result = job.execute_in_process(instance=instance, raise_on_error=False)
    assert result.success
    checks = {c.check_name: c for c in (e.asset_check_evaluation_data for e in result.all_events
                                         if e.event_type_value == "ASSET_CHECK_EVALUATION")}
    assert checks["atm_iv_spike"].severity == dg.AssetCheckSeverity.WARN


def test_each_surface_event_is_posted_once(webhook):
    week = _features([50.0] * 7 + [61.0], rr=[-1.0] * 7 + [0.8])
    with dg.instance_for_test() as instance:
        tick = Ticks(surface_alert_sensor, instance)
        _eod_run(instance, week)
        tick()
        (body,) = webhook.bodies
        lines = body["text"].splitlines()
        assert lines[0] == "dvol_pipeline: 2 new surface alert(s)"
        assert any(line.startswith("- [WARN] atm_iv_spike BTC 2024-01-08: atm_30d 61.0") for line in lines)
        assert any(line.startswith("- [WARN] skew_inversion BTC 2024-01-08") for line in lines)
        tick()  # a second tick with no new run: nothing posted again
        assert len(webhook.bodies) == 1
        _eod_run(instance, week)  # the same day judged again: nothing new
        tick()
        assert len(webhook.bodies) == 1
        next_day = pl.concat([week, _features([75.0], rr=[0.9], start=D0 + timedelta(days=8))])
        _eod_run(instance, next_day)
        tick()
        assert len(webhook.bodies) == 2
        lines = webhook.bodies[1]["text"].splitlines()
        assert lines[0] == "dvol_pipeline: 1 new surface alert(s)" and "2024-01-09" in lines[1]
        _eod_run(instance, _features([50.0] * 8))  # checks pass: nothing posted
        _eod_run(instance, _features([50.0] * 9 + [90.0]), job_name="another_job")  # not an end-of-day run
        tick()
        assert len(webhook.bodies) == 2


def test_a_stale_table_is_posted_once_until_it_moves(webhook, tmp_path):
    today = date(2024, 6, 10)

    def land(day):
        for table in RAW_TABLES:
            for coin in ("BTC", "ETH"):
                path = partition_file(tmp_path, "raw", table, coin, day)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"")

    land(today - timedelta(days=1))
    with dg.instance_for_test() as instance:
        tick = Ticks(stale_lake_alert_sensor, instance)
        _freshness_run(instance, tmp_path, today + timedelta(days=5))
        tick()
        assert len(webhook.bodies) == 1
        for later in (6, 7):  # the later runs that find the same stale days stay quiet
            _freshness_run(instance, tmp_path, today + timedelta(days=later))
            tick()
        assert len(webhook.bodies) == 1
        land(today + timedelta(days=1))  # data arrives, then stops again: a new event
        _freshness_run(instance, tmp_path, today + timedelta(days=9))
        tick()
        assert len(webhook.bodies) == 2
        assert "newest BTC 2024-06-11, ETH 2024-06-11" in webhook.bodies[1]["text"]
