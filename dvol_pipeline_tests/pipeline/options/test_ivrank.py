"""The IV-rank lane on a small simulated lake: every table written, contract-checked, consistent."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from dvol_pipeline.contracts.tables import RAW_TABLES
from dvol_pipeline.lake.catalog import table
from dvol_pipeline.lake.parquet import read_single
from dvol_pipeline.pipeline.ingest import ingest_table
from dvol_pipeline.pipeline.options.ivrank import run_ivrank_tables
from dvol_pipeline.pipeline.dvol.regimes import build_range
from dvol_pipeline.quant.options.ivrank import IVRankConfig
from dvol_pipeline.quant.dvol.regimes import RegimeThresholds
from dvol_pipeline.sources import open_source

FIRST, LAST = date(2021, 3, 24), date(2021, 9, 30)
COINS = ["BTC"]
TABLES = ("ivrank_trades", "ivrank_gate_folds", "ivrank_regime_choices", "ivrank_strategy_metrics", "ivrank_daily")


@pytest.mark.slow
def test_ivrank_writes_its_tables_on_a_simulated_lake(tmp_path):
    source = open_source("simulated")
    for name in ("raw_dvol", "raw_ohlcv", "raw_option_chain"):
        ingest_table(RAW_TABLES[name], source, tmp_path, FIRST, LAST, COINS)
    build_range(tmp_path, FIRST, FIRST, LAST, COINS, RegimeThresholds(min_history_days=30))
    skipped = run_ivrank_tables(tmp_path / "empty", COINS)  # a lake without chains (CSV imports) skips it
    assert skipped.result is None and "not run" in skipped.note and not (tmp_path / "empty" / "backtest").exists()
    cfg = IVRankConfig(min_train=150, min_past_folds=1, min_taken=3, min_regime_trades=5, low_rank=0.4,
                       high_rank=0.6)
    run = run_ivrank_tables(tmp_path, COINS, cfg)
    for name in TABLES:
        assert table(name).file(tmp_path).exists(), name
        assert read_single(tmp_path, name).height == run.sizes[name] > 0, name
    trades = read_single(tmp_path, "ivrank_trades")
    assert set(trades["structure"]) == {"iron_condor", "put_credit_spread", "call_credit_spread", "long_straddle"}
    assert trades["entry_dte"].min() >= cfg.entry_dte_min and trades["entry_dte"].max() <= cfg.entry_dte_max
    assert (trades["exit_date"] > trades["entry_date"]).all()
    folds = read_single(tmp_path, "ivrank_gate_folds")
    assert folds.height >= 2 and folds["threshold"].is_not_null().all()
    # only months with a fold are traded, and every strategy traded something
    taken = trades.filter(pl.col("taken_rule") | pl.col("taken_gated") | pl.col("taken_regime"))
    assert set(taken["entry_date"].dt.strftime("%Y-%m")) <= set(folds["fold"])
    assert trades["taken_rule"].any()
    gated = trades.filter(pl.col("taken_gated"))
    assert (gated["prob"] >= gated["gate_threshold"]).all()
    metrics = read_single(tmp_path, "ivrank_strategy_metrics")
    all_rows = metrics.filter((pl.col("regime") == "ALL") & (pl.col("asset") == "ALL") & (pl.col("cost_mult") == 1.0))
    rule = trades.filter(pl.col("taken_rule"))
    got = all_rows.filter(pl.col("strategy") == "ivrank_rule").row(0, named=True)
    assert got["n_trades"] == rule.height and got["net_usd"] == pytest.approx(rule["net_usd"].sum())
    daily = read_single(tmp_path, "ivrank_daily").filter(pl.col("strategy") == "ivrank_rule")
    assert daily["net_usd"].sum() == pytest.approx(rule["net_usd"].sum())
