"""A websocket recording's lines as a frame, without a Python loop over lines.

Collectors write one message per line: `<local receive timestamp> <JSON>`. Parsing each line
with `json.loads` caps a reader at a few hundred thousand lines a second, so the file is read
by polars' CSV reader as one string column (one field a line) and split with polars string
expressions. The JSON itself is decoded later, per
stream kind, by `binance_ws_parse`.

The local clock's unit is decided per file from the magnitude of its timestamps (real
collectors write nanoseconds in some files and microseconds in others; a few write ms):
an epoch instant of 2000..2100 is 9.5e11..4.1e12 in ms, 9.5e14..4.1e15 in µs and
9.5e17..4.1e18 in ns, so the three ranges cannot be confused.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

UNIT_RANGES = {"ns": (9.4e17, 4.2e18), "us": (9.4e14, 4.2e15), "ms": (9.4e11, 4.2e12)}
"""Local-clock unit -> the range of an epoch instant between 2000 and 2100 in that unit."""
NS_PER = {"ns": 1, "us": 1_000, "ms": 1_000_000}



@dataclass
class FileLines:
    """One file's lines: `frame` has `__line`, `ts_local` (ns, UTC), `kind`, `data` (the JSON text of
    the message, the envelope removed), `bad` (why a line cannot be read, else null)."""

    frame: pl.DataFrame
    text: pl.Series
    """The raw text of every line (index = line - 1), for the rejected rows."""
    unit: str | None
    """The local clock's unit, or None when no line had a readable timestamp."""


def read_text(path: Path) -> tuple[pl.Series, str | None]:
    """The file's lines as a string Series (gzip or plain), and a note when the gzip stream was torn.

    polars' CSV reader does the work: it gunzips (gzip's magic number, whatever the file's name),
    cuts lines on any core it may use, and keeps blank lines as nulls, so line numbers stay the
    file's. The separator (0x1f) and no quote character make each line one field: JSON text never
    holds a raw control character. Invalid UTF-8 (a torn write) is replaced, not fatal.
    """
    raw = path.read_bytes()
    note = None
    try:
        text = csv_lines(raw)
    except pl.exceptions.PolarsError:
        if raw[:2] != b"\x1f\x8b":
            raise
        # A collector killed mid-write leaves a gzip stream without its end: keep what inflates.
        inflated = zlib.decompressobj(31).decompress(raw)
        note = f"gzip stream truncated: {len(inflated)} bytes inflated before the tear; its last line is likely cut"
        text = csv_lines(inflated)
    return text, note


def csv_lines(raw: bytes) -> pl.Series:
    """Bytes -> one string a line (see `read_text`)."""
    if not raw:
        return pl.Series("text", [], pl.Utf8)
    frame = pl.read_csv(raw, has_header=False, separator="\x1f", quote_char=None, schema={"text": pl.Utf8},
                        encoding="utf8-lossy", truncate_ragged_lines=True)
    return frame["text"].fill_null("")


def decide_unit(ts: pl.Series) -> str | None:
    """The file's local-clock unit from the median of its integer timestamps (None if it fits none)."""
    med = ts.drop_nulls().median()
    if med is None:
        return None
    for unit, (lo, hi) in UNIT_RANGES.items():
        if lo <= med <= hi:
            return unit
    return None


def _stamp_parts(text: pl.Series) -> tuple[pl.Expr, pl.Expr]:
    """(timestamp text, JSON text) of each line: either side of its first space."""
    sp = text.str.find(" ", literal=True)
    if sp.null_count() == 0 and len(text) and sp.min() == sp.max():
        width = int(sp[0])  # one timestamp width in the whole file (the usual case): constant slices are cheaper
        return pl.col("text").str.slice(0, width), pl.col("text").str.slice(width + 1)
    return pl.col("text").str.slice(0, pl.lit(sp)), pl.col("text").str.slice(pl.lit(sp) + 1)


def stamps(text: pl.Series) -> pl.Series:
    """Each line's integer timestamp prefix as `file_lines` reads it (null where there is none)."""
    ts_text, _ = _stamp_parts(text)
    return pl.DataFrame({"text": text}).select(ts_text.str.to_integer(strict=False))["text"]


KEEP = object()
"""`file_lines(unit=KEEP)`: decide the unit from these lines' own timestamps."""


def file_lines(text: pl.Series, line_numbers: np.ndarray | None = None, unit: object = KEEP) -> FileLines:
    """Read each line's timestamp prefix, find each message's kind and its data object's text.

    The combined-stream envelope is cut with substring searches, not a regex and not a JSON walk:
    `{"stream":"<symbol>@<kind>[@speed]","data":<object>}` is how Binance writes it, and the data
    object is the rest of the line but its last brace. Lines of any other shape (other key order,
    whitespace, REST snapshots, unwrapped events) take `_classify_rest`.

    `line_numbers` and `unit` are given when these lines are a part of a file (the lines the fast path
    left): their numbers in the file, and the unit decided from all of its lines.
    """
    n = len(text)
    numbers = (pl.int_range(1, n + 1, eager=True, dtype=pl.Int64) if line_numbers is None
               else pl.Series(np.asarray(line_numbers, dtype=np.int64)))
    df = pl.DataFrame({"__line": numbers, "text": text})
    ts_text, json = _stamp_parts(text)
    df = df.with_columns(ts_raw=ts_text.str.to_integer(strict=False), json=json.str.strip_chars_end())
    if unit is KEEP:
        unit = decide_unit(df["ts_raw"])
    lo, hi = UNIT_RANGES[unit] if unit else (0.0, 0.0)
    mult = NS_PER[unit] if unit else 1
    in_unit = pl.col("ts_raw").is_between(lo, hi)
    data_at = pl.col("json").str.find('","data":', literal=True)
    wrapped = pl.col("json").str.starts_with('{"stream":"') & data_at.is_not_null()
    closed = pl.col("json").str.ends_with("}")
    df = df.with_columns(
        ts_local=pl.when(in_unit).then(pl.col("ts_raw") * mult).cast(pl.Datetime("ns", "UTC")),
        stream=pl.when(wrapped).then(pl.col("json").str.slice(11, data_at - 11)),
        data=pl.when(wrapped & closed).then(
            pl.col("json").str.slice(data_at + 9, pl.col("json").str.len_chars() - data_at - 10)),
        bad=pl.when(pl.col("text") == "").then(pl.lit("empty line"))
        .when(pl.col("ts_raw").is_null()).then(pl.lit("no `<timestamp> <json>` prefix"))
        .when(unit is None).then(pl.lit("the file's local timestamps fit no unit (ns, us, ms)"))
        .when(~in_unit).then(pl.lit(f"timestamp not in the file's unit ({unit})"))
        .when(pl.col("json").is_null() | (pl.col("json") == "")).then(pl.lit("no JSON after the timestamp"))
        .when(~pl.col("json").str.starts_with("{") | ~closed).then(pl.lit("truncated or non-object JSON")),
    )
    df = df.with_columns(kind=_stream_kind(df["stream"]))
    df = _classify_rest(df)
    return FileLines(df.select("__line", "ts_local", "kind", "data", "bad"), text, unit)


def _stream_kind(stream: pl.Series) -> pl.Series:
    """`btcusdt@depth@100ms` -> `depth`: mapped once per distinct stream name (a file has a handful)."""
    names = stream.drop_nulls().unique().to_list()
    kinds = {name: name.split("@")[1] if "@" in name else None for name in names}
    return stream.replace_strict(kinds, default=None, return_dtype=pl.Utf8)


_EVENT_KIND = {"depthUpdate": "depth", "trade": "trade", "aggTrade": "aggTrade", "bookTicker": "bookTicker",
               "markPriceUpdate": "markPrice", "forceOrder": "forceOrder"}


def _classify_rest(df: pl.DataFrame) -> pl.DataFrame:
    """Lines without the fast envelope head: REST snapshots, unwrapped events, other key orders.

    Only these few lines pay for `json_path_match` (one JSON walk per field asked).
    """
    rest = pl.col("kind").is_null() & pl.col("bad").is_null()
    if not df.select(rest.any()).item():
        return df
    snap = pl.col("json").str.starts_with('{"lastUpdateId"')
    df = df.with_columns(kind=pl.when(rest & snap).then(pl.lit("snapshot")).otherwise(pl.col("kind")),
                         data=pl.when(rest & snap).then(pl.col("json")).otherwise(pl.col("data")))
    rest = pl.col("kind").is_null() & pl.col("bad").is_null()
    idx = df.with_row_index("__i").filter(rest)
    if idx.is_empty():
        return df
    js = idx["json"]
    stream = js.str.json_path_match("$.stream")
    wrapped = js.str.json_path_match("$.data")
    event = js.str.json_path_match("$.e")
    last_id = js.str.json_path_match("$.lastUpdateId")
    ask_qty = js.str.json_path_match("$.A")
    reply_id = js.str.json_path_match("$.id")
    stream_kind = stream.str.extract(r"^[^@]+@([A-Za-z0-9]+)")
    raw_kind = event.replace_strict(_EVENT_KIND, default=event)
    kind = (pl.select(
        pl.when(stream_kind.is_not_null()).then(stream_kind)
        .when(last_id.is_not_null()).then(pl.lit("snapshot"))
        .when(event.is_not_null()).then(raw_kind)
        .when(ask_qty.is_not_null()).then(pl.lit("bookTicker"))  # spot bookTicker: no `e` field
        .when(reply_id.is_not_null()).then(pl.lit("reply"))  # the venue's answer to a (un)subscribe request
        .otherwise(pl.lit(None, pl.Utf8))
    ).to_series())
    data = pl.select(pl.when(stream_kind.is_not_null()).then(wrapped).otherwise(js)).to_series()
    bad = pl.select(pl.when(kind.is_null()).then(pl.lit("not a Binance stream message, snapshot or event"))).to_series()
    upd = pl.DataFrame({"__i": idx["__i"], "kind_r": kind, "data_r": data, "bad_r": bad})
    df = df.with_row_index("__i").join(upd, on="__i", how="left", maintain_order="left")
    return df.with_columns(kind=pl.coalesce("kind", "kind_r"), data=pl.coalesce("data", "data_r"),
                           bad=pl.coalesce("bad", "bad_r")).drop("__i", "kind_r", "data_r", "bad_r")
