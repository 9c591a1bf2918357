"""What the vendor-file readers (Tardis CSV, Crypto Lake parquet) share: parse-or-reject, clocks, units, order.

A vendor file is read whole into text (CSV) or its own types (parquet) by polars, then
every field is cast with `strict=False`: a value that does not parse becomes null, and a
null where the text was not empty is a malformed value. Such rows go to the batch's
`__rejected` frame with their file, line, the reason and the raw values as text; the rest
go on. Nothing here loops over rows in Python: a day of L2 deltas is tens of millions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta

import polars as pl

from dvol_pipeline.contracts.micro import FILE, LINE, MICRO_RAW_TABLES, PROVENANCE
from dvol_pipeline.contracts.tables import UTC_TS_NS

REJECTED = "__rejected"
"""The `TickBatch.tables` key of the rows a reader could not parse (the lead quarantines them)."""
REJECTED_SCHEMA = {FILE: pl.Utf8, LINE: pl.Int64, "table": pl.Utf8, "reason": pl.Utf8, "raw": pl.Utf8}

MAX_US = 4_102_444_800_000_000
"""2100-01-01 in µs: a later (or negative) time is a corrupt value, and would overflow as ns."""

COINM_CONTRACT_USD_BTC, COINM_CONTRACT_USD_OTHER = 100.0, 10.0
"""Binance COIN-M contract sizes (USD per contract): 100 for BTC, 10 for the others."""


def empty_rejected() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECTED_SCHEMA)


def bad_cast(raw: str, parsed: pl.Expr) -> pl.Expr:
    """True where `raw` held text but `parsed` (its cast) is null: a malformed value."""
    return pl.col(raw).is_not_null() & parsed.is_null()


def split_rows(frame: pl.DataFrame, rules: Sequence[tuple[pl.Expr, str]], raw_columns: Sequence[str],
               table: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows breaking no rule, rejected rows as `REJECTED_SCHEMA`): every rule is an expression true on a bad row."""
    if not rules or frame.is_empty():
        return frame, empty_rejected()
    reasons = [pl.when(bad.fill_null(True)).then(pl.lit(why)) for bad, why in rules]
    flagged = frame.with_columns(pl.concat_str(reasons, separator="; ", ignore_nulls=True).alias("__reason"))
    bad = pl.col("__reason").is_not_null() & (pl.col("__reason") != "")
    raw = pl.concat_str([pl.col(c).cast(pl.Utf8).fill_null("") for c in raw_columns], separator=",")
    rejected = flagged.filter(bad).select(pl.col(FILE), pl.col(LINE).cast(pl.Int64), pl.lit(table).alias("table"),
                                          pl.col("__reason").alias("reason"), raw.alias("raw"))
    return flagged.filter(~bad).drop("__reason"), rejected


def us_to_utc_ns(expr: pl.Expr) -> pl.Expr:
    """Integer µs since the epoch -> `Datetime("ns", "UTC")` (Tardis's clocks)."""
    return (expr * 1000).cast(pl.Datetime("ns")).dt.replace_time_zone("UTC")


def any_to_utc_ns(series: pl.Series) -> pl.Series:
    """A time column of any parquet type -> `Datetime("ns", "UTC")`.

    Datetimes keep their instant (a naive one is read as UTC); integers and floats since the
    epoch take their unit from their magnitude (below 1e11 s, 1e14 ms, 1e17 µs, else ns),
    as Crypto Lake's files hold ns integers, lakeapi's frames datetimes, and cryptofeed,
    which wrote them, float seconds. Zero and negative values become null.
    """
    dtype = series.dtype
    if isinstance(dtype, pl.Datetime):
        out = series if dtype.time_zone else series.dt.replace_time_zone("UTC")
        out = out.dt.convert_time_zone("UTC").dt.cast_time_unit("ns")
        return out.set(out.dt.epoch("ns") <= 0, None) if out.len() else out
    if dtype.is_numeric():
        # integers stay integers: ns since the epoch (~1.7e18) do not fit a float's 53 bits exactly
        exact = dtype.is_integer()
        values = series.cast(pl.Int64 if exact else pl.Float64, strict=False)
        top = values.abs().max()
        scale = 1
        if top is not None:
            scale = 10**9 if top < 1e11 else 10**6 if top < 1e14 else 10**3 if top < 1e17 else 1
        values = values.set((values <= 0) | (values > MAX_US * 1000 // scale), None)
        ns = values * scale if exact else (values * scale).round(0).cast(pl.Int64, strict=False)
        return ns.rename(series.name).cast(pl.Datetime("ns")).dt.replace_time_zone("UTC")
    return pl.Series(series.name, [None] * series.len(), dtype=UTC_TS_NS)


def contract_usd(symbol: pl.Expr) -> pl.Expr:
    """USD per Binance COIN-M contract from the venue symbol (BTCUSD_PERP -> 100, ETHUSD_PERP -> 10)."""
    return pl.when(symbol.str.starts_with("BTC")).then(pl.lit(COINM_CONTRACT_USD_BTC)) \
        .otherwise(pl.lit(COINM_CONTRACT_USD_OTHER))


def contracts_to_coins(amount: pl.Expr, price: pl.Expr, symbol: pl.Expr) -> pl.Expr:
    """COIN-M contracts -> coins at the row's price: contracts x USD per contract / price."""
    return amount * contract_usd(symbol) / price


def day_filter(start: date | None, end: date | None) -> pl.Expr | None:
    """Rows whose local clock's UTC day lies in [start, end] (None: no bound)."""
    day = pl.col("ts_local").dt.date()
    expr = None
    if start is not None:
        expr = day >= start
    if end is not None:
        expr = (day <= end) if expr is None else expr & (day <= end)
    return expr


def file_day_wanted(day: date | None, start: date | None, end: date | None) -> bool:
    """A file named for `day` may hold rows of [start, end] (one day of slack: files cut on the other clock)."""
    if day is None:
        return True
    return (start is None or day >= start - timedelta(days=1)) and (end is None or day <= end + timedelta(days=1))


def finish_table(name: str, frames: Iterable[pl.DataFrame], start: date | None, end: date | None) -> pl.DataFrame:
    """One raw table: the frames' rows in arrival order (local clock, then file order, then line), typed.

    Every frame carries `__order` (its file's rank in the read) beside the provenance columns.
    """
    spec = MICRO_RAW_TABLES[name]
    frames = [f for f in frames if f is not None and not f.is_empty()]
    columns = [*spec.names, *PROVENANCE]
    if not frames:
        return pl.DataFrame(schema={**dict(spec.empty().schema), FILE: pl.Utf8, LINE: pl.Int64})
    typed = [f.select(*(pl.col(c.name).cast(c.dtype) for c in spec.columns), pl.col(FILE).cast(pl.Utf8),
                      pl.col(LINE).cast(pl.Int64), pl.col("__order").cast(pl.Int64)) for f in frames]
    out = pl.concat(typed, how="vertical")
    keep = day_filter(start, end)
    if keep is not None:
        out = out.filter(keep)
    return out.sort(["ts_local", "__order", LINE], maintain_order=True).select(columns)


def concat_rejected(frames: Iterable[pl.DataFrame]) -> pl.DataFrame:
    frames = [f for f in frames if not f.is_empty()]
    return pl.concat(frames, how="vertical") if frames else empty_rejected()
