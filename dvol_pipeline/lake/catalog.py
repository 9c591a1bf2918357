"""Every lake table, raw and derived, in one registry: zone, layout, key, columns, docs.

Paths, the warehouse's views and comments, Dagster's column schemas and the write-time
contracts all read this module, so a table is declared once and no path is built anywhere
else. Raw tables' columns are the contracts sources must meet (`contracts/tables.py`);
derived tables declare their key and headline columns here, with `strict=False` where the
quant layer adds columns (a backtest statistic, a feature) that are documented next to
the code that computes them.

Layouts:

* `asset_date`: `<zone>/<table>/asset=<A>/date=<D>/part-0.parquet` (one coin, one UTC day)
* `fold`:       `<zone>/<table>/fold=<YYYY-MM>/part-0.parquet`  (one walk-forward month)
* `single`:     `<zone>/<table>/part-0.parquet`                 (replaced whole each run)
* `symbol`:     `<zone>/<table>/symbol=<S>/part-0.parquet`      (one coin's whole history)

The universe's raw table uses `symbol`: 60 coins x 1,400 days as `asset_date` would be
84,000 files of one row each (slow to write, list and scan); one file per coin is 60
files of ~1,400 rows, read in one multi-threaded scan, and a source's new file for a coin
replaces that coin's history whole, atomically, as the contract requires.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from dvol_pipeline.contracts.tables import RAW_TABLES, UNIVERSE_RAW_TABLES, UTC_TS, Col, TableSpec

PART_FILE = "part-0.parquet"
ASSET_DATE, FOLD, SINGLE, SYMBOL = "asset_date", "fold", "single", "symbol"

# zones (folders under the lake root)
RAW, QUARANTINE, FEATURES, SURFACE = "raw", "quarantine", "features", "surface"
PREDICTIONS, BACKTEST, SIGNALS, PAPER = "predictions", "backtest", "signals", "paper"
MODELS, REPORTS, MLFLOW = "models", "reports", "mlflow"
WAREHOUSE_FILE = "warehouse.duckdb"


@dataclass(frozen=True)
class Table:
    """One lake table: where it lives and what it holds."""

    name: str
    zone: str
    layout: str
    doc: str
    columns: tuple[Col, ...]
    key: tuple[str, ...] = ()
    sort_by: tuple[str, ...] = ()
    time_col: str = "date"
    """The column whose UTC day picks an `asset_date` partition."""
    strict: bool = True
    """False: columns beyond `columns` are allowed (documented where they are computed)."""
    raw: TableSpec | None = field(default=None, repr=False)
    """The source contract of a raw table."""

    @property
    def schema(self) -> dict[str, pl.DataType]:
        return {c.name: c.dtype for c in self.columns}

    def column_docs(self) -> dict[str, str]:
        return {c.name: c.doc for c in self.columns}

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.schema)

    # -- paths: the only place the lake's folders are spelled out ---------------------------
    def base(self, root: Path) -> Path:
        return Path(root) / self.zone / self.name

    def partition_dir(self, root: Path, asset: str, day: date | str) -> Path:
        self._expect(ASSET_DATE)
        return self.base(root) / f"asset={asset}" / f"date={day}"

    def partition_file(self, root: Path, asset: str, day: date | str) -> Path:
        return self.partition_dir(root, asset, day) / PART_FILE

    def fold_file(self, root: Path, fold: str) -> Path:
        self._expect(FOLD)
        return self.base(root) / f"fold={fold}" / PART_FILE

    def file(self, root: Path) -> Path:
        self._expect(SINGLE)
        return self.base(root) / PART_FILE

    def symbol_file(self, root: Path, symbol: str) -> Path:
        self._expect(SYMBOL)
        return self.base(root) / f"symbol={symbol}" / PART_FILE

    def symbols(self, root: Path) -> list[str]:
        """Coins of a `symbol` table that hold a file, sorted."""
        self._expect(SYMBOL)
        return sorted(p.parent.name.split("=", 1)[1] for p in self.base(root).glob(f"symbol=*/{PART_FILE}"))

    def partition_dirs(self, root: Path) -> list[tuple[str, str, Path]]:
        """(coin, day text, folder) of every `asset_date` partition folder, sorted; the day is
        left as text so a caller decides what to do with a folder that is not a date."""
        self._expect(ASSET_DATE)
        out = []
        for asset_dir in sorted(self.base(root).glob("asset=*")):
            asset = asset_dir.name.split("=", 1)[1]
            out += [(asset, d.name.split("=", 1)[1], d) for d in sorted(asset_dir.glob("date=*"))]
        return out

    def coins(self, root: Path) -> list[str]:
        """Coins that have a folder in an `asset_date` table, sorted (one directory listing)."""
        self._expect(ASSET_DATE)
        try:
            names = os.listdir(self.base(root))
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(n.split("=", 1)[1] for n in names if n.startswith("asset="))

    def coin_days(self, root: Path, asset: str) -> list[str]:
        """Day texts of one coin's partition folders, sorted; one listing, no file opened (a
        folder whose file is not renamed in yet is listed: the reader finds it empty)."""
        self._expect(ASSET_DATE)
        try:
            names = os.listdir(self.base(root) / f"asset={asset}")
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(n.split("=", 1)[1] for n in names if n.startswith("date="))

    def fold_keys(self, root: Path) -> list[str]:
        """Folds of a `fold` table that hold a file, oldest first."""
        self._expect(FOLD)
        return sorted(p.parent.name.split("=", 1)[1] for p in self.base(root).glob(f"fold=*/{PART_FILE}"))

    def files(self, root: Path) -> list[Path]:
        """Every data file of the table, sorted (all layouts)."""
        base = self.base(root)
        return sorted(base.rglob("*.parquet")) if base.is_dir() else []

    def quarantine(self) -> Table:
        """Where this table's rejected rows go (same partitioning, a `reason` column)."""
        return Table(self.name, QUARANTINE, ASSET_DATE, f"Rows of {self.name} rejected by its contract, with a reason.",
                     (), strict=False, time_col=self.time_col)

    def _expect(self, layout: str) -> None:
        if self.layout != layout:
            raise ValueError(f"lake table {self.name} has layout {self.layout!r}, not {layout!r}")


def _c(name: str, dtype: pl.DataType, doc: str, nullable: bool = False) -> Col:
    return Col(name, dtype, doc, nullable)


DATE = _c("date", pl.Date, "UTC day")
ASSET = _c("asset", pl.Utf8, "coin, e.g. BTC")
FOLD_KEY = _c("fold", pl.Utf8, "walk-forward month YYYY-MM the row belongs to")
HORIZON = _c("horizon", pl.Int32, "forecast horizon in days (1, 7, 14)")
FAMILY = _c("family", pl.Utf8, "model family, e.g. har, lightgbm, ensemble")
STRATEGY = _c("strategy", pl.Utf8, "strategy, e.g. dvol_futures_7d or option_straddle")


def _raw(spec: TableSpec, layout: str = ASSET_DATE) -> Table:
    return Table(spec.name, RAW, layout, spec.doc, spec.columns, spec.key, tuple(spec.sort_by),
                 spec.time_col, strict=True, raw=spec)


def _derived(name: str, zone: str, layout: str, doc: str, columns: tuple[Col, ...],
             key: tuple[str, ...] = (), sort_by: tuple[str, ...] | None = None, strict: bool = False) -> Table:
    return Table(name, zone, layout, doc, columns, key, tuple(key if sort_by is None else sort_by), strict=strict)


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
)

_PREDICTIONS = (
    _derived("oos_predictions", PREDICTIONS, FOLD,
             "Walk-forward out-of-sample forecasts: date, asset, horizon, family, fold, y_hat, y (ΔDVOL).",
             (DATE, ASSET, HORIZON, FAMILY, FOLD_KEY,
              _c("y_hat", pl.Float64, "forecast ΔDVOL over the horizon (vol points)", nullable=True),
              _c("y", pl.Float64, "realised ΔDVOL over the horizon (null until known)", nullable=True)),
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

SYMBOL_COL = _c("symbol", pl.Utf8, "coin ticker")
UNIVERSE = "universe"
_UNIVERSE = (
    *(_raw(s, SYMBOL) for s in UNIVERSE_RAW_TABLES.values()),
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

TABLES: dict[str, Table] = {
    t.name: t
    for t in (*map(_raw, RAW_TABLES.values()), *_SURFACE, *_FEATURES, *_PREDICTIONS, *_BACKTEST, *_IVRANK, *_SIGNALS,
              *_PAPER, *_UNIVERSE)
}
ZONE_ORDER = (RAW, FEATURES, SURFACE, PREDICTIONS, BACKTEST, SIGNALS, PAPER, UNIVERSE)


def table(name: str) -> Table:
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown lake table {name!r}; known: {', '.join(TABLES)}") from None


def in_zone(zone: str) -> list[Table]:
    return [t for t in TABLES.values() if t.zone == zone]


# -- paths that are not tables ------------------------------------------------------------------
def model_dir(root: Path, family: str, fold: str, horizon: int) -> Path:
    """A fitted model: `models/<family>/<fold>/h<h>/`."""
    return Path(root) / MODELS / family / fold / f"h{horizon}"


def family_models_dir(root: Path, family: str) -> Path:
    return Path(root) / MODELS / family


def report_file(root: Path, run_id: str, asset: str) -> Path:
    """A tear sheet: `reports/<run id>/tearsheet_<COIN>.html` (`latest` is the newest run's copy)."""
    return Path(root) / REPORTS / run_id / f"tearsheet_{asset}.html"


def universe_report_file(root: Path, run_id: str) -> Path:
    """The universe report: `reports/<run id>/universe.html` (`latest` is the newest run's copy)."""
    return Path(root) / REPORTS / run_id / "universe.html"


def mlflow_dir(root: Path) -> Path:
    return Path(root) / MLFLOW


def warehouse_file(root: Path) -> Path:
    return Path(root) / WAREHOUSE_FILE
