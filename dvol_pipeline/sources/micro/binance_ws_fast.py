"""One file's messages, parsed: the numba fast path with the polars path for the lines it leaves.

`parse_bytes` runs `binance_ws_scan.scan` over the file's bytes; the lines it reads become rows here with
numpy and polars column operations (no Python per line), through the same per-kind rules as the polars
path (`binance_ws_parse.parse_decoded`). The lines it does not read (snapshots, forceOrder, other streams,
other key orders, whitespace, escapes, malformed lines) are cut out of the buffer and read by the polars
path (`binance_ws_lines.file_lines`, `binance_ws_parse.parse_kind`) under their own line numbers, with the
local-clock unit decided from every line of the file. Both halves' rows are merged back in line order.

`parse_text` is the polars path alone on the whole file: the reference the fast path is tested against.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from dvol_pipeline.contracts.micro import LINE
from dvol_pipeline.sources.micro.binance_ws_lines import (
    NS_PER,
    UNIT_RANGES,
    csv_lines,
    decide_unit,
    file_lines,
    stamps,
)
from dvol_pipeline.sources.micro.binance_ws_parse import KINDS, Parsed, parse_decoded, parse_kind
from dvol_pipeline.sources.micro.binance_ws_scan import KIND_CODES, count_lines, gather_lines, scan

UTC_NS = pl.Datetime("ns", "UTC")
MAX_RUNS = 512
"""`merge_by_line` concatenates slices up to this many runs, else merges row by row."""


@dataclass
class FileParse:
    """One file's parsed messages, whichever path read them."""

    n_lines: int
    unit: str | None
    parsed: dict[str, Parsed]
    slow: pl.DataFrame
    """The polars path's lines: `__line`, `ts_local`, `kind`, `bad` (all lines when it read the whole file)."""
    raw_text: Callable[[pl.Series], pl.Series]
    """Line numbers (read by the polars path) -> their raw text, for the rejected rows."""
    first_ts: object = None
    notes: list[str] = field(default_factory=list)


def read_bytes(path: Path) -> tuple[bytes, str | None]:
    """The file's bytes (gunzipped where it starts with gzip's magic number) and a note when the gzip
    stream was torn (a collector killed mid-write): what inflates before the tear is kept."""
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw, None
    try:
        return gzip.decompress(raw), None
    except (EOFError, OSError, zlib.error):
        inflated = zlib.decompressobj(31).decompress(raw)
        return inflated, (f"gzip stream truncated: {len(inflated)} bytes inflated before the tear; "
                          "its last line is likely cut")


def parse_text(text: pl.Series) -> FileParse:
    """Every line through the polars path (`file_lines`, one `json_decode` per kind)."""
    lines = file_lines(text)
    valid = lines.frame.filter(pl.col("bad").is_null())
    by_kind = {kind: valid.filter(pl.col("kind") == kind) for kind in KINDS}
    parsed = {kind: parse_kind(kind, msgs) for kind, msgs in by_kind.items() if msgs.height}
    return FileParse(len(text), lines.unit, parsed, lines.frame, lambda numbers: text.gather(numbers - 1),
                     valid["ts_local"].min())


def parse_bytes(data: bytes) -> FileParse | None:
    """The fast path over `data` with the polars path for the rest; None where the two would not cut the
    file into the same lines (then the caller reads it with `parse_text`)."""
    if not data:
        return None
    buf = np.frombuffer(data, dtype=np.uint8)
    n_lines = count_lines(buf)
    starts, ends, ts, ts_ok, status, out_i, out_f, bits, sym, syms, lv_line, lv_ask, lv_px, lv_qty = scan(
        buf, n_lines)
    # The unit comes from every line's timestamp; polars reads those the scan could not (`+5`, no space ...).
    odd = np.flatnonzero(~ts_ok)
    odd_text = _lines_text(buf, starts, ends, odd)
    if odd_text is None:
        return None
    odd_ts = stamps(odd_text).cast(pl.Int64) if len(odd) else pl.Series([], dtype=pl.Int64)
    unit = decide_unit(pl.concat([pl.Series(ts[ts_ok], dtype=pl.Int64), odd_ts]))
    read = status > 0
    if unit is None:
        reset = read
    else:
        lo, hi = UNIT_RANGES[unit]
        reset = read & ~((ts >= lo) & (ts <= hi))  # another unit: the polars path rejects them
    if reset.any():
        status[reset] = 0
        keep = status[lv_line] > 0
        lv_line, lv_ask, lv_px, lv_qty = lv_line[keep], lv_ask[keep], lv_px[keep], lv_qty[keep]
    slow_rows = np.flatnonzero(status == 0)
    slow_text = _lines_text(buf, starts, ends, slow_rows)
    if slow_text is None:
        return None
    lines = file_lines(slow_text, slow_rows + 1, unit)
    valid = lines.frame.filter(pl.col("bad").is_null())
    names = pl.Series([bytes(buf[s:s + m]).decode() for s, m in syms[:, :2]], dtype=pl.Utf8)
    mult = NS_PER[unit] if unit else 1
    parsed = {}
    for kind in KINDS:
        msgs = valid.filter(pl.col("kind") == kind)
        slow = parse_kind(kind, msgs) if msgs.height else None
        fast = None
        code = KIND_CODES.get(kind)
        if code is not None:
            rows = np.flatnonzero(status == code)
            if len(rows):
                cols = _columns(kind, rows, ts[rows] * mult, out_i[rows], out_f[rows], bits[rows], names[sym[rows]])
                levels = None
                if kind == "depth":
                    cols["__nlev"] = np.bincount(lv_line, minlength=n_lines)[rows]
                    levels = pl.DataFrame({LINE: lv_line + 1, "__ask": lv_ask, "price": lv_px, "size": lv_qty})
                fast = parse_decoded(kind, pl.DataFrame(cols), levels)
        merged = _merge(fast, slow)
        if merged is not None:
            parsed[kind] = merged
    first = [t for t in (valid["ts_local"].min(), _first_fast(ts, status, mult)) if t is not None]
    text_lines = slow_rows + 1
    return FileParse(n_lines, unit, parsed, lines.frame,
                     lambda numbers: slow_text.gather(np.searchsorted(text_lines, numbers.to_numpy())),
                     min(first) if first else None)


def _lines_text(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, rows: np.ndarray) -> pl.Series | None:
    """Lines `rows` as polars' CSV reader reads them (as the whole file's read would); None if it cuts
    them into another number of lines (a stray carriage return ...)."""
    if not len(rows):
        return pl.Series("text", [], pl.Utf8)
    text = csv_lines(gather_lines(buf, starts, ends, rows).tobytes())
    return text if len(text) == len(rows) else None


def _first_fast(ts: np.ndarray, status: np.ndarray, mult: int) -> object:
    read = status > 0
    if not read.any():
        return None
    return pl.Series([int(ts[read].min()) * mult]).cast(UTC_NS)[0]


def _opt(values: np.ndarray, present: np.ndarray, dtype: pl.DataType) -> pl.Series:
    """`values` as a column, null where the key was absent."""
    s = pl.Series(values, dtype=dtype)
    return s if present.all() else pl.select(pl.when(pl.Series(present)).then(s)).to_series()


def _columns(kind: str, rows: np.ndarray, ts_ns: np.ndarray, ints: np.ndarray, floats: np.ndarray,
             bits: np.ndarray, symbols: pl.Series) -> dict[str, object]:
    """The decoded columns `parse_decoded` expects, from the scan's slots (`binance_ws_scan._LAYOUT`)."""
    def has(slot: int) -> np.ndarray:
        return (bits >> slot) & 1 == 1

    def flag(slot: int) -> np.ndarray:
        return (bits >> (slot + 16)) & 1 == 1

    cols: dict[str, object] = {LINE: rows + 1, "ts_local": pl.Series(ts_ns).cast(UTC_NS),
                               "E": _opt(ints[:, 0], has(0), pl.Int64), "T": _opt(ints[:, 1], has(1), pl.Int64),
                               "s": symbols}
    if kind == "depth":
        cols.update(U=ints[:, 3], u=ints[:, 4], pu=_opt(ints[:, 5], has(5), pl.Int64))
    elif kind in ("trade", "aggTrade"):
        cols.update({"t" if kind == "trade" else "a": ints[:, 3], "p": floats[:, 1], "q": floats[:, 2],
                     "m": flag(6)})
        m_slot = 8 if kind == "trade" else 7
        cols["M"] = _opt(flag(m_slot), has(m_slot), pl.Boolean)
        if kind == "trade":  # X: only MARKET or not matters to the rules
            market = pl.select(pl.when(pl.Series(flag(7))).then(pl.lit("MARKET")).otherwise(pl.lit("OTHER")))
            cols["X"] = _opt(market.to_series(), has(7), pl.Utf8)
    elif kind == "bookTicker":
        cols.update(u=ints[:, 3], b=floats[:, 1], B=floats[:, 2], a=floats[:, 3], A=floats[:, 4])
    else:  # markPrice
        cols.update(p=floats[:, 0], i=floats[:, 1], r=floats[:, 2])
    return cols


def merge_by_line(a: pl.DataFrame, b: pl.DataFrame) -> pl.DataFrame:
    """Two frames in `__line` order (no line in both) as one, in line order.

    Where one frame's rows fall into the other in a few runs (the snapshots among the diffs, the polars
    path's few lines among the fast path's), the result is slices of both, concatenated: no row is copied.
    Otherwise (trades and aggTrades interleaved) polars' `merge_sorted`.
    """
    if not a.height or not b.height:
        return a if b.height == 0 else b
    if b.height > a.height:
        a, b = b, a
    pos = np.searchsorted(a[LINE].to_numpy(), b[LINE].to_numpy())
    cuts = np.flatnonzero(np.diff(pos)) + 1
    if len(cuts) >= MAX_RUNS:
        return a.merge_sorted(b, key=LINE)
    pieces, done = [], 0
    for start, end in zip([0, *cuts.tolist()], [*cuts.tolist(), b.height], strict=True):
        at = int(pos[start])
        pieces += [a.slice(done, at - done), b.slice(start, end - start)]
        done = at
    pieces.append(a.slice(done))
    return pl.concat([p for p in pieces if p.height], rechunk=False)


def _merge(fast: Parsed | None, slow: Parsed | None) -> Parsed | None:
    """One kind's rows from both paths, back in line order."""
    if fast is None or slow is None:
        return fast or slow
    rows = fast.rows
    if slow.rows.height:
        rows = merge_by_line(rows.select(pl.col(c).cast(t) for c, t in slow.rows.schema.items()), slow.rows)
    evidence = {k: fast.evidence.get(k, 0) + slow.evidence.get(k, 0) for k in dict.fromkeys([*fast.evidence,
                                                                                              *slow.evidence])}
    dropped = {k: fast.dropped.get(k, 0) + slow.dropped.get(k, 0) for k in dict.fromkeys([*fast.dropped,
                                                                                        *slow.dropped])}
    return Parsed(fast.table, rows, pl.concat([fast.rejected, slow.rejected]), evidence, dropped)
