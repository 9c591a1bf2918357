"""Read one CryptoDataDownload CSV into raw-table rows, and say what it could not read.

Lines are read as bytes, so one bad line (non-UTF-8 bytes, a truncated row, too many
fields, a date that contradicts its unix stamp) is rejected on its own with its line
number, and the rest of the file still lands. The file itself is only ever opened for
reading.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from dvol_pipeline.contracts.tables import RAW_DVOL, RAW_FUNDING, RAW_OHLCV, UTC_TS, spec
from dvol_pipeline.contracts.validate import validate
from dvol_pipeline.sources.cdd.layouts import (
    DVOL, FUNDING, PRICE, CddLayoutError, Layout, coin_from_name, detect, interval_from_name, split_symbol,
)
from dvol_pipeline.sources.cdd.units import Units, dvol_units, funding_units

TABLE_OF = {PRICE: RAW_OHLCV.name, DVOL: RAW_DVOL.name, FUNDING: RAW_FUNDING.name}
DATE_FORMATS = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")
AM_PM = r"^(\d{4}-\d{2}-\d{2}) (\d{1,2})-(AM|PM)$"  # CDD's hourly "2020-01-01 05-AM"
UNIX_MS_RANGE = (1.2e12, 4.1e12)  # 2008 .. 2099: anything else is not a bar time
MISSING = ("", "null", "nan", "none", "n/a")
KNOWN_VENUES = ("binance", "bitfinex", "bitstamp", "bybit", "coinbase", "deribit", "gemini", "kraken", "okx")
FUNDING_SNAP_MS = 5_000
"""Funding events stamped within 5 s of a whole hour are snapped to it: Binance's exports stamp
each event 1-20 ms after the 8-hour mark; the event belongs to the schedule, not the jitter."""
VWAP_SLACK = 1.5
"""`Volume <QUOTE> / Volume <COIN>` is the bar's average price, so it lies within [low, high];
beyond 1.5x outside that range one of the volume columns is wrong (swapped, truncated)."""
PER_TRADE_FACTOR = 20.0
"""Volume per trade 20x above or below the median of its 11 neighbouring bars (of the same
instrument: a file made by `cat` of two coins' files holds two series): the trade count (CDD's
last field) was cut or corrupted, e.g. 4598633 -> 45."""
NEIGHBOURS = 11
SYMBOL_RE = r"^[A-Za-z0-9]+(?:[/_\-][A-Za-z0-9]+)*$"
INTERVAL_SECONDS = {"1h": 3600, "8h": 8 * 3600, "1d": 86_400}
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
    texts: dict[int, str] = field(default_factory=dict, repr=False)
    """line number -> the line as written, for rows rejected later (e.g. by the cross-file checks)."""
    units: Units | None = None
    """How the funding or DVOL numbers were scaled, and the evidence (None for price files)."""


def _decode(path: Path, data: bytes) -> tuple[bytes, dict]:
    """Name what the bytes are: gzip is read decompressed, CR-only line endings and UTF-16 are
    converted (each noted); archives and binary formats are refused for what they are."""
    notes: dict = {}
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as err:
            raise CddLayoutError(f"{path.name}: a gzip-compressed file that cannot be decompressed ({err}); "
                                 "download it again") from None
        notes["compression"] = "gzip: read decompressed"
    if data[:4] == b"PK\x03\x04":
        raise CddLayoutError(f"{path.name}: a zip archive (or an .xlsx workbook), not a CSV; unzip it, or save the "
                             "sheet as CSV, into landing/")
    if data[:4] == b"PAR1":
        raise CddLayoutError(f"{path.name}: a Parquet file, not a CryptoDataDownload CSV")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            data = data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError as err:
            raise CddLayoutError(f"{path.name}: starts like UTF-16 text but is not ({err})") from None
        notes["encoding"] = "UTF-16: read as text"
    if b"\r" in data and b"\n" not in data:
        data = data.replace(b"\r", b"\n")
        notes["line_endings"] = "CR only (old Mac / spreadsheet export): read as lines"
    if not data.strip():
        raise CddLayoutError(f"{path.name}: the file is empty" + (" (after gunzip)" if "compression" in notes else ""))
    return data, notes


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


def _snap(ms: pl.Expr) -> pl.Expr:
    """Milliseconds snapped to the whole hour when within FUNDING_SNAP_MS of it."""
    hour = (ms / 3_600_000).round(0).cast(pl.Int64) * 3_600_000
    return pl.when((ms - hour).abs() <= FUNDING_SNAP_MS).then(hour).otherwise(ms)


def _parse_time(frame: pl.DataFrame, layout: Layout) -> pl.DataFrame:
    """`ts` from unix (ms or s, row by row) and/or the date text; flag disagreements.
    Funding times are snapped to the hour first (see FUNDING_SNAP_MS); `__jitter_ms` keeps the shift."""
    exprs = []
    snap = layout.kind == FUNDING
    if "unix" in layout.columns:
        num = pl.col("unix").str.strip_chars().cast(pl.Float64, strict=False)
        ms = pl.when(num.abs() > 1e11).then(num).otherwise(num * 1000).round(0)
        ms = pl.when(ms.is_between(UNIX_MS_RANGE[0], UNIX_MS_RANGE[1])).then(ms).cast(pl.Int64, strict=False)
        exprs.append((ms - _snap(ms)).alias("__jitter_ms") if snap else pl.lit(0, pl.Int64).alias("__jitter_ms"))
        ms = _snap(ms) if snap else ms
        exprs.append(pl.from_epoch(ms, time_unit="ms").dt.replace_time_zone("UTC").alias("__ts_unix"))
    else:
        exprs.append(pl.lit(None, pl.Datetime("ms", "UTC")).alias("__ts_unix"))
        exprs.append(pl.lit(0, pl.Int64).alias("__jitter_ms"))
    if "date" in layout.columns:
        text = pl.col("date").str.strip_chars().str.to_uppercase()
        parsed = [text.str.to_datetime(f, strict=False, time_unit="ms") for f in DATE_FORMATS]
        hour = text.str.extract(AM_PM, 2).cast(pl.Int64, strict=False)
        hour24 = (hour % 12) + pl.when(text.str.extract(AM_PM, 3) == "PM").then(12).otherwise(0)
        day = text.str.extract(AM_PM, 1).str.to_datetime("%Y-%m-%d", strict=False, time_unit="ms")
        parsed.append(day + pl.duration(hours=hour24))
        when = pl.coalesce(parsed)
        if snap:
            when = pl.from_epoch(_snap(when.dt.epoch("ms")), time_unit="ms")
        exprs.append(when.dt.replace_time_zone("UTC").alias("__ts_date"))
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
    """(value with NULL/NaN as null, the reason when the text is not a finite number)."""
    text = pl.col(name).str.strip_chars()
    value = text.cast(pl.Float64, strict=False)
    absent = text.is_null() | text.str.to_lowercase().is_in(MISSING)
    reason = pl.when(~absent & value.is_null()).then(pl.format(f"{name}: '{{}}' is not a number", text))
    reason = reason.when(~absent & value.is_infinite()).then(
        pl.format(f"{name}: '{{}}' is not a finite number", text))
    return pl.when(absent).then(None).otherwise(value).fill_nan(None).alias(name), reason


def _interval(ts: pl.Series, path: Path | None = None) -> str:
    steps = ts.unique().sort().diff().drop_nulls().dt.total_seconds()
    if steps.is_empty():
        return "1d"
    step = steps.median()
    for label, seconds in INTERVAL_SECONDS.items():
        if abs(step - seconds) < 1:
            return label
    where = f"{path.name}: " if path else ""
    raise CddLayoutError(f"{where}bars every {step:.0f} s; only hourly, 8-hourly (funding) and daily files are supported")


def venue(path: Path) -> str:
    """The venue a file name names (`Binance_BTCUSDT_d.csv`: binance), else 'cdd'."""
    first = path.stem.split("_")[0].lower()
    return first if first in KNOWN_VENUES else next((v for v in KNOWN_VENUES if v in path.stem.lower()), "cdd")


def _is_perpetual(path: Path) -> bool:
    return any(w in path.stem.lower() for w in ("futures", "perp", "swap"))


def _table_rows(path: Path, layout: Layout, good: pl.DataFrame, units: str, interval: str | None = None,
                decided: Units | None = None) -> tuple[pl.DataFrame, dict, Units | None]:
    """The table's rows; funding and DVOL numbers scaled to the table's units (`decided`, else the
    file's own evidence: sources/cdd/units.py)."""
    coin = pl.col("symbol").map_elements(split_symbol, return_dtype=pl.Utf8).alias("asset")
    base = good.with_columns(coin)
    if layout.kind == DVOL:
        scaled = decided or dvol_units(base)
        ohlc = (pl.col(c) * scaled.scale for c in ("open", "high", "low", "close"))
        return base.select("ts", "asset", *ohlc, "__line"), {"dvol_units": scaled.note()}, scaled
    if layout.kind == PRICE:
        interval = interval or (_interval(base["ts"], path) if base.height else "1d")
        perp = _is_perpetual(path)
        symbol = pl.col("symbol").str.to_uppercase().str.replace_all(r"[/\-_]", "")
        frame = base.select(
            "ts", "asset", pl.lit(venue(path)).alias("venue"),
            (symbol + ("-PERP" if perp else "")).alias("instrument"),
            pl.lit("perpetual" if perp else "spot").alias("kind"), pl.lit(interval).alias("interval"),
            "open", "high", "low", "close", "volume", "volume_quote",
            pl.col("tradecount").cast(pl.Int64).alias("trade_count") if "tradecount" in base.columns
            else pl.lit(None, pl.Int64).alias("trade_count"),
            "__line",
        )
        return frame, {"interval": interval, "kind": "perpetual" if perp else "spot"}, None
    hours = {"1h": 1, "8h": 8, "1d": 24}[_interval(base["ts"], path)] if base.height > 1 else 8
    scaled = decided or funding_units(base["rate"], layout, units, hours)
    symbol = pl.col("symbol").str.to_uppercase().str.replace_all(r"[/\-_]", "")
    frame = base.select(
        "ts", "asset", (symbol + "-PERP").alias("instrument"), pl.lit(hours, pl.Int32).alias("interval_hours"),
        (pl.col("rate") * scaled.scale).alias("rate"), "__line",
    )
    return frame, {"funding_units": scaled.note(), "interval_hours": hours}, scaled


def _reject_rows(path: Path, frame: pl.DataFrame, reason: str | pl.Expr) -> pl.DataFrame:
    """Quarantine rows (REJECT_SCHEMA) for `frame`'s rows (with `__line`, `__text`, `ts`, `symbol`)."""
    reason = pl.lit(reason) if isinstance(reason, str) else reason
    return frame.select(
        pl.lit(path.name).alias("file"), pl.col("__line").cast(pl.Utf8).alias("line"), pl.col("__text").alias("text"),
        pl.col("ts").cast(pl.Utf8).alias("ts"),
        pl.col("symbol").map_elements(split_symbol, return_dtype=pl.Utf8).alias("asset"),
        reason.alias("reason"),
    ).cast(REJECT_SCHEMA)


def _line_ts(fields: list[str], layout: Layout) -> datetime | None:
    """The time a malformed line still shows (its unix field), as evidence for the partial-bar rule."""
    pos = layout.columns.get("unix")
    if pos is None or pos >= len(fields):
        return None
    try:
        num = float(fields[pos].strip())
    except ValueError:
        return None
    ms = num if abs(num) > 1e11 else num * 1000
    if not UNIX_MS_RANGE[0] <= ms <= UNIX_MS_RANGE[1]:
        return None
    if layout.kind == FUNDING:
        hour = round(ms / 3_600_000) * 3_600_000
        ms = hour if abs(ms - hour) <= FUNDING_SNAP_MS else ms
    return datetime.fromtimestamp(ms / 1000, UTC)


def _claims(path: Path, layout: Layout, good: pl.DataFrame) -> tuple[pl.Expr | None, dict]:
    """Rule: the symbol column, the file name and the `Volume <COIN>` header name one coin.

    Returns the reason expression for rows whose symbol breaks the claim (None: no claim to break).
    When the name and the header disagree, every row is quarantined: none can be trusted to be that coin's.
    """
    by_name, by_header = coin_from_name(path), layout.coin_from_volume
    if by_name and by_header and split_symbol(by_name) != split_symbol(by_header):
        return pl.lit(
            f"the file name says {by_name} but the header says 'Volume {by_header}': whose prices these are cannot be "
            "told, so no row of the file is stored; rename the file or fix the header"), {}
    coin = pl.col("symbol").map_elements(split_symbol, return_dtype=pl.Utf8)
    if by_name or by_header:
        claim = split_symbol(by_name or by_header)
        said = f"the file name ({by_name})" if by_name else f"the header (Volume {by_header})"
        if by_name and by_header:
            said = f"the file name and the header (Volume {by_header})"
        return pl.when(coin != claim).then(pl.format(
            f"symbol '{{}}' is not {claim}, which {said} says this file holds; one coin's prices are never stored "
            "under another's name", pl.col("symbol"))), {"coin_claimed": claim}
    if good.height == 0:
        return None, {}
    norm = pl.col("symbol").str.to_uppercase().str.replace_all(r"[/\-_]", "")
    counts = good.select(norm.alias("s")).group_by("s").len().sort(["len", "s"], descending=[True, False])
    main = counts["s"][0]
    return pl.when(norm != main).then(pl.format(
        f"symbol '{{}}' differs from the file's other rows ({main}); one file holds one instrument",
        pl.col("symbol"))), {}


def _spacing(path: Path, layout: Layout, good: pl.DataFrame) -> tuple[str | None, pl.Expr | None]:
    """Rule: the bar spacing matches the file name (`_d`, `_1h`); every bar sits on the file's grid.

    Returns (interval, the reason expression for rows that break it)."""
    if layout.kind == FUNDING:
        return None, None
    named = interval_from_name(path)
    if named and named[0] not in ("1h", "1d"):
        raise CddLayoutError(f"{path.name}: {named[0]} bars (file name '{named[1]}'); only hourly, 8-hourly (funding) "
                             "and daily files are supported: download the hourly or daily file")
    measured = _interval(good["ts"], path) if good["ts"].n_unique() > 1 else None
    if measured and named and measured != named[0]:
        text = {"1h": "hourly", "1d": "daily", "8h": "8-hourly"}
        why = (f"the bars are {text[measured]} ({measured} apart) but the file name says {text[named[0]]} "
               f"('{named[1]}'): rename the file to what it holds, or download the right one")
        return measured, pl.lit(why)
    interval = measured or (named[0] if named else None)
    if interval is None or good.height < 2:
        return interval, None
    step = INTERVAL_SECONDS[interval]
    phase = pl.col("ts").dt.epoch("s") % step
    main = good.select(phase.alias("p")).group_by("p").len().sort(["len", "p"], descending=[True, False])["p"][0]
    at = f"{main // 3600:02d}:{main % 3600 // 60:02d}"
    return interval, pl.when(phase != main).then(pl.format(
        f"ts {{}} is off the file's {interval} bar grid (its bars start at {at} UTC)", pl.col("ts")))


def _volume_rules(layout: Layout, frame: pl.DataFrame) -> list[pl.Expr]:
    """Rules: quote volume / base volume lies within the bar's price range (a swap or a cut volume
    is not), and the volume per trade agrees with the neighbouring bars of the same instrument
    (a cut trade count does not). `frame` is sorted by time and carries `__series`."""
    rules = []
    if layout.kind != PRICE:
        return rules
    base, quote, lo, hi = (pl.col(c) for c in ("volume", "volume_quote", "low", "high"))
    usable = (base > 0) & (quote > 0) & (lo > 0) & (hi >= lo)
    vwap = quote / base
    outside = usable & ((vwap < lo / VWAP_SLACK) | (vwap > hi * VWAP_SLACK))
    swapped = outside & (base / quote).is_between(lo / VWAP_SLACK, hi * VWAP_SLACK)
    head = layout.header
    base_name, quote_name = head[layout.columns["volume"]], head[layout.columns["volume_quote"]]
    rules.append(
        pl.when(swapped).then(pl.format(
            f"'{base_name}' and '{quote_name}' look swapped: {quote_name} / {base_name} = {{}} is outside the bar's "
            "price range [{}, {}] while its inverse is inside", vwap.round_sig_figs(4), lo.round_sig_figs(6),
            hi.round_sig_figs(6)))
        .when(outside).then(pl.format(
            f"{quote_name} / {base_name} = {{}} is outside the bar's price range [{{}}, {{}}] (x{VWAP_SLACK}): "
            "a volume is truncated or mislabelled", vwap.round_sig_figs(4), lo.round_sig_figs(6), hi.round_sig_figs(6))))
    if "tradecount" in layout.columns and frame.height >= 5:
        n = pl.col("tradecount")
        per = pl.when((n > 0) & (base > 0)).then(base / n)
        med = per.rolling_median(NEIGHBOURS, center=True, min_samples=5).over("__series")  # same instrument
        ratio = (per / med)
        odd = ratio.is_not_null() & ((ratio > PER_TRADE_FACTOR) | (ratio < 1 / PER_TRADE_FACTOR))
        rules.append(pl.when(odd).then(pl.format(
            "tradecount: {} trades for volume {} is {}x the volume per trade of the neighbouring bars "
            "(a cut or corrupted count; absurd outlier of its column)", n.cast(pl.Int64), base, ratio.round(2))))
    return rules


TAIL_FACTOR = 5.0
"""The last line of a file that ends without a newline, whose last field is 5x below its
neighbours' median (or half as long as its column's values), was cut inside that field."""


def _truncated_tail(layout: Layout, frame: pl.DataFrame, last_line: int, ends_open: bool) -> pl.Expr | None:
    """Rule: a file that ends without a newline was cut; if its last line's last field is far
    below its neighbours (or far shorter than its column's values), the line was cut inside it."""
    last = next((c for c, i in layout.columns.items() if i == len(layout.header) - 1), None)
    if not ends_open or last is None or last not in frame.columns or frame.height < 3:
        return None
    text = pl.col(f"__t_{last}")
    typical = frame.filter(pl.col("__line") != last_line)[f"__t_{last}"].str.len_chars().median()
    short = text.str.len_chars() < 0.5 * (typical or 0)
    if last in ("open", "high", "low", "close", "volume", "volume_quote", "tradecount", "rate"):
        med = pl.col(last).abs().rolling_median(NEIGHBOURS, center=True, min_samples=3).over("__series")
        short = short | (pl.col(last).abs() * TAIL_FACTOR < med)
    return pl.when((pl.col("__line") == last_line) & short).then(pl.format(
        f"{last}: '{{}}' ends the file without a newline and is far below its neighbours (x1/{TAIL_FACTOR:g}) or "
        "far shorter than its column's values: the line was cut inside its last field (a truncated download)", text))


def read_cdd_file(path: Path, units: str = "auto", now: datetime | None = None,
                  decided: Units | None = None) -> ParsedFile:
    """One file -> its rows (contract-valid, oldest first, `__line` kept) and its rejected lines.

    `now` is the run's clock: a row stamped after it is future-dated and quarantined. `units` is
    the funding setting (auto | fraction | percent); `decided` overrides a funding or DVOL file's
    own unit evidence with a decision taken across files (`units.funding_from_other_files`).
    """
    now = now or datetime.now(UTC)
    raw = path.read_bytes()
    if not raw.strip():
        raise CddLayoutError(f"{path.name}: the file is empty")
    data, file_notes = _decode(path, raw)
    lines, bad = _split_lines(path, data)
    layout = detect(path, [text for _, text in lines[:2]])
    width = len(layout.header)
    records, numbers, texts, evidence, trimmed = [], [], [], [], 0
    all_texts = dict(lines)
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
            seen = _line_ts(fields, layout)
            evidence.append(seen)
            bad.append(dict(file=path.name, line=str(number), text=text, ts=None if seen is None else str(seen),
                            asset=split_symbol(fields[layout.columns["symbol"]])
                            if layout.columns["symbol"] < len(fields) else None,
                            reason=f"line {number} has {len(fields)} fields; the header has {width}{hint}"))
            continue
        stripped = [f.strip() for f in fields]
        trimmed += stripped != fields
        records.append([stripped[i] for i in layout.columns.values()])
        numbers.append(number)
        texts.append(text)
    frame = pl.DataFrame(records, schema={c: pl.Utf8 for c in layout.columns}, orient="row").with_columns(
        pl.Series("__line", numbers, pl.Int64), pl.Series("__text", texts, pl.Utf8)
    )
    frame = _parse_time(frame, layout)
    reasons = [pl.col("__time_error"),
               pl.when(pl.col("ts") > now).then(pl.format(
                   f"ts {{}} is after the run's own clock ({now:%Y-%m-%d %H:%M:%S} UTC): a future-dated row",
                   pl.col("ts"))),
               pl.when(~pl.col("symbol").str.contains(SYMBOL_RE)).then(pl.format(
                   "symbol '{}' is not an instrument symbol (letters and digits, e.g. BTCUSDT or BTC/USDT)",
                   pl.col("symbol")))]
    values = [n for n in ("open", "high", "low", "close", "volume", "volume_quote", "tradecount", "rate")
              if n in frame.columns]
    for name in values:
        value, reason = _number(name)
        frame = frame.with_columns(value.alias(f"__v_{name}"), reason.alias(f"__r_{name}"))
        reasons.append(pl.col(f"__r_{name}"))

    def split(frame: pl.DataFrame, reasons: list[pl.Expr]) -> tuple[pl.DataFrame, pl.DataFrame]:
        joined = pl.concat_str(reasons, separator="; ", ignore_nulls=True)
        frame = frame.with_columns(pl.when(joined == "").then(None).otherwise(joined).alias("__reason"))
        out = frame.filter(pl.col("__reason").is_not_null())
        return frame.filter(pl.col("__reason").is_null()).drop("__reason"), _reject_rows(path, out, pl.col("__reason"))

    good, rejected = split(frame, reasons)
    evidence += frame.filter(pl.col("ts") <= now)["ts"].to_list()
    good = good.with_columns(pl.col(f"__v_{n}").alias(f"__num_{n}") for n in values)

    # file-level claims and neighbours, judged on the rows that read cleanly
    notes: dict = dict(file_notes)
    claim_rule, claim_notes = _claims(path, layout, good)
    notes.update(claim_notes)
    interval, spacing_rule = _spacing(path, layout, good)
    typed = good.with_columns(pl.col(c).alias(f"__t_{c}") for c in layout.columns)
    typed = typed.with_columns(pl.col(f"__num_{n}").alias(n) for n in values).sort("ts")
    series = pl.col("symbol").str.to_uppercase().str.replace_all(r"[/\-_]", "")
    typed = typed.with_columns(series.alias("__series"))  # one instrument's bars: neighbours are compared within it
    rules = [r for r in (claim_rule, spacing_rule) if r is not None] + _volume_rules(layout, typed)
    tail = _truncated_tail(layout, typed, lines[-1][0] if lines else 0, not data.endswith(b"\n"))
    if tail is not None:
        rules.append(tail)
    flag = pl.concat_str(rules, separator="; ", ignore_nulls=True) if rules else pl.lit("")
    flags = typed.select("__line", flag.alias("reason")).filter(pl.col("reason").is_not_null() & (pl.col("reason") != ""))

    # the partial-bar rule, by time: the newest bar the file shows (on any readable line, valid or
    # not, but never a future-dated one) was still open when the file was downloaded; so is any
    # bar that has not closed by the run's clock
    good, partial = typed, 0
    if good.height:
        newest = max(t for t in evidence if t is not None)
        step = INTERVAL_SECONDS.get(interval or "1d", 86_400) if layout.kind != FUNDING else 0
        still_open = ((pl.col("ts") == newest) | (pl.col("ts") + pl.duration(seconds=step) > now)) & ~pl.col(
            "__line").is_in(flags["__line"].implode())
        partial = good.filter(still_open).height
        if partial:
            notes["partial_bar_excluded"] = [str(t) for t in good.filter(still_open)["ts"].to_list()]
        good = good.filter(~still_open)
    rows, table_notes, scaled = _table_rows(path, layout, good, units, interval, decided)
    notes.update(table_notes)

    # the table's contract, per file, so a rejected row still names its file and line; a row's
    # reasons from the file-level rules and from the contract are reported together
    table = TABLE_OF[layout.kind]
    report = validate(spec(table), rows, keep=("__line",))
    found = pl.concat([flags, report.rejected.select(pl.col("__line").cast(pl.Int64), "reason")])
    found = found.group_by("__line", maintain_order=True).agg(pl.col("reason").str.join("; "))
    rows = report.valid.join(found, on="__line", how="anti").sort(["asset", "ts", "__line"])  # oldest first
    if found.height:
        rejected = pl.concat([rejected, _reject_rows(path, typed.join(found, on="__line"), pl.col("reason"))])
    snapped = frame.filter(pl.col("__jitter_ms") != 0)
    if snapped.height:
        notes["funding_times_snapped"] = snapped.height
        notes["funding_jitter_ms_max"] = int(snapped["__jitter_ms"].abs().max())
    if trimmed:
        notes["whitespace_trimmed"] = trimmed
    if not data.endswith(b"\n"):
        notes["ends_without_newline"] = True
    future = rejected.filter(pl.col("reason").str.contains("future-dated", literal=True)).height
    if future:
        notes["future_dated_rows"] = future
    rejected = pl.concat([pl.DataFrame(bad, schema=REJECT_SCHEMA), rejected], how="vertical_relaxed")
    rejected = rejected.sort(pl.col("line").cast(pl.Int64, strict=False), nulls_last=True, maintain_order=True)
    digest = hashlib.sha256(raw).hexdigest()
    return ParsedFile(path, digest, layout, table, rows, rejected, partial, notes,
                      texts=dict(zip(numbers, texts, strict=True)), units=scaled)
