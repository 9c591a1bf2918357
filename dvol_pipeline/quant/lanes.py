"""Which lanes can run on the inputs at hand, and over which days.

A lane cannot run without one raw table (the DVOL lane without `raw_dvol`, the options lane
without `raw_option_chain`, the universe lane without `raw_universe_daily`, the micro lane
without tick data); every other input
is optional and only adds features. So the decision is per lane, from what the inputs cover:

- a lane whose table has no rows is skipped, with one line naming what would enable it;
- a lane that runs uses the days its own table covers: the daily partitions start at the first
  partition, the unpartitioned universe lane goes back as far as its files do;
- a range the user asked for narrows every lane to it;
- the universe lane needs `UNIVERSE_MIN_DAYS` to score a fold after a year of purged history.

The other lanes run whatever one lane lacks. Nothing here reads files or knows Dagster: the
caller passes what the source covers (`sources/inputs.py`) and acts on the plans.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from dvol_pipeline.quant.learn.folds import DEFAULT_MIN_HISTORY_DAYS, monthly_folds

Span = tuple[date, date]
"""First and last day, inclusive."""

TICKS = "tick data"
"""What the micro lane needs: any raw tick table (trades, depth, top of book) or a source's own bars."""

UNIVERSE_MIN_DAYS = 500
"""A year of purged training history plus a few months to score: shorter spans skip the universe lane."""


@dataclass(frozen=True)
class Lane:
    name: str
    needs: str
    """The raw table the lane cannot run without."""
    builds: str
    """What the lane makes, as the skip line says it."""
    partitioned: bool = True
    """Daily partitions (from the first partition on) or one unpartitioned pass over the files' days."""
    min_days: int = 1
    leans_on: tuple[str, str] | None = None
    """(another lane, the part of this lane that reads that lane's tables from the lake)."""


LANES = (
    Lane("dvol", "raw_dvol", "DVOL features, forecasts, backtests, signals and the paper book"),
    Lane("options", "raw_option_chain", "option surfaces, greeks and the IV-rank strategies",
         leans_on=("dvol", "the IV-rank strategies (they read the dvol lane's vol_regimes and features_daily)")),
    Lane("universe", "raw_universe_daily", "realised-vol forecasts and regimes of every coin", partitioned=False,
         min_days=UNIVERSE_MIN_DAYS),
    Lane("micro", TICKS, "rebuilt order books, their quality, intraday bars and features", partitioned=False),
)


@dataclass(frozen=True)
class LanePlan:
    lane: str
    span: Span | None
    """The days the lane runs over; None: skipped."""
    line: str
    """One line for the user: the days it runs over, or why it is skipped and what would enable it."""

    @property
    def runs(self) -> bool:
        return self.span is not None


def _clip(span: Span, lo: date | None, hi: date | None) -> Span:
    return max(span[0], lo) if lo else span[0], min(span[1], hi) if hi else span[1]


def plan_lane(lane: Lane, covered: Span | None, enable: str | None, *, first: date, last: date,
              start: date | None = None, end: date | None = None) -> LanePlan:
    """`lane` on inputs covering `covered` (None: none); `enable` names what would provide its table."""
    skipped = f"{lane.name} lane ({lane.builds}): skipped,"
    if covered is None:
        return LanePlan(lane.name, None, f"{skipped} no {lane.needs} in the inputs; "
                                         f"{enable or 'a source that provides it'} would enable it")
    lo, hi = _clip(covered, first if lane.partitioned else None, last)
    lo, hi = _clip((lo, hi), start, end)
    where = f"{lane.needs} covers {covered[0]}..{covered[1]}"
    if lo > hi:
        return LanePlan(lane.name, None, f"{skipped} its {where}, none of the days asked for "
                                         f"({start or first}..{end or last})")
    days = (hi - lo).days + 1
    if days < lane.min_days:
        return LanePlan(lane.name, None, f"{skipped} {lo}..{hi} is {days} days, under the {lane.min_days} it needs "
                                         "(a year of purged history before the first fold)")
    return LanePlan(lane.name, (lo, hi), f"{lane.name} lane: runs over {lo}..{hi} ({where})")


def plan_lanes(covers: Mapping[str, Span], enables: Mapping[str, str], *, first: date, last: date,
               start: date | None = None, end: date | None = None) -> dict[str, LanePlan]:
    """Every lane's plan, in LANES order: `covers` maps a raw table to the days the inputs have rows
    for (a table absent from it has none), `enables` a missing table to what would provide it,
    [first, last] are the first partition and the last complete day, [start, end] the days asked for."""
    plans = {lane.name: plan_lane(lane, covers.get(lane.needs), enables.get(lane.needs), first=first, last=last,
                                  start=start, end=end) for lane in LANES}
    for lane in LANES:
        plan = plans[lane.name]
        if plan.runs and lane.leans_on and not plans[lane.leans_on[0]].runs:
            other, part = lane.leans_on
            plans[lane.name] = LanePlan(lane.name, plan.span, f"{plan.line}; without the {other} lane, {part} are left out")
    return plans


def daily_span(plans: Mapping[str, LanePlan]) -> Span | None:
    """The days the daily runs cover: from the first to the last day of every partitioned lane that runs."""
    spans = [p.span for lane in LANES if lane.partitioned and (p := plans[lane.name]).span is not None]
    return (min(s[0] for s in spans), max(s[1] for s in spans)) if spans else None


def first_fold(span: Span, min_history_days: int = DEFAULT_MIN_HISTORY_DAYS) -> str | None:
    """The first monthly walk-forward fold ("YYYY-MM") with `min_history_days` of purged history
    inside `span` (at the shortest horizon, a day); None: the span holds no such month."""
    folds = monthly_folds(span[0], span[1], horizon=1, min_history_days=min_history_days)
    return folds[0].key if folds else None
