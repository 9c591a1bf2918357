"""Read one CryptoDataDownload CSV into raw-table rows, and say what it could not read.

Lines are read as bytes, so one bad line (non-UTF-8 bytes, a truncated row, too many
fields, a date that contradicts its unix stamp) is rejected on its own with its line
number, and the rest of the file still lands. The file itself is only ever opened for
reading.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from dvol_pipeline.contracts.tables import RAW_DVOL, RAW_FUNDING, RAW_OHLCV, UTC_TS
from dvol_pipeline.sources.cdd.layouts import DVOL, FUNDING, PRICE, CddLayoutError, Layout, detect, split_symbol

TABLE_OF = {PRICE: RAW_OHLCV.name, DVOL: RAW_DVOL.name, FUNDING: RAW_FUNDING.name}
DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")
AM_PM = r"^(\d{4}-\d{2}-\d{2}) (\d{1,2})-(AM|PM)$"  # CDD's hourly "2020-01-01 05-AM"
UNIX_MS_RANGE = (1.2e12, 4.1e12)  # 2008 .. 2099: anything else is not a bar time
MISSING = ("", "null", "nan", "none", "n/a")
PERCENT_THRESHOLD = 0.003
"""auto units: a median |funding| above 0.3 % per interval is not a plausible fraction
(~330 % a year at 8h), so such a file quotes percent; below it, fractions."""
KNOWN_VENUES = ("binance", "bitfinex", "bitstamp", "bybit", "coinbase", "deribit", "gemini", "kraken", "okx")
REJECT_SCHEMA = {"file": pl.Utf8, "line": pl.Utf8, "text": pl.Utf8, "ts": pl.Utf8, "asset": pl.Utf8, "reason": pl.Utf8}


@dataclass
class ParsedFile:
    path: Path
    sha256: str
    layout: Layout
    table: str
    rows: pl.DataFrame
    """The table's columns, typed, plus `__line`."""
    rejected: pl.DataFrame
    partial_excluded: int = 0
    notes: dict = field(default_factory=dict)


def _split_lines(path: Path, data: bytes) -> tuple[list[tuple[int, str]], list[dict]]:
    lines, bad = [], []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        raw = raw.rstrip(b"\r")
        if number == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        try:
            lines.append((number, raw.decode("utf-8")))
        except UnicodeDecodeError as err:
            text = raw.decode("utf-8", errors="replace")
            bad.append(dict(file=path.name, line=str(number), text=text, ts=None, asset=None,
                            reason=f"line {number} is not valid UTF-8 (byte {err.start}: {raw[err.start:err.start + 1]!r})"))
    while lines and not lines[-1][1].strip():
        lines.pop()
    return lines, bad


def _parse_time(frame: pl.DataFrame, layout: Layout) -> pl.DataFrame:
    """`ts` from unix (ms or s, row by row) and/or the date text; flag disagreements."""
    exprs = []
    if "unix" in layout.columns:
        num = pl.col("unix").str.strip_chars().cast(pl.Float64, strict=False)
        ms = pl.when(num.abs() > 1e11).then(num).otherwise(num * 1000).round(0)
        ms = pl.when(ms.is_between(UNIX_MS_RANGE[0], UNIX_MS_RANGE[1])).then(ms).cast(pl.Int64, strict=False)
        exprs.append(pl.from_epoch(ms, time_unit="ms").dt.replace_time_zone("UTC").alias("__ts_unix"))
    else:
        exprs.append(pl.lit(None, pl.Datetime("ms", "UTC")).alias("__ts_unix"))
    if "date" in layout.columns:
        text = pl.col("date").str.strip_chars().str.to_uppercase()
        parsed = [text.str.to_datetime(f, strict=False, time_unit="ms") for f in DATE_FORMATS]
        hour = text.str.extract(AM_PM, 2).cast(pl.Int64, strict=False)
        hour24 = (hour % 12) + pl.when(text.str.extract(AM_PM, 3) == "PM").then(12).otherwise(0)
        day = text.str.extract(AM_PM, 1).str.to_datetime("%Y-%m-%d", strict=False, time_unit="ms")
        parsed.append(day + pl.duration(hours=hour24))
        exprs.append(pl.coalesce(parsed).dt.replace_time_zone("UTC").alias("__ts_date"))
        exprs.append((text.is_not_null() & (text != "") & pl.coalesce(parsed).is_null()).alias("__date_unreadable"))
    else:
        exprs.append(pl.lit(None, pl.Datetime("ms", "UTC")).alias("__ts_date"))
        exprs.append(pl.lit(False).alias("__date_unreadable"))
    out = frame.with_columns(exprs)
    unreadable = pl.col("__ts_unix").is_null() & pl.col("__ts_date").is_null()
    error = pl.when(unreadable).then(pl.lit("no readable timestamp (neither the unix nor the date column)"))
    error = error.when(pl.col("__date_unreadable")).then(
        pl.format("date text '{}' is not a CDD date (UTC YYYY-MM-DD[ HH:MM:SS] or 'YYYY-MM-DD 05-AM')", pl.col("date"))
    )
    if "unix" in layout.columns and "date" in layout.columns:
        differ = pl.col("__ts_unix").is_not_null() & pl.col("__ts_date").is_not_null() & (
            pl.col("__ts_unix") != pl.col("__ts_date")
        )
        error = error.when(differ).then(
            pl.format("date text '{}' disagrees with unix {} ({})", pl.col("date"), pl.col("unix"), pl.col("__ts_unix"))
        )
    return out.with_columns(pl.coalesce("__ts_unix", "__ts_date").cast(UTC_TS).alias("ts"), error.alias("__time_error"))


def _number(name: str) -> tuple[pl.Expr, pl.Expr]:
    """(value with NULL/NaN as null, the reason when the text is not a number)."""
    text = pl.col(name).str.strip_chars()
    value = text.cast(pl.Float64, strict=False)
    absent = text.is_null() | text.str.to_lowercase().is_in(MISSING)
    reason = pl.when(~absent & value.is_null()).then(pl.format(f"{name}: '{{}}' is not a number", text))
    return pl.when(absent).then(None).otherwise(value).fill_nan(None).alias(name), reason


def _interval(ts: pl.Series) -> str:
    steps = ts.unique().sort().diff().drop_nulls().dt.total_seconds()
    if steps.is_empty():
        return "1d"
    step = steps.median()
    for label, seconds in (("1h", 3600), ("8h", 8 * 3600), ("1d", 86_400)):
        if abs(step - seconds) < 1:
            return label
    raise CddLayoutError(f"bars every {step:.0f} s; only hourly, 8-hourly (funding) and daily files are supported")


def _venue(path: Path) -> str:
    first = path.stem.split("_")[0].lower()
    return first if first in KNOWN_VENUES else next((v for v in KNOWN_VENUES if v in path.stem.lower()), "cdd")


def _is_perpetual(path: Path) -> bool:
    return any(w in path.stem.lower() for w in ("futures", "perp", "swap"))


def funding_units(rates: pl.Series, layout: Layout, setting: str) -> tuple[bool, str]:
    """(in percent?, why): explicit setting, else the header, else the documented magnitude rule."""
    if setting in ("fraction", "percent"):
        return setting == "percent", f"configured: {setting}"
    if layout.funding_in_percent:
        return True, "header says percent"
    med = rates.drop_nulls().abs().median()
    if med is None:
        return False, "no values; fraction assumed"
    return (med > PERCENT_THRESHOLD), f"median |rate| {med:.6f} {'>' if med > PERCENT_THRESHOLD else '<='} {PERCENT_THRESHOLD}"


def _table_rows(path: Path, layout: Layout, good: pl.DataFrame, units: str) -> tuple[pl.DataFrame, dict]:
    coin = pl.col("symbol").map_elements(split_symbol, return_dtype=pl.Utf8).alias("asset")
    base = good.with_columns(coin)
    if layout.kind == DVOL:
        return base.select("ts", "asset", "open", "high", "low", "close", "__line"), {}
    if layout.kind == PRICE:
        interval = _interval(base["ts"]) if base.height else "1d"
        perp = _is_perpetual(path)
        symbol = pl.col("symbol").str.to_uppercase().str.replace_all(r"[/\-_]", "")
        frame = base.select(
            "ts", "asset", pl.lit(_venue(path)).alias("venue"),
            (symbol + ("-PERP" if perp else "")).alias("instrument"),
            pl.lit("perpetual" if perp else "spot").alias("kind"), pl.lit(interval).alias("interval"),
            "open", "high", "low", "close", "volume", "volume_quote",
            pl.col("tradecount").cast(pl.Int64).alias("trade_count") if "tradecount" in base.columns
            else pl.lit(None, pl.Int64).alias("trade_count"),
            "__line",
        )
        return frame, {"interval": interval, "kind": "perpetual" if perp else "spot"}
    percent, why = funding_units(base["rate"], layout, units)
    hours = {"1h": 1, "8h": 8, "1d": 24}[_interval(base["ts"])] if base.height > 1 else 8
    symbol = pl.col("symbol").str.to_uppercase().str.replace_all(r"[/\-_]", "")
    frame = base.select(
        "ts", "asset", (symbol + "-PERP").alias("instrument"), pl.lit(hours, pl.Int32).alias("interval_hours"),
        (pl.col("rate") / (100.0 if percent else 1.0)).alias("rate"), "__line",
    )
    return frame, {"funding_units": ("percent" if percent else "fraction") + f" ({why})", "interval_hours": hours}


def read_cdd_file(path: Path, units: str = "auto") -> ParsedFile:
    data = path.read_bytes()
    if not data.strip():
        raise CddLayoutError(f"{path.name}: the file is empty")
    lines, bad = _split_lines(path, data)
    layout = detect(path, [text for _, text in lines[:2]])
    width = len(layout.header)
    records, numbers, texts = [], [], []
    for number, text in lines[layout.header_line:]:
        if not text.strip():
            continue
        try:
            fields = next(csv.reader([text]))
        except csv.Error as err:
            bad.append(dict(file=path.name, line=str(number), text=text, ts=None, asset=None,
                            reason=f"line {number} is not valid CSV: {err}"))
            continue
        if len(fields) != width:
            hint = " (truncated?)" if len(fields) < width else ""
            bad.append(dict(file=path.name, line=str(number), text=text, ts=None, asset=None,
                            reason=f"line {number} has {len(fields)} fields; the header has {width}{hint}"))
            continue
        records.append([fields[i] for i in layout.columns.values()])
        numbers.append(number)
        texts.append(text)
    frame = pl.DataFrame(records, schema={c: pl.Utf8 for c in layout.columns}, orient="row").with_columns(
        pl.Series("__line", numbers, pl.Int64), pl.Series("__text", texts, pl.Utf8)
    )
    frame = _parse_time(frame, layout)
    reasons = [pl.col("__time_error")]
    for name in ("open", "high", "low", "close", "volume", "volume_quote", "tradecount", "rate"):
        if name in frame.columns:
            value, reason = _number(name)
            frame = frame.with_columns(value.alias(f"__v_{name}"), reason.alias(f"__r_{name}"))
            reasons.append(pl.col(f"__r_{name}"))
    frame = frame.with_columns(pl.concat_str(reasons, separator="; ", ignore_nulls=True).alias("__reason"))
    frame = frame.with_columns(pl.when(pl.col("__reason") == "").then(None).otherwise(pl.col("__reason")).alias("__reason"))
    rejected = frame.filter(pl.col("__reason").is_not_null()).select(
        pl.lit(path.name).alias("file"), pl.col("__line").cast(pl.Utf8).alias("line"), pl.col("__text").alias("text"),
        pl.col("ts").cast(pl.Utf8).alias("ts"),
        pl.col("symbol").map_elements(split_symbol, return_dtype=pl.Utf8).alias("asset"),
        pl.col("__reason").alias("reason"),
    )
    good = frame.filter(pl.col("__reason").is_null())
    good = good.with_columns([pl.col(f"__v_{n}").alias(n) for n in
                              ("open", "high", "low", "close", "volume", "volume_quote", "tradecount", "rate")
                              if f"__v_{n}" in good.columns])
    partial = 0
    if good.height:  # CDD's newest row is usually a bar still in progress
        good = good.filter(pl.col("ts") != pl.col("ts").max())
        partial = frame.filter(pl.col("__reason").is_null()).height - good.height
    rows, notes = _table_rows(path, layout, good, units)
    rows = rows.sort(["asset", "ts", "__line"])  # oldest first, whatever order the file had
    rejected = pl.concat([pl.DataFrame(bad, schema=REJECT_SCHEMA), rejected], how="vertical_relaxed")
    digest = hashlib.sha256(data).hexdigest()
    return ParsedFile(path, digest, layout, TABLE_OF[layout.kind], rows, rejected, partial, notes)
