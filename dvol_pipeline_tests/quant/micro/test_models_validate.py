"""Purged k-fold (property: no training index within horizon + embargo of a test index), walk-forward
folds on a hand-worked calendar, the cross-symbol split and the regime labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dvol_pipeline.quant.micro.models.validate import (
    FoldConfig,
    cross_symbol_split,
    fold_rows,
    purged_kfold,
    purged_kfold_bars,
    regime_labels,
    trailing_percentile,
    walkforward_folds,
)


def test_purged_kfold_by_hand():
    # n 10, 2 blocks, labels span 1 bar, embargo 1 bar (worked by hand):
    # block 0 = rows 0..4 spans [0, 5]; keep t0 - 1 > 5 -> rows 7, 8, 9
    # block 1 = rows 5..9 spans [5, 10]; keep t1 + 1 < 5, t1 = t0 + 1 -> rows 0, 1, 2
    (tr0, te0), (tr1, te1) = purged_kfold_bars(10, 2, 1, 1)
    assert te0.tolist() == [0, 1, 2, 3, 4] and tr0.tolist() == [7, 8, 9]
    assert te1.tolist() == [5, 6, 7, 8, 9] and tr1.tolist() == [0, 1, 2]
    # no embargo, no overlap: only the purge remains
    (tr0, _), (tr1, _) = purged_kfold_bars(10, 2, 0, 0)
    assert tr0.tolist() == [5, 6, 7, 8, 9] and tr1.tolist() == [0, 1, 2, 3, 4]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(6, 200), k=st.integers(2, 6), h=st.integers(0, 10), e=st.integers(0, 10))
def test_purged_kfold_property(n, k, h, e):
    if k > n:
        return
    seen = []
    for train, test in purged_kfold_bars(n, k, h, e):
        seen += test.tolist()
        if train.size and test.size:
            gap = np.abs(train[:, None] - test[None, :]).min()
            assert gap > h + e  # no training label within the embargo of a test label
        # exactly the overlapping (embargo-widened) rows are removed
        lo, hi = test.min(), test.max() + h
        removed = sorted(set(range(n)) - set(train.tolist()))
        want = [i for i in range(n) if i + h + e >= lo and i - e <= hi]
        assert removed == want
    assert seen == list(range(n))


def test_purged_kfold_in_time_units():
    ts = np.arange(0, 100, 10)  # ns, say
    folds = purged_kfold(ts, ts + 15, 2, 5)
    # block 0 = t 0..40 spans [0, 55]; keep t - 5 > 55 -> 70, 80, 90
    assert ts[folds[0][0]].tolist() == [70, 80, 90]
    with pytest.raises(ValueError):
        purged_kfold(ts[::-1], ts[::-1], 2, 0)


def test_walkforward_folds_hand_calendar():
    # 2024 is a leap year: Jan 1 + 90 days = Mar 31. Folds (hand-worked):
    # 0: train [Jan 1, Mar 31), test [Apr 1, May 1); 1: train [Jan 1, Apr 30), test [May 1, May 31);
    # 2: train [Jan 1, May 30), test [May 31, Jun 30); the next test [Jun 30, Jul 30) runs past Jul 1.
    d = lambda m, day: datetime(2024, m, day, tzinfo=UTC)
    folds = walkforward_folds(d(1, 1), d(7, 1), FoldConfig())
    assert [(f.train_start, f.train_end, f.test_start, f.test_end) for f in folds] == [
        (d(1, 1), d(3, 31), d(4, 1), d(5, 1)), (d(1, 1), d(4, 30), d(5, 1), d(5, 31)),
        (d(1, 1), d(5, 30), d(5, 31), d(6, 30))]
    last = walkforward_folds(d(1, 1), d(7, 1), FoldConfig(partial_last=True))[-1]
    assert (last.test_start, last.test_end) == (d(6, 30), d(7, 1))


def test_scaled_down_folds_and_horizon_purge():
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    cfg = FoldConfig(timedelta(hours=3), timedelta(hours=1), timedelta(hours=1), timedelta(minutes=5))
    folds = walkforward_folds(t0, t0 + timedelta(hours=5), cfg)
    assert [(f.train_end - t0, f.test_start - t0) for f in folds] == [
        (timedelta(hours=3), timedelta(hours=3, minutes=5))]  # the second test window would end past 5 h
    ts = pl.datetime_range(t0, t0 + timedelta(hours=5), "1m", eager=True, time_unit="ns", closed="left")
    frame = pl.DataFrame({"ts": ts})
    train, test = fold_rows(frame, folds[0], timedelta(minutes=10))
    # the last training row's label (10 min) ends strictly before train_end = 03:00
    assert train["ts"].max() == t0 + timedelta(hours=2, minutes=49)
    assert test["ts"].min() == t0 + timedelta(hours=3, minutes=5)
    assert test["ts"].max() == t0 + timedelta(hours=4, minutes=4)


def test_cross_symbol_split():
    frame = pl.DataFrame({"symbol": ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BTCUSDT"], "x": [1, 2, 3, 4]})
    train, tests = cross_symbol_split(frame)
    assert train["x"].to_list() == [1, 4]
    assert tests["ETH"]["x"].to_list() == [2] and tests["SOL"]["x"].to_list() == [3]
    with pytest.raises(ValueError):
        cross_symbol_split(frame, "BTC", ("BTC", "ETH"))


def test_trailing_percentile_by_hand():
    # window 3, min 1 (hand): [1] -> 1; [1,3] -> 1; [1,3,2] -> 2/3; [3,2,5] -> 1; [2,5,4] -> 2/3
    got = trailing_percentile(np.array([1.0, 3.0, 2.0, 5.0, 4.0]), 3, 1)
    np.testing.assert_allclose(got, [1, 1, 2 / 3, 1, 2 / 3])


def test_regime_labels_trailing_and_named():
    n = 300
    rng = np.random.default_rng(0)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    frame = pl.DataFrame({"ts": pl.datetime_range(t0, t0 + timedelta(minutes=n - 1), "1m", eager=True,
                                                  time_unit="ns"),
                          "venue": "v", "symbol": "BTCUSDT", "rv_60": rng.random(n), "adx_14": rng.random(n) * 50})
    reg = regime_labels(frame, window=50)
    assert set(reg.drop_nulls().unique()) <= {f"{v}_{t}" for v in ("low", "mid", "high") for t in ("range", "trend")}
    assert reg.drop_nulls().n_unique() == 6
    # trailing: dropping the later rows changes no earlier label
    cut = regime_labels(frame.head(200), window=50)
    assert cut.to_list() == reg.head(200).to_list()
    assert regime_labels(frame.drop("adx_14"), window=50).drop_nulls().str.ends_with("_all").all()
