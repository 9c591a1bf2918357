"""Deribit replies -> raw-table frames, as pure functions (no I/O, no clock).

Two steps per endpoint: `*_rows` checks one reply's shape and raises ValueError naming
what is wrong (the source turns that into a DeribitError that names the request), and
`*_frame` turns the rows of all pages into the table's exact contract schema. Values are
passed through in Deribit's units (option prices in coin, IV and DVOL in percent points,
funding as a fraction); rows with a bad value are left for the contract to quarantine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from dvol_pipeline.contracts.tables import (
    RAW_DVOL,
    RAW_FUNDING,
    RAW_OHLCV,
    RAW_OPTION_CHAIN,
    RAW_OPTIONS_SUMMARY,
    TableSpec,
)
from dvol_pipeline.quant.pricing.options import SECONDS_PER_YEAR, vega

MS_PER_DAY = 86_400_000


def day_window_ms(start: date, end: date) -> tuple[int, int]:
    """Inclusive UTC dates -> the half-open millisecond window [start 00:00, end+1 00:00)."""
    lo = datetime(start.year, start.month, start.day, tzinfo=UTC)
    hi = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
    return int(lo.timestamp() * 1000), int(hi.timestamp() * 1000)


def windows(lo: int, hi: int, step: int) -> list[tuple[int, int]]:
    """Split [lo, hi) into consecutive half-open windows of at most `step` ms."""
    if step <= 0:
        raise ValueError(f"window step must be positive, got {step}")
    return [(a, min(a + step, hi)) for a in range(lo, hi, step)]


def _utc(ms: pl.Expr) -> pl.Expr:
    return ms.cast(pl.Int64).cast(pl.Datetime("ms")).dt.cast_time_unit("us").dt.replace_time_zone("UTC")


def _num(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} is {value!r}, not a number")
    return float(value)


def _schema(*values: str) -> dict[str, pl.DataType]:
    return {"ms": pl.Int64, **{v: pl.Float64 for v in values}}


def _typed(spec: TableSpec, frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select([pl.col(n).cast(t) for n, t in spec.schema.items()])


# --- public/get_volatility_index_data ---------------------------------------------------
def dvol_rows(result: Any) -> tuple[list[tuple], int | None]:
    """One page: its [ts_ms, open, high, low, close] rows and the continuation (or None)."""
    if not isinstance(result, dict) or not isinstance(result.get("data"), list):
        raise ValueError("expected result.data to be a list of [ts, open, high, low, close]")
    rows = []
    for row in result["data"]:
        if not isinstance(row, list) or len(row) != 5 or not isinstance(row[0], int):
            raise ValueError(f"a candle is {row!r}, not [ts_ms, open, high, low, close]")
        rows.append((row[0], *(_num(v, "a DVOL level") for v in row[1:])))
    cont = result.get("continuation")
    if cont is not None and not isinstance(cont, int):
        raise ValueError(f"continuation is {cont!r}, not a timestamp or null")
    return rows, cont


def dvol_frame(coin: str, rows: Iterable[tuple], lo: int, hi: int) -> pl.DataFrame:
    """Rows of all pages in fetch order; an overlapping bar keeps its first-fetched copy."""
    raw = pl.DataFrame(list(rows), schema=_schema("open", "high", "low", "close"), orient="row")
    raw = raw.filter(pl.col("ms").is_between(lo, hi, closed="left"))
    raw = raw.unique("ms", keep="first", maintain_order=True).sort("ms")
    return _typed(RAW_DVOL, raw.with_columns(ts=_utc(pl.col("ms")), asset=pl.lit(coin)))


# --- public/get_tradingview_chart_data --------------------------------------------------
CHART_ARRAYS = ("ticks", "open", "high", "low", "close", "volume", "cost")


def chart_rows(result: Any) -> list[tuple]:
    """One chart reply as (tick_ms, open, high, low, close, volume, cost) rows."""
    if not isinstance(result, dict) or result.get("status") not in ("ok", "no_data"):
        raise ValueError("expected an object with status 'ok' or 'no_data'")
    if result["status"] == "no_data":
        return []
    arrays = [result.get(k) for k in CHART_ARRAYS]
    if not all(isinstance(a, list) for a in arrays) or len({len(a) for a in arrays}) != 1:
        raise ValueError(f"expected parallel arrays {', '.join(CHART_ARRAYS)} of equal length")
    if not all(isinstance(t, int) for t in arrays[0]):
        raise ValueError("ticks must be millisecond timestamps")
    return [(t, *(_num(v, "a chart value") for v in rest)) for t, *rest in zip(*arrays, strict=True)]


def ohlcv_frame(
    coin: str, instrument: str, kind: str, interval: str, rows: Iterable[tuple], lo: int, hi: int
) -> pl.DataFrame:
    raw = pl.DataFrame(list(rows), schema=_schema(*CHART_ARRAYS[1:]), orient="row")
    raw = raw.filter(pl.col("ms").is_between(lo, hi, closed="left"))
    raw = raw.unique("ms", keep="first", maintain_order=True).sort("ms")
    return _typed(RAW_OHLCV, raw.with_columns(
        ts=_utc(pl.col("ms")), asset=pl.lit(coin), venue=pl.lit("deribit"),
        instrument=pl.lit(instrument), kind=pl.lit(kind), interval=pl.lit(interval),
        volume_quote=pl.col("cost"), trade_count=pl.lit(None, pl.Int64),
    ))


# --- public/get_funding_rate_history ----------------------------------------------------
def funding_rows(result: Any) -> list[tuple[int, float | None]]:
    """(timestamp_ms, interest_1h) per hourly record; interest_1h is already a fraction."""
    if not isinstance(result, list):
        raise ValueError("expected a list of funding records")
    out = []
    for rec in result:
        if not isinstance(rec, dict) or not isinstance(rec.get("timestamp"), int) or "interest_1h" not in rec:
            raise ValueError(f"a funding record is {rec!r}; expected timestamp and interest_1h")
        out.append((rec["timestamp"], _num(rec["interest_1h"], "interest_1h")))
    return out


def funding_frame(coin: str, instrument: str, rows: Iterable[tuple], lo: int, hi: int) -> pl.DataFrame:
    """Deribit funding accrues continuously; its history is hourly, so one event per hour."""
    raw = pl.DataFrame(list(rows), schema=_schema("rate"), orient="row")
    raw = raw.filter(pl.col("ms").is_between(lo, hi, closed="left"))
    raw = raw.unique("ms", keep="first", maintain_order=True).sort("ms")
    return _typed(RAW_FUNDING, raw.with_columns(
        ts=_utc(pl.col("ms")), asset=pl.lit(coin), instrument=pl.lit(instrument),
        interval_hours=pl.lit(1, pl.Int32),
    ))


# --- option chain snapshot: book summaries joined with instruments ----------------------
BOOK_FIELDS = ("bid_price", "ask_price", "mark_price", "mark_iv", "underlying_price", "open_interest", "volume")


def _records(result: Any, what: str) -> list[dict]:
    if not isinstance(result, list) or not all(isinstance(r, dict) and "instrument_name" in r for r in result):
        raise ValueError(f"expected a list of {what} objects with instrument_name")
    return result


def book_rows(result: Any) -> list[dict]:
    return [{"instrument_name": r["instrument_name"], **{f: _num(r.get(f), f) for f in BOOK_FIELDS}}
            for r in _records(result, "book summary")]


def instrument_rows(result: Any) -> list[dict]:
    out = []
    for r in _records(result, "instrument"):
        if r.get("option_type") not in ("call", "put") or not isinstance(r.get("expiration_timestamp"), int):
            raise ValueError(f"instrument {r['instrument_name']!r} lacks option_type call/put or an expiry")
        out.append({"instrument_name": r["instrument_name"], "expiry_ms": r["expiration_timestamp"],
                    "strike": _num(r.get("strike"), "strike"), "option_type": r["option_type"][0].upper()})
    return out


def option_chain_frame(coin: str, ts: datetime, books: Sequence[dict], instruments: Sequence[dict]) -> pl.DataFrame:
    """One row per option of `coin` in the book; a quote of 0 or null means no quote.

    A book row whose instrument is missing from get_instruments keeps null expiry/strike,
    so the contract quarantines it with a reason instead of it vanishing.
    """
    book = pl.DataFrame(list(books), schema={"instrument_name": pl.Utf8, **{f: pl.Float64 for f in BOOK_FIELDS}})
    meta = pl.DataFrame(list(instruments), schema={"instrument_name": pl.Utf8, "expiry_ms": pl.Int64,
                                                   "strike": pl.Float64, "option_type": pl.Utf8})
    chain = book.filter(pl.col("instrument_name").str.starts_with(f"{coin}-")).join(
        meta.unique("instrument_name", keep="first"), on="instrument_name", how="left"
    )
    no_quote = {c: pl.when(pl.col(c) > 0).then(pl.col(c)) for c in ("bid_price", "ask_price")}
    chain = chain.with_columns(**no_quote).rename({"bid_price": "bid", "ask_price": "ask"})
    return _typed(RAW_OPTION_CHAIN, chain.with_columns(
        ts=pl.lit(ts).cast(pl.Datetime("us", "UTC")), asset=pl.lit(coin), expiry=_utc(pl.col("expiry_ms")),
    )).sort("instrument_name")


def options_summary_frame(chain: pl.DataFrame, snapshot_day: date) -> pl.DataFrame:
    """Aggregate one snapshot per coin: OI-weighted vega (USD per vol point) and IV.

    Vega is Black-76 on the expiry's forward (Deribit's underlying_price) with r = 0, as
    the venue marks; per coin-sized contract it is USD per vol point.
    """
    if chain.is_empty():
        return RAW_OPTIONS_SUMMARY.empty()
    years = (pl.col("expiry") - pl.col("ts")).dt.total_seconds() / SECONDS_PER_YEAR
    parts = chain.with_columns(years=years)
    v = vega(parts["underlying_price"].to_numpy(), parts["strike"].to_numpy(), parts["years"].to_numpy(),
             parts["mark_iv"].to_numpy() / 100.0)
    parts = parts.with_columns(vega_pt=pl.Series(np.nan_to_num(v)))
    oi, iv = pl.col("open_interest").fill_null(0.0), pl.col("mark_iv")
    weighted = (oi * iv).sum() / oi.filter(iv.is_not_null()).sum()
    out = parts.group_by("asset").agg(
        net_vega=(oi * pl.col("vega_pt")).sum(),
        avg_iv=pl.when(oi.filter(iv.is_not_null()).sum() > 0).then(weighted).otherwise(iv.mean()),
        volume=pl.col("volume").fill_null(0.0).sum(),
        open_interest=oi.sum(),
    )
    return _typed(RAW_OPTIONS_SUMMARY, out.with_columns(date=pl.lit(snapshot_day))).sort("asset")
