"""The raw lake tables: columns, keys, time grain and time unit, in one place.

Sources produce frames with exactly these columns; the contracts, the lake writer, the
warehouse and the docs all read this registry, so a table is described once.

Timestamps are UTC instants in the table's time unit: microseconds for every table here
(`UTC_TS`), nanoseconds for tick data (`utc_ts("ns")`), where events a few ns apart must stay
apart and in order. A spec whose timestamp columns disagree with its unit is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import polars as pl

TIME_UNITS = ("ms", "us", "ns")


def utc_ts(unit: str = "us") -> pl.Datetime:
    """A UTC instant in `unit` (`us` for every table but tick data's `ns`)."""
    if unit not in TIME_UNITS:
        raise ValueError(f"time unit {unit!r} is not one of {TIME_UNITS}")
    return pl.Datetime(unit, "UTC")


UTC_TS = utc_ts("us")
UTC_TS_NS = utc_ts("ns")


@dataclass(frozen=True)
class Col:
    name: str
    dtype: pl.DataType
    doc: str
    nullable: bool = False


def check_time_columns(table: str, columns: Sequence[Col], unit: str) -> None:
    """Every timestamp column of a table is a UTC instant in the table's unit (raise ValueError)."""
    for c in columns:
        if isinstance(c.dtype, pl.Datetime) and (c.dtype.time_unit != unit or c.dtype.time_zone != "UTC"):
            raise ValueError(f"table {table}: column {c.name} is {c.dtype}; the table's timestamps are {utc_ts(unit)}")


@dataclass(frozen=True)
class TableSpec:
    name: str
    doc: str
    columns: tuple[Col, ...]
    key: tuple[str, ...]
    """Unique key; a second row with the same key is a contract violation."""
    time_col: str
    """`ts` (UTC instant) or `date` (UTC calendar day); decides the date partition."""
    series: tuple[str, ...]
    """Columns naming one time series inside a partition (for ordering and gap checks)."""
    max_gap: timedelta | None = None
    """A jump in `time_col` larger than this inside one series is reported as a gap."""
    outlier_cols: tuple[str, ...] = ()
    """Columns where a value far from its neighbours' median is rejected as absurd."""
    tolerated_reasons: tuple[str, ...] = ()
    """Rule failures a real venue's dump shows now and then (e.g. a crossed quote): such rows
    are still quarantined, but the contract passes while they are at most
    `max_tolerated_share` of the batch; any other failure, or more of them, fails it."""
    max_tolerated_share: float = 0.001
    time_unit: str = "us"
    """Unit of every timestamp column: `us`, or `ns` for tick data (validated rows keep it)."""

    def __post_init__(self) -> None:
        check_time_columns(self.name, self.columns, self.time_unit)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def schema(self) -> dict[str, pl.DataType]:
        return {c.name: c.dtype for c in self.columns}

    @property
    def sort_by(self) -> list[str]:
        """Deterministic row order of a written partition."""
        rest = [k for k in self.key if k not in self.series and k != self.time_col]
        return [*self.series, self.time_col, *rest]

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.schema)


RAW_DVOL = TableSpec(
    name="raw_dvol",
    doc="Deribit DVOL (30-day implied volatility index) daily bars, in vol points (55.3 = 55.3 %).",
    columns=(
        Col("ts", UTC_TS, "bar open time (UTC); the bar closes at ts + 1 day"),
        Col("asset", pl.Utf8, "underlying coin, e.g. BTC"),
        Col("open", pl.Float64, "index level at the bar open"),
        Col("high", pl.Float64, "highest index level in the bar"),
        Col("low", pl.Float64, "lowest index level in the bar"),
        Col("close", pl.Float64, "index level at the bar close"),
    ),
    key=("asset", "ts"),
    time_col="ts",
    series=("asset",),
    max_gap=timedelta(days=1),
    outlier_cols=("open", "high", "low", "close"),
)

RAW_OHLCV = TableSpec(
    name="raw_ohlcv",
    doc="Spot and perpetual-futures price bars (1h, or 1d where only daily files exist).",
    columns=(
        Col("ts", UTC_TS, "bar open time (UTC)"),
        Col("asset", pl.Utf8, "underlying coin"),
        Col("venue", pl.Utf8, "exchange or data source, e.g. binance, deribit, simulated"),
        Col("instrument", pl.Utf8, "instrument name, e.g. BTCUSDT or BTC-PERPETUAL"),
        Col("kind", pl.Utf8, "spot or perpetual"),
        Col("interval", pl.Utf8, "bar length: 1h or 1d"),
        Col("open", pl.Float64, "first trade price (USD)"),
        Col("high", pl.Float64, "highest trade price (USD)"),
        Col("low", pl.Float64, "lowest trade price (USD)"),
        Col("close", pl.Float64, "last trade price (USD)"),
        Col("volume", pl.Float64, "traded volume in coin"),
        Col("volume_quote", pl.Float64, "traded volume in USD", nullable=True),
        Col("trade_count", pl.Int64, "number of trades", nullable=True),
    ),
    key=("asset", "venue", "instrument", "interval", "ts"),
    time_col="ts",
    series=("asset", "venue", "instrument", "interval"),
    max_gap=timedelta(hours=1),
    outlier_cols=("open", "high", "low", "close"),
)

RAW_FUNDING = TableSpec(
    name="raw_funding",
    doc="Perpetual funding events; `rate` is a fraction per funding interval (1e-4 = 0.01 %).",
    columns=(
        Col("ts", UTC_TS, "funding time (UTC)"),
        Col("asset", pl.Utf8, "underlying coin"),
        Col("instrument", pl.Utf8, "perpetual instrument name"),
        Col("interval_hours", pl.Int32, "hours the rate covers: 8 or 1 per event, 24 for a daily figure"),
        Col("rate", pl.Float64, "funding rate for the interval, as a fraction"),
    ),
    key=("asset", "instrument", "ts"),
    time_col="ts",
    series=("asset", "instrument"),
    max_gap=timedelta(hours=8),
)

CROSSED_QUOTE = "bid must be <= ask"
"""The contract's reason for a crossed quote (schemas.py spells the rule with it)."""

RAW_OPTION_CHAIN = TableSpec(
    name="raw_option_chain",
    doc="End-of-day option chain snapshot; prices in coin, IV in percent.",
    columns=(
        Col("ts", UTC_TS, "snapshot time (UTC)"),
        Col("asset", pl.Utf8, "underlying coin"),
        Col("instrument_name", pl.Utf8, "Deribit name, e.g. BTC-27DEC24-60000-C"),
        Col("expiry", UTC_TS, "expiry instant (08:00 UTC on Deribit)"),
        Col("strike", pl.Float64, "strike (USD)"),
        Col("option_type", pl.Utf8, "C or P"),
        Col("bid", pl.Float64, "best bid in coin (null: no bid)", nullable=True),
        Col("ask", pl.Float64, "best ask in coin (null: no ask)", nullable=True),
        Col("mark_price", pl.Float64, "exchange mark price in coin"),
        Col("mark_iv", pl.Float64, "implied volatility of the mark, in percent"),
        Col("underlying_price", pl.Float64, "forward price of the expiry (USD)"),
        Col("open_interest", pl.Float64, "open interest in contracts (1 contract = 1 coin)"),
        Col("volume", pl.Float64, "contracts traded in the last 24h"),
    ),
    key=("asset", "instrument_name", "ts"),
    time_col="ts",
    series=("asset", "instrument_name"),
    # one order book cannot show bid > ask; a dump stitched from two instants can (Deribit
    # dumps show a few in a million rows): quarantined, not a reason to stop the desk
    tolerated_reasons=(CROSSED_QUOTE,),
)

RAW_OPTIONS_SUMMARY = TableSpec(
    name="raw_options_summary",
    doc="Daily options-market summary per coin, aggregated from the chain.",
    columns=(
        Col("date", pl.Date, "UTC day"),
        Col("asset", pl.Utf8, "underlying coin"),
        Col("net_vega", pl.Float64, "open-interest-weighted vega, calls + puts (USD per vol point)"),
        Col("avg_iv", pl.Float64, "open-interest-weighted mean mark IV (percent)"),
        Col("volume", pl.Float64, "contracts traded"),
        Col("open_interest", pl.Float64, "contracts open"),
    ),
    key=("asset", "date"),
    time_col="date",
    series=("asset",),
    max_gap=timedelta(days=1),
)

RAW_ONCHAIN = TableSpec(
    name="raw_onchain",
    doc="Daily on-chain activity per coin.",
    columns=(
        Col("date", pl.Date, "UTC day"),
        Col("asset", pl.Utf8, "coin"),
        Col("tx_count", pl.Int64, "transactions that day"),
        Col("fees", pl.Float64, "total fees paid, in coin"),
        Col("hashrate", pl.Float64, "network hashrate, EH/s (null where not proof-of-work)", nullable=True),
    ),
    key=("asset", "date"),
    time_col="date",
    series=("asset",),
    max_gap=timedelta(days=1),
)

RAW_TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (RAW_DVOL, RAW_OHLCV, RAW_FUNDING, RAW_OPTION_CHAIN, RAW_OPTIONS_SUMMARY, RAW_ONCHAIN)
}


RAW_UNIVERSE_DAILY = TableSpec(
    name="raw_universe_daily",
    doc="Daily bars of every coin of the universe (one row per date and symbol), from CDD, CoinMarketCap "
    "exports or the simulated universe; USD prices.",
    columns=(
        Col("date", pl.Date, "UTC day of the bar"),
        Col("symbol", pl.Utf8, "coin ticker, e.g. SOL"),
        Col("name", pl.Utf8, "coin name where the source gives it", nullable=True),
        Col("open", pl.Float64, "first price of the day (USD)"),
        Col("high", pl.Float64, "highest price of the day (USD)"),
        Col("low", pl.Float64, "lowest price of the day (USD)"),
        Col("close", pl.Float64, "last price of the day (USD)"),
        Col("volume", pl.Float64, "traded volume in coin, where known", nullable=True),
        Col("volume_quote", pl.Float64, "traded volume in USD, where known", nullable=True),
        Col("market_cap", pl.Float64, "market capitalisation at the close (USD), where known", nullable=True),
        Col("source", pl.Utf8, "cdd, cmc or simulated"),
    ),
    key=("symbol", "date"),
    time_col="date",
    series=("symbol",),
    max_gap=timedelta(days=1),
)
"""Not in RAW_TABLES: the DVOL lane's raw multi-asset ingests those; the universe lane owns this one."""

UNIVERSE_RAW_TABLES: dict[str, TableSpec] = {RAW_UNIVERSE_DAILY.name: RAW_UNIVERSE_DAILY}


def spec(name: str) -> TableSpec:
    try:
        return RAW_TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known tables: {', '.join(RAW_TABLES)}") from None
