"""The coin-universe lane's tables: daily bars of every coin (one file per coin), features, forecasts."""

from __future__ import annotations

import polars as pl

from dvol_pipeline.contracts.tables import UNIVERSE_RAW_TABLES
from dvol_pipeline.lake.tables.spec import (
    DATE,
    FAMILY,
    FOLD_KEY,
    HORIZON,
    SINGLE,
    STRATEGY,
    SYMBOL,
    SYMBOL_COL,
    UNIVERSE,
    Table,
    col,
    derived_table,
    raw_table,
)

LANE = "universe"
_c = col


def _derived(*args, **kwargs) -> Table:
    return derived_table(*args, lane=LANE, **kwargs)


_UNIVERSE = (
    *(raw_table(s, LANE, SYMBOL) for s in UNIVERSE_RAW_TABLES.values()),
    _derived("universe_symbols", UNIVERSE, SINGLE,
             "One row per coin of the universe: first/last day, whether it listed or delisted inside the history, "
             "the stablecoin flag, the source, and whether (and why not) the models use it.",
             (SYMBOL_COL, _c("first_day", pl.Date, "first day with a bar"), _c("last_day", pl.Date, "last day with a bar"),
              _c("n_days", pl.Int64, "days with a bar"),
              _c("listed_in_history", pl.Boolean, "first bar after the universe's first day (a listing)"),
              _c("delisted", pl.Boolean, "last bar before the universe's last day"),
              _c("stablecoin", pl.Boolean, "a stablecoin (known ticker, or price near 1 USD with near-zero vol)"),
              _c("source", pl.Utf8, "cdd, cmc or simulated"),
              _c("modelled", pl.Boolean, "used by the walk-forward"),
              _c("skip_reason", pl.Utf8, "why not (stablecoin, too little history)", nullable=True)),
             key=("symbol",), strict=False),
    _derived("universe_features", UNIVERSE, SINGLE,
             "Per (date, coin) features from data before the day's cut-off, and the 7/14-day realised-vol targets "
             "(annualised std of the next days' log returns).",
             (DATE, SYMBOL_COL), key=("symbol", "date")),
    _derived("universe_garch_memo", UNIVERSE, SINGLE,
             "GARCH(1,1) fits already made per coin and refit month, keyed by a hash of the returns fitted: a rerun "
             "reuses them instead of refitting.",
             (_c("key", pl.Utf8, "sha1 of the fitted returns"), _c("omega", pl.Float64, "GARCH omega (daily %^2)"),
              _c("alpha", pl.Float64, "ARCH coefficient"), _c("beta", pl.Float64, "GARCH coefficient")),
             key=("key",)),
    _derived("universe_predictions", UNIVERSE, SINGLE,
             "Walk-forward out-of-sample forecasts of every family: date, symbol, family, target, horizon, y, y_hat, "
             "class, class_hat, probabilities; `split` is all or held_out (cross-symbol validation).",
             (DATE, SYMBOL_COL, FAMILY, _c("target", pl.Utf8, "rv (annualised realised vol)"), HORIZON, FOLD_KEY,
              _c("split", pl.Utf8, "all: coins in training; held_out: coins the model never saw"),
              _c("y", pl.Float64, "realised vol over the horizon (annualised)", nullable=True),
              _c("y_hat", pl.Float64, "forecast realised vol (null for the classifier)", nullable=True),
              _c("class", pl.Utf8, "realised regime low/mid/high (thresholds from the training window)", nullable=True),
              _c("class_hat", pl.Utf8, "predicted regime", nullable=True),
              _c("p_low", pl.Float64, "classifier probability of low", nullable=True),
              _c("p_mid", pl.Float64, "classifier probability of mid", nullable=True),
              _c("p_high", pl.Float64, "classifier probability of high", nullable=True)),
             key=("split", "family", "horizon", "symbol", "date"), strict=False),
    _derived("universe_forecast_metrics", UNIVERSE, SINGLE,
             "Regression metrics by scope (overall, symbol, tier, fold), family and horizon: n, MAE, RMSE, R2_oos, "
             "QLIKE, top-20% hit rate, Diebold-Mariano vs pooled HAR.",
             (_c("scope", pl.Utf8, "overall, symbol, tier or fold"), _c("group", pl.Utf8, "the scope's value (ALL)"),
              FAMILY, HORIZON, _c("split", pl.Utf8, "all or held_out"), _c("n", pl.Int64, "rows scored")),
             key=("scope", "group", "split", "family", "horizon")),
    _derived("universe_class_metrics", UNIVERSE, SINGLE,
             "Regime classification metrics by scope, family and horizon: accuracy, per-class and macro "
             "precision/recall/F1, ROC-AUC high vs rest, confusion counts.",
             (_c("scope", pl.Utf8, "overall, symbol, tier or fold"), _c("group", pl.Utf8, "the scope's value (ALL)"),
              FAMILY, HORIZON, _c("split", pl.Utf8, "all or held_out"), _c("n", pl.Int64, "rows scored")),
             key=("scope", "group", "split", "family", "horizon")),
    _derived("universe_calibration", UNIVERSE, SINGLE,
             "Mean forecast vs mean realised vol per decile of the forecast, per family and horizon.",
             (FAMILY, HORIZON, _c("decile", pl.Int32, "1..10 by forecast")), key=("family", "horizon", "decile")),
    _derived("universe_importance", UNIVERSE, SINGLE,
             "LightGBM mean |SHAP| per feature on every fold's test month, and the RMSE change when a feature group "
             "is dropped (newest labelled fold).",
             (HORIZON, _c("kind", pl.Utf8, "shap or ablation"), _c("feature", pl.Utf8, "feature or group"), FOLD_KEY),
             key=("kind", "horizon", "feature", "fold")),
    _derived("universe_strategy_daily", UNIVERSE, SINGLE,
             "Daily net return per coin and rule (vol-target, trailing vol, buy and hold) over the test days.",
             (DATE, SYMBOL_COL, STRATEGY), key=("strategy", "symbol", "date")),
    _derived("universe_strategy_metrics", UNIVERSE, SINGLE,
             "Net-of-cost annual return, vol, Sharpe, max drawdown and turnover per rule and coin (ALL = equal-weight "
             "book).", (STRATEGY, SYMBOL_COL), key=("strategy", "symbol")),
)

TABLES: tuple[Table, ...] = _UNIVERSE
