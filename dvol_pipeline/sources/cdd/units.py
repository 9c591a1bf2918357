"""The units of a CDD funding or DVOL file, decided from evidence that holds in any month.

A file's own magnitude is weak evidence when it points one way: a calm month of funding
quoted in percent (0.0012 for 0.0012 %) looks like a plausible month of fractions. So the
evidence is taken strongest first, and the decision says which evidence decided it.

Funding rates (stored as a fraction per interval, 1e-4 = 0.01 %):

1. the setting (`funding_units` fraction | percent);
2. the header: `Funding Rate (%)`;
3. the magnitude, one way only: a median |rate| above 0.003 per interval cannot be a
   fraction (~330 % a year at 8 h), so the file is percent;
4. the venues' interest-rate baseline: Binance-style 8-hourly funding is exactly 0.01 % per
   8 h whenever the premium is small, so a file where 0.0100 is a quarter or more of the
   events writes percent, however small its other rates;
5. the coin's other funding files in landing/ (`funding_from_other_files`): a file the
   evidence above leaves open follows a decided file of its coin, by the ratio of their rates
   on the events both hold (1x: the same units, 100x: percent against fraction), or else the
   decided file from the same venue in the same header layout (one writer, one format);
6. otherwise fractions, noted as a guess that items 1, 2 or 5 can settle.

DVOL (stored in vol points, 55.3 = 55.3 %): the index has stayed within about 20-250 vol
points, so a file whose median OHLC value is below 5 is written as fractions (0.55): a
fraction series has a median below 2.5 even in a month whose spike days exceed 1.0, and a
vol-point series a median above 20. The file's level against that range decides alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import polars as pl

from dvol_pipeline.sources.cdd.layouts import Layout

PERCENT_THRESHOLD = 0.003
"""A median |funding| above 0.3 % per interval is not a plausible fraction (~330 % a year at 8 h),
so such a file quotes percent; below it the magnitude alone cannot tell."""
BASELINE_PERCENT = 0.01
"""The 0.01 % per 8 h interest-rate component of Binance-style funding, written in percent."""
BASELINE_SHARE = 0.25
"""The baseline decides when at least a quarter of a file's 8-hourly events sit exactly on it."""
RATIO_SLACK = 2.0
"""Rates of two files on shared events within 2x of 1 are in the same units; within 2x of 100
(or of 1/100) one is in percent and the other in fractions."""
DVOL_FRACTION_BELOW = 5.0
"""A DVOL file whose median OHLC value is below 5 is written as fractions (see the module doc)."""


@dataclass(frozen=True)
class Units:
    """A file's units: what to multiply its numbers by to store them, and the evidence."""

    label: str
    scale: float
    evidence: str
    decided: bool = True
    """False: the file's own numbers could not tell (a guess the coin's other files may settle)."""

    def note(self) -> str:
        return f"{self.label} ({self.evidence})"


class UnitFile(Protocol):
    """What the across-files decision reads of a parsed file (`reader.ParsedFile`)."""

    path: Path
    layout: Layout
    rows: pl.DataFrame
    units: Units | None


def _funding(percent: bool, evidence: str, decided: bool = True) -> Units:
    return Units("percent" if percent else "fraction", 0.01 if percent else 1.0, evidence, decided)


def funding_units(rates: pl.Series, layout: Layout, setting: str, interval_hours: int) -> Units:
    """A funding file's units from its own evidence: the setting, its header, the baseline, its magnitude."""
    if setting in ("fraction", "percent"):
        return _funding(setting == "percent", f"configured: {setting}")
    if layout.funding_in_percent:
        return _funding(True, "header says percent")
    values = rates.drop_nulls()
    if values.is_empty():
        return _funding(False, "no values; fraction assumed", decided=False)
    med = float(values.abs().median())
    if med > PERCENT_THRESHOLD:
        return _funding(True, f"median |rate| {med:.6f} > {PERCENT_THRESHOLD}")
    at_baseline = int((values == BASELINE_PERCENT).sum())
    if interval_hours == 8 and at_baseline >= BASELINE_SHARE * values.len():
        return _funding(True, f"{at_baseline} of {values.len()} events at 0.0100: the 0.01 % per 8 h interest-rate "
                              "baseline of Binance-style funding, written in percent")
    return _funding(False, f"median |rate| {med:.6f} <= {PERCENT_THRESHOLD}, which a calm month quoted in percent "
                           "also shows: a guess; set funding_units (--funding-units) or keep the coin's other "
                           "funding files in landing/", decided=False)


def _same_units_factor(ratio: float) -> float | None:
    """1, 100 or 1/100 when `ratio` is within RATIO_SLACK of it; None otherwise."""
    for factor in (1.0, 100.0, 0.01):
        if factor / RATIO_SLACK <= ratio <= factor * RATIO_SLACK:
            return factor
    return None


def funding_from_other_files(files: Sequence[UnitFile], venue_of: Callable[[Path], str]) -> dict[Path, Units]:
    """Funding files whose own evidence left their units open, settled by the coin's decided files.

    `venue_of(path)` names a file's venue. Returns the new decision per settled file (see the
    module doc, item 5); files no other file can settle are left out."""
    one_coin = [f for f in files if f.units is not None and f.rows.height and f.rows["asset"].n_unique() == 1]
    decided = [f for f in one_coin if f.units.decided]
    settled: dict[Path, Units] = {}
    for f in (f for f in one_coin if not f.units.decided):
        peers = [o for o in decided if o.rows["asset"][0] == f.rows["asset"][0]]
        for o in peers:
            written = (pl.col("rate") / f.units.scale).alias("mine"), (pl.col("rate") / o.units.scale).alias("theirs")
            shared = f.rows.select("ts", written[0]).join(o.rows.select("ts", written[1]), on="ts")
            shared = shared.filter((pl.col("mine") != 0) & (pl.col("theirs") != 0))
            if shared.is_empty():
                continue
            ratio = float((shared["mine"] / shared["theirs"]).abs().median())  # the numbers as written
            factor = _same_units_factor(ratio)
            scale = None if factor is None else o.units.scale / factor  # equal rates once stored
            if scale not in (1.0, 0.01):  # no clear ratio, or neither fractions nor percent
                continue
            settled[f.path] = _funding(scale == 0.01, f"its numbers on {shared.height} shared events are {ratio:.3g}x "
                                                      f"those of {o.path.name}, read as {o.units.note()}")
            break
        else:
            layout = [o for o in peers if venue_of(o.path) == venue_of(f.path) and o.layout.header == f.layout.header]
            if layout and len({o.units.label for o in layout}) == 1:
                o = layout[0]
                settled[f.path] = _funding(o.units.label == "percent", f"as {o.path.name}, the coin's file from the "
                                                                       f"same venue in the same layout, read as "
                                                                       f"{o.units.note()}")
    return settled


def dvol_units(frame: pl.DataFrame) -> Units:
    """A DVOL file's units from its level against the index's known range (see the module doc)."""
    values = pl.concat([frame[c] for c in ("open", "high", "low", "close")]).drop_nulls()
    if values.is_empty():
        return Units("vol points", 1.0, "no values; vol points assumed", decided=False)
    med = float(values.median())
    if med < DVOL_FRACTION_BELOW:
        return Units("fraction x100", 100.0, f"median {med:.3g} < {DVOL_FRACTION_BELOW:g}: DVOL stays within about "
                                             "20-250 vol points, so these are fractions")
    return Units("vol points", 1.0, f"median {med:.3g} >= {DVOL_FRACTION_BELOW:g}: within DVOL's range in vol points")
