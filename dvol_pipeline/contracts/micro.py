"""The micro lane's raw tick tables and their contract, vectorised for millions of rows.

Every source of the lane (the simulated order book, Binance websocket recordings, Tardis CSV,
Binance's public archive, Crypto Lake parquet) produces frames with exactly these columns,
in arrival order, plus two provenance columns (`__file`, `__line`) the contract keeps so
a rejected row names where it came from.

Conventions every source meets:
- `ts_local`: the collector's receive time (the simulated market: the exchange time plus a
  latency); the lake's day partitions and the bars are on this clock, as a live desk sees them.
- `ts_exchange`: the venue's event time, null where the venue gives none (spot `bookTicker`).
- `venue`: `<exchange>_<market>`, e.g. `binance_spot`, `binance_usdm`, `binance_cm`,
  `sim_spot`, `sim_usdm`; `symbol`: the venue's own name (`BTCUSDT`, `BTCUSD_PERP`).
- sizes are in base units (coins): COIN-M contracts are converted by the importer
  (100 USD for BTC, 10 USD for the others, at the row's price); `notional` is in quote units.
- aggressor `side` is `buy` or `sell`; a book level's `side` is `bid` or `ask`.

The contract (`validate_ticks`), per (venue, symbol) stream in arrival order: positive prices
and sizes (a book delta's size may be 0: it deletes the level), a known side, `ts_local`
non-decreasing, update ids non-decreasing among the diffs (a snapshot arrives after the first
diffs with a lower id: that is Binance's protocol, not a fault). Exact duplicate rows are
removed and counted; rows breaking a rule are quarantined with their file, line and reason.
Pandera is not used here: its failure-case machinery is per check and per column, and a
day of depth diffs is tens of millions of rows; these rules are a handful of polars
expressions evaluated once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from dvol_pipeline.contracts.tables import UTC_TS_NS, Col, TableSpec

FILE, LINE = "__file", "__line"
"""Provenance columns a source may add: the landing file and the 1-based line (or row) of a row."""
PROVENANCE = (FILE, LINE)
STREAM = ("venue", "symbol")
AGGRESSOR_SIDES = ("buy", "sell")
BOOK_SIDES = ("bid", "ask")

_TS_LOCAL = Col("ts_local", UTC_TS_NS, "collector receive time (UTC, ns); the day partition and the bars use it")
_TS_EXCHANGE = Col("ts_exchange", UTC_TS_NS, "the venue's event time (UTC, ns); null where the venue gives none",
                   nullable=True)
_VENUE = Col("venue", pl.Utf8, "exchange and market, e.g. binance_usdm, sim_spot")
_SYMBOL = Col("symbol", pl.Utf8, "the venue's symbol, e.g. BTCUSDT, BTCUSD_PERP")
_COMMON = (_TS_LOCAL, _TS_EXCHANGE, _VENUE, _SYMBOL)


def _tick_spec(name: str, doc: str, columns: tuple[Col, ...]) -> TableSpec:
    return TableSpec(name=name, doc=doc, columns=(*_COMMON, *columns), key=(), time_col="ts_local",
                     series=STREAM, time_unit="ns")


RAW_TRADES = _tick_spec(
    "raw_trades", "Trades with the aggressor side, one row per trade (or aggregated trade), in arrival order.",
    (Col("price", pl.Float64, "trade price (quote units)"),
     Col("size", pl.Float64, "size in base units (coins; COIN-M contracts converted)"),
     Col("notional", pl.Float64, "price x size (quote units)"),
     Col("side", pl.Utf8, "aggressor side: buy (taker bought) or sell"),
     Col("trade_id", pl.Int64, "the venue's trade id (aggregate id for aggTrade)", nullable=True)),
)

RAW_BOOK_DELTAS = _tick_spec(
    "raw_book_deltas",
    "L2 order-book updates and snapshots, one row per price level, in arrival order: `size` is the level's "
    "size after the update (0 deletes it); rows of one message share `ts_local` and the update ids.",
    (Col("side", pl.Utf8, "bid or ask"),
     Col("price", pl.Float64, "level price (quote units)"),
     Col("size", pl.Float64, "level size after the update, base units; 0 deletes the level"),
     Col("first_update_id", pl.Int64, "first update id of the message (Binance U); null for snapshots", nullable=True),
     Col("update_id", pl.Int64, "last update id of the message (Binance u; a snapshot's lastUpdateId)",
         nullable=True),
     Col("prev_update_id", pl.Int64, "previous message's last id (Binance futures pu)", nullable=True),
     Col("is_snapshot", pl.Boolean, "a row of a full book snapshot (resets the book)")),
)

RAW_TOP_OF_BOOK = _tick_spec(
    "raw_top_of_book", "The venue's own best bid and offer stream (Binance bookTicker), where it has one.",
    (Col("bid_price", pl.Float64, "best bid"), Col("bid_size", pl.Float64, "best bid size, base units"),
     Col("ask_price", pl.Float64, "best ask"), Col("ask_size", pl.Float64, "best ask size, base units"),
     Col("update_id", pl.Int64, "the venue's book update id", nullable=True)),
)

RAW_LIQUIDATIONS = _tick_spec(
    "raw_liquidations", "Forced liquidation orders (Binance forceOrder).",
    (Col("side", pl.Utf8, "the liquidation order's side: sell closes a long, buy closes a short"),
     Col("price", pl.Float64, "order price (average fill where given)"),
     Col("size", pl.Float64, "size in base units"),
     Col("notional", pl.Float64, "price x size (quote units)")),
)

RAW_DERIVATIVE_TICKER = _tick_spec(
    "raw_derivative_ticker", "Perpetual mark and index prices, funding and open interest, as the venue publishes "
    "them; a settled funding event has `funding_rate` and `funding_time` equal to its own time.",
    (Col("mark_price", pl.Float64, "mark price", nullable=True),
     Col("index_price", pl.Float64, "index price", nullable=True),
     Col("funding_rate", pl.Float64, "funding rate of the current interval, a fraction (1e-4 = 0.01 %)",
         nullable=True),
     Col("funding_time", UTC_TS_NS, "the next (or settled) funding instant", nullable=True),
     Col("funding_interval_hours", pl.Int32, "hours between fundings (8, 4, 2 ...)", nullable=True),
     Col("open_interest", pl.Float64, "open interest in base units", nullable=True)),
)

MICRO_RAW_TABLES: dict[str, TableSpec] = {
    t.name: t for t in (RAW_TRADES, RAW_BOOK_DELTAS, RAW_TOP_OF_BOOK, RAW_LIQUIDATIONS, RAW_DERIVATIVE_TICKER)
}

_POSITIVE = {"raw_trades": ("price", "size"), "raw_book_deltas": ("price",),
             "raw_top_of_book": ("bid_price", "ask_price"), "raw_liquidations": ("price", "size"),
             "raw_derivative_ticker": ()}
_NON_NEGATIVE = {"raw_book_deltas": ("size",), "raw_top_of_book": ("bid_size", "ask_size"),
                 "raw_derivative_ticker": ("mark_price", "index_price", "open_interest")}
_SIDES = {"raw_trades": AGGRESSOR_SIDES, "raw_liquidations": AGGRESSOR_SIDES, "raw_book_deltas": BOOK_SIDES}


@dataclass
class TickReport:
    """One raw tick table's batch after its contract."""

    table: str
    valid: pl.DataFrame
    """The contract's columns only, in arrival order per stream."""
    rejected: pl.DataFrame
    """The rejected rows with their provenance and a `reason`."""
    duplicates: int = 0
    """Exact duplicate rows removed (not quarantined: a collector that reconnects replays a few)."""
    batch_errors: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.rejected.is_empty() and not self.batch_errors

    def reason_counts(self) -> dict[str, int]:
        if self.rejected.is_empty():
            return {}
        counts = self.rejected.group_by("reason").len().sort(["len", "reason"], descending=[True, False])
        return dict(zip(counts["reason"].to_list(), counts["len"].to_list(), strict=True))


def _structure_errors(spec: TableSpec, frame: pl.DataFrame) -> list[str]:
    errors = []
    missing = [c for c in spec.names if c not in frame.columns]
    extra = [c for c in frame.columns if c not in spec.names and c not in PROVENANCE]
    if missing:
        errors.append(f"{spec.name}: missing column(s) {missing}")
    if extra:
        errors.append(f"{spec.name}: unexpected column(s) {extra}")
    for c in spec.columns:
        if c.name in frame.columns and frame.schema[c.name] != c.dtype and frame.schema[c.name] != pl.Null:
            errors.append(f"{spec.name}.{c.name}: {frame.schema[c.name]}, expected {c.dtype}")
    return errors


def _rules(spec: TableSpec) -> list[tuple[pl.Expr, str]]:
    """(expression true on a bad row, reason) for the row rules of `spec`."""
    rules: list[tuple[pl.Expr, str]] = [
        (pl.any_horizontal(*(pl.col(c.name).is_null() for c in spec.columns if not c.nullable)),
         "a required column is null"),
    ]
    for c in _POSITIVE.get(spec.name, ()):
        rules.append((~(pl.col(c) > 0).fill_null(True), f"{c} must be > 0"))
    for c in _NON_NEGATIVE.get(spec.name, ()):
        rules.append((~(pl.col(c) >= 0).fill_null(True), f"{c} must be >= 0"))
    if spec.name in _SIDES:
        allowed = _SIDES[spec.name]
        rules.append((~pl.col("side").is_in(allowed).fill_null(False), f"side must be one of {list(allowed)}"))
    if spec.name == "raw_top_of_book":
        rules.append(((pl.col("bid_price") > pl.col("ask_price")).fill_null(False), "bid must be <= ask"))
    back = pl.col("ts_local") < pl.col("ts_local").cum_max().shift(1).over(STREAM)
    rules.append((back.fill_null(False), "ts_local went backwards in its stream"))
    if spec.name == "raw_book_deltas":
        diff_id = pl.when(~pl.col("is_snapshot")).then(pl.col("update_id"))
        # cum_max leaves a snapshot row's null in place: carry the diffs' running maximum over it
        id_back = diff_id < diff_id.cum_max().forward_fill().shift(1).over(STREAM)
        rules.append((id_back.fill_null(False), "update_id went backwards among the diffs of its stream"))
    return rules


def _drop_exact_duplicates(frame: pl.DataFrame, names: list[str]) -> tuple[pl.DataFrame, int]:
    """`frame` without the rows equal (in `names`) to an earlier row, and how many went. A row hash
    finds the candidates in one pass (a tenth of the cost of `unique` over every column on tens of
    millions of rows); only rows whose hash repeats are compared exactly, so a hash collision never
    drops a row."""
    repeated = frame.select(names).hash_rows(seed=0).is_duplicated()
    if not repeated.any():
        return frame, 0
    numbered = frame.with_row_index("__dup_row")
    candidates = numbered.filter(repeated)
    kept = candidates.unique(subset=names, keep="first", maintain_order=True)["__dup_row"]
    gone = candidates.filter(~pl.col("__dup_row").is_in(kept.implode()))["__dup_row"]
    return numbered.filter(~pl.col("__dup_row").is_in(gone.implode())).drop("__dup_row"), gone.len()


def validate_ticks(spec: TableSpec, frame: pl.DataFrame) -> TickReport:
    """Split `frame` (a source's rows, arrival order) into the valid rows and the rejected ones."""
    errors = _structure_errors(spec, frame)
    if errors:
        rejected = frame.select(pl.all().cast(pl.Utf8, strict=False)).with_columns(pl.lit("; ".join(errors)).alias("reason"))
        return TickReport(spec.name, spec.empty(), rejected, batch_errors=errors)
    frame = frame.with_columns(pl.col(c.name).cast(c.dtype) for c in spec.columns if frame.schema[c.name] == pl.Null)
    frame, duplicates = _drop_exact_duplicates(frame, spec.names)
    reasons = [pl.when(bad).then(pl.lit(why)) for bad, why in _rules(spec)]
    flagged = frame.with_columns(pl.concat_str(reasons, separator="; ", ignore_nulls=True).alias("reason"))
    bad = pl.col("reason").is_not_null() & (pl.col("reason") != "")
    valid = flagged.filter(~bad).select(spec.names)
    rejected = flagged.filter(bad)
    return TickReport(spec.name, valid, rejected, duplicates)


def empty_tick_frame(name: str) -> pl.DataFrame:
    """An empty frame of raw tick table `name` (a source with nothing for it)."""
    return MICRO_RAW_TABLES[name].empty()
