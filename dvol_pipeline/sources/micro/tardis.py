"""Tardis.dev CSV exports -> the micro lane's raw tick tables.

Files are named as Tardis's downloaders name them, `<exchange>_<data_type>_<YYYY-MM-DD>_<SYMBOL>.csv.gz`
(or plain `.csv`), flat or in subfolders. The conventions, from Tardis's "Downloadable CSV files"
page (https://docs.tardis.dev/downloadable-csv-files, data types section) and its order-book FAQ
(https://docs.tardis.dev/faq/data):

- `timestamp` is the exchange's time and `local_timestamp` Tardis's receive time, both µs since
  the epoch, UTC; where the exchange gives no time, Tardis writes `local_timestamp` into
  `timestamp` (so `ts_exchange` then equals `ts_local`: the skew is 0, not measured).
- `incremental_book_L2`: `amount` is the level's new size, not a delta, and 0 removes the level;
  rows sharing `local_timestamp` are one exchange message; when `is_snapshot` turns from false
  to true the book is discarded (a new day's file starts with a snapshot, and so does every
  reconnection). Rows before a file's first snapshot are buffered updates from before a
  reconnection's snapshot and Tardis says to skip them: they are dropped and counted.
- `book_snapshot_N` (25 or 5 levels a side, `asks[i].price` ascending, `bids[i].price`
  descending, empty beyond the available depth) is Tardis's own reconstruction of the top N,
  written whenever one of them changes. Its level 0 becomes `raw_top_of_book` (so the
  lane's `bbo_agreement` then compares against Tardis's reconstruction, not a venue stream). Where no
  `incremental_book_L2` file exists for the same exchange, symbol and day, the snapshots
  also become `raw_book_deltas`: the first row of each file as a snapshot (`is_snapshot`
  true), then each later row as the diff from the row before (changed and new levels at
  their size, levels gone from the top N at 0), so the flag rule rebuilds exactly the top N.
- `trades`: `side` is the taker's side, `buy`, `sell` or `unknown`; unknown rows are
  rejected (the contract needs a known aggressor). `id` becomes `trade_id` where it is an
  integer, null otherwise (some exchanges' ids are GUIDs).
- `liquidations`: `side` is the liquidation order's side (buy: a short liquidated).
- `derivative_ticker`: `funding_timestamp` (µs) is the next funding time; `predicted_funding_rate`
  and `last_price` have no column in the contract and are dropped; the funding interval is
  not in the file (null).

Venues: `binance` -> `binance_spot`, `binance-futures` -> `binance_usdm`, `binance-delivery` ->
`binance_cm`, any other exchange id with dashes as underscores. Tardis passes Binance's
quantities through as the exchange sends them (tardis-node's Binance mappers:
`amount: Number(q)`), and Binance COIN-M quantities and open interest are contracts, so
`binance-delivery` sizes are converted to coins at the row's price (100 USD a contract for
BTC, 10 for the others; open interest at the mark price). Other exchanges' amounts are
kept as Tardis gives them (their units vary: a note says so).

Update ids are null: Tardis's CSV has none, so the rebuild uses the snapshot flag. Clock
skew is not computed here (the lane's `book_quality` measures it from both clocks).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import polars as pl

from dvol_pipeline.contracts.micro import FILE, LINE
from dvol_pipeline.sources.micro.batch import TickBatch
from dvol_pipeline.sources.micro.vendor_files import (
    MAX_US,
    REJECTED,
    bad_cast,
    concat_rejected,
    contracts_to_coins,
    file_day_wanted,
    finish_table,
    split_rows,
    us_to_utc_ns,
)

SOURCE = "tardis"
READ_TYPES = ("incremental_book_L2", "book_snapshot_25", "book_snapshot_5", "trades", "liquidations",
              "derivative_ticker")
KNOWN_TYPES = (*READ_TYPES, "quotes", "book_ticker", "options_chain")
FILE_NAME = re.compile(
    r"^(?P<exchange>[a-z0-9-]+)_(?P<kind>incremental_book_L2|book_snapshot_\d+|trades|liquidations|derivative_ticker"
    r"|quotes|book_ticker|options_chain)_(?P<day>\d{4}-\d{2}-\d{2})_(?P<symbol>[^/]+?)\.csv(\.gz)?$")
NOT_TARDIS = "not a Tardis export name (<exchange>_<data_type>_<YYYY-MM-DD>_<SYMBOL>.csv[.gz])"
VENUES = {"binance": "binance_spot", "binance-futures": "binance_usdm", "binance-delivery": "binance_cm"}
COINM_EXCHANGE = "binance-delivery"
_COMMON = ("exchange", "symbol", "timestamp", "local_timestamp")
_COLUMNS = {
    "incremental_book_L2": (*_COMMON, "is_snapshot", "side", "price", "amount"),
    "trades": (*_COMMON, "id", "side", "price", "amount"),
    "liquidations": (*_COMMON, "id", "side", "price", "amount"),
    "derivative_ticker": (*_COMMON, "funding_timestamp", "funding_rate", "predicted_funding_rate", "open_interest",
                          "last_price", "index_price", "mark_price"),
}


def venue_of(exchange: str) -> str:
    """Tardis exchange id -> the lane's venue name."""
    return VENUES.get(exchange, exchange.replace("-", "_"))


def parse_name(path: Path) -> dict[str, str] | None:
    """The exchange, data type, day and symbol a Tardis download's file name carries (None: not one)."""
    match = FILE_NAME.match(path.name)
    return match.groupdict() if match else None


def read_tardis(landing: Path, start: date | None = None, end: date | None = None) -> TickBatch:
    """Every Tardis CSV export under `landing` (any depth) as raw tick frames.

    Rows are kept where the local clock's UTC day lies in [start, end] (None: unbounded).
    """
    landing = Path(landing)
    batch = TickBatch(SOURCE)
    files: list[tuple[Path, dict[str, str], date]] = []
    skipped = 0
    for path in sorted(p for p in landing.rglob("*") if p.is_file() and not p.name.startswith(".")):
        meta = parse_name(path)
        if meta is None:
            batch.refused.append((path, NOT_TARDIS))
            continue
        if meta["kind"] not in READ_TYPES:
            batch.refused.append((path, f"Tardis data type {meta['kind']} is not read by this source"))
            continue
        try:
            day = date.fromisoformat(meta["day"])
        except ValueError:
            batch.refused.append((path, f"file name day {meta['day']} is not a date"))
            continue
        if not file_day_wanted(day, start, end):
            skipped += 1
            continue
        files.append((path, meta, day))
    incremental = {(m["exchange"], m["symbol"], d) for _, m, d in files if m["kind"] == "incremental_book_L2"}

    parts: dict[str, list[pl.DataFrame]] = {}
    rejected: list[pl.DataFrame] = []
    for order, (path, meta, day) in enumerate(files):
        rel = path.relative_to(landing).as_posix()
        try:
            raw = pl.read_csv(path, infer_schema=False, truncate_ragged_lines=True)
        except Exception as exc:  # noqa: BLE001 - a file polars cannot read is refused, never a crash
            batch.refused.append((path, f"unreadable CSV: {type(exc).__name__}: {str(exc)[:200]}"))
            continue
        kind = meta["kind"]
        levels = _snapshot_levels(raw.columns) if kind.startswith("book_snapshot_") else 0
        needed = _COLUMNS.get(kind, (*_COMMON, *_level_columns(max(levels, 1))))
        missing = [c for c in needed if c not in raw.columns]
        if missing:
            batch.refused.append((path, f"{kind} file without column(s) {missing}"))
            continue
        batch.files.append(path)
        raw = raw.with_row_index(LINE, offset=2).with_columns(pl.lit(rel).alias(FILE), pl.lit(order).alias("__order"))
        raw_cols = list(needed)
        if kind == "incremental_book_L2":
            good, bad = _book_l2(raw, meta, raw_cols)
            before = good.height
            good = good.filter(pl.col("is_snapshot").cast(pl.Int8).cum_max().cast(pl.Boolean))
            if good.height < before:
                batch.notes.append(f"tardis: {rel}: {before - good.height} row(s) before the file's first snapshot "
                                   "dropped (Tardis: buffered updates from before a reconnection's snapshot)")
            parts.setdefault("raw_book_deltas", []).append(good)
        elif kind.startswith("book_snapshot_"):
            good, bad, top, empty_top = _book_snapshot(raw, meta, raw_cols, levels)
            parts.setdefault("raw_top_of_book", []).append(top)
            if empty_top:
                batch.notes.append(f"tardis: {rel}: {empty_top} snapshot row(s) with an empty side at level 0 "
                                   "left out of raw_top_of_book")
            if (meta["exchange"], meta["symbol"], day) not in incremental:
                parts.setdefault("raw_book_deltas", []).append(_snapshot_deltas(good, meta, levels))
                batch.notes.append(f"tardis: {rel}: no incremental_book_L2 for {meta['exchange']} {meta['symbol']} "
                                   f"{day}; its top-{levels} snapshots also feed raw_book_deltas (first row a "
                                   "snapshot, then diffs)")
        elif kind in ("trades", "liquidations"):
            table = "raw_trades" if kind == "trades" else "raw_liquidations"
            good, bad = _trades(raw, meta, raw_cols, table)
            parts.setdefault(table, []).append(good)
        else:
            good, bad = _ticker(raw, meta, raw_cols)
            parts.setdefault("raw_derivative_ticker", []).append(good)
        rejected.append(bad)

    for name, frames in parts.items():
        batch.tables[name] = finish_table(name, frames, start, end)
    batch.tables[REJECTED] = concat_rejected(rejected)
    batch.notes.extend(_notes(files, skipped, batch))
    return batch


def _common(raw: pl.DataFrame, meta: dict[str, str]) -> tuple[list[pl.Expr], list[tuple[pl.Expr, str]]]:
    """The parsed clock, venue and symbol columns of every Tardis type, and their rules."""
    local = pl.col("local_timestamp").cast(pl.Int64, strict=False)
    exch = pl.col("timestamp").cast(pl.Int64, strict=False)
    columns = [
        us_to_utc_ns(pl.when((local >= 0) & (local <= MAX_US)).then(local)).alias("ts_local"),
        us_to_utc_ns(pl.when((exch >= 0) & (exch <= MAX_US)).then(exch)).alias("ts_exchange"),
        pl.lit(venue_of(meta["exchange"])).alias("venue"),
        _symbol(meta).alias("symbol"),
    ]
    rules = [
        (local.is_null(), "local_timestamp missing or not an integer (µs since the epoch)"),
        (~local.is_between(0, MAX_US).fill_null(True), "local_timestamp out of range"),
        (bad_cast("timestamp", exch), "timestamp is not an integer (µs since the epoch)"),
        (pl.col("timestamp").is_not_null() & ~exch.is_between(0, MAX_US).fill_null(True), "timestamp out of range"),
        (pl.col("exchange").is_not_null() & (pl.col("exchange") != meta["exchange"]),
         f"exchange column differs from the file name's {meta['exchange']}"),
    ]
    return columns, rules


def _num(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.Float64, strict=False)


def _symbol(meta: dict[str, str]) -> pl.Expr:
    """The row's symbol (Tardis writes it uppercase, as the exchange names it), else the file name's."""
    return pl.col("symbol").fill_null(pl.lit(meta["symbol"]))


def _size(amount: pl.Expr, price: pl.Expr, meta: dict[str, str]) -> pl.Expr:
    """Tardis's amount in coins: COIN-M contracts converted at the row's price, other amounts as given."""
    if meta["exchange"] == COINM_EXCHANGE:
        return contracts_to_coins(amount, price, _symbol(meta))
    return amount


def _book_l2(raw: pl.DataFrame, meta: dict[str, str], raw_cols: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    common, rules = _common(raw, meta)
    snap = pl.col("is_snapshot").str.to_lowercase()
    rules += [
        (~snap.is_in(["true", "false"]).fill_null(False), "is_snapshot is not true/false"),
        (~pl.col("side").is_in(["bid", "ask"]).fill_null(False), "side is not bid/ask"),
        (_num("price").is_null(), "price is not a number"),
        (_num("amount").is_null(), "amount is not a number"),
    ]
    good, bad = split_rows(raw, rules, raw_cols, "raw_book_deltas")
    good = good.select(
        *common, pl.col("side"), _num("price").alias("price"),
        _size(_num("amount"), _num("price"), meta).alias("size"),
        *(pl.lit(None, pl.Int64).alias(c) for c in ("first_update_id", "update_id", "prev_update_id")),
        (snap == "true").alias("is_snapshot"), pl.col(FILE), pl.col(LINE), pl.col("__order"))
    return good, bad


def _trades(raw: pl.DataFrame, meta: dict[str, str], raw_cols: list[str],
            table: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    common, rules = _common(raw, meta)
    rules += [
        ((pl.col("side") == "unknown").fill_null(False),
         "side unknown (the exchange gave no aggressor side; the contract needs one)"),
        (~pl.col("side").is_in(["buy", "sell", "unknown"]).fill_null(False), "side is not buy/sell"),
        (_num("price").is_null(), "price is not a number"),
        (_num("amount").is_null(), "amount is not a number"),
    ]
    good, bad = split_rows(raw, rules, raw_cols, table)
    size = _size(_num("amount"), _num("price"), meta)
    extra = [pl.col("id").cast(pl.Int64, strict=False).alias("trade_id")] if table == "raw_trades" else []
    good = good.select(*common, _num("price").alias("price"), size.alias("size"),
                       (_num("price") * size).alias("notional"), pl.col("side"), *extra,
                       pl.col(FILE), pl.col(LINE), pl.col("__order"))
    return good, bad


def _ticker(raw: pl.DataFrame, meta: dict[str, str], raw_cols: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    common, rules = _common(raw, meta)
    numbers = ("funding_rate", "predicted_funding_rate", "open_interest", "last_price", "index_price", "mark_price")
    funding = pl.col("funding_timestamp").cast(pl.Int64, strict=False)
    rules += [(bad_cast(c, _num(c)), f"{c} is not a number") for c in numbers]
    rules += [(bad_cast("funding_timestamp", funding) | (funding.is_not_null() & ~funding.is_between(0, MAX_US)),
               "funding_timestamp is not a µs time")]
    good, bad = split_rows(raw, rules, raw_cols, "raw_derivative_ticker")
    oi = _num("open_interest")
    if meta["exchange"] == COINM_EXCHANGE:
        at = pl.coalesce(_num("mark_price"), _num("index_price"), _num("last_price"))
        oi = contracts_to_coins(oi, at, _symbol(meta))
    good = good.select(*common, _num("mark_price").alias("mark_price"), _num("index_price").alias("index_price"),
                       _num("funding_rate").alias("funding_rate"), us_to_utc_ns(funding).alias("funding_time"),
                       pl.lit(None, pl.Int32).alias("funding_interval_hours"), oi.alias("open_interest"),
                       pl.col(FILE), pl.col(LINE), pl.col("__order"))
    return good, bad


def _level_columns(levels: int) -> list[str]:
    return [f"{side}[{i}].{field}" for side in ("asks", "bids") for i in range(levels) for field in ("price", "amount")]


def _snapshot_levels(columns: list[str]) -> int:
    """How many levels a side a book_snapshot file's header holds (`asks[i].price` ...)."""
    found = [int(m.group(1)) for c in columns if (m := re.fullmatch(r"asks\[(\d+)\]\.price", c))]
    return max(found) + 1 if found else 0


def _book_snapshot(raw: pl.DataFrame, meta: dict[str, str], raw_cols: list[str],
                   levels: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, int]:
    """(parsed rows, rejected rows, their level-0 top of book, rows with an empty side at level 0)."""
    common, rules = _common(raw, meta)
    rules += [(bad_cast(c, _num(c)), f"{c} is not a number") for c in _level_columns(levels)]
    good, bad = split_rows(raw, rules, raw_cols, "raw_top_of_book")
    good = good.with_columns(*common, *(_num(c).alias(c) for c in _level_columns(levels)))
    bid, ask = _num("bids[0].price"), _num("asks[0].price")
    top_ok = bid.is_not_null() & ask.is_not_null() & _num("bids[0].amount").is_not_null() \
        & _num("asks[0].amount").is_not_null()
    top = good.filter(top_ok).select(
        "ts_local", "ts_exchange", "venue", "symbol", bid.alias("bid_price"),
        _size(_num("bids[0].amount"), bid, meta).alias("bid_size"), ask.alias("ask_price"),
        _size(_num("asks[0].amount"), ask, meta).alias("ask_size"), pl.lit(None, pl.Int64).alias("update_id"),
        pl.col(FILE), pl.col(LINE), pl.col("__order"))
    return good, bad, top, good.height - top.height


def _snapshot_deltas(snaps: pl.DataFrame, meta: dict[str, str], levels: int) -> pl.DataFrame:
    """Top-N snapshot rows as book deltas: the file's first row a snapshot, each later one the diff from the last.

    A level present before and gone now (out of the top N or removed) is written at size 0;
    a changed or new level at its new size; an unchanged one not at all.
    """
    head = ["ts_local", "ts_exchange", "venue", "symbol", FILE, LINE, "__order"]
    snaps = snaps.with_columns(pl.int_range(pl.len()).over("symbol").alias("__k"))
    long = pl.concat([
        snaps.select("symbol", "__k", pl.lit("ask" if side == "asks" else "bid").alias("side"),
                     pl.col(f"{side}[{i}].price").alias("price"), pl.col(f"{side}[{i}].amount").alias("amount"))
        for side in ("asks", "bids") for i in range(levels)], how="vertical").drop_nulls(["price", "amount"])
    last = snaps.group_by("symbol").agg(pl.col("__k").max().alias("__last"))
    prev = long.join(last, on="symbol").filter(pl.col("__k") < pl.col("__last")) \
        .select("symbol", (pl.col("__k") + 1).alias("__k"), "side", "price", pl.col("amount").alias("__before"))
    diff = long.join(prev, on=["symbol", "__k", "side", "price"], how="full", coalesce=True)
    diff = diff.filter((pl.col("__k") == 0) | pl.col("amount").is_null() | pl.col("__before").is_null()
                       | (pl.col("amount") != pl.col("__before")))
    diff = diff.join(snaps.select(*head, "__k"), on=["symbol", "__k"], how="left")
    size = _size(pl.col("amount").fill_null(0.0), pl.col("price"), meta)
    return diff.sort(["__order", "__k", "side", "price"]).select(
        "ts_local", "ts_exchange", "venue", "symbol", "side", "price", size.alias("size"),
        *(pl.lit(None, pl.Int64).alias(c) for c in ("first_update_id", "update_id", "prev_update_id")),
        (pl.col("__k") == 0).alias("is_snapshot"), pl.col(FILE), pl.col(LINE), pl.col("__order"))


def _notes(files: list[tuple[Path, dict[str, str], date]], skipped: int, batch: TickBatch) -> list[str]:
    notes = []
    exchanges = sorted({m["exchange"] for _, m, _ in files})
    if exchanges:
        notes.append("tardis: venues " + ", ".join(f"{e} -> {venue_of(e)}" for e in exchanges))
    if COINM_EXCHANGE in exchanges:
        notes.append("tardis: binance-delivery amounts and open interest are COIN-M contracts (Tardis passes Binance's "
                     "quantities through); converted to coins at the row's price, 100 USD a contract for BTC, 10 USD "
                     "for the others")
    others = [e for e in exchanges if e not in VENUES]
    if others:
        notes.append(f"tardis: amounts of {', '.join(others)} kept as Tardis gives them (units vary by exchange: "
                     "base coins, contracts or USD); not converted")
    per_type: dict[str, int] = {}
    symbols: set[str] = set()
    for _, m, _ in files:
        per_type[m["kind"]] = per_type.get(m["kind"], 0) + 1
        symbols.add(f"{m['exchange']}:{m['symbol']}")
    if per_type:
        notes.append("tardis: files per type " + ", ".join(f"{k} {n}" for k, n in sorted(per_type.items()))
                     + "; symbols " + ", ".join(sorted(symbols)))
    if skipped:
        notes.append(f"tardis: {skipped} file(s) outside the requested days not read")
    rejected = batch.tables.get(REJECTED)
    if rejected is not None and not rejected.is_empty():
        notes.append(f"tardis: {rejected.height} row(s) could not be parsed: in __rejected with file, line and reason")
    notes.append("tardis: update ids null (the CSV has none; the rebuild uses the is_snapshot flag); ts_exchange is "
                 "Tardis's `timestamp` (its local time where the exchange gives none); clock skew not computed here")
    return notes
