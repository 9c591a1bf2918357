"""The micro lane's units: one (venue, symbol, day) book step and one day's features step, each on
its own, give the partitions a pass over every day gives.

The reference for the books is not the code under test's loop: it is one replay of each stream over
all its days (`rebuild_book`, `book_quality`, `time_bars` on the whole stream, as the lane built them
before it was split), cut by day afterwards; the units replay each day from the state at its start.
The simulated order book's days join at midnight (the day's last events arrive after it), so the
boundary is exercised: a unit that started its day from an empty book would differ there.
"""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, date, datetime, time, timedelta

import polars as pl
import pytest

from dvol_pipeline.lake.parquet import read_table, read_table_or_none
from dvol_pipeline.pipeline.micro import run as lane
from dvol_pipeline.pipeline.micro import units

START, END = date(2024, 3, 1), date(2024, 3, 2)


@pytest.fixture(scope="module")
def raw_lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("micro_units") / "lake"
    lane.ingest_range(root, "simulated", landing=None, start=START, end=END, coins=("BTC", "ETH"), intensity=0.1)
    return root


def _copy(raw_lake, to):
    shutil.copytree(raw_lake / "raw", to / "raw")
    return to


def _on(frame, column, day):
    return frame.filter(pl.col(column).dt.date() == day)


@pytest.mark.slow
def test_each_day_built_alone_equals_one_replay_of_the_stream_cut_by_day(raw_lake, tmp_path):
    from dvol_pipeline.quant.micro.bars import time_bars, volume_bar_size, volume_bars
    from dvol_pipeline.quant.micro.book import rebuild_book
    from dvol_pipeline.quant.micro.quality import book_quality

    root = _copy(raw_lake, tmp_path / "lake")
    streams = lane.streams_in_lake(root, START, END, ("raw_book_deltas",))
    assert len(streams) == 4 and all(days == [START, END] for days in streams.values())
    for (venue, symbol), days in streams.items():
        for day in reversed(days):  # the later day first: a unit needs nothing an earlier unit left
            units.build_book_day(root, venue, symbol, day)
    compared = 0
    for (venue, symbol), days in streams.items():
        where = {"venue": [venue], "symbol": [symbol]}
        deltas, tob, trades = (read_table(root, n, START, END + timedelta(days=1), where=where)
                               for n in ("raw_book_deltas", "raw_top_of_book", "raw_trades"))
        book = rebuild_book(deltas, end=datetime.combine(END + timedelta(days=2), time.min, UTC))
        quality = book_quality(book, deltas, tob, trades)
        for day in days:
            day_trades = _on(trades, "ts_local", day)
            bars = [_on(time_bars(book.top, trades, book.snapshots, b, book.known), "ts", day) for b in ("1s", "1m", "5m")]
            bars.append(volume_bars(book.top, day_trades, volume_bar_size(day_trades), book.snapshots, book.known))
            reference = {
                # book_top's segment is numbered within the day (a replay's own count depends on where it began)
                "book_top": _on(book.top, "ts_local", day).with_columns(
                    (pl.col("segment").rank("dense") - 1).cast(pl.Int64)),
                "book_snapshots": _on(book.snapshots, "ts", day), "book_quality": _on(quality, "date", day),
                "micro_bars": pl.concat(bars, how="diagonal_relaxed")}
            for name, want in reference.items():
                got = read_table(root, name, day, day, where=where)
                keys = [c for c in ("bar", "ts", "ts_local", "session") if c in got.columns]
                assert want.height > 0 and got.sort(keys).equals(want.select(got.columns).sort(keys)), (name, venue, day)
                compared += 1
    assert compared == 4 * 2 * 4
    # the midnight boundary is exercised: the second day's first bars close on data of the first day
    first_bar = read_table(root, "micro_bars", END, END).filter(pl.col("bar") == "5m")["ts"].min()
    assert first_bar == datetime.combine(END, time.min, UTC)


def _digest(root, names):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for name in names for p in sorted((root / "micro" / name).rglob("*.parquet"))}


@pytest.mark.slow
def test_a_day_built_in_any_range_or_order_is_the_same_bytes(raw_lake, tmp_path):
    tables = ("book_top", "book_snapshots", "book_quality", "micro_gaps", "micro_bars", "micro_features", "micro_daily")
    together, apart = _copy(raw_lake, tmp_path / "a"), _copy(raw_lake, tmp_path / "b")
    lane.build_books(together, lane.streams_in_lake(together, START, END))
    lane.build_features(together, START, END)
    for day in (END, START):  # apart: day by day, the later first, each stream on its own
        for venue, symbol, d in units.book_units(apart, day, day):
            units.build_book_day(apart, venue, symbol, d)
    for day in (END, START):
        units.build_features_day(apart, day)
    a, b = _digest(together, tables), _digest(apart, tables)
    assert a == b and len(a) > 20
    assert read_table_or_none(together, "micro_features", END, END).height > 0


@pytest.mark.slow
def test_micro_job_runs_one_step_per_stream_day_and_per_feature_day(raw_lake, tmp_path):
    import dagster as dg

    from dvol_pipeline.assets.micro.assets import BOOK_TABLES
    from dvol_pipeline.definitions import defs

    root = _copy(raw_lake, tmp_path / "lake")
    job = defs.resolve_job_def("micro_job")
    span = {"start": str(START), "end": str(END)}
    result = job.execute_in_process(
        asset_selection=[dg.AssetKey(k) for k in (*BOOK_TABLES, "micro_features", "micro_daily")],
        run_config={"ops": {"micro_books": {"config": span}, "micro_features": {"config": span}},
                    "resources": {"lake": {"config": {"root": str(root)}}, "market": {"config": {"source": "simulated"}}}},
        raise_on_error=True)
    steps = {e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}
    # 2 venues x 2 symbols x 2 days with ticks (the lake's streams_in_lake says which), and 2 feature days
    expected = {f"micro_books.book_day[{units.unit_key(u)}]" for u in units.book_units(root, START, END)}
    assert {s for s in steps if s.startswith("micro_books.book_day[")} == expected
    assert {(v, s, d) for v, s, d in units.book_units(root, START, END) if d <= END} >= {
        (v, s, d) for v in ("sim_spot", "sim_usdm") for s in ("BTCUSDT", "ETHUSDT") for d in (START, END)}
    assert {s for s in steps if s.startswith("micro_features.features_day[")} == {
        "micro_features.features_day[d20240301]", "micro_features.features_day[d20240302]"}
    checks = {e.event_specific_data.check_name: e.event_specific_data.passed for e in result.all_events
              if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert checks == {"bbo_agreement": True, "no_crossed_book": True, "no_lookahead": True}
    mats = {e.event_specific_data.materialization.asset_key.path[-1] for e in result.all_events
            if e.event_type_value == "ASSET_MATERIALIZATION"}
    assert mats == {*BOOK_TABLES, "micro_features", "micro_daily"}
