"""The options lane's tables: the fitted smile surface and chain greeks, the IV-rank strategies."""

from __future__ import annotations

import polars as pl

from dvol_pipeline.contracts.tables import UTC_TS
from dvol_pipeline.lake.tables.spec import (
    ASSET,
    ASSET_DATE,
    BACKTEST,
    DATE,
    FOLD_KEY,
    SINGLE,
    STRATEGY,
    SURFACE,
    Table,
    col,
    derived_table,
)

LANE = "options"
_c = col


def _derived(*args, **kwargs) -> Table:
    return derived_table(*args, lane=LANE, **kwargs)


_SURFACE = (
    _derived("surface_params", SURFACE, ASSET_DATE,
             "Raw SVI per (date, coin, expiry) fitted to D's end-of-day chain, repaired where it had butterfly or "
             "calendar arbitrage: a, b, rho, m, sigma (repaired, what downstream reads), the raw fit's *_raw, fit RMSE "
             "in vol points before (rmse_vol_raw) and after (rmse_vol), min g(k) before and after, points used, ATM vol.",
             (DATE, ASSET, _c("expiry", UTC_TS, "expiry instant (UTC)"),
              _c("repaired", pl.Boolean, "the raw fit failed a butterfly or calendar check and was repaired"),
              _c("rmse_vol_raw", pl.Float64, "RMSE of the raw (unrepaired) fit, vol points"),
              _c("rmse_vol", pl.Float64, "RMSE of the repaired fit, vol points")),
             key=("asset", "date", "expiry")),
    _derived("surface_model_comparison", SURFACE, ASSET_DATE,
             "Smile models (svi, svi_repaired, sabr) per (date, coin, expiry) and test (in_sample, strike_holdout: fit "
             "on every other strike and price the rest, next_day: D-1's smile prices D's quotes at D's forward): IV "
             "RMSE in vol points, mean |price - mid| in spreads, share inside the bid-ask. Every 7th day.",
             (DATE, ASSET, _c("expiry", UTC_TS, "expiry instant (UTC)"),
              _c("model", pl.Utf8, "svi (raw fit), svi_repaired or sabr"),
              _c("test", pl.Utf8, "in_sample, strike_holdout or next_day"),
              _c("n_quotes", pl.UInt32, "quotes priced"),
              _c("iv_rmse_vol", pl.Float64, "RMSE of model vol - mark vol, vol points"),
              _c("price_mae_spreads", pl.Float64, "mean |model price - mid| / (ask - bid), over quotes with ask > bid "
                 "(null when none)", nullable=True),
              _c("inside_spread_share", pl.Float64, "share of model prices within [bid, ask]")),
             key=("asset", "date", "expiry", "model", "test")),
    _derived("surface_grid", SURFACE, ASSET_DATE,
             "Implied vol (vol points) of the fitted surface at constant maturities 7/30/60/90 days x deltas "
             "10P/25P/ATM/25C/10C.",
             (DATE, ASSET, _c("tenor_days", pl.Int32, "constant maturity in days"),
              _c("delta_label", pl.Utf8, "10P, 25P, ATM, 25C or 10C")),
             key=("asset", "date", "tenor_days", "delta_label")),
    _derived("surface_features", SURFACE, ASSET_DATE,
             "Per (date, coin): constant-maturity ATM vols, term slope, 25-delta risk reversal and butterfly at 30 "
             "days, the chain's DVOL replica; joins features_daily as the `surface` group.",
             (DATE, ASSET), key=("asset", "date")),
    _derived("chain_greeks", SURFACE, ASSET_DATE,
             "Every listed option's Black-76 greeks from its own mark IV (vega per vol point, theta per day) and its "
             "open-interest exposures.",
             (DATE, ASSET, _c("expiry", UTC_TS, "expiry instant (UTC)"), _c("strike", pl.Float64, "strike (USD)"),
              _c("option_type", pl.Utf8, "C or P")),
             key=("asset", "date", "expiry", "strike", "option_type")),
    _derived("chain_exposures", SURFACE, ASSET_DATE,
             "Open-interest greek exposures aggregated per (date, coin, expiry).",
             (DATE, ASSET, _c("expiry", UTC_TS, "expiry instant (UTC)")), key=("asset", "date", "expiry")),
)

_STRUCT = _c("structure", pl.Utf8, "iron_condor, put_credit_spread, call_credit_spread or long_straddle")
_ENTRY = _c("entry_date", pl.Date, "UTC day whose close the trade opened at")
_IVRANK = (
    _derived("ivrank_trades", BACKTEST, SINGLE,
             "Every IV-rank candidate trade (each chain day x structure): entry/exit, exit reason, premium, gross, "
             "unit costs, net at costs x1, greek attribution, max adverse move, the gate's out-of-sample "
             "probability and threshold, and which strategy took it (quant/options/ivrank/).",
             (ASSET, _ENTRY, _STRUCT, _c("exit_date", pl.Date, "UTC day whose close the trade closed at"),
              _c("exit_reason", pl.Utf8, "profit_target, stop, dte_floor or end_of_data"),
              _c("premium_usd", pl.Float64, "credit received (> 0) or debit paid (< 0) at the entry marks"),
              _c("gross_usd", pl.Float64, "mark-to-market P&L entry to exit, hedge included, before costs"),
              _c("unit_cost_usd", pl.Float64, "spreads and fees at cost multiplier 1 (net(m) = gross - m x this)"),
              _c("net_usd", pl.Float64, "gross_usd - unit_cost_usd"),
              _c("prob", pl.Float64, "gate's out-of-sample P(net > 0) (null before the first fold)", nullable=True),
              _c("fold", pl.Utf8, "walk-forward month that predicted it", nullable=True),
              _c("taken_rule", pl.Boolean, "traded by ivrank_rule"),
              _c("taken_gated", pl.Boolean, "traded by ivrank_gated"),
              _c("taken_regime", pl.Boolean, "traded by regime_selection")),
             key=("asset", "entry_date", "structure")),
    _derived("ivrank_gate_folds", BACKTEST, SINGLE,
             "The gate per walk-forward month: training rows (exited before the month), AUC, accuracy, precision "
             "and recall at p >= 0.5, base rate, and the probability threshold chosen from past folds only.",
             (FOLD_KEY, _c("n", pl.Int64, "candidates predicted"),
              _c("auc", pl.Float64, "ROC AUC of the month's predictions", nullable=True),
              _c("threshold", pl.Float64, "probability threshold traded in the month")), key=("fold",)),
    _derived("ivrank_regime_choices", BACKTEST, SINGLE,
             "Structure traded per month and entry regime by regime_selection, chosen from trades that exited "
             "before the month (null: none).",
             (FOLD_KEY, _c("regime", pl.Utf8, "vol_regimes label"),
              _c("structure", pl.Utf8, "structure chosen (null: trade nothing)", nullable=True)),
             key=("fold", "regime")),
    _derived("ivrank_strategy_metrics", BACKTEST, SINGLE,
             "IV-rank strategies (rule, gated, regime selection) per entry regime (ALL too), coin (ALL too) and "
             "cost multiplier: trades, hit rate, net P&L, Sharpe of daily P&L, max drawdown, greek attribution.",
             (STRATEGY, _c("regime", pl.Utf8, "entry regime or ALL"), ASSET,
              _c("cost_mult", pl.Float64, "every cost scaled by this"), _c("n_trades", pl.Int64, "trades taken"),
              _c("net_usd", pl.Float64, "net P&L, USD"),
              _c("sharpe", pl.Float64, "annualised Sharpe of daily net / capital", nullable=True)),
             key=("strategy", "regime", "asset", "cost_mult")),
    _derived("ivrank_daily", BACKTEST, SINGLE,
             "Daily P&L of each IV-rank strategy and coin on days it held a trade: gross, unit costs, net at "
             "costs x1, greek attribution.",
             (STRATEGY, ASSET, DATE, _c("net_usd", pl.Float64, "gross - unit cost (costs x1), USD")),
             key=("strategy", "asset", "date")),
)

TABLES: tuple[Table, ...] = (*_SURFACE, *_IVRANK)
