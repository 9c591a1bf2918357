"""The universe's metric tables and strategy on frames small enough to check by hand."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.quant import stats
from dvol_pipeline.quant.universe.metrics import class_metrics_table, forecast_metrics_table
from dvol_pipeline.quant.universe.strategy import StrategyConfig, strategy_daily, strategy_metrics

D = [date(2024, 1, 1) + timedelta(days=i) for i in range(4)]


def _preds() -> pl.DataFrame:
    base = {"date": D * 2, "symbol": ["A"] * 4 + ["B"] * 4, "target": "rv", "horizon": 7, "fold": "2024-01",
            "split": "all", "y": [0.5, 0.6, 0.7, 0.8, 1.0, 1.2, 0.9, 1.1], "tier": ["large"] * 4 + ["small"] * 4,
            "y_bench": [0.6] * 4 + [1.0] * 4, "class": ["low", "mid", "high", "high", "mid", "high", "low", "mid"],
            "p_low": None, "p_mid": None, "p_high": None, "q_lo": 0.55, "q_hi": 0.75}
    har = pl.DataFrame({**base, "family": "har_pooled", "y_hat": [0.55, 0.55, 0.65, 0.7, 0.9, 1.0, 1.0, 1.0],
                        "class_hat": ["low", "low", "mid", "mid", "high", "high", "high", "high"]})
    gbm = pl.DataFrame({**base, "family": "lgbm", "y_hat": [0.5, 0.62, 0.72, 0.78, 1.05, 1.15, 0.95, 1.1],
                        "class_hat": ["low", "mid", "high", "high", "mid", "high", "low", "mid"]})
    return pl.concat([har, gbm], how="diagonal_relaxed")


def test_forecast_metrics_per_scope_match_the_statistics():
    preds = _preds()
    table = forecast_metrics_table(preds)
    row = table.filter((pl.col("scope") == "overall") & (pl.col("family") == "lgbm")).row(0, named=True)
    g = preds.filter(pl.col("family") == "lgbm")
    y, y_hat = g["y"].to_numpy(), g["y_hat"].to_numpy()
    assert row["n"] == 8 and row["rmse"] == pytest.approx(stats.rmse(y, y_hat))
    assert row["r2_oos"] == pytest.approx(stats.r2_oos(y, y_hat, g["y_bench"].to_numpy()))
    assert row["qlike"] == pytest.approx(stats.qlike(y, y_hat))
    coin = table.filter((pl.col("scope") == "symbol") & (pl.col("group") == "A") & (pl.col("family") == "lgbm")).row(0, named=True)
    assert coin["mae"] == pytest.approx(np.mean(np.abs(np.array([0.5, 0.6, 0.7, 0.8]) - [0.5, 0.62, 0.72, 0.78])))
    assert set(table.filter(pl.col("scope") == "tier")["group"]) == {"large", "small"}


def test_class_metrics_match_the_confusion_by_hand():
    table = class_metrics_table(_preds())
    row = table.filter((pl.col("scope") == "overall") & (pl.col("family") == "har_pooled")).row(0, named=True)
    # actual low,mid,high,high,mid,high,low,mid vs predicted low,low,mid,mid,high,high,high,high
    assert row["accuracy"] == pytest.approx(2 / 8)
    assert row["n_high_as_mid"] == 2 and row["n_mid_as_high"] == 2 and row["n_low_as_low"] == 1
    assert row["recall_high"] == pytest.approx(1 / 3) and row["precision_high"] == pytest.approx(1 / 4)
    perfect = table.filter((pl.col("scope") == "overall") & (pl.col("family") == "lgbm")).row(0, named=True)
    assert perfect["accuracy"] == 1.0 and perfect["f1_macro"] == 1.0


def test_vol_targeting_scales_by_forecast_goes_to_cash_in_high_and_pays_costs():
    feats = pl.DataFrame({"symbol": "A", "date": D, "ret": [0.0, 0.1, -0.05, 0.02], "ret_std_30": [0.5, 1.0, 0.25, 0.5],
                          "tier": "large"})
    base = {"symbol": "A", "date": D[:3], "split": "all", "horizon": 7}
    preds = pl.concat([
        pl.DataFrame({**base, "family": "ensemble", "y_hat": [1.0, 0.25, 0.5], "class_hat": None}),
        pl.DataFrame({**base, "family": "lgbm_class", "y_hat": None, "class_hat": ["mid", "high", "low"]}),
    ], how="diagonal_relaxed")
    cfg = StrategyConfig(target_vol=0.5, max_weight=1.0, cost_bps_large=10)
    daily = strategy_daily(feats, preds, cfg)
    vt = daily.filter(pl.col("strategy") == "vol_target").sort("date")
    assert vt["weight"].to_list() == [0.5, 0.0, 1.0]  # 0.5/1.0; High regime: cash; 0.5/0.5
    nxt = np.exp([0.1, -0.05, 0.02]) - 1
    turnover = np.array([0.5, 0.5, 1.0])
    np.testing.assert_allclose(vt["net"].to_numpy(), np.array([0.5, 0.0, 1.0]) * nxt - turnover * 10 / 1e4)
    tv = daily.filter(pl.col("strategy") == "trailing_vol").sort("date")
    assert tv["weight"].to_list() == [1.0, 0.5, 1.0]
    metrics = strategy_metrics(daily)
    row = metrics.filter((pl.col("strategy") == "vol_target") & (pl.col("symbol") == "A")).row(0, named=True)
    assert row["sharpe"] == pytest.approx(stats.sharpe(vt["net"].to_numpy()))
    assert row["turnover"] == pytest.approx(turnover.mean())
    assert row["max_drawdown"] == pytest.approx(stats.max_drawdown(vt["net"].to_numpy(), compounded=True))


def test_held_out_coins_scope_scores_the_all_coin_models_on_the_held_out_coins_only():
    preds = _preds()
    held = preds.filter(pl.col("symbol") == "B").with_columns(pl.lit("held_out").alias("split"))
    table = forecast_metrics_table(pl.concat([preds, held]))
    row = table.filter((pl.col("scope") == "held_out_coins") & (pl.col("family") == "lgbm")).row(0, named=True)
    b = preds.filter((pl.col("symbol") == "B") & (pl.col("family") == "lgbm"))
    assert row["split"] == "all" and row["n"] == 4
    assert row["rmse"] == pytest.approx(stats.rmse(b["y"].to_numpy(), b["y_hat"].to_numpy()))
