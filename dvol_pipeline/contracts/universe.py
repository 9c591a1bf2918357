"""The universe's raw contract: the shared row rules (validate.py) plus the absurd-move rule.

A coin can move 100 % in a day; a close more than 6x (or under 1/6 of) the previous close,
a > 500 % move, is far more often a bad print, a redenomination or a ticker reused by
another coin than a market move. Such a row is quarantined with its reason unless the
configuration lists (symbol, date) as a known event (a listing pump, a redenomination the
source already adjusted). The neighbour-median outlier rule of the DVOL tables is not used
here: small coins trend for days far from any median.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date

import polars as pl

from dvol_pipeline.contracts.tables import RAW_UNIVERSE_DAILY
from dvol_pipeline.contracts.validate import COLUMN, REASON, ContractReport, validate

MAX_DAILY_MOVE = 5.0
"""A close/previous-close ratio above 1 + 5 (or below 1 / 6) is an absurd jump."""


def _as_text(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(pl.all().cast(pl.Utf8, strict=False))


def _absurd(ratio: pl.Expr) -> pl.Expr:
    return ((ratio > 1 + MAX_DAILY_MOVE) | (ratio < 1 / (1 + MAX_DAILY_MOVE))).fill_null(False)


def absurd_moves(valid: pl.DataFrame, known_events: Iterable[tuple[str, date]] = ()) -> pl.Series:
    """Boolean mask of rows whose close moved more than MAX_DAILY_MOVE against the previous
    row's close of the same symbol, unless (symbol, date) is a known event. A one-day spike
    (in and out absurd) flags the spike only, not the day after it that returns to the level."""
    known = pl.DataFrame([(s, d) for s, d in known_events], schema={"symbol": pl.Utf8, "date": pl.Date}, orient="row")
    close = pl.col("close")
    ratio_in = close / close.shift(1).over("symbol", order_by="date")
    ratio_out = close.shift(-1).over("symbol", order_by="date") / close
    flagged = valid.with_row_index("__i").with_columns(_absurd(ratio_in).alias("__in"), _absurd(ratio_out).alias("__out"))
    if known.height:
        flagged = flagged.join(known.with_columns(pl.lit(True).alias("__known")), on=["symbol", "date"], how="left")
        flagged = flagged.with_columns(pl.col("__in") & pl.col("__known").is_null())
    spike = pl.col("__in") & pl.col("__out")
    after_spike = spike.shift(1).over("symbol", order_by="date").fill_null(False)
    return flagged.with_columns((pl.col("__in") & ~after_spike).alias("__bad")).sort("__i")["__bad"]


def validate_universe(frame: pl.DataFrame, known_events: Iterable[tuple[str, date]] = ()) -> ContractReport:
    """Row rules, unique (symbol, date), then the absurd-move rule on the rows left."""
    report = validate(RAW_UNIVERSE_DAILY, frame)
    if report.batch_errors or report.valid.is_empty():
        return report
    valid = report.valid
    bad = absurd_moves(valid, known_events)
    if not bad.any():
        return report
    prev = pl.col("close").shift(1).over("symbol", order_by="date")
    jumps = valid.with_columns((pl.col("close") / prev).alias("__ratio")).filter(bad)
    rejected = _as_text(jumps.drop("__ratio")).with_columns(
        pl.lit("close").alias(COLUMN),
        pl.format("close: moved {}x against the previous close (> 500 % daily move; list (symbol, date) in "
                  "known_events if it is real)", jumps["__ratio"].round(2)).alias(REASON),
    )
    return replace(report, valid=valid.filter(~bad),
                   rejected=pl.concat([report.rejected, rejected], how="diagonal_relaxed"))
