"""The micro lane's tables: raw ticks, the rebuilt book, its quality, bars and intraday features.

Every table is partitioned by (venue, symbol, UTC day of the local clock) under
`venue=<V>/symbol=<S>/date=<D>/`, the unit of work of the lane (one partition is rebuilt and
replaced whole), with nanosecond timestamps. Raw tables' columns are the source contract
(`contracts/micro.py`); derived tables declare their key and headline columns and allow the
rest (a feature, a bar statistic) documented next to the code that computes it.
"""

from __future__ import annotations

import polars as pl

from dvol_pipeline.contracts.micro import MICRO_RAW_TABLES
from dvol_pipeline.contracts.tables import UTC_TS_NS, Col
from dvol_pipeline.lake.tables.layouts import VENUE_SYMBOL_DATE
from dvol_pipeline.lake.tables.spec import RAW, SINGLE, Table, col, raw_table

LANE = "micro"
MICRO = "micro"
"""The zone (folder) of the lane's derived tables."""
BOOK_LEVELS = 20
"""Levels a side kept in `book_snapshots`."""
DEPTH_LEVELS = (5, 10, 20)
"""Depth (base units, summed over the first N levels) in `micro_bars` and the imbalance features."""
BARS = ("1s", "1m", "5m")
"""Time bars of `micro_bars`; volume bars are named `vol<N>` (N in base units)."""

_c = col
TS = _c("ts", UTC_TS_NS, "bar or grid time (UTC, ns): the close of the interval, on the local clock")
VENUE = _c("venue", pl.Utf8, "exchange and market, e.g. binance_usdm, sim_spot")
SYMBOL = _c("symbol", pl.Utf8, "the venue's symbol, e.g. BTCUSDT")
BAR = _c("bar", pl.Utf8, "bar kind: 1s, 1m, 5m, or vol<N> for volume bars")


def _derived(name: str, doc: str, columns: tuple[Col, ...], key: tuple[str, ...], time_col: str = "ts",
             strict: bool = False) -> Table:
    return Table(name, MICRO, VENUE_SYMBOL_DATE, doc, columns, key, key, time_col=time_col, strict=strict,
                 lane=LANE, time_unit="ns")


def _levels(side: str) -> tuple[Col, ...]:
    return tuple(c for i in range(1, BOOK_LEVELS + 1) for c in (
        _c(f"{side}_price_{i}", pl.Float64, f"{side} price of level {i} (null: fewer levels)", nullable=True),
        _c(f"{side}_size_{i}", pl.Float64, f"{side} size of level {i}, base units", nullable=True)))


_RAW = tuple(raw_table(s, LANE, VENUE_SYMBOL_DATE) for s in MICRO_RAW_TABLES.values())

_BOOK = (
    _derived("book_top",
             "The rebuilt book's best bid and ask after every event that changed them (synced book only): what "
             "order-flow imbalance and queue features are computed from.",
             (_c("ts_local", UTC_TS_NS, "receive time of the update (UTC, ns)"),
              _c("ts_exchange", UTC_TS_NS, "the venue's time of the update", nullable=True), VENUE, SYMBOL,
              _c("bid_price", pl.Float64, "best bid"), _c("bid_size", pl.Float64, "best bid size, base units"),
              _c("ask_price", pl.Float64, "best ask"), _c("ask_size", pl.Float64, "best ask size, base units")),
             key=("venue", "symbol", "ts_local"), time_col="ts_local"),
    _derived("book_snapshots",
             f"The rebuilt book, top {BOOK_LEVELS} levels a side, on a 1-second grid of the local clock (the state "
             "at the end of each second); no row for a second whose book is unknown (before the sync point, after a "
             "sequence break until the next snapshot).",
             (TS, VENUE, SYMBOL, *_levels("bid"), *_levels("ask")), key=("venue", "symbol", "ts"), strict=True),
    _derived("book_quality",
             "Per venue, symbol and session (a run of the stream between restarts): events, snapshots, the sync "
             "point, sequence breaks and resyncs, seconds with a known book, crossed states (counted, never "
             "printed as data), the collector's clock skew against the exchange's, and the share of seconds whose "
             "rebuilt best bid and ask equal the venue's own top-of-book stream.",
             (_c("date", pl.Date, "UTC day (local clock)"), VENUE, SYMBOL,
              _c("session", pl.Int32, "session number within the day"),
              _c("events", pl.Int64, "book delta rows"), _c("snapshots", pl.Int64, "snapshots received"),
              _c("sync_ts", UTC_TS_NS, "first instant with a known book (null: never synced)", nullable=True),
              _c("sequence_breaks", pl.Int64, "update-id breaks (the book is unknown until the next snapshot)"),
              _c("resyncs", pl.Int64, "syncs after a break"),
              _c("known_seconds", pl.Int64, "seconds with a known book"),
              _c("crossed_states", pl.Int64, "events after which the rebuilt best bid >= best ask"),
              _c("skew_median_ms", pl.Float64, "median of local minus exchange time, ms", nullable=True),
              _c("skew_p99_ms", pl.Float64, "99th percentile of local minus exchange time, ms", nullable=True),
              _c("bbo_agreement", pl.Float64, "share of synced seconds whose rebuilt best bid and ask equal the "
                 "venue's top-of-book stream (null: no such stream)", nullable=True)),
             key=("venue", "symbol", "date", "session"), time_col="date"),
    _derived("micro_gaps",
             "Holes in a stream longer than the threshold (10 minutes by default): reported, never filled.",
             (_c("date", pl.Date, "UTC day the gap ends (the first row after it)"), VENUE, SYMBOL,
              _c("stream", pl.Utf8, "raw table whose stream has the hole"),
              _c("gap_start", UTC_TS_NS, "last row before the hole"), _c("gap_end", UTC_TS_NS, "first row after it"),
              _c("minutes", pl.Float64, "length of the hole")),
             key=("venue", "symbol", "stream", "gap_start"), time_col="date"),
)

_BARS = (
    _derived("micro_bars",
             "Intraday bars (1 s, 1 min, 5 min on the local clock, and volume bars): mid OHLC, VWAP, time-weighted "
             "spread, depth at 5/10/20 levels, trade count, buy and sell volume, and order-flow imbalance as Cont, "
             "Kukanov & Stoikov (2014) define it, summed over the best bid/offer updates of the bar.",
             (TS, VENUE, SYMBOL, BAR,
              _c("mid_open", pl.Float64, "mid at the bar's first book state", nullable=True),
              _c("mid_high", pl.Float64, "highest mid", nullable=True),
              _c("mid_low", pl.Float64, "lowest mid", nullable=True),
              _c("mid_close", pl.Float64, "mid at the bar close", nullable=True),
              _c("vwap", pl.Float64, "volume-weighted trade price (null: no trade)", nullable=True),
              _c("spread_bps", pl.Float64, "time-weighted spread, bps of the mid", nullable=True),
              _c("ofi", pl.Float64, "order-flow imbalance (CKS), base units", nullable=True),
              _c("buy_volume", pl.Float64, "buyer-initiated volume, base units"),
              _c("sell_volume", pl.Float64, "seller-initiated volume, base units"),
              _c("trades", pl.Int64, "trade count")),
             key=("venue", "symbol", "bar", "ts")),
    _derived("micro_features",
             "Intraday features, one row per venue, symbol and bar, from data up to the bar's close only; every "
             "feature is in the registry (quant/micro/features) with its definition, inputs and look-back.",
             (TS, VENUE, SYMBOL, BAR), key=("venue", "symbol", "bar", "ts")),
    Table("micro_daily", MICRO, "asset_date",
          "A daily roll-up of the main microstructure features per coin (UTC day), joined to features_daily as the "
          "`micro` feature group.",
          (_c("date", pl.Date, "UTC day"), _c("asset", pl.Utf8, "coin, e.g. BTC")), ("asset", "date"),
          ("asset", "date"), strict=False, lane=LANE),
)

def _research(name: str, doc: str, columns: tuple[Col, ...], key: tuple[str, ...]) -> Table:
    return Table(name, MICRO, SINGLE, doc, columns, key, key, time_col="ts", strict=False, lane=LANE, time_unit="ns")


_S = _c("symbol", pl.Utf8, "the venue's symbol")
_STRATEGY = _c("strategy", pl.Utf8, "mean_reversion, funding_basis or microstructure")
_RESEARCH = (
    _derived("micro_predictions",
             "Out-of-sample predictions of the forward mid return per bar: walk-forward fold, model family "
             "(lgbm_reg, lgbm_clf), the label y (bps), y_hat, and P(up) for the classifier.",
             (TS, VENUE, SYMBOL, BAR, _c("horizon", pl.Utf8, "label horizon, e.g. 5m"),
              _c("family", pl.Utf8, "lgbm_reg or lgbm_clf"), _c("fold", pl.Int32, "walk-forward fold number"),
              _c("y", pl.Float64, "forward mid log return, bps", nullable=True),
              _c("y_hat", pl.Float64, "prediction (the classifier's 2 p_up - 1)", nullable=True)),
             key=("venue", "symbol", "bar", "horizon", "family", "ts")),
    _research("micro_fold_metrics", "Per walk-forward fold, venue, symbol, horizon and family: rows, IC (Spearman), "
              "R2, AUC, hit rate, features kept by the in-window selection.",
              (_c("fold", pl.Int32, "fold"), VENUE, _S, _c("horizon", pl.Utf8, "horizon"),
               _c("family", pl.Utf8, "family")), ("fold", "venue", "symbol", "horizon", "family")),
    _research("micro_cross_symbol", "The model trained on BTC predicting ETH and SOL (never trained on them): IC, "
              "R2, AUC per venue, horizon and family.",
              (_c("train_symbol", pl.Utf8, "coin trained on"), _c("test_symbol", pl.Utf8, "coin predicted"), VENUE),
              ("train_symbol", "test_symbol", "venue", "horizon", "family")),
    _research("micro_ic", "Information coefficient (Spearman) of every feature with the forward return, by venue, "
              "symbol, horizon and regime (volatility percentile x ADX trend; `all` pools them).",
              (_c("feature", pl.Utf8, "feature"), VENUE, _S, _c("horizon", pl.Utf8, "horizon"),
               _c("regime", pl.Utf8, "regime or all")), ("feature", "venue", "symbol", "horizon", "regime")),
    _research("micro_trades", "Every trade of the three strategies, aggressive and passive: entry and exit, side, "
              "gross, funding, cost and net bps, holding time, exit reason (mean, time, stop, end, missed).",
              (_STRATEGY, _c("execution", pl.Utf8, "aggressive or passive"), VENUE, _S),
              ("strategy", "execution", "venue", "symbol", "entry_ts")),
    _research("micro_strategy_metrics", "Per strategy, execution, venue, symbol, regime and cost multiplier (0.5, 1, "
              "1.5, 2, 3): Sharpe, Sortino, net and annual return, max drawdown, turnover, hit rate, holding time.",
              (_STRATEGY, _c("execution", pl.Utf8, "aggressive or passive"), VENUE, _S,
               _c("regime", pl.Utf8, "regime or all"), _c("cost_mult", pl.Float64, "cost multiplier")),
              ("strategy", "execution", "venue", "symbol", "regime", "cost_mult")),
    _research("micro_gates", "The research plan's gates per strategy and symbol, out of sample: Gate 0 and Gate 1, "
              "each criterion with its value, threshold and PASS/FAIL, and the GO / NO-GO line.",
              (_STRATEGY, _S, _c("gate", pl.Utf8, "gate0, gate1 or decision"),
               _c("criterion", pl.Utf8, "what is tested")), ("strategy", "symbol", "gate", "criterion")),
)

_D = _c("date", pl.Date, "the UTC day the end-of-day run closed")
_EOD = (
    _derived("micro_drift", "Feature drift of the day against the seven days before it: PSI over the training "
             "window's deciles and the share of rows beyond 3 sigma of its mean, with the flags.",
             (_D, VENUE, SYMBOL, _c("feature", pl.Utf8, "feature")), key=("venue", "symbol", "date", "feature"),
             time_col="date"),
    _derived("micro_paper_fills", "The paper replay's orders of the day: queue ahead on arrival, filled quantity, fill "
             "times and price, status (filled, partial, unfilled, killed).",
             (_D, VENUE, SYMBOL, _c("order_id", pl.Int64, "order"), _c("leg", pl.Utf8, "entry or exit")),
             key=("venue", "symbol", "date", "order_id", "leg"), time_col="date"),
    _derived("micro_paper_pnl", "The paper book's day per strategy and execution beside the backtest's: orders, "
             "positions, net bps and USD, and whether the kill switch fired.",
             (_D, VENUE, SYMBOL, _c("strategy", pl.Utf8, "strategy"), _c("execution", pl.Utf8, "execution")),
             key=("venue", "symbol", "date", "strategy", "execution"), time_col="date"),
    _derived("micro_fill_quality", "Realised fill rate and slippage of the paper fills against the backtest's "
             "assumptions, per strategy, execution and leg.",
             (_D, VENUE, SYMBOL), key=("venue", "symbol", "date", "strategy", "execution", "leg"), time_col="date"),
    _derived("micro_health", "The end of day's flags per stream and strategy: the kill switch (a depth gap over 10 "
             "minutes flattens the paper book), the 7-day Sharpe and the retrain flag (below 0.5), drifting features.",
             (_D, VENUE, SYMBOL, _c("killed", pl.Boolean, "the data-quality kill switch fired")),
             key=("venue", "symbol", "date", "strategy", "execution"), time_col="date"),
)

TABLES: tuple[Table, ...] = (*_RAW, *_BOOK, *_BARS, *_RESEARCH, *_EOD)
assert all(t.zone == RAW for t in _RAW)
