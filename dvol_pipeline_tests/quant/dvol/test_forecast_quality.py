"""The research claims, with figures: models beat zero change where the simulated market has
signal, and the graph trains on whatever a CDD user has (DVOL and daily bars only)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.quant.dvol.features import build_features
from dvol_pipeline.quant.dvol.forecast import run_fold
from dvol_pipeline.quant.evaluate.forecast import forecast_metrics
from dvol_pipeline.quant.learn.folds import monthly_folds
from dvol_pipeline.sources.cdd.source import CddSource
from dvol_pipeline.sources.simulated import SimConfig, SimulatedMarket
from dvol_pipeline_tests.cdd_files import price_rows, write_dvol_file, write_price_file

START, END = date(2021, 3, 24), date(2024, 12, 31)


def _walk_forward(frame, horizon, families):
    preds = [run_fold(frame, fold, families).predictions for fold in monthly_folds(START, END, horizon)]
    allp = pl.concat(preds)
    return {f: forecast_metrics(g["y"].to_numpy(), g["y_hat"].to_numpy())
            for (f,), g in allp.group_by("family")}


@pytest.mark.slow
def test_models_have_directional_skill_out_of_sample_on_the_simulated_market():
    """What the realistic simulated market allows, honestly.

    Its DVOL keeps a months-long memory (log-DVOL half-life ~45 days, as real DVOL's ~49) and
    moves in rare crash spikes (dDVOL excess kurtosis ~12-30): over 14 days it is close to a
    random walk plus jumps nobody sees coming. Out of sample (33 monthly folds, both coins)
    no model beats the zero-change forecast in R^2 by a margin (GARCH -0.02, mean reversion
    -0.02, HAR -0.08 at 14 days when this was written; the earlier, easier market gave GARCH
    +0.05), but GARCH still calls the direction of the move on ~59 % of days and ranks moves
    (Spearman ~0.29), and no model is far worse than zero change.
    """
    market = SimulatedMarket(SimConfig(), end=END)
    tables = {n: market.table(n, START, END) for n in
              ("raw_dvol", "raw_ohlcv", "raw_funding", "raw_options_summary", "raw_onchain")}
    frame = build_features(tables).frame
    h14 = _walk_forward(frame, 14, ("zero", "mean_reversion", "har", "garch"))
    assert h14["zero"].r2_oos == 0
    assert h14["garch"].hit_rate > 0.56 and h14["garch"].spearman > 0.2
    assert h14["garch"].r2_oos > -0.05 and h14["mean_reversion"].r2_oos > -0.05 and h14["har"].r2_oos > -0.15
    h7 = _walk_forward(frame, 7, ("zero", "har", "garch"))
    assert h7["garch"].hit_rate > 0.55 and h7["garch"].r2_oos > -0.03


@lru_cache(maxsize=1)
def _r2_every_fourth_fold() -> dict[int, dict[str, float]]:
    """R²_oos per horizon and family over every 4th monthly fold (2022-04, 2022-08, ..., 2024-12:
    nine per horizon, to keep the tests under a minute; bench_ml_vs_har runs all 33), each fold
    fitted on its own purged window, the ensemble weighted on the earlier of these folds only."""
    market = SimulatedMarket(SimConfig(), end=END)
    tables = {n: market.table(n, START, END) for n in
              ("raw_dvol", "raw_ohlcv", "raw_funding", "raw_options_summary", "raw_onchain")}
    frame = build_features(tables).frame
    out = {}
    for h in (1, 7, 14):
        preds, past = [], None
        for fold in monthly_folds(START, END, h)[::4]:
            preds.append(run_fold(frame, fold, past_oos=past).predictions)
            past = pl.concat(preds)
        out[h] = {f: forecast_metrics(g["y"].to_numpy(), g["y_hat"].to_numpy()).r2_oos
                  for (f,), g in past.group_by("family")}
    return out


@pytest.mark.slow
@pytest.mark.parametrize("family", ["lightgbm", "lstm", "ensemble"])
def test_machine_learning_families_are_not_worse_than_har_on_the_simulated_market(family):
    """Issue 23, item 7: R²_oos ≥ HAR's − 0.01 (the issue's margin) at 1, 7 and 14 days, out of
    sample on the simulated market's folds. LightGBM and the LSTM are HAR plus a residual whose
    weight λ is chosen inside each fold's window and kept only if earlier folds' residual
    forecasts added to HAR (quant/learn/residual.py, steps 4 and 6). Before the residual
    construction LightGBM and the ensemble held this here too (the simulated market's HAR is
    weak); the LSTM failed it with the window's gate alone (HAR − 0.0125 at 7 days and − 0.0134
    at 14 over all 33 folds), and the unit tests of quant/learn/test_residual.py and
    test_track_record.py are the ones that failed before each step."""
    r2 = _r2_every_fourth_fold()
    for h in (1, 7, 14):
        assert r2[h][family] >= r2[h]["har"] - 0.01, (h, family, r2[h])


def test_a_cdd_user_with_only_dvol_and_daily_bars_gets_features_and_forecasts(tmp_path):
    n = 480
    first = date(2022, 1, 1)
    t0 = datetime(2022, 1, 1, tzinfo=UTC)
    rng = np.random.default_rng(3)
    for coin, base, level in (("BTC", 40_000.0, 55.0), ("ETH", 2_500.0, 70.0)):
        write_dvol_file(tmp_path / f"{coin}_DVOL.csv", coin, t0, n, level=level)
        rows = price_rows(coin, t0, n, timedelta(days=1), base=base)
        walk = np.exp(np.cumsum(rng.normal(0, 0.03, n)))
        rows = [{**r, **{k: r[k] * w for k in ("o", "h", "l", "c")}} for r, w in zip(rows, walk, strict=True)]
        write_price_file(tmp_path / f"Binance_{coin}USDT_d.csv", rows, date_style="date")
    source = CddSource(tmp_path)
    last = first + timedelta(days=n - 2)
    tables = {name: source.fetch(name, first, last, ["BTC", "ETH"]).frame for name in ("raw_dvol", "raw_ohlcv")}
    built = build_features(tables)
    assert "rv" in built.groups_used and "funding" not in built.groups_used and "flow" not in built.groups_used
    assert built.estimators["realized_vol"].startswith("daily")
    assert "funding_mean" not in built.frame.columns  # absent, not zero-filled
    fold = monthly_folds(first, last, 7)[-1]
    result = run_fold(built.frame, fold, ("zero", "har", "garch", "lightgbm"))
    assert result.predictions.height == 4 * 2 * ((fold.test_end - fold.test_start).days + 1) - 4 * 2 * max(
        0, (fold.test_end - last).days)
    assert result.predictions.filter(pl.col("family") != "zero")["y_hat"].is_finite().all()
    # the live month (its 1st: no feature rows yet) still trains, so the evening signals have models
    from dvol_pipeline.quant.learn.folds import fold_for_month, next_month

    live = fold_for_month(f"{next_month(last):%Y-%m}", 7, first)
    ahead = run_fold(built.frame, live, ("zero", "har", "lightgbm"))
    assert ahead.predictions.is_empty() and set(ahead.models) == {"zero", "har", "lightgbm"}
    assert np.isfinite(ahead.models["har"].predict(built.frame.tail(5))).all()
