"""The universe lane end to end: CoinMarketCap files through the CLI and Dagster, and the ingest's lake effects."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.lake.catalog import table, universe_report_file
from dvol_pipeline.lake.parquet import read_single, read_table
from dvol_pipeline.lake.warehouse import query
from dvol_pipeline.pipeline.universe.run import ingest_universe

HEADER = "SNo,Name,Symbol,Date,High,Low,Open,Close,Volume,Marketcap"


def write_cmc(folder: Path, symbol: str, days: int, vol: float, cap: float, seed: int, start=date(2021, 1, 1)) -> Path:
    rng = np.random.default_rng(seed)
    close = 10 * np.exp(np.cumsum(rng.normal(0, vol / np.sqrt(365), days)))
    lines = [HEADER]
    for i, c in enumerate(close):
        o = close[i - 1] if i else c
        lines.append(f"{i + 1},{symbol} coin,{symbol},{start + timedelta(days=i)} 23:59:59,{max(o, c) * 1.01},"
                     f"{min(o, c) * 0.99},{o},{c},{cap * 0.05},{cap * c / 10}")
    path = folder / f"coin_{symbol}.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
def test_run_source_cmc_builds_the_universe_lane_and_lists_skipped_coins(lake, tmp_path):
    from dvol_pipeline.cli import main

    landing = tmp_path / "landing"
    landing.mkdir()
    for k, (sym, vol, cap) in enumerate([("BTC", 0.6, 1e12), ("ETH", 0.8, 4e11), ("SOL", 1.0, 5e10), ("ADA", 1.1, 1e10),
                                         ("DOGE", 1.3, 5e9), ("PEPE", 1.8, 1e8)]):
        write_cmc(landing, sym, 560, vol, cap, seed=k)
    write_cmc(landing, "NEWC", 200, 1.5, 1e8, seed=9, start=date(2022, 1, 1))  # too short to model
    usdt = write_cmc(landing, "USDT", 560, 0.0, 1e11, seed=10)
    assert main(["run", "--source", "cmc", "--landing", str(landing)]) == 0
    symbols = read_single(lake, "universe_symbols")
    reasons = dict(symbols.select("symbol", "skip_reason").iter_rows())
    assert "stablecoin" in reasons["USDT"] and "too little history" in reasons["NEWC"] and reasons["SOL"] is None
    preds = read_single(lake, "universe_predictions")
    assert {"NEWC", "USDT"}.isdisjoint(set(preds["symbol"])) and preds["fold"].n_unique() >= 3
    shap = read_single(lake, "universe_importance").filter(pl.col("kind") == "shap")
    assert shap["fold"].n_unique() == preds["fold"].n_unique()  # SHAP on every fold's test month
    html = universe_report_file(lake, "latest").read_text()
    for section in ("EDA: sample coins", "Models", "Confusion matrices", "Calibration", "SHAP and ablations", "Strategy"):
        assert f"<h2>{section}" in html
    assert 'class="na"' not in html  # every section drawn
    views = set(query(lake, "SELECT view_name FROM lake_catalog")["view_name"])
    assert {"raw_universe_daily", "universe_symbols", "universe_features", "universe_predictions",
            "universe_forecast_metrics", "universe_class_metrics", "universe_strategy_metrics"} <= views
    assert usdt.exists()  # the landing files are never modified


def test_ingest_writes_one_file_per_coin_quarantines_with_reasons_and_drops_coins_gone(lake, tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    write_cmc(landing, "SOL", 30, 0.8, 1e10, seed=1)
    bad = write_cmc(landing, "ADA", 30, 0.8, 1e9, seed=2)
    text = bad.read_text().splitlines()
    fields = text[10].split(",")
    fields[7] = str(float(fields[7]) * 50)  # a close 50x off: > 500 %
    fields[4] = str(float(fields[7]) * 1.01)
    text[10] = ",".join(fields)
    bad.write_text("\n".join(text) + "\n")
    out = ingest_universe(lake, "cmc", date(2021, 1, 1), date(2021, 12, 31), landing=landing)
    assert out.rows_quarantined == 1 and "500 %" in next(iter(out.reasons))
    t = table("raw_universe_daily")
    assert t.symbols(lake) == ["ADA", "SOL"] and read_table(lake, t).height == 59
    assert len(t.quarantine().files(lake)) == 1
    bad.unlink()
    ingest_universe(lake, "cmc", date(2021, 1, 1), date(2021, 12, 31), landing=landing)
    assert t.symbols(lake) == ["SOL"] and not t.quarantine().files(lake)
    assert read_single(lake, "universe_symbols")["symbol"].to_list() == ["SOL"]
    assert pl.read_parquet(t.symbol_file(lake, "SOL"))["source"].unique().to_list() == ["cmc"]


def test_run_skips_the_universe_with_a_note_where_it_cannot_build_it(tmp_path):
    from dvol_pipeline.quant.lanes import plan_lanes
    from dvol_pipeline.sources.universe import universe_coverage

    def plan(source: str, start: date | None = None, end: date | None = None):
        covered, enable = universe_coverage(source, tmp_path, start, end)
        covers = {"raw_universe_daily": covered} if covered else {}
        return plan_lanes(covers, {"raw_universe_daily": enable}, first=date(2021, 3, 24), last=date(2025, 1, 1),
                          start=start, end=end)["universe"]

    assert "source deribit has none" in plan("deribit", date(2021, 3, 24), date(2024, 12, 31)).line
    assert "under the 500 it needs" in plan("simulated", date(2021, 3, 24), date(2021, 4, 20)).line
    assert plan("simulated", date(2021, 3, 24), date(2024, 12, 31)).span == (date(2021, 3, 24), date(2024, 12, 31))
    assert f"daily spot price files per coin (Binance_SOLUSDT_d.csv ...) in {tmp_path}" in plan("cdd").line
    write_cmc(tmp_path, "SOL", 560, 1.0, 5e10, seed=1, start=date(2019, 1, 1))  # before the first daily partition
    assert plan("cmc").span == (date(2019, 1, 1), date(2019, 1, 1) + timedelta(days=559))
