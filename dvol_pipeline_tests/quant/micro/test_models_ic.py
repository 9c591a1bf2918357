"""IC against scipy.stats.spearmanr, per series and regime."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats

from dvol_pipeline.quant.micro.models.ic import feature_ic, model_ic, spearman


def test_spearman_matches_scipy_with_ties_and_nans():
    rng = np.random.default_rng(0)
    x = np.round(rng.standard_normal(300), 1)  # ties
    y = 0.3 * x + rng.standard_normal(300)
    x[::17] = np.nan
    ok = np.isfinite(x)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x[ok], y[ok]).statistic, abs=1e-12)
    assert np.isnan(spearman(np.ones(10), np.arange(10.0)))
    assert np.isnan(spearman([1.0, 2.0], [1.0, 2.0]))


def test_feature_ic_by_symbol_and_regime():
    rng = np.random.default_rng(1)
    n = 400
    frame = pl.DataFrame({"venue": "v", "symbol": np.repeat(["BTCUSDT", "ETHUSDT"], n // 2),
                          "regime": np.tile(["low_range", "high_trend"], n // 2),
                          "a": rng.standard_normal(n), "b": rng.standard_normal(n)})
    frame = frame.with_columns(label=pl.col("a") * 0.5 + pl.Series(rng.standard_normal(n)))
    frame = frame.with_columns(pl.when(pl.int_range(n) % 13 == 0).then(None).otherwise(pl.col("b")).alias("b"))
    out = feature_ic(frame, ["a", "b"], "label", "5m")
    assert out.columns == ["feature", "venue", "symbol", "horizon", "regime", "ic", "n"]
    assert out.height == 2 * 2 * 3
    for row in out.iter_rows(named=True):
        sub = frame.filter(pl.col("symbol") == row["symbol"])
        if row["regime"] != "all":
            sub = sub.filter(pl.col("regime") == row["regime"])
        sub = sub.drop_nulls([row["feature"], "label"])
        want = stats.spearmanr(sub[row["feature"]].to_numpy(), sub["label"].to_numpy()).statistic
        assert row["ic"] == pytest.approx(want, abs=1e-12) and row["n"] == sub.height


def test_model_ic():
    rng = np.random.default_rng(2)
    y = rng.standard_normal(100)
    preds = pl.DataFrame({"family": "lgbm_reg", "venue": "v", "symbol": "BTCUSDT", "horizon": "1m",
                          "y": y, "y_hat": y + rng.standard_normal(100)})
    out = model_ic(preds)
    assert out["regime"].to_list() == ["all"]
    assert out["ic"][0] == pytest.approx(stats.spearmanr(preds["y"], preds["y_hat"]).statistic, abs=1e-12)
