"""Universe features: no look-ahead (a planted peek fails), gap filling, targets by hand, GARCH memo."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.quant.universe.features import ANN, build_universe_features, daily_calendar
from dvol_pipeline.quant.universe.leakage import check_universe_no_lookahead

DAYS = [date(2022, 4, 30), date(2022, 6, 1), date(2022, 10, 15)]


def _gap_day() -> date:
    """The day the contract quarantined (the planted bad print): interpolated in the full build."""
    from dvol_pipeline.sources.simulated.universe import bad_print

    from .conftest import SMALL

    return bad_print(SMALL)[1]


def test_features_read_nothing_after_the_cutoff(small_raw, small_symbols, small_features):
    # the day of an interpolated hole too: the hole's coin must not leak into the others' market and ranks
    gap = _gap_day()
    frame, _ = small_features
    assert frame.filter(pl.col("date") == gap)["filled"].sum() == 1
    report = check_universe_no_lookahead(small_raw, small_symbols, [*DAYS, gap])
    assert report.passed, report.summary()
    assert report.n_compared > 1000 and len(report.days_checked) == 4


def test_a_planted_future_peeking_feature_fails_the_check(small_raw, small_symbols, small_features):
    _, memo = small_features

    def peeking(raw, symbols, memo_in=None):
        frame, memo_out = build_universe_features(raw, symbols, memo_in if memo_in is not None else memo)
        return frame.with_columns(pl.col("close").shift(-1).over("symbol").alias("close_tomorrow")), memo_out

    report = check_universe_no_lookahead(small_raw, small_symbols, DAYS[:1], build=peeking)
    assert not report.passed
    assert report.violations["feature"].unique().to_list() == ["close_tomorrow"]


def test_short_gaps_are_interpolated_and_flagged_long_ones_stay_empty():
    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(20)]
    keep = [d for i, d in enumerate(days) if i not in (3, 4) and not 10 <= i <= 14]  # a 2-day and a 5-day hole
    close = [100.0 + i for i, d in enumerate(days) if d in keep]
    raw = pl.DataFrame({"symbol": "X", "date": keep, "open": close, "high": close, "low": close, "close": close,
                        "volume_quote": 1.0, "market_cap": 1.0})
    cal = daily_calendar(raw)
    assert cal.height == 20
    assert cal.filter(pl.col("date").is_in(days[3:5]))["close"].to_list() == [103.0, 104.0]
    assert cal.filter(pl.col("date").is_in(days[3:5]))["filled"].all()
    assert cal.filter(pl.col("date").is_in(days[10:15]))["close"].is_null().all()
    assert not cal.filter(pl.col("date") == days[5])["filled"][0]


def test_targets_are_the_annualised_std_of_the_next_days_returns(small_features):
    frame, _ = small_features
    btc = frame.filter(pl.col("symbol") == "BTC").sort("date")
    i = 200
    r = np.diff(np.log(btc["close"].to_numpy()[i:i + 15]))
    assert btc["y_7"][i] == pytest.approx(np.std(r[:7], ddof=1) * ANN)
    assert btc["y_14"][i] == pytest.approx(np.std(r[:14], ddof=1) * ANN)
    assert btc["y_7"][-7:].is_null().all() and btc["y_7"][-8] is not None


def test_stablecoins_get_no_garch_and_a_rerun_reuses_every_fit(small_raw, small_symbols, small_features):
    frame, memo = small_features
    stable = small_symbols.filter(pl.col("stablecoin"))["symbol"].to_list()
    assert stable and frame.filter(pl.col("symbol").is_in(stable))["garch_vol_7"].is_null().all()
    assert frame.filter(pl.col("symbol") == "BTC")["garch_vol_7"].drop_nulls().len() > 100
    again, memo2 = build_universe_features(small_raw, small_symbols, memo)
    assert memo2.height == memo.height and again.equals(frame)


def test_without_market_caps_the_usd_volume_stands_in_for_size(small_raw, small_symbols):
    frame, _ = build_universe_features(small_raw.with_columns(pl.lit(None, pl.Float64).alias("market_cap")), small_symbols)
    day = frame.filter(pl.col("date") == date(2022, 6, 1)).drop_nulls("cap_rank")
    assert day.height >= 8 and sorted(day["cap_rank"].to_list()) == list(range(1, day.height + 1))
    assert day["mkt_ret"].is_not_null().all() and day["tier"].is_not_null().all()
    btc = frame.filter((pl.col("symbol") == "BTC") & (pl.col("date") == date(2022, 6, 1)))
    vq = small_raw.filter((pl.col("symbol") == "BTC") & pl.col("date").is_between(date(2022, 5, 3), date(2022, 6, 1)))
    assert btc["log_mcap"][0] == pytest.approx(np.log(vq["volume_quote"].mean() / 0.05))
