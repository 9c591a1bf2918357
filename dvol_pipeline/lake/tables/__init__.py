"""Every lake table, raw and derived, in one registry, declared per lane.

`core` holds the raw market data every lane reads; `dvol`, `options` and `universe` hold
each lane's own tables (a new lane adds its module and one line below). A table spec
(`spec.Table`) says its lane, zone, layout, key, columns and time unit, and builds every path
of the table through its layout (`layouts.py`); `lake/catalog.py` re-exports these names.
"""

from __future__ import annotations

from dvol_pipeline.lake.tables import core, dvol, micro, options, universe
from dvol_pipeline.lake.tables.spec import (
    BACKTEST,
    FEATURES,
    PAPER,
    PREDICTIONS,
    RAW,
    SIGNALS,
    SURFACE,
    UNIVERSE,
    Table,
)

LANES: dict[str, tuple[Table, ...]] = {
    core.LANE: core.TABLES, dvol.LANE: dvol.TABLES, options.LANE: options.TABLES, universe.LANE: universe.TABLES,
    micro.LANE: micro.TABLES,
}

TABLES: dict[str, Table] = {
    t.name: t
    # the order /health lists them in: raw data first, then by zone as the lanes produce them
    for t in (*core.TABLES, *options._SURFACE, *dvol._FEATURES, *dvol._PREDICTIONS, *dvol._BACKTEST,
              *options._IVRANK, *dvol._SIGNALS, *dvol._PAPER, *universe.TABLES,
              *micro.TABLES)
}
assert len(TABLES) == sum(map(len, LANES.values())), "a table is declared in two lanes, or in none"
ZONE_ORDER = (RAW, FEATURES, SURFACE, PREDICTIONS, BACKTEST, SIGNALS, PAPER, UNIVERSE, micro.MICRO)


def table(name: str) -> Table:
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown lake table {name!r}; known: {', '.join(TABLES)}") from None


def in_zone(zone: str) -> list[Table]:
    return [t for t in TABLES.values() if t.zone == zone]


def in_lane(lane: str) -> list[Table]:
    if lane not in LANES:
        raise KeyError(f"unknown lane {lane!r}; known: {', '.join(LANES)}")
    return list(LANES[lane])
