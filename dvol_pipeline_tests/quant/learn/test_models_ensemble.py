"""Ensemble weights come from the past folds' out-of-sample predictions passed in, nothing else."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.quant.learn import Ensemble, load_forecaster, make_forecaster
from dvol_pipeline_tests.quant.learn.test_models import FEATURES, make_panel, r2_oos, split

MEMBERS = ["a", "b", "c"]


def history(n_days: int = 120, start: date = date(2023, 1, 1), noise=(1.0, 2.0, 4.0), seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    days = [start + timedelta(days=k) for k in range(n_days)]
    y = rng.normal(0, 5, n_days)
    return pl.concat(
        pl.DataFrame({"date": days, "asset": "BTC", "family": m, "y": y, "y_hat": y + rng.normal(0, s, n_days)})
        for m, s in zip(MEMBERS, noise)
    )


def test_inverse_mse_weights_are_non_negative_sum_to_one_and_rank_by_error():
    oos = history()
    ens = Ensemble.from_history(oos, horizon=7, members=MEMBERS)
    w = ens.weights
    assert all(v >= 0 for v in w.values()) and sum(w.values()) == pytest.approx(1.0, abs=1e-12)
    assert w["a"] > w["b"] > w["c"]
    mse = oos.group_by("family").agg(((pl.col("y_hat") - pl.col("y")) ** 2).mean().alias("m"))
    inv = {f: 1 / m for f, m in mse.iter_rows()}
    assert w["a"] == pytest.approx(inv["a"] / sum(inv.values()), rel=1e-12)
    assert ens.params()["fitted"]["weight_source"]["history_rows"] == oos.height


def test_weights_ignore_rows_whose_label_was_not_known_at_as_of():
    past = history()
    as_of = date(2023, 1, 1) + timedelta(days=120)
    # later rows (and rows whose 7-day label ends after as_of) where `c` is suddenly perfect
    future_days = [as_of - timedelta(days=7) + timedelta(days=k) for k in range(60)]
    future = pl.DataFrame({"date": future_days * 3, "asset": "BTC", "family": np.repeat(MEMBERS, 60),
                           "y": np.ones(180), "y_hat": np.r_[np.full(60, 9.0), np.full(60, 9.0), np.ones(60)]})
    past_only = past.filter(pl.col("date") < as_of - timedelta(days=7))
    with_future = Ensemble.from_history(pl.concat([past, future]), horizon=7, as_of=as_of, members=MEMBERS)
    # as_of filtering inside vs the caller filtering first: the same weights, to rounding
    assert with_future.weights == pytest.approx(Ensemble.from_history(past_only, horizon=7, members=MEMBERS).weights,
                                                rel=1e-12, abs=1e-15)
    leaky = Ensemble.from_history(pl.concat([past, future]), horizon=7, members=MEMBERS)
    assert leaky.weights["c"] > with_future.weights["c"]  # without as_of, the future would leak in


def test_no_history_gives_equal_weights_and_thin_history_gives_zero():
    empty = history().head(0)
    ens = Ensemble.from_history(empty, horizon=7, members=MEMBERS)
    assert ens.weights == {m: pytest.approx(1 / 3) for m in MEMBERS}
    assert "equal" in ens.params()["fitted"]["weight_source"]["method"]
    assert Ensemble(7, members=MEMBERS).weights == ens.weights  # before any history
    thin = pl.concat([history().filter(pl.col("family") != "c"), history(n_days=5).filter(pl.col("family") == "c")])
    w = Ensemble.from_history(thin, horizon=7, members=MEMBERS, min_rows=20).weights
    assert w["c"] == 0.0 and w["a"] + w["b"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="family, y_hat, y"):
        Ensemble.from_history(empty.drop("y"), horizon=7, members=MEMBERS)


def test_constrained_least_squares_recovers_a_planted_mix():
    rng = np.random.default_rng(1)
    days = [date(2023, 1, 1) + timedelta(days=k) for k in range(400)]
    a, b = rng.normal(0, 3, 400), rng.normal(0, 3, 400)
    y = 0.7 * a + 0.3 * b + rng.normal(0, 0.5, 400)
    preds = {"a": a, "b": b, "c": -a}  # c only helps with a negative weight, which CLS forbids
    oos = pl.concat(pl.DataFrame({"date": days, "asset": "ETH", "family": m, "y": y, "y_hat": p}) for m, p in preds.items())
    w = Ensemble.from_history(oos, horizon=1, members=MEMBERS, method="cls").weights
    assert w["a"] == pytest.approx(0.7, abs=0.05) and w["b"] == pytest.approx(0.3, abs=0.05)
    assert min(w.values()) >= 0 and w["c"] < 0.01 and sum(w.values()) == pytest.approx(1.0, abs=1e-12)


def test_combine_renormalises_over_members_that_have_a_prediction():
    ens = Ensemble(7, members=MEMBERS)
    ens.weights = {"a": 0.5, "b": 0.3, "c": 0.2}
    nan = np.nan
    out = ens.combine({"a": np.array([1.0, nan, nan]), "b": np.array([2.0, 2.0, nan]), "c": np.array([4.0, 4.0, nan])})
    assert out[0] == pytest.approx(0.5 + 0.6 + 0.8)
    assert out[1] == pytest.approx((0.6 + 0.8) / 0.5)
    assert np.isnan(out[2])
    with pytest.raises(ValueError, match="missing"):
        ens.combine({"a": np.zeros(3)})


def test_ensemble_from_past_folds_forecasts_out_of_sample(tmp_path: Path):
    panel, h, members = make_panel(), 7, ["mean_reversion", "har", "lightgbm"]
    train, test = split(panel, h)
    cut = test["date"].min()
    rows = []
    for q in range(4):  # quarterly walk-forward folds before the cut: train on days < fold start - h
        start, end = cut - timedelta(days=90 * (4 - q)), cut - timedelta(days=90 * (3 - q))
        fold_train = panel.filter(pl.col("date") < start - timedelta(days=h))
        fold = panel.filter((pl.col("date") >= start) & (pl.col("date") < end))
        for m in members:
            y_hat = make_forecaster(m, h).fit(fold_train, FEATURES, "y_7").predict(fold)
            rows.append(fold.select("date", "asset", pl.col("y_7").alias("y"), family=pl.lit(m), y_hat=pl.Series(y_hat)))
    oos = pl.concat(rows)
    ens = Ensemble.from_history(oos, horizon=h, as_of=cut, members=members)
    ens = ens.attach({m: make_forecaster(m, h) for m in members}).fit(train, FEATURES, "y_7")
    w = ens.weights
    assert set(w) == set(members) and min(w.values()) > 0 and sum(w.values()) == pytest.approx(1.0)
    y_hat = ens.predict(test)
    y = test["y_7"].to_numpy()
    singles = {m: r2_oos(model.predict(test), y) for m, model in ens.models.items()}
    assert r2_oos(y_hat, y) > 0.05
    assert r2_oos(y_hat, y) >= min(singles.values())
    assert np.array_equal(y_hat, ens.combine({m: model.predict(test) for m, model in ens.models.items()}))
    ens.save(tmp_path / "ens")
    again = load_forecaster(tmp_path / "ens")
    assert isinstance(again, Ensemble) and again.weights == w
    assert np.array_equal(again.predict(test), y_hat)


def _fitted_members(h: int = 7) -> tuple[dict, pl.DataFrame]:
    train, test = split(make_panel(), h)
    models = {m: make_forecaster(m, h).fit(train, FEATURES, "y_7") for m in ("mean_reversion", "har", "lightgbm")}
    return models, test


def test_an_ensemble_of_fitted_members_saves_them_and_loads_with_no_other_input(tmp_path: Path):
    models, test = _fitted_members()
    ens = Ensemble(members=models, weights={"mean_reversion": 3.0, "har": 1.0})  # lightgbm: weight 0
    assert ens.horizon == 7 and ens.models == models and ens.ready()
    assert ens.weights == {"mean_reversion": 0.75, "har": 0.25, "lightgbm": 0.0}
    assert ens.features == list(dict.fromkeys(models["mean_reversion"].features + models["har"].features))
    y_hat = ens.predict(test)
    want = 0.75 * models["mean_reversion"].predict(test) + 0.25 * models["har"].predict(test)
    np.testing.assert_allclose(y_hat, want, rtol=1e-12)
    ens.save(tmp_path / "ens")
    assert sorted(p.name for p in (tmp_path / "ens" / "members").iterdir()) == ["har", "mean_reversion"]
    again = load_forecaster(tmp_path / "ens")
    assert isinstance(again, Ensemble) and again.weights == ens.weights
    assert sorted(again.models) == ["har", "mean_reversion"]
    assert np.array_equal(again.predict(test), y_hat)
    assert again.params() == ens.params()
    with pytest.raises(TypeError, match="load_forecaster"):
        Ensemble.load(tmp_path / "ens")


def test_loading_goes_through_the_registry_and_a_family_class_refuses_another_family(tmp_path: Path):
    """One load path: `load_forecaster` for any family; `HAR.load` only for HAR's own folders."""
    from dvol_pipeline.quant.learn import Forecaster
    from dvol_pipeline.quant.learn.har import HAR

    models, test = _fitted_members()
    models["har"].save(tmp_path / "har")
    models["lightgbm"].save(tmp_path / "gbm")
    assert np.array_equal(HAR.load(tmp_path / "har").predict(test), models["har"].predict(test))
    with pytest.raises(ValueError, match="holds a `lightgbm` model, not `har`"):
        HAR.load(tmp_path / "gbm")
    with pytest.raises(TypeError, match="load_forecaster"):
        Forecaster.load(tmp_path / "har")


def test_members_are_checked_and_needed():
    models, test = _fitted_members()
    with pytest.raises(ValueError, match="not a member"):
        Ensemble(7, members=["har"]).attach({"lightgbm": models["lightgbm"]})
    with pytest.raises(ValueError, match="must be a `har` Forecaster"):
        Ensemble(7, members=["har"]).attach({"har": models["lightgbm"]})
    with pytest.raises(ValueError, match="forecasts 7 days"):
        Ensemble(1, members=["har"]).attach({"har": models["har"]})
    with pytest.raises(ValueError, match=">= 0"):
        Ensemble(members=models, weights={"har": -1.0, "lightgbm": 2.0})
    unfitted = Ensemble.from_history(history().head(0), horizon=7, members=["har", "lightgbm"])
    with pytest.raises(RuntimeError, match="not attached"):
        unfitted.fit(split(make_panel(), 7)[0], FEATURES, "y_7")
    with pytest.raises(RuntimeError, match="fit\\(\\) or load\\(\\)"):
        unfitted.predict(test)
    # the registry builds the members: fit and predict need nothing else
    made = make_forecaster("ensemble", 7, members=["har", "mean_reversion"])
    assert sorted(made.models) == ["har", "mean_reversion"] and not made.ready()
    train, _ = split(make_panel(), 7)
    y_hat = made.fit(train, FEATURES, "y_7").predict(test)
    assert np.array_equal(y_hat, made.combine({m: model.predict(test) for m, model in made.models.items()}))


@pytest.fixture(scope="module")
def market_features() -> pl.DataFrame:
    from dvol_pipeline.quant.dvol.features import build_features
    from dvol_pipeline.sources.simulated import SimConfig, SimulatedMarket

    start, end = date(2021, 3, 24), date(2022, 7, 31)
    market = SimulatedMarket(SimConfig(), end=end)
    names = ("raw_dvol", "raw_ohlcv", "raw_funding", "raw_options_summary", "raw_onchain")
    return build_features({n: market.table(n, start, end) for n in names}).frame


def test_a_fold_keeps_its_ensemble_with_members_also_in_a_live_month(market_features, tmp_path: Path):
    from dvol_pipeline.quant.dvol.forecast import PREDICTION_SCHEMA, run_fold
    from dvol_pipeline.quant.learn.folds import fold_for_month

    frame, first, h = market_features, date(2021, 3, 24), 7
    june = run_fold(frame, fold_for_month("2022-06", h, first), past_oos=pl.DataFrame(schema=PREDICTION_SCHEMA))
    fold = fold_for_month("2022-07", h, first)
    july = run_fold(frame, fold, past_oos=june.predictions)
    ens = july.models["ensemble"]
    assert ens.weight_info["method"] == "inverse_mse" and set(ens.models) == set(ens.weighted())
    ens.save(tmp_path / "july")
    loaded = load_forecaster(tmp_path / "july")
    context = frame.filter(pl.col("date") <= fold.test_end)
    again = context.select("date", "asset", again=pl.Series(loaded.predict(context)))
    rows = july.predictions.filter(pl.col("family") == "ensemble").join(again, on=["date", "asset"])
    assert rows.height == july.predictions.filter(pl.col("family") == "ensemble").height > 0
    assert (rows["y_hat"] == rows["again"]).all()  # the saved ensemble reproduces the fold's predictions

    # August has no feature rows yet: members trained, the ensemble attached and saved all the same
    past = pl.concat([june.predictions, july.predictions])
    live = run_fold(frame, fold_for_month("2022-08", h, first), past_oos=past)
    assert live.predictions.is_empty() and "ensemble" in live.models
    live.models["ensemble"].save(tmp_path / "august")
    tail = frame.filter(pl.col("date") >= date(2022, 5, 1))
    assert np.array_equal(load_forecaster(tmp_path / "august").predict(tail), live.models["ensemble"].predict(tail))
    assert np.isfinite(live.models["ensemble"].predict(tail)[-10:]).all()
