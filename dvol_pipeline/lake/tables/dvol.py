"""The DVOL lane's tables: features, regimes, walk-forward forecasts, the backtest, signals, the paper book."""

from __future__ import annotations

import polars as pl

from dvol_pipeline.contracts.tables import Col
from dvol_pipeline.lake.tables.spec import (
    ASSET,
    ASSET_DATE,
    BACKTEST,
    DATE,
    FAMILY,
    FEATURES,
    FOLD,
    FOLD_KEY,
    HORIZON,
    PAPER,
    PREDICTIONS,
    SIGNALS,
    SINGLE,
    STRATEGY,
    Table,
    col,
    derived_table,
)

LANE = "dvol"
_c = col


def _derived(*args, **kwargs) -> Table:
    return derived_table(*args, lane=LANE, **kwargs)


_FEATURES = (
    _derived("features_daily", FEATURES, ASSET_DATE,
             "Daily DVOL features and labels, one row per (date, asset); no row uses data after its cut-off.",
             (DATE, ASSET, _c("dvol", pl.Float64, "DVOL close of the day (vol points)")),
             key=("asset", "date")),
)

_FEATURES += (
    _derived("vol_regimes", FEATURES, ASSET_DATE,
             "Volatility regime per (date, coin) from data up to D's cut-off: DVOL rank and percentile over 365 days, "
             "20-day realised / implied, 30-day ATM IV percentile and the label (quant/dvol/regimes.py).",
             (DATE, ASSET, _c("dvol", pl.Float64, "DVOL close of the day (vol points)"),
              _c("dvol_rank", pl.Float64, "(dvol - min) / (max - min) of the closes D-364..D", nullable=True),
              _c("dvol_pct", pl.Float64, "share of the closes D-364..D below dvol", nullable=True),
              _c("rv_20d", pl.Float64, "20-day realised vol, annualised (vol points)", nullable=True),
              _c("rv_iv_ratio", pl.Float64, "rv_20d / dvol", nullable=True),
              _c("iv30_pct", pl.Float64, "share of D-364..D whose 30-day ATM vol is below D's", nullable=True),
              _c("regime", pl.Utf8, "low_vol, high_vol, iv_expansion, iv_contraction or neutral (null: too little "
                 "history)", nullable=True),
              _c("regime_code", pl.Int8, "the label's index: 0 neutral, 1 low_vol, 2 high_vol, 3 iv_expansion, "
                 "4 iv_contraction", nullable=True)),
             key=("asset", "date"), strict=True),
    _derived("garch_fit_memo", FEATURES, SINGLE,
             "GJR-GARCH fits already made, keyed by a hash of the returns they were fitted on: a fit is a pure "
             "function of those bytes, so a later run reuses it instead of refitting every past month.",
             (_c("key", pl.Utf8, "sha1 of the fitted returns (float64 bytes)"),
              _c("spec", pl.Utf8, "model and optimiser settings the fit was made with")), key=("key",)),
    _derived("garch_returns", FEATURES, SINGLE,
             "The daily log returns the expanding-window GARCH was fitted and filtered on, per (coin, day), as "
             "features_daily's builds computed them from raw_ohlcv: an end-of-day build reads the year of bars its "
             "other features need and takes the returns before that year from here, so its work does not grow with "
             "history and its numbers equal a build from the first day.",
             (ASSET, DATE, _c("ret", pl.Float64, "daily log return (fraction; null: no price that day)", nullable=True)),
             key=("asset", "date")),
)

_PREDICTIONS = (
    _derived("oos_predictions", PREDICTIONS, FOLD,
             "Walk-forward out-of-sample forecasts: date, asset, horizon, family, fold, y_hat, y (ΔDVOL), and the "
             "residual families' raw forecast of HAR's error (the track record their λ is gated on).",
             (DATE, ASSET, HORIZON, FAMILY, FOLD_KEY,
              _c("y_hat", pl.Float64, "forecast ΔDVOL over the horizon (vol points)", nullable=True),
              _c("y", pl.Float64, "realised ΔDVOL over the horizon (null until known)", nullable=True),
              _c("residual_hat", pl.Float64, "LightGBM and LSTM: the learned forecast of HAR's error, before λ "
                 "(vol points); null for the other families, and for a fold written before it was recorded",
                 nullable=True)),
             key=("horizon", "family", "asset", "date"), strict=True),
    _derived("feature_importance", PREDICTIONS, FOLD, "LightGBM mean |SHAP| per feature on each fold's test month.",
             (HORIZON, _c("feature", pl.Utf8, "feature name"),
              _c("mean_abs_shap", pl.Float64, "mean |SHAP value| on the test month (vol points)"))),
    _derived("ablations", PREDICTIONS, FOLD,
             "LightGBM test RMSE when one feature group is dropped and the model refitted (delta vs all groups).",
             (HORIZON, _c("group", pl.Utf8, "feature group dropped"),
              _c("delta_rmse", pl.Float64, "test RMSE without the group minus with it", nullable=True))),
    _derived("forecast_metrics", PREDICTIONS, SINGLE,
             "Forecast metrics by scope (overall/fold/regime), family, horizon and asset, with Diebold-Mariano vs HAR.",
             (_c("scope", pl.Utf8, "overall, fold or regime"), FAMILY, _c("horizon", pl.Int64, "forecast horizon in days"),
              ASSET)),
)

_BACKTEST_DOCS = {
    "backtest_daily": "Daily P&L of every strategy (DVOL futures per family and horizon, and the option book), "
    "net of costs; row t holds the position decided at t's close and what it earns until t+1.",
    "strategy_metrics": "Net-of-cost statistics per strategy, family and coin (ALL = both coins).",
    "metrics_by_year": "Strategy statistics per calendar year.",
    "metrics_by_regime": "Strategy statistics per DVOL regime (terciles from past data only).",
    "cost_sensitivity": "Net P&L, Sharpe and drawdown with every cost scaled by cost_mult (0.5x to 3x).",
    "risk_control_effects": "Each risk control switched off in turn: what it changed.",
    "thresholds": "The threshold tau of each fold, chosen on the folds before it (in-sample Sharpe shown).",
    "tau_cost_sweep": "Net Sharpe over a grid of fixed tau and cost multipliers (robustness heatmap).",
    "noise_robustness": "Strategy statistics under small Gaussian noise on DVOL and funding (mean, p5, p95).",
    "kill_events": "Days the drawdown kill-switch fired.",
    "option_trades": "Every option and hedge trade of the option book, at bid/ask with Deribit fees.",
    "option_cost_sensitivity": "The option book's net P&L and Sharpe with costs scaled by cost_mult.",
    "promotion_history": "The family promoted for each horizon as of each fold (decided on earlier folds).",
    "promotion_evidence": "Why: each family's past net Sharpe and drawdown against HAR's, as of the newest fold.",
    "model_promotion": "The live decision per coin and horizon: promoted family, its threshold, past hit-rate, "
    "and the primary horizon that sets the signal's direction.",
}
_BACKTEST_COLUMNS: dict[str, tuple[Col, ...]] = {
    "backtest_daily": (STRATEGY, FAMILY, ASSET, DATE),
    "strategy_metrics": (STRATEGY, FAMILY, ASSET),
    "thresholds": (FAMILY, HORIZON, ASSET, FOLD_KEY, _c("tau", pl.Float64, "threshold (vol points)", nullable=True)),
    "promotion_history": (FOLD_KEY, HORIZON, _c("promoted_family", pl.Utf8, "family traded that month")),
    "model_promotion": (
        ASSET, HORIZON, _c("promoted_family", pl.Utf8, "family whose signals are traded"),
        _c("reason", pl.Utf8, "why it was promoted (or why HAR stayed)"),
        _c("tau", pl.Float64, "its threshold for the newest fold (vol points)", nullable=True),
        _c("hit_rate_active", pl.Float64, "past hit rate of its signals beyond tau", nullable=True),
        _c("as_of_fold", pl.Utf8, "the newest fold the decision used"),
        _c("past_net_sharpe", pl.Float64, "its futures strategy's net Sharpe on past folds", nullable=True),
        _c("primary", pl.Boolean, "this horizon sets the signal's direction"),
    ),
}
_BACKTEST = tuple(
    _derived(name, BACKTEST, SINGLE, doc, _BACKTEST_COLUMNS.get(name, ()), strict=name == "model_promotion")
    for name, doc in _BACKTEST_DOCS.items()
)

SIGNAL_COLUMNS = (
    _c("date", pl.Date, "UTC day whose close the signal is computed at (act from the next day)"),
    _c("asset", pl.Utf8, "coin"),
    _c("yhat_1d", pl.Float64, "forecast DVOL change over the next day (vol points), promoted 1-day model", True),
    _c("yhat_7d", pl.Float64, "forecast DVOL change over the next 7 days (vol points), promoted 7-day model", True),
    _c("yhat_14d", pl.Float64, "forecast DVOL change over the next 14 days (vol points), promoted 14-day model", True),
    _c("direction", pl.Int8, "+1 long DVOL, -1 short, 0 flat: the primary horizon's forecast against its threshold tau"),
    _c("confidence", pl.Float64,
       "share of past out-of-sample signals of this model beyond tau whose sign was right (0 when flat)"),
    _c("primary_horizon", pl.Int32, "the horizon whose promoted futures strategy had the best past net Sharpe"),
    _c("tau", pl.Float64, "the primary horizon's threshold (vol points), chosen on past folds only"),
    _c("model_version", pl.Utf8, "family@fold per horizon, e.g. '1d=har@2024-06 7d=garch@2024-06 14d=garch@2024-06'"),
    _c("family", pl.Utf8, "family of the primary horizon's model, the one the direction follows (null: no saved "
       "model of it scored the day)", nullable=True),
)
_SIGNALS = (
    _derived("signals", SIGNALS, ASSET_DATE, "End-of-day signals per (date, coin) from the promoted models.",
             SIGNAL_COLUMNS, key=("asset", "date"), strict=True),
)

_EXPIRY = _c("contract_expiry", pl.Date, "expiry of the DVOL future (null: flat)", nullable=True)
_PAPER = (
    _derived("paper_fills", PAPER, ASSET_DATE,
             "Every fill of the paper book: yesterday's signal (or a roll, or a kill switch) filled at today's "
             "snapshot, at the ask when buying and the bid when selling, with the taker fee (quant/dvol/paper.py).",
             (DATE, ASSET, _c("contract_expiry", pl.Date, "expiry of the DVOL future traded"),
              _c("reason", pl.Utf8, "signal, roll or kill"), _c("qty", pl.Float64, "units bought (+) or sold (-)"),
              _c("price", pl.Float64, "fill price (vol points)"), _c("fee_usd", pl.Float64, "taker fee, USD")),
             key=("asset", "date", "contract_expiry", "reason")),
    _derived("paper_positions", PAPER, ASSET_DATE,
             "The paper book after each day's close: position, cash and equity (cash + position x mark), the order "
             "queued for the next snapshot, and the kill switches' state.",
             (DATE, ASSET, _EXPIRY, _c("position", pl.Float64, "units held after the day's fills"),
              _c("cash_usd", pl.Float64, "cash from every fill so far, USD"),
              _c("equity_usd", pl.Float64, "cash + position x mark x USD per point"),
              _c("target_next", pl.Float64, "position ordered for the next snapshot"),
              _c("halted", pl.Boolean, "the drawdown kill switch has stopped the book")),
             key=("asset", "date")),
    _derived("paper_pnl", PAPER, ASSET_DATE, "The paper book's daily P&L (change in equity), costs and drawdown.",
             (DATE, ASSET, _c("pnl_usd", pl.Float64, "equity change over (D-1, D], USD"),
              _c("cost_usd", pl.Float64, "half-spread, slippage and fees paid on D, USD")), key=("asset", "date")),
    _derived("paper_reconciliation", PAPER, ASSET_DATE,
             "Paper P&L and slippage against what the backtest assumed for the same interval (its row dated D-1 "
             "of the strategy the signal follows; null after the backtest's newest fold).",
             (DATE, ASSET, _c("paper_pnl_usd", pl.Float64, "paper P&L over (D-1, D]"),
              _c("backtest_net_usd", pl.Float64, "the backtest's net P&L over the same interval", nullable=True),
              _c("delay_usd", pl.Float64, "what filling a day after the signal cost against the decision close")),
             key=("asset", "date")),
    _derived("paper_option_fills", PAPER, ASSET_DATE,
             "Every fill of the paper book's option sleeve: yesterday's signal as straddle / condor legs at today's "
             "snapshot (the ask when buying, the bid when selling, Deribit's option fee), rolls, settlements at "
             "expiry and the perpetual hedge (quant/execution/paper_options.py).",
             (DATE, ASSET, _c("seq", pl.Int32, "order of the fill within the day"),
              _c("instrument_name", pl.Utf8, "Deribit instrument (an option, or <COIN>-PERPETUAL for the hedge)"),
              _c("reason", pl.Utf8, "open, close, roll, expiry, hedge or kill"),
              _c("qty", pl.Float64, "coins bought (+) or sold (-)"),
              _c("price_usd", pl.Float64, "fill price per coin, USD (intrinsic value at expiry)"),
              _c("fee_usd", pl.Float64, "fee, USD"), _c("cash_usd", pl.Float64, "the sleeve's cash after the fill")),
             key=("asset", "date", "seq")),
    _derived("paper_option_positions", PAPER, ASSET_DATE,
             "What the option sleeve holds after each day's close: one row per option leg and one for the perpetual "
             "hedge (quantity, mark in USD per coin).",
             (DATE, ASSET, _c("instrument_name", pl.Utf8, "Deribit instrument"),
              _c("qty", pl.Float64, "coins held (+ long)"),
              _c("mark_usd", pl.Float64, "mark per coin, USD (the perpetual's price for the hedge)", nullable=True)),
             key=("asset", "date", "instrument_name")),
    _derived("paper_option_book", PAPER, ASSET_DATE,
             "The option sleeve per (day, coin): structure held, cash, equity (cash + legs and hedge at their marks), "
             "the day's P&L and costs, drawdown, the order queued for the next snapshot, the kill switches' state, "
             "and the backtest option book's net P&L over the same (D-1, D].",
             (DATE, ASSET, _c("structure", pl.Int8, "+1 long straddle, -1 short iron condor, 0 flat"),
              _c("cash_usd", pl.Float64, "cash from every fill so far, USD"),
              _c("equity_usd", pl.Float64, "cash + legs and hedge at their marks, USD"),
              _c("pnl_usd", pl.Float64, "equity change over (D-1, D], USD"),
              _c("halted", pl.Boolean, "the drawdown kill switch has stopped the sleeve"),
              _c("backtest_net_usd", pl.Float64, "the backtest option book's net P&L over the same interval",
                 nullable=True)),
             key=("asset", "date")),
)

TABLES: tuple[Table, ...] = (*_FEATURES, *_PREDICTIONS, *_BACKTEST, *_SIGNALS, *_PAPER)
