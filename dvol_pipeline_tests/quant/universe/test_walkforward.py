"""The universe walk-forward: purge, thresholds from the training window, cross-symbol split, exclusions."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from dvol_pipeline.quant.universe.symbols import symbol_table
from polars.testing import assert_frame_equal

from dvol_pipeline.quant.universe.walkforward import (FAMILIES, UniverseWalkForwardConfig, held_out_symbols,
                                                      run_walkforward, usable_rows)

CFG = UniverseWalkForwardConfig(tune=False, explain=False, min_train_rows=120, refit_months=2)
FOLD = "2022-08"


@pytest.fixture(scope="module")
def result(small_features, small_symbols):
    return run_walkforward(small_features[0], small_symbols, CFG)


def test_every_family_forecasts_every_fold_and_horizon(result):
    preds = result.predictions.filter(pl.col("split") == "all")
    assert set(preds["family"].unique()) == set(FAMILIES)
    assert set(preds["horizon"].unique()) == {7, 14}
    assert preds.filter(pl.col("family") != "lgbm_class")["y_hat"].min() > 0
    probs = preds.filter(pl.col("family") == "lgbm_class").select(pl.sum_horizontal("p_low", "p_mid", "p_high"))
    assert (probs.to_series() - 1).abs().max() < 1e-9


def test_class_thresholds_are_terciles_of_the_coins_own_training_labels(result, small_features, small_symbols):
    features = usable_rows(small_features[0], small_symbols)
    row = result.predictions.filter((pl.col("fold") == FOLD) & (pl.col("horizon") == 7) & (pl.col("symbol") == "ETH")
                                    & (pl.col("family") == "har_pooled")).row(0, named=True)
    test_start = date(2022, 8, 1)
    train_end = test_start - timedelta(days=7 + 3 + 1)  # purge: horizon + the gap-fill allowance
    y = features.filter((pl.col("symbol") == "ETH") & (pl.col("date") <= train_end))["y_7"].drop_nulls()
    assert row["q_lo"] == pytest.approx(y.quantile(1 / 3)) and row["q_hi"] == pytest.approx(y.quantile(2 / 3))
    assert row["y_bench"] == pytest.approx(y.mean())


def test_labels_reaching_into_a_fold_never_change_its_forecasts(result, small_features, small_symbols):
    """The purge: scramble every label whose window overlaps fold 2022-08 or later; that fold's
    forecasts, thresholds and classes stay the same (a quantile cut over all history would not)."""
    features, _ = small_features
    start = date(2022, 8, 1)
    scrambled = features.with_columns(
        pl.when(pl.col("date") >= start - timedelta(days=h)).then(pl.col(f"y_{h}") * 3 + 0.5).otherwise(pl.col(f"y_{h}"))
        .alias(f"y_{h}") for h in (7, 14))
    again = run_walkforward(scrambled, small_symbols, CFG)
    cols = ["split", "family", "horizon", "symbol", "date", "y_hat", "q_lo", "q_hi", "class_hat", "p_high"]
    before = result.predictions.filter(pl.col("fold") <= FOLD).select(cols)
    after = again.predictions.filter(pl.col("fold") <= FOLD).select(cols)
    assert before.height > 1000
    assert_frame_equal(before, after)
    later = result.predictions.filter(pl.col("fold") > FOLD)["q_hi"]
    assert not later.equals(again.predictions.filter(pl.col("fold") > FOLD)["q_hi"])  # the check can fail


def test_cross_symbol_models_never_train_on_a_held_out_coin(result):
    held = set(result.held_out)
    assert held and held == set(held_out_symbols(sorted({s for f in result.fits for s in f["symbols"]}), 0.2, 0))
    for fit in result.fits:
        assert not (held & set(fit["symbols"])) if fit["split"] == "held_out" else held <= set(fit["symbols"])
    scored = result.predictions.filter(pl.col("split") == "held_out")
    assert set(scored["symbol"].unique()) == held and set(scored["family"].unique()) == {"har_pooled", "lgbm"}


def test_stablecoins_and_short_histories_are_skipped_with_the_reason(small_features, small_raw, small_symbols, result):
    stable = small_symbols.filter(pl.col("stablecoin"))["symbol"].to_list()
    assert stable and not set(stable) & set(result.predictions["symbol"].unique())
    assert all("stablecoin" in result.skipped[s] for s in stable)
    shortest = small_symbols.filter(~pl.col("stablecoin")).sort("n_days").row(0, named=True)
    symbols = symbol_table(small_raw, min_days=shortest["n_days"] + 1)
    assert "too little history" in symbols.filter(pl.col("symbol") == shortest["symbol"])["skip_reason"][0]


def test_lstm_windows_read_only_the_coins_own_earlier_days():
    import numpy as np

    from dvol_pipeline.quant.universe.lstm import SEQ_FEATURES, SEQ_LEN, UniverseLSTM

    n = SEQ_LEN + 5
    rows = pl.DataFrame({"symbol": ["A"] * n + ["B"] * 3, "date": [date(2024, 1, 1) + timedelta(days=i) for i in range(n)]
                         + [date(2024, 1, 1) + timedelta(days=i) for i in range(3)],
                         **{f: [float(i) for i in range(n)] + [100.0, 101.0, 102.0] for f in SEQ_FEATURES}})
    model = UniverseLSTM(7, 0)
    model.mean, model.std = np.zeros(len(SEQ_FEATURES)), np.ones(len(SEQ_FEATURES))
    windows, history = model._windows(rows)
    assert windows.shape == (n + 3, SEQ_LEN, len(SEQ_FEATURES))
    assert windows[n - 1, -1, 0] == n - 1 and windows[n - 1, 0, 0] == n - SEQ_LEN  # the last SEQ_LEN days of A
    first_b = windows[n]
    assert first_b[-1, 0] == 100.0 and (first_b[:-1] == 0).all()  # B's first row: its own day, padding, nothing of A
    assert history[n:].tolist() == [1, 2, 3]
