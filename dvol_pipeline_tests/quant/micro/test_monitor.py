"""End-of-day monitors: PSI, the 3-sigma rule, the rolling Sharpe's retrain flag, the depth-gap kill switch."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone

import numpy as np
import polars as pl

from dvol_pipeline.quant.micro.monitor import degradation, feature_drift, kill_switch, psi
from dvol_pipeline.quant.stats import sharpe

TS = pl.Datetime("ns", "UTC")


def _frame(values, venue="binance_usdm", symbol="BTCUSDT", name="f"):
    return pl.DataFrame({"venue": [venue] * len(values), "symbol": [symbol] * len(values),
                         name: [float(v) for v in values]})


def test_psi_two_bins_worked_by_hand():
    # hand-computed: train 1,2,3,4 -> median edge 2.5, shares 0.5 / 0.5; live 1,1,1,4 -> 0.75 / 0.25.
    # PSI = (0.75 - 0.5) ln(0.75 / 0.5) + (0.25 - 0.5) ln(0.25 / 0.5) = 0.25 ln 1.5 + 0.25 ln 2 = 0.274653
    expected = 0.25 * math.log(1.5) + 0.25 * math.log(2.0)
    assert abs(psi([1, 2, 3, 4], [1, 1, 1, 4], bins=2) - expected) < 1e-12
    out = feature_drift(_frame([1, 2, 3, 4]), _frame([1, 1, 1, 4]), ["f"], bins=2)
    assert abs(out["psi"][0] - expected) < 1e-12
    assert out["psi_flag"][0] == "shift"  # 0.2747 > 0.25


def test_psi_identical_distributions_is_zero_and_empty_bin_is_floored():
    x = np.arange(100.0)
    assert psi(x, x, bins=10) == 0.0
    # hand-computed: every live row in the upper bin; the lower bin's live share 0 is floored at 1e-4:
    # (1e-4 - 0.5) ln(1e-4 / 0.5) + (1 - 0.5) ln(1 / 0.5)
    expected = (1e-4 - 0.5) * math.log(1e-4 / 0.5) + 0.5 * math.log(2.0)
    assert abs(psi([1, 2, 3, 4], [4, 4], bins=2) - expected) < 1e-12


def test_three_sigma_share_and_flags():
    # train 0..9: mean 4.5, std (ddof 1) 3.02765; 3 sigma = 9.083 -> |x - 4.5| > 9.083 for 14 and -5, not 13
    train = _frame(range(10))
    live = _frame([4, 5, 13, 14, -5, 4, 5, 4, 5, 4])
    out = feature_drift(train, live, ["f"], bins=2).row(0, named=True)
    assert abs(out["train_std"] - np.std(np.arange(10.0), ddof=1)) < 1e-12
    assert out["share_beyond_3sigma"] == 0.2
    assert out["sigma_flag"] and out["drift"]
    same = feature_drift(train, train, ["f"]).row(0, named=True)
    assert same["psi"] == 0.0 and same["psi_flag"] == "stable" and not same["drift"]


def test_drift_per_series():
    train = pl.concat([_frame(range(10)), _frame(range(10), symbol="ETHUSDT")])
    live = pl.concat([_frame(range(10)), _frame([100] * 10, symbol="ETHUSDT")])
    out = feature_drift(train, live, ["f"]).sort("symbol")
    assert out["symbol"].to_list() == ["BTCUSDT", "ETHUSDT"]
    assert out["drift"].to_list() == [False, True]


def test_degradation_seven_day_sharpe_matches_shared_stats():
    rets = [0.001 * i for i in range(1, 10)]
    daily = pl.DataFrame({"strategy": "stat_mr", "date": [date(2024, 1, 1) + timedelta(days=i) for i in range(9)],
                          "ret": rets})
    out = degradation(daily)
    # hand-computed for days 1-7 (returns 1..7 per mille): mean 4e-3, std (ddof 1) sqrt(14/3) e-3,
    # Sharpe = 4 / sqrt(14/3) x sqrt(365) = 35.3755
    assert abs(out["sharpe_7d"][6] - 4 / math.sqrt(14 / 3) * math.sqrt(365)) < 1e-9
    assert abs(out["sharpe_7d"][8] - sharpe(np.array(rets[2:9]))) < 1e-12
    assert out["days"].to_list() == [1, 2, 3, 4, 5, 6, 7, 7, 7]
    assert not out["retrain"].any()


def test_degradation_retrain_flag_needs_a_full_window_below_threshold():
    rets = [0.01, -0.02, 0.005, -0.01, 0.0, -0.003, 0.002, 0.02]
    daily = pl.DataFrame({"strategy": "micro_mr", "date": [date(2024, 2, 1) + timedelta(days=i) for i in range(8)],
                          "ret": rets})
    out = degradation(daily, threshold=0.5)
    s7 = sharpe(np.array(rets[:7]))
    assert s7 < 0.5
    assert out["retrain"].to_list() == [False] * 6 + [True, sharpe(np.array(rets[1:8])) < 0.5]
    # a missing day is not a zero: the window ending on the 8th holds 6 returns, no flag
    holed = degradation(daily.filter(pl.col("date") != date(2024, 2, 4)))
    assert holed.filter(pl.col("date") == date(2024, 2, 8))["days"][0] == 6
    assert not holed["retrain"].any()


def _gap(start: datetime, minutes: float, symbol="BTCUSDT", stream="raw_book_deltas"):
    return {"date": start.date(), "venue": "binance_usdm", "symbol": symbol, "stream": stream, "gap_start": start,
            "gap_end": start + timedelta(minutes=minutes), "minutes": minutes}


def test_kill_switch_twelve_minute_gap_flattens_at_its_start_nine_does_not():
    day = date(2024, 3, 1)
    t = datetime(2024, 3, 1, 10, 0, tzinfo=timezone.utc)
    gaps = pl.DataFrame([_gap(t, 12.0), _gap(t, 9.0, symbol="ETHUSDT"),
                         _gap(t, 30.0, symbol="SOLUSDT", stream="raw_trades")]).with_columns(
        pl.col("gap_start", "gap_end").cast(TS))
    series = pl.DataFrame({"venue": ["binance_usdm"] * 3, "symbol": ["BTCUSDT", "ETHUSDT", "SOLUSDT"]})
    out = kill_switch(gaps, day, series=series)
    rows = {r["symbol"]: r for r in out.iter_rows(named=True)}
    assert rows["BTCUSDT"]["killed"] and rows["BTCUSDT"]["flatten_ts"] == t
    assert rows["BTCUSDT"]["gap_minutes"] == 12.0
    assert not rows["ETHUSDT"]["killed"] and rows["ETHUSDT"]["flatten_ts"] is None
    assert not rows["SOLUSDT"]["killed"]  # a trade-stream hole is not a depth gap
    assert out["date"].unique().to_list() == [day]


def test_kill_switch_gap_from_the_previous_day_flattens_at_midnight():
    t = datetime(2024, 2, 29, 23, 55, tzinfo=timezone.utc)
    gaps = pl.DataFrame([_gap(t, 20.0)]).with_columns(pl.col("gap_start", "gap_end").cast(TS))
    out = kill_switch(gaps, date(2024, 3, 1))
    assert out["flatten_ts"][0] == datetime(2024, 3, 1, tzinfo=timezone.utc)
    assert kill_switch(gaps, date(2024, 3, 2)).height == 0
