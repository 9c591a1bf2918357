"""Labels on a hand-computed bar series: forward returns, the triple barrier, holes, no leak into features."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.quant.micro.features import KEY, build_features
from dvol_pipeline.quant.micro.models.labels import (
    HORIZONS,
    LABEL_PREFIX,
    feature_columns,
    forward_return,
    label_names,
    make_labels,
    triple_barrier,
)
from dvol_pipeline_tests.bench.bench_micro_features import synthetic_bars

T0 = datetime(2024, 1, 1, tzinfo=UTC)
MID = [100.0, 101.0, 99.0, 102.0, 100.0, 103.0]


def _bars(mid, minutes=None) -> pl.DataFrame:
    minutes = list(range(len(mid))) if minutes is None else minutes
    ts = [T0 + timedelta(minutes=m) for m in minutes]
    return pl.DataFrame({"ts": pl.Series(ts).cast(pl.Datetime("ns", "UTC")), "venue": "sim_usdm",
                         "symbol": "BTCUSDT", "bar": "1m", "mid_close": mid})


def test_forward_return_by_hand():
    # hand-computed: 1e4 ln(mid[t+2] / mid[t]); the last two bars have no future
    got = forward_return(np.array(MID), 2)
    want = [1e4 * math.log(99 / 100), 1e4 * math.log(102 / 101), 1e4 * math.log(100 / 99),
            1e4 * math.log(103 / 102)]
    np.testing.assert_allclose(got[:4], want, rtol=1e-12)
    assert np.isnan(got[4:]).all()


def test_triple_barrier_by_hand():
    # width 0.015, k = 2, worked by hand on the log moves from mid[t]:
    # t0: +0.00995, -0.01005 -> no touch -> 0 at bar 2; t1: ln(99/101) = -0.0200 -> -1 at 1;
    # t2: ln(102/99) = +0.0298 -> +1 at 1; t3: ln(100/102) = -0.0198 -> -1 at 1; t4, t5: future missing
    side, when = triple_barrier(np.array(MID), np.full(6, 0.015), 2)
    np.testing.assert_array_equal(side[:4], [0, -1, 1, -1])
    np.testing.assert_array_equal(when[:4], [2, 1, 1, 1])
    assert np.isnan(side[4:]).all() and np.isnan(when[4:]).all()
    # a wider barrier: only the vertical one
    side, when = triple_barrier(np.array(MID), np.full(6, 0.05), 2)
    np.testing.assert_array_equal(side[:4], [0, 0, 0, 0])
    np.testing.assert_array_equal(when[:4], [2, 2, 2, 2])


def test_make_labels_rolling_vol_barrier_by_hand():
    # vol_window 2, m 1, k 2: at t2 the returns are r1 = ln(101/100), r2 = ln(99/101); std (ddof 1)
    # = |r1 - r2| / sqrt 2, width = sqrt(2) x that = |r1 - r2| = ln(101^2 / 9900) = 0.029951.
    # ln(102/99) = 0.029853 < width and ln(100/99) too: vertical barrier, 0 at bar 2.
    out = make_labels(_bars(MID), "1m", {"2m": 2}, m=1.0, vol_window=2)
    n = label_names("2m")
    assert out[n["tb"]].to_list()[2] == 0 and out[n["tb_bars"]].to_list()[2] == 2
    # t0, t1: no trailing vol yet (two returns needed) -> null; the sign follows the return
    assert out[n["tb"]].to_list()[:2] == [None, None]
    assert out[n["sign"]].to_list() == [-1, 1, 1, 1, None, None]


def test_hole_in_the_series_nulls_the_label():
    # minute 3 is missing: bar t=2 (minute 2) would reach minute 5 two rows later, not minute 4
    out = make_labels(_bars([100.0, 101.0, 99.0, 100.0, 103.0], [0, 1, 2, 4, 5]), "1m", {"2m": 2})
    ret = out[label_names("2m")["ret"]].to_list()
    assert ret[0] is not None and ret[1] is None and ret[2] is None  # 1 -> 4 and 2 -> 5 span the hole
    assert abs(ret[0] - 1e4 * math.log(99 / 100)) < 1e-9


def test_null_mid_in_the_window_nulls_the_label():
    out = make_labels(_bars([100.0, None, 99.0, 102.0]), "1m", {"2m": 2}, m=1.0, vol_window=2)
    n = label_names("2m")
    assert out[n["ret"]].to_list()[:2] == [pytest.approx(1e4 * math.log(0.99), rel=1e-12), None]
    assert out[n["tb"]].to_list()[0] is None  # mid[1] is missing inside t0's window


def test_horizons_and_label_prefix():
    assert HORIZONS["1s"]["10s"] == 10 and HORIZONS["1m"] == {"1m": 1, "5m": 5, "15m": 15}
    assert all(c.startswith(LABEL_PREFIX) for h in HORIZONS["1m"] for c in label_names(h).values())


def test_labels_cannot_leak_into_features():
    bars = synthetic_bars(200, 0, "BTCUSDT", "sim_usdm", T0, 60, 60_000.0, "1m")
    feats = build_features(bars, bar="1m")
    labels = make_labels(bars, "1m")
    assert not [c for c in feats.columns if c.startswith(LABEL_PREFIX)]
    joined = feats.join(labels, on=KEY, how="left")
    cols = feature_columns(joined)
    assert cols == [c for c in feats.columns if c not in KEY]
    assert not set(cols) & set(labels.columns)
    # the labels of the last bars are null (no future), the features there are not all null
    assert labels.tail(15)[label_names("15m")["ret"]].null_count() == 15
