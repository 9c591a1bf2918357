"""Which lanes run on which inputs, over which days: one lane's missing input never stops another."""

from __future__ import annotations

from datetime import date, timedelta

from dvol_pipeline.quant.lanes import LANES, TICKS, UNIVERSE_MIN_DAYS, daily_span, first_fold, plan_lanes

FIRST, LAST = date(2021, 3, 24), date(2025, 6, 30)
ENABLES = {"raw_dvol": "DVOL files", "raw_option_chain": "saved chains", "raw_universe_daily": "daily price files"}


def _plans(covers, **asked):
    return plan_lanes(covers, ENABLES, first=FIRST, last=LAST, **asked)


def test_a_lane_without_its_table_is_skipped_with_what_would_enable_it_and_the_others_run():
    prices = {"raw_ohlcv": (date(2017, 8, 17), date(2025, 6, 29)), "raw_universe_daily": (date(2017, 8, 17), date(2025, 6, 29))}
    plans = _plans(prices)
    assert [name for name, p in plans.items() if p.runs] == ["universe"]
    assert plans["dvol"].line.startswith("dvol lane (") and "no raw_dvol in the inputs; DVOL files would enable it" \
        in plans["dvol"].line
    assert "no raw_option_chain in the inputs; saved chains would enable it" in plans["options"].line
    assert daily_span(plans) is None  # no partitioned lane: no daily run


def test_each_lane_runs_over_the_days_its_own_table_covers():
    covers = {"raw_dvol": (date(2021, 3, 24), date(2024, 12, 31)), "raw_ohlcv": (date(2017, 8, 17), date(2025, 6, 29)),
              "raw_universe_daily": (date(2017, 8, 17), date(2025, 6, 29))}
    plans = _plans(covers)
    assert plans["dvol"].span == (date(2021, 3, 24), date(2024, 12, 31))
    # unpartitioned: the universe's files go back before the first daily partition, and it uses them
    assert plans["universe"].span == (date(2017, 8, 17), date(2025, 6, 29))
    assert daily_span(plans) == plans["dvol"].span
    # a partitioned lane starts at the first partition, whatever its files hold before it
    early = _plans({"raw_option_chain": (date(2020, 1, 1), date(2026, 1, 1))})
    assert early["options"].span == (FIRST, LAST) and early["options"].runs


def test_a_range_asked_for_narrows_every_lane_and_a_lane_with_nothing_in_it_is_skipped():
    covers = {"raw_dvol": (date(2021, 3, 24), date(2022, 5, 16)), "raw_universe_daily": (date(2018, 1, 1), date(2025, 1, 1))}
    plans = _plans(covers, start=date(2023, 1, 1), end=date(2024, 12, 31))
    assert not plans["dvol"].runs and "raw_dvol covers 2021-03-24..2022-05-16, none of the days asked for" in plans["dvol"].line
    assert plans["universe"].span == (date(2023, 1, 1), date(2024, 12, 31))


def test_the_universe_needs_a_year_of_history_and_a_few_months_to_score():
    first = date(2023, 1, 1)
    short = _plans({"raw_universe_daily": (first, first + timedelta(days=UNIVERSE_MIN_DAYS - 2))})["universe"]
    assert not short.runs and f"is {UNIVERSE_MIN_DAYS - 1} days, under the {UNIVERSE_MIN_DAYS} it needs" in short.line
    enough = _plans({"raw_universe_daily": (first, first + timedelta(days=UNIVERSE_MIN_DAYS - 1))})["universe"]
    assert enough.runs


def test_the_options_lane_alone_says_what_waits_for_the_dvol_lane():
    plans = _plans({"raw_option_chain": (date(2023, 12, 27), date(2023, 12, 28))})
    assert plans["options"].span == (date(2023, 12, 27), date(2023, 12, 28))
    assert "without the dvol lane, the IV-rank strategies" in plans["options"].line
    with_dvol = _plans({"raw_option_chain": (date(2023, 12, 27), date(2023, 12, 28)),
                        "raw_dvol": (date(2023, 1, 1), date(2023, 12, 28))})
    assert "without" not in with_dvol["options"].line
    assert daily_span(with_dvol) == (date(2023, 1, 1), date(2023, 12, 28))


def test_every_lane_is_named_once_and_needs_a_raw_table():
    names = [lane.name for lane in LANES]
    # the micro lane needs any tick data (trades, depth or a top-of-book stream), not one table
    assert len(set(names)) == len(names) and all(lane.needs.startswith("raw_") or lane.needs == TICKS for lane in LANES)


def test_tick_data_alone_runs_the_micro_lane_over_its_own_days_and_skips_the_others():
    plans = _plans({TICKS: (date(2024, 3, 1), date(2024, 3, 2))})
    assert [name for name, p in plans.items() if p.runs] == ["micro"]
    assert plans["micro"].span == (date(2024, 3, 1), date(2024, 3, 2))
    assert daily_span(plans) is None  # the micro lane is not a daily-partitioned run
    assert "skipped" in plans["dvol"].line and "skipped" in plans["universe"].line


def test_the_first_fold_needs_a_year_of_purged_history_inside_the_lanes_days():
    from dvol_pipeline.partitions import FIRST_FOLD

    assert first_fold((date(2021, 3, 24), date(2024, 12, 31))) == FIRST_FOLD  # the demo's history
    assert first_fold((date(2024, 1, 1), date(2024, 1, 14))) is None  # two weeks of DVOL files: no fold yet
    assert first_fold((date(2024, 1, 1), date(2025, 2, 3))) == "2025-01"  # trains on 2024-01-01..2024-12-30
