"""What the archive import reports beside its rows: funding's quirks, and the features its data cannot support."""

from __future__ import annotations

from pathlib import Path

import polars as pl

HOUR_NS = 3_600_000_000_000
FUNDING_CAPS = (0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05)
"""Funding caps/floors Binance has used (±, per symbol, changed over time: 0.75 % and 3 % are the commonest of
recent years). A settlement whose |rate| equals one of them is counted as sitting at a cap: a heuristic, since the
file does not say which cap applied to the symbol on that day."""


def funding_notes(fund: pl.DataFrame, inferred: int) -> list[str]:
    """Offsets after the hour, rows at a cap, interval changes per stream, intervals inferred from spacing."""
    if fund.is_empty():
        return []
    notes = []
    after_ms = fund.select(((pl.col("funding_time").dt.epoch("ns") % HOUR_NS) / 1e6).alias("ms"))["ms"]
    if after_ms.max() > 0:
        notes.append(f"funding: settlement times lie after the hour (median {after_ms.median():.0f} ms, max "
                     f"{after_ms.max():.0f} ms): kept as the venue stamped them")
    at_cap = fund.filter(pl.col("funding_rate").abs().is_in(FUNDING_CAPS))
    if at_cap.height:
        per = at_cap.group_by("symbol").len().sort("symbol")
        detail = ", ".join(f"{s} {n}" for s, n in per.iter_rows())
        notes.append(f"funding: {at_cap.height} settlement(s) at a venue cap (|rate| in {FUNDING_CAPS}; {detail}): "
                     "kept, they are what was paid")
    if inferred:
        notes.append(f"funding: {inferred} settlement(s) without funding_interval_hours in the file: inferred from "
                     "the spacing to the previous settlement (rounded hours)")
    changes = fund.filter(pl.col("funding_interval_hours") != pl.col("funding_interval_hours").shift(1)
                          .over("venue", "symbol"))
    for venue, symbol, ts, hours in changes.select("venue", "symbol", "funding_time", "funding_interval_hours") \
            .iter_rows():
        notes.append(f"funding: {venue} {symbol} interval changes to {hours} h at {ts:%Y-%m-%d %H:%M} UTC")
    return notes


def missing_features(tables: dict[str, pl.DataFrame], bars: pl.DataFrame | None,
                     refused: list[tuple[Path, str]]) -> dict[str, str]:
    """Feature group -> why this archive's data cannot support it (for every stream, or the ones named)."""
    missing = {
        "depth_imbalance": "no L2 price levels in the archive (bookDepth is cumulative depth at ±1..5 % of the mid, "
                           "not levels): depth at 5/10/20 levels and its imbalance cannot be built",
        "queue": "queue depletion and cancellation rates need level-by-level L2 updates; the archive has none",
        "book": "no L2: book_snapshots and book_quality (sync, breaks, crossed states, bbo agreement) cannot be built",
        "clock_skew": "exchange clocks only: no receive time, no skew to measure",
        "liquidations": "the archive kinds read here have no liquidations: liquidation intensity cannot be built",
        "mark_index": "mark and index prices are not read (markPriceKlines/indexPriceKlines): no mark-based basis",
    }
    streams = set()
    for name in ("raw_trades", "raw_derivative_ticker"):
        if name in tables:
            streams |= set(tables[name].select("venue", "symbol").unique().iter_rows())
    if bars is not None and bars.height:
        streams |= set(bars.select("venue", "symbol").unique().iter_rows())
    top = tables.get("raw_top_of_book")
    with_top = set(top.select("venue", "symbol").unique().iter_rows()) if top is not None else set()
    without_top = sorted(streams - with_top)
    if not with_top:
        why = "no L2 and no bookTicker"
    elif without_top:
        why = f"no L2, and no bookTicker for {', '.join(f'{v} {s}' for v, s in without_top)}"
    else:
        why = None
    if why:
        missing["ofi"] = f"{why}: order-flow imbalance (CKS) needs best bid/offer updates"
        missing["microprice"] = f"{why}: microprice and the spread need the best bid/offer and their sizes"
    if bars is not None and bars.height:
        kline_only = sorted(set(bars.select("venue", "symbol").unique().iter_rows()))
        missing["tick_trades"] = ("1-minute klines only for " + ", ".join(f"{v} {s}" for v, s in kline_only)
                                  + " (on the days without trades): no 1 s or volume bars, no exact VPIN, trade-sign "
                                  "imbalance or Kyle's lambda below one minute")
    if any("bookDepth" in why for _, why in refused):
        missing["depth_imbalance"] += " (bookDepth files were found and refused for that reason)"
    return missing
