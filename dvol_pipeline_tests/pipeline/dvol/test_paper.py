"""The paper book in the end-of-day loop: ten consecutive eod runs leave a consistent book,
the same one a single ten-day run leaves, reconciled with the backtest where it covers the days."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import numpy as np
import polars as pl
import pytest

from dvol_pipeline.definitions import defs
from dvol_pipeline.lake.parquet import read_table, write_partitions, write_single
from dvol_pipeline.pipeline.dvol.paper import OPTION_TABLES, run_paper
from dvol_pipeline.quant.dvol.backtest.listing import TERM_COLUMNS
from dvol_pipeline.quant.dvol.paper import PaperConfig, reconcile
from dvol_pipeline.sources.simulated import SimConfig, SimulatedMarket

FIRST, DAYS = date(2024, 3, 10), 30
EOD = [date(2024, 3, 20) + timedelta(days=i) for i in range(10)]  # crosses the 2024-03-29 expiry
COINS = ["BTC", "ETH"]


def _lake(root) -> None:
    rng = np.random.default_rng(9)
    feats, sigs, bt = [], [], []
    for a, lvl in (("BTC", 55.0), ("ETH", 66.0)):
        dvol = lvl + np.cumsum(rng.normal(0, 2.0, DAYS))
        direction = rng.choice([-1, 0, 1], DAYS)
        for i in range(DAYS):
            d = FIRST + timedelta(days=i)
            feats.append({"date": d, "asset": a, "dvol": float(dvol[i]),
                          **{c: float(dvol[i]) + 2.0 * k for k, c in enumerate(TERM_COLUMNS)}})
            sigs.append({"date": d, "asset": a, "yhat_1d": 0.0, "yhat_7d": float(direction[i]), "yhat_14d": 0.0,
                         "direction": int(direction[i]), "confidence": 0.6, "primary_horizon": 7, "tau": 0.5,
                         "model_version": "1d=har@2024-03 7d=garch@2024-03 14d=har@2024-03", "family": "garch"})
            if d <= date(2024, 3, 24):  # the backtest covers the first days only
                bt.append({"strategy": "dvol_futures_7d", "family": "garch", "horizon": 7, "asset": a, "date": d,
                           "net_usd": float(rng.normal(0, 1000)), "cost_usd": 10.0, "position": 1.0})
    write_partitions(root, "features_daily", pl.DataFrame(feats))
    signals = pl.DataFrame(sigs).with_columns(pl.col("direction").cast(pl.Int8), pl.col("primary_horizon").cast(pl.Int32))
    write_partitions(root, "signals", signals)
    write_single(root, "backtest_daily", pl.DataFrame(bt).with_columns(pl.col("horizon").cast(pl.Int32)))
    market = SimulatedMarket(SimConfig())  # the option sleeve trades the simulated market's real chains
    for name in ("raw_option_chain", "raw_ohlcv"):
        write_partitions(root, name, market.table(name, FIRST, FIRST + timedelta(days=DAYS - 1)))


def _eod_day(root, day: date) -> dg.ExecuteInProcessResult:
    job = defs.resolve_job_def("eod_job")
    keys = [k for k in job.asset_layer.executable_asset_keys if k.path[-1].startswith("paper_")]
    with dg.DagsterInstance.ephemeral() as instance:
        return job.execute_in_process(
            instance=instance, partition_key=str(day), asset_selection=keys, raise_on_error=False,
            run_config={"resources": {"lake": {"config": {"root": str(root)}}}})


@pytest.mark.slow
def test_ten_consecutive_eod_runs_leave_a_consistent_book(tmp_path):
    daily, once = tmp_path / "daily", tmp_path / "once"
    for root in (daily, once):
        _lake(root)
    for day in EOD:
        result = _eod_day(daily, day)
        assert result.success, [e.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        checks = [e.asset_check_evaluation_data for e in result.all_events
                  if e.event_type_value == "ASSET_CHECK_EVALUATION"]
        assert [c.passed for c in checks] == [True, True]
    run_paper(once, EOD[0], EOD[-1], COINS)
    tables = {}
    extra = {"paper_fills": ["contract_expiry", "reason"], "paper_option_fills": ["seq"],
             "paper_option_positions": ["instrument_name"]}
    for name in ("paper_fills", "paper_positions", "paper_pnl", "paper_reconciliation", *OPTION_TABLES):
        order = ["asset", "date", *extra.get(name, [])]
        a, b = read_table(daily, name).sort(order), read_table(once, name).sort(order)
        assert a.equals(b.select(a.columns)), name
        tables[name] = a
    fills, pos, pnl, recon = (tables[n] for n in ("paper_fills", "paper_positions", "paper_pnl", "paper_reconciliation"))
    assert pos.height == 20 and pos["date"].min() == EOD[0] and pos["date"].max() == EOD[-1]
    assert reconcile(fills, pos, PaperConfig())["ok"].all()
    sleeve = tables["paper_option_book"]
    assert sleeve.height == 20 and (sleeve["structure"] != 0).any()
    # yesterday's target is today's position, and the signal of a day sets the next order
    for a in COINS:
        p = pos.filter(pl.col("asset") == a).sort("date")
        assert p["position"][1:].to_list() == p["target_next"][:-1].to_list()
        assert p["target_next"].to_list() == p["signal"].cast(pl.Float64).to_list()
        assert pnl.filter(pl.col("asset") == a)["pnl_usd"].sum() == pytest.approx(p["equity_usd"][-1])
    assert set(fills["reason"]) <= {"signal", "roll", "kill"}
    rolled = fills.filter(pl.col("reason") == "roll")
    assert rolled.is_empty() or rolled["date"].unique().to_list() == [date(2024, 3, 28)]
    # the backtest row earning (D-1, D] is dated D-1; days after its coverage are null
    covered = recon.filter(pl.col("date") <= date(2024, 3, 25))
    assert covered["backtest_net_usd"].null_count() == 0 and covered["strategy"].unique().to_list() == ["dvol_futures_7d"]
    assert recon.filter(pl.col("date") > date(2024, 3, 25))["backtest_net_usd"].null_count() == 8  # 03-26..29 x 2 coins


def _eod_range(root, start: date, end: date) -> dg.ExecuteInProcessResult:
    """The paper book over [start, end] as one run, as `eod` runs a catch-up."""
    job = defs.resolve_job_def("eod_job")
    keys = [k for k in job.asset_layer.executable_asset_keys if k.path[-1].startswith("paper_")]
    with dg.DagsterInstance.ephemeral() as instance:
        return job.execute_in_process(
            instance=instance, asset_selection=keys, raise_on_error=False,
            tags={"dagster/asset_partition_range_start": str(start), "dagster/asset_partition_range_end": str(end)},
            run_config={"resources": {"lake": {"config": {"root": str(root)}}}})


def test_a_missed_day_is_refused_then_caught_up_never_stepped_over(tmp_path):
    """eod of day 1, day 2 never run, eod of day 3: the day-3 run refuses before writing (naming
    the missed day and the command), and the catch-up over days 2..3 leaves the book one run over
    days 1..3 leaves, reconciled."""
    gap, once = tmp_path / "gap", tmp_path / "once"
    for root in (gap, once):
        _lake(root)
    day1, day2, day3 = EOD[0], EOD[1], EOD[2]
    assert _eod_day(gap, day1).success
    refused = _eod_day(gap, day3)
    assert not refused.success
    (failure,) = [e for e in refused.all_events if e.event_type_value == "STEP_FAILURE"]
    text = str(failure.step_failure_data.error)
    assert "2024-03-21" in text and "last ran 2024-03-20" in text and "eod --date 2024-03-22" in text
    for name in ("paper_positions", "paper_option_book"):
        assert read_table(gap, name)["date"].max() == day1, name  # nothing written for day 3
    caught_up = _eod_range(gap, day2, day3)
    assert caught_up.success, [e.message for e in caught_up.all_events if e.event_type_value == "STEP_FAILURE"]
    checks = [e.asset_check_evaluation_data for e in caught_up.all_events
              if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert [c.passed for c in checks] == [True, True]
    run_paper(once, day1, day3, COINS)
    for name, extra in (("paper_positions", []), ("paper_fills", ["contract_expiry", "reason"]),
                        ("paper_option_book", [])):
        order = ["asset", "date", *extra]
        a, b = read_table(gap, name).sort(order), read_table(once, name).sort(order)
        assert a.equals(b.select(a.columns)), name
    pos = read_table(gap, "paper_positions")
    assert sorted(pos["date"].unique().to_list()) == [day1, day2, day3]
    assert reconcile(read_table(gap, "paper_fills"), pos, PaperConfig())["ok"].all()


def test_a_day_without_option_chain_is_a_data_gap_of_the_sleeve_never_a_flat_restart(tmp_path):
    """Day 2 has no option chain, so its run skips the sleeve (writes none of it); day 3's run
    steps day 2 as the sleeve's data gap from day 1's sleeve, and the sleeve reconciles over
    days 1..3 from a flat start (not from a sleeve reopened flat on day 3)."""
    import shutil

    from dvol_pipeline.lake.catalog import table
    from dvol_pipeline.quant.execution.paper_options import reconcile_sleeve

    root = tmp_path / "lake"
    _lake(root)
    day1, day2, day3 = EOD[0], EOD[1], EOD[2]
    for a in COINS:  # the chain of day 2 never landed
        shutil.rmtree(table("raw_option_chain").partition_file(root, a, day2).parent)
    assert _eod_day(root, day1).success
    assert _eod_day(root, day2).success
    assert read_table(root, "paper_option_book")["date"].max() == day1  # skipped: nothing written
    third = _eod_day(root, day3)
    checks = {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
              for e in third.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert checks == {"book_reconciles": True, "option_sleeve_reconciles": True}
    book = read_table(root, "paper_option_book").sort("asset", "date")
    assert sorted(book["date"].unique().to_list()) == [day1, day2, day3]
    assert book.filter(pl.col("date") == day2)["last_data"].to_list() == [day1, day1]  # no chain that day
    whole = reconcile_sleeve(read_table(root, "paper_option_fills"), read_table(root, "paper_option_positions"), book)
    assert whole["ok"].all()
    assert third.success
