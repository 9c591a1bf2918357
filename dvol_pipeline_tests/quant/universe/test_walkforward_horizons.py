"""The walk-forward split per horizon: each horizon alone, in any order, then `combine`, is the one-pass
result, and both equal what the one-pass loop gave before the split (a fingerprint recorded from it)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dvol_pipeline.quant.universe.walkforward import UniverseWalkForwardConfig, combine, prepare, run_horizon, run_walkforward

# the fingerprint's config (its "source" says so): tuning on, SHAP and ablations on, the LSTM off
CFG = UniverseWalkForwardConfig(n_trials=1, lstm=False, min_train_rows=120, refit_months=2)
BEFORE = json.loads((Path(__file__).parents[2] / "fixtures" / "universe" / "walkforward_one_pass.json").read_text())


@pytest.fixture(scope="module")
def direct(small_features, small_symbols):
    return run_walkforward(small_features[0], small_symbols, CFG)


def test_the_walkforward_equals_the_one_pass_loop_before_the_split(direct):
    """Expected values: `run_walkforward` before the split (every horizon in one loop; the file's `source`
    names the commit), recorded on the same simulated universe and config: rows, per (split, family, horizon) counts, sums and folds, the
    tuning rows, the importance, the skipped and held-out coins, the LightGBM fits."""
    p = direct.predictions
    assert p.columns == BEFORE["columns"] and p.height == BEFORE["rows"]
    assert [[str(v) for v in r] for r in p.head(2).select("date", "symbol", "family", "horizon", "split").rows()] \
        == BEFORE["first_rows"]
    got = p.group_by("split", "family", "horizon").agg(
        pl.len().alias("n"), pl.col("y_hat").sum().alias("y_hat_sum"), pl.col("p_high").sum().alias("p_high_sum"),
        (pl.col("class_hat") == "high").sum().alias("n_high"),
        pl.col("fold").unique().sort().str.join(",").alias("folds")).sort("split", "family", "horizon").to_dicts()
    assert len(got) == len(BEFORE["families"])
    for g, b in zip(got, BEFORE["families"]):
        assert {k: g[k] for k in ("split", "family", "horizon", "n", "n_high", "folds")} \
            == {k: b[k] for k in ("split", "family", "horizon", "n", "n_high", "folds")}
        assert g["y_hat_sum"] == pytest.approx(b["y_hat_sum"], rel=1e-9)
        assert g["p_high_sum"] == pytest.approx(b["p_high_sum"], rel=1e-9)
    tuning = direct.tuning.select("group", "horizon", "fold", "params", "valid_qlike", "n_trials", "train_rows").to_dicts()
    assert [{**t, "valid_qlike": pytest.approx(t["valid_qlike"], rel=1e-9)} for t in BEFORE["tuning"]] == tuning
    imp = direct.importance.group_by("horizon", "kind").agg(pl.len().alias("n"), pl.col("value").sum().alias("value_sum"))
    for g, b in zip(imp.sort("horizon", "kind").to_dicts(), BEFORE["importance"]):
        assert (g["horizon"], g["kind"], g["n"]) == (b["horizon"], b["kind"], b["n"])
        assert g["value_sum"] == pytest.approx(b["value_sum"], rel=1e-9)
    assert direct.importance.columns == list(BEFORE["importance_first"][0])
    assert direct.importance.head(3).drop("value").to_dicts() == [
        {k: v for k, v in r.items() if k != "value"} for r in BEFORE["importance_first"]]
    assert direct.skipped == BEFORE["skipped"] and direct.held_out == BEFORE["held_out"]
    assert [[f["fold"], f["horizon"], f["split"], len(f["symbols"])] for f in direct.fits] == BEFORE["fits"]


def test_each_horizon_alone_in_any_order_then_combine_is_the_one_pass_result(direct, small_features, small_symbols):
    """The horizons share nothing but `prepare`'s state: each one run from a fresh `prepare` (as a step on
    another worker does), the longer horizon first, and combined, gives every frame and list unchanged."""
    parts = [run_horizon(prepare(small_features[0], small_symbols, CFG), h, CFG) for h in reversed(CFG.horizons)]
    assert [p.horizon for p in parts] == [14, 7] and all(p.predictions.height for p in parts)
    assert set(parts[0].predictions["horizon"].unique()) == {14}
    prep = prepare(small_features[0], small_symbols, CFG)
    apart = combine(prep.held_out, prep.skipped, parts, CFG)
    assert_frame_equal(apart.predictions, direct.predictions, check_exact=True)
    assert_frame_equal(apart.tuning, direct.tuning, check_exact=True)
    assert_frame_equal(apart.importance, direct.importance, check_exact=True)
    assert apart.skipped == direct.skipped and apart.held_out == direct.held_out and apart.fits == direct.fits
    with pytest.raises(ValueError, match="horizons are"):
        combine(prep.held_out, prep.skipped, parts[:1], CFG)


def test_a_coin_no_horizon_scores_is_skipped_with_the_reason(small_features, small_symbols):
    """A coin with too few labelled training rows in every fold is never scored: `combine` names it once."""
    cfg = UniverseWalkForwardConfig(tune=False, explain=False, lstm=False, min_train_rows=120, refit_months=2)
    prep = prepare(small_features[0], small_symbols, cfg)
    coin = "ALT07"
    rows = prep.rows.with_columns(pl.when(pl.col("symbol") == coin).then(None).otherwise(pl.col(f"y_{h}")).alias(f"y_{h}")
                                  for h in cfg.horizons)
    prep = type(prep)(rows, prep.feats, prep.held_out, prep.skipped)
    parts = [run_horizon(prep, h, cfg) for h in cfg.horizons]
    assert all(p.unscored == [coin] for p in parts)
    out = combine(prep.held_out, prep.skipped, parts, cfg)
    assert out.skipped[coin] == "too little history: never 120 labelled training rows before a fold"
    assert coin not in set(out.predictions["symbol"]) and set(prep.skipped) < set(out.skipped)
