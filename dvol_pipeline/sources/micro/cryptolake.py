"""Crypto Lake parquet files -> the micro lane's raw tick tables.

What Crypto Lake documents (https://crypto-lake.com/data/): its data sit in
`<table>/exchange=<EXCHANGE>/symbol=<SYMBOL>/dt=<YYYY-MM-DD>/<name>.parquet`, partitioned by
exchange, symbol and day; perpetual symbols end in `-PERP` (`BTC-USDT-PERP`); `book_delta_v2`
is the high-frequency L2 update stream, `trades` is aggregated by taker order and price,
`funding` holds the funding and predicted rate plus the mark price, `liquidations` side,
price and quantity. Its page gives no column list. The columns here are what the `lakeapi`
package's code (github.com/crypto-lake/lake-api, `lakeapi/main.py`, `lakeapi/orderbook.py`)
and Crypto Lake's own converter (github.com/crypto-lake/analysis-sharing, `lake_to_hftbacktest.py`)
show, which is what cryptofeed, the collector the files come from (its S3 prefix is
`market-data/cryptofeed/`), writes:

- the files hold `timestamp` (exchange time) and `receipt_timestamp` (receive time), ns
  integers, and `amount` / `id`; `lakeapi.load_data` renames them to `origin_time`,
  `received_time`, `quantity`, `trade_id` and makes the times datetimes. Both spellings are
  read, and any time type (datetime, or a number whose magnitude says s, ms, µs or ns).
- `book_delta_v2`: `received_time, origin_time, sequence_number, side_is_bid, price, size`;
  `size` is the level's new size, 0 deletes it (`orderbook.py` sets or deletes the level);
  rows sharing `received_time` are one update (`orderbook.py` applies them together). Rows
  whose `origin_time` is 0 are the snapshot (`lake_to_hftbacktest.py` starts a snapshot on
  them): they get `is_snapshot` true and a null `ts_exchange`.
- `trades`: `side` (buy/sell, the taker), `quantity`, `price`, `trade_id`.
- `funding` (cryptofeed's funding type; not in either package's code): `rate` or `funding_rate`, `mark_price`,
  `next_funding_time` or `funding_time`; `predicted_rate` has no contract column and is dropped.
- `liquidations` (cryptofeed's liquidation type): `side`, `quantity`, `price` (`status`, `id` dropped).

`sequence_number` does not go to `update_id`: it is one number per row with no first/previous
id, so Binance's sync rule (U ≤ L ≤ u, `pu` continuity) cannot be checked on it and its
continuity is undocumented; update ids stay null and the rebuild uses the snapshot flag.

Venues and symbols: `BINANCE` -> `binance_spot`, `BINANCE_FUTURES` -> `binance_usdm` (a `-USD-`
quote -> `binance_cm`), `BINANCE_DELIVERY` / `BINANCE_COIN_FUTURES` -> `binance_cm`, other
exchanges lowercased. Binance symbols become the venue's own (`BTC-USDT` and `BTC-USDT-PERP`
-> `BTCUSDT`, `BTC-USD-PERP` -> `BTCUSD_PERP`, a dated future `BTC-USDT-240329` ->
`BTCUSDT_240329`); other exchanges keep Crypto Lake's symbol. COIN-M quantities are contracts
as Binance sends them (cryptofeed passes them through) and are converted to coins at the row's
price (100 USD a contract for BTC, 10 for the others). Clock skew is not computed here.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from dvol_pipeline.contracts.micro import FILE, LINE
from dvol_pipeline.sources.micro.batch import TickBatch
from dvol_pipeline.sources.micro.vendor_files import (
    REJECTED,
    any_to_utc_ns,
    bad_cast,
    concat_rejected,
    contracts_to_coins,
    file_day_wanted,
    finish_table,
    split_rows,
)

SOURCE = "cryptolake"
READ_TABLES = {"book_delta_v2": "raw_book_deltas", "trades": "raw_trades", "funding": "raw_derivative_ticker",
               "liquidations": "raw_liquidations"}
OTHER_TABLES = ("book", "level_1", "candles", "book_1m", "deep_book_1m", "open_interest", "book_delta")
_ALIASES = {"received_time": ("received_time", "receipt_timestamp"), "origin_time": ("origin_time", "timestamp"),
            "quantity": ("quantity", "amount"), "trade_id": ("trade_id", "id"), "rate": ("funding_rate", "rate"),
            "next_funding_time": ("next_funding_time", "funding_time")}
_NEEDED = {"book_delta_v2": ("received_time", "side_is_bid", "price", "size"),
           "trades": ("received_time", "side", "quantity", "price"),
           "funding": ("received_time", "rate"),
           "liquidations": ("received_time", "side", "quantity", "price")}
_CM_EXCHANGES = ("BINANCE_DELIVERY", "BINANCE_COIN_FUTURES", "BINANCE_COINM")


def read_cryptolake(landing: Path, start: date | None = None, end: date | None = None) -> TickBatch:
    """Every Crypto Lake parquet file under `landing` as raw tick frames, rows of [start, end] on the local clock."""
    landing = Path(landing)
    batch = TickBatch(SOURCE)
    parts: dict[str, list[pl.DataFrame]] = {}
    rejected: list[pl.DataFrame] = []
    per_table: dict[str, int] = {}
    skipped = 0
    paths = sorted(p for p in landing.rglob("*") if p.is_file() and not p.name.startswith("."))
    for order, path in enumerate(paths):
        rel = path.relative_to(landing)
        if path.suffix != ".parquet":
            batch.refused.append((path, "not a parquet file (Crypto Lake files are .parquet)"))
            continue
        hive = _partitions(rel)
        if not file_day_wanted(hive.get("dt"), start, end):
            skipped += 1
            continue
        try:
            raw = pl.read_parquet(path, hive_partitioning=False)
        except Exception as exc:  # noqa: BLE001 - a file polars cannot read is refused, never a crash
            batch.refused.append((path, f"unreadable parquet: {type(exc).__name__}: {str(exc)[:200]}"))
            continue
        table, why = _table_of(rel, raw.columns)
        if table is None:
            batch.refused.append((path, why))
            continue
        raw = _canonical(raw)
        missing = [c for c in _NEEDED[table] if c not in raw.columns]
        if "exchange" not in raw.columns and "exchange" not in hive:
            missing.append("exchange (a column, or a folder naming it)")
        if "symbol" not in raw.columns and "symbol" not in hive:
            missing.append("symbol (a column, or a folder naming it)")
        if missing:
            batch.refused.append((path, f"Crypto Lake {table} file without {missing}"))
            continue
        batch.files.append(path)
        per_table[table] = per_table.get(table, 0) + 1
        raw_cols = list(raw.columns)
        raw = raw.with_row_index(LINE, offset=1).with_columns(
            pl.lit(rel.as_posix()).alias(FILE), pl.lit(order).alias("__order"),
            *(pl.lit(hive[k]).alias(k) for k in ("exchange", "symbol") if k not in raw.columns))
        good, bad = _READERS[table](_with_times(raw), raw_cols)
        parts.setdefault(READ_TABLES[table], []).append(good)
        rejected.append(bad)
    for name, frames in parts.items():
        batch.tables[name] = finish_table(name, frames, start, end)
    batch.tables[REJECTED] = concat_rejected(rejected)
    batch.notes.extend(_notes(batch, per_table, skipped))
    return batch


def _partitions(rel: Path) -> dict:
    """The `key=value` folders of a Crypto Lake path (exchange, symbol, dt as a date)."""
    out: dict = {}
    for part in rel.parts[:-1]:
        key, sep, value = part.partition("=")
        if sep:
            out[key] = value
    if "dt" in out:
        try:
            out["dt"] = date.fromisoformat(out["dt"])
        except ValueError:
            out.pop("dt")
    return out


def _table_of(rel: Path, columns: list[str]) -> tuple[str | None, str]:
    """The Crypto Lake table of a file: a folder named for it, else its columns."""
    for part in rel.parts[:-1]:
        if part in READ_TABLES:
            return part, ""
        if part in OTHER_TABLES:
            return None, f"Crypto Lake table {part} is not read by this source"
    have = set(columns)
    if "side_is_bid" in have:
        return "book_delta_v2", ""
    if have & {"rate", "funding_rate"}:
        return "funding", ""
    if "side" in have and "price" in have and have & {"quantity", "amount"}:
        return ("liquidations" if "status" in have else "trades"), ""
    return None, "not a Crypto Lake book_delta_v2/trades/funding/liquidations file (no table folder, columns unknown)"


def _canonical(raw: pl.DataFrame) -> pl.DataFrame:
    """lakeapi's column names for the file's own (cryptofeed's) ones."""
    renames = {}
    for name, options in _ALIASES.items():
        found = [c for c in options if c in raw.columns]
        if found and found[0] != name and name not in raw.columns:
            renames[found[0]] = name
    return raw.rename(renames)


def _with_times(raw: pl.DataFrame) -> pl.DataFrame:
    """`ts_local`, `ts_exchange` and `__snapshot` (origin_time exactly 0) beside the raw columns."""
    local = any_to_utc_ns(raw["received_time"]).alias("ts_local")
    if "origin_time" in raw.columns:
        origin = raw["origin_time"]
        exchange = any_to_utc_ns(origin).alias("ts_exchange")
        zero = origin.dt.epoch("ns") == 0 if isinstance(origin.dtype, pl.Datetime) else \
            origin.cast(pl.Float64, strict=False) == 0
    else:
        exchange = pl.Series("ts_exchange", [None] * raw.height, dtype=pl.Datetime("ns", "UTC"))
        zero = pl.Series([False] * raw.height)
    return raw.with_columns(local, exchange, zero.fill_null(False).alias("__snapshot"))


def _venue() -> pl.Expr:
    exchange = pl.col("exchange").cast(pl.Utf8).str.to_uppercase()
    quote = pl.col("symbol").cast(pl.Utf8).str.split("-").list.get(1, null_on_oob=True)
    return (pl.when(exchange == "BINANCE").then(pl.lit("binance_spot"))
            .when(exchange.is_in(_CM_EXCHANGES) | ((exchange == "BINANCE_FUTURES") & (quote == "USD")))
            .then(pl.lit("binance_cm"))
            .when(exchange == "BINANCE_FUTURES").then(pl.lit("binance_usdm"))
            .otherwise(exchange.str.to_lowercase()))


def _symbol() -> pl.Expr:
    """Binance venues' own symbol names from Crypto Lake's BASE-QUOTE[-PERP|-date]; other venues' kept."""
    symbol = pl.col("symbol").cast(pl.Utf8)
    parts = symbol.str.split("-")
    pair = parts.list.get(0, null_on_oob=True) + parts.list.get(1, null_on_oob=True)
    rest = parts.list.get(2, null_on_oob=True)
    venue = pl.col("venue")
    binance = (pl.when(~symbol.str.contains("-")).then(symbol)
               .when(rest.is_null()).then(pair)
               .when((rest == "PERP") & (venue == "binance_cm")).then(pair + "_PERP")
               .when(rest == "PERP").then(pair)
               .otherwise(pair + "_" + rest))
    return pl.when(venue.str.starts_with("binance_")).then(binance).otherwise(symbol)


def _base(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(_venue().alias("venue")).with_columns(_symbol().alias("symbol"))


def _coins(amount: pl.Expr, price: pl.Expr) -> pl.Expr:
    return pl.when(pl.col("venue") == "binance_cm").then(contracts_to_coins(amount, price, pl.col("symbol"))) \
        .otherwise(amount)


def _num(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.Float64, strict=False)


_HEAD = ("ts_local", "ts_exchange", "venue", "symbol")
_TAIL = (FILE, LINE, "__order")
_TIME_RULES = [(pl.col("ts_local").is_null(), "received_time missing or not a time"),
               (pl.col("exchange").is_null() | pl.col("symbol").is_null(), "exchange or symbol missing")]
_NO_IDS = [pl.lit(None, pl.Int64).alias(c) for c in ("first_update_id", "update_id", "prev_update_id")]


def _book(raw: pl.DataFrame, raw_cols: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    bid = pl.col("side_is_bid").cast(pl.Boolean, strict=False)
    rules = [*_TIME_RULES, (bid.is_null(), "side_is_bid is not a boolean"),
             (_num("price").is_null(), "price is not a number"), (_num("size").is_null(), "size is not a number")]
    good, bad = split_rows(raw, rules, raw_cols, "raw_book_deltas")
    good = _base(good).select(
        *_HEAD, pl.when(bid).then(pl.lit("bid")).otherwise(pl.lit("ask")).alias("side"), _num("price").alias("price"),
        _coins(_num("size"), _num("price")).alias("size"), *_NO_IDS, pl.col("__snapshot").alias("is_snapshot"), *_TAIL)
    return good, bad


def _trades(raw: pl.DataFrame, raw_cols: list[str], table: str = "raw_trades") -> tuple[pl.DataFrame, pl.DataFrame]:
    side = pl.col("side").cast(pl.Utf8).str.to_lowercase()
    rules = [*_TIME_RULES, (~side.is_in(["buy", "sell"]).fill_null(False), "side is not buy/sell"),
             (_num("price").is_null(), "price is not a number"),
             (_num("quantity").is_null(), "quantity is not a number")]
    good, bad = split_rows(raw, rules, raw_cols, table)
    size = _coins(_num("quantity"), _num("price"))
    ids = []
    if table == "raw_trades":
        ids = [pl.col("trade_id").cast(pl.Int64, strict=False).alias("trade_id") if "trade_id" in raw.columns
               else pl.lit(None, pl.Int64).alias("trade_id")]
    good = _base(good).select(*_HEAD, _num("price").alias("price"), size.alias("size"),
                              (_num("price") * size).alias("notional"), side.alias("side"), *ids, *_TAIL)
    return good, bad


def _liquidations(raw: pl.DataFrame, raw_cols: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    return _trades(raw, raw_cols, "raw_liquidations")


def _funding(raw: pl.DataFrame, raw_cols: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    if "next_funding_time" in raw.columns:
        raw = raw.with_columns(any_to_utc_ns(raw["next_funding_time"]).alias("__funding_time"))
    else:
        raw = raw.with_columns(pl.lit(None, pl.Datetime("ns", "UTC")).alias("__funding_time"))
    mark = _num("mark_price") if "mark_price" in raw.columns else pl.lit(None, pl.Float64)
    rules = [*_TIME_RULES, (bad_cast("rate", _num("rate")), "funding rate is not a number")]
    if "mark_price" in raw.columns:
        rules.append((bad_cast("mark_price", mark), "mark_price is not a number"))
    good, bad = split_rows(raw, rules, raw_cols, "raw_derivative_ticker")
    good = _base(good).select(*_HEAD, mark.alias("mark_price"), pl.lit(None, pl.Float64).alias("index_price"),
                              _num("rate").alias("funding_rate"), pl.col("__funding_time").alias("funding_time"),
                              pl.lit(None, pl.Int32).alias("funding_interval_hours"),
                              pl.lit(None, pl.Float64).alias("open_interest"), *_TAIL)
    return good, bad


_READERS = {"book_delta_v2": _book, "trades": _trades, "funding": _funding, "liquidations": _liquidations}


def _notes(batch: TickBatch, per_table: dict[str, int], skipped: int) -> list[str]:
    notes = []
    streams = set()
    for name in READ_TABLES.values():
        frame = batch.tables.get(name)
        if frame is not None and not frame.is_empty():
            streams |= {f"{v}:{s}" for v, s in frame.select("venue", "symbol").unique().iter_rows()}
    if per_table:
        notes.append("cryptolake: files per table " + ", ".join(f"{k} {n}" for k, n in sorted(per_table.items()))
                     + ("; streams " + ", ".join(sorted(streams)) if streams else ""))
    if any(s.startswith("binance_cm:") for s in streams):
        notes.append("cryptolake: binance_cm quantities are COIN-M contracts; converted to coins at the row's price, "
                     "100 USD a contract for BTC, 10 USD for the others")
    deltas = batch.tables.get("raw_book_deltas")
    if deltas is not None and not deltas.is_empty():
        notes.append(f"cryptolake: book_delta_v2: {int(deltas['is_snapshot'].sum())} snapshot row(s) (origin_time 0); "
                     "sequence_number not used as update_id (one id per row, no first/previous id: the flag rule "
                     "rebuilds)")
    if skipped:
        notes.append(f"cryptolake: {skipped} file(s) in dt= folders outside the requested days not read")
    rejected = batch.tables.get(REJECTED)
    if rejected is not None and not rejected.is_empty():
        notes.append(f"cryptolake: {rejected.height} row(s) could not be parsed: in __rejected with file, row and "
                     "reason")
    notes.append("cryptolake: funding's predicted rate, liquidations' status and id have no contract column (dropped); "
                 "funding interval, index price and open interest are not in these tables (null); clock skew not "
                 "computed here")
    return notes
