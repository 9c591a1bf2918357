"""Volatility regimes: every label on hand-made inputs, the trailing rank, no look-ahead, and
the per-regime breakdowns of forecast and strategy metrics."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.quant.evaluate.strategy import by_regime
from dvol_pipeline.quant.evaluate.forecast import metrics_table
from dvol_pipeline.quant.dvol.regimes import CODE, RegimeThresholds, label, trailing_rank_pct, vol_regimes
from dvol_pipeline.quant.evaluate.regime_labels import decode

T = RegimeThresholds()


def _label(rows: list[tuple], t: RegimeThresholds = T) -> list[str | None]:
    frame = pl.DataFrame(rows, schema={"asset": pl.Utf8, "dvol": pl.Float64, "dvol_rank": pl.Float64,
                                       "rv_iv_ratio": pl.Float64}, orient="row")
    return label(frame, t).to_list()


@pytest.mark.parametrize(
    ("row", "want"),
    [
        (("BTC", 60.0, 0.85, 0.7), "high_vol"),          # rank above 0.8
        (("BTC", 95.0, 0.30, 0.7), "high_vol"),          # DVOL above BTC's high mark (90) at a low rank
        (("ETH", 95.0, 0.30, 0.7), "neutral"),           # ... but below ETH's (108)
        (("BTC", 40.0, 0.10, 0.7), "low_vol"),           # below both low marks
        (("BTC", 50.0, 0.10, 0.7), "neutral"),           # low rank, but DVOL above the low mark
        (("BTC", 40.0, 0.30, 0.7), "neutral"),           # DVOL below the mark, rank not low
        (("BTC", 60.0, 0.60, 0.95), "iv_expansion"),     # realised catching up, rank above half
        (("BTC", 60.0, 0.40, 0.95), "neutral"),          # ... at a rank below half
        (("BTC", 60.0, 0.40, 0.50), "iv_contraction"),   # implied rich against realised, rank below half
        (("BTC", 60.0, 0.60, 0.50), "neutral"),          # ... at a rank above half
        (("BTC", 40.0, 0.10, 0.50), "low_vol"),          # low wins over contraction
        (("BTC", 95.0, 0.90, 0.95), "high_vol"),         # high wins over expansion
        (("BTC", 60.0, None, 0.50), None),               # no rank yet: unknown
        (("BTC", 60.0, 0.40, None), None),               # no realised vol: unknown unless high/low
        (("BTC", 95.0, 0.40, None), "high_vol"),
    ],
)
def test_each_label_on_hand_made_inputs(row, want):
    assert _label([row]) == [want]


def test_thresholds_are_configuration():
    row = ("BTC", 60.0, 0.75, 0.7)
    assert _label([row]) == ["neutral"]
    assert _label([row], RegimeThresholds(high_rank=0.7)) == ["high_vol"]
    assert _label([("XRP", 95.0, 0.3, 0.7)]) == ["high_vol"]  # default marks for a coin not listed
    assert _label([("XRP", 95.0, 0.3, 0.7)], RegimeThresholds(default_marks=(50.0, 120.0))) == ["neutral"]
    with pytest.raises(ValueError, match="low 90.0 must be below high 60.0"):
        RegimeThresholds(marks={"BTC": (90.0, 60.0)})
    with pytest.raises(ValueError, match="min_history_days"):
        RegimeThresholds(window_days=30, min_history_days=60)


def test_trailing_rank_and_percentile():
    x = np.array([1.0, 2.0, 3.0, np.nan, 0.0, 5.0, 4.0])
    rank, pct = trailing_rank_pct(x, window=3, min_obs=2)
    # windows ending at each day: [1] [1,2] [1,2,3] [2,3,-] [3,-,0] [-,0,5] [0,5,4]
    np.testing.assert_allclose(rank, [np.nan, 1.0, 1.0, np.nan, 0.0, 1.0, 0.8], equal_nan=True)
    np.testing.assert_allclose(pct, [np.nan, 0.5, 2 / 3, np.nan, 0.0, 0.5, 1 / 3], equal_nan=True)


def _market(n: int = 500, seed: int = 3) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    days = [date(2022, 1, 1) + timedelta(days=i) for i in range(n)]
    dvol = 60 * np.exp(np.cumsum(rng.normal(0, 0.04, n)))
    rv = (dvol / 100 * rng.uniform(0.4, 1.1, n)) ** 2 / 365
    atm = dvol * rng.uniform(0.95, 1.05, n)
    frames = [pl.DataFrame({"date": days, "asset": "BTC", c: v}) for c, v in (("dvol", dvol), ("rv", rv),
                                                                              ("surf_atm_30d", atm))]
    return tuple(frames)


def test_vol_regimes_columns_and_definitions():
    dvol, rv, atm = _market()
    out = vol_regimes(dvol, rv, atm, RegimeThresholds(window_days=100, min_history_days=50))
    assert out.columns == ["date", "asset", "dvol", "dvol_rank", "dvol_pct", "rv_20d", "rv_iv_ratio", "iv30_pct",
                           "regime", "regime_code"]
    assert out["regime"].null_count() == 49 and out["dvol_rank"].null_count() == 49
    i = 300
    window = dvol["dvol"].to_numpy()[i - 99:i + 1]
    row = out.row(i, named=True)
    assert row["dvol_rank"] == pytest.approx((window[-1] - window.min()) / (window.max() - window.min()))
    assert row["dvol_pct"] == pytest.approx((window < window[-1]).mean())
    rv20 = 100 * np.sqrt(365 * rv["rv"].to_numpy()[i - 19:i + 1].mean())
    assert row["rv_20d"] == pytest.approx(rv20) and row["rv_iv_ratio"] == pytest.approx(rv20 / window[-1])
    a = atm["surf_atm_30d"].to_numpy()[i - 99:i + 1]
    assert row["iv30_pct"] == pytest.approx((a < a[-1]).mean())
    # the stored code reads back as the day's label (and an unknown day stays unknown)
    assert out.select(decode(pl.col("regime_code"))).to_series().equals(out["regime"], check_names=False)
    assert out["regime_code"].dtype == pl.Int8
    assert set(out["regime"].drop_nulls()) >= {"neutral", "high_vol"}


def test_a_day_is_unchanged_when_later_data_changes():
    dvol, rv, atm = _market()
    t = RegimeThresholds(window_days=100, min_history_days=50)
    full = vol_regimes(dvol, rv, atm, t)
    cut = date(2022, 1, 1) + timedelta(days=350)
    later = pl.col("date") > cut
    shaken = [f.with_columns(pl.when(later).then(pl.col(c) * 3.0).otherwise(pl.col(c)))
              for f, c in ((dvol, "dvol"), (rv, "rv"), (atm, "surf_atm_30d"))]
    for changed in (vol_regimes(*shaken, t), vol_regimes(*(f.filter(~later) for f in (dvol, rv, atm)), t)):
        before = changed.filter(pl.col("date") <= cut)
        assert before.equals(full.filter(pl.col("date") <= cut))
    assert not vol_regimes(*shaken, t).filter(later)["dvol_rank"].equals(full.filter(later)["dvol_rank"])


def _labelled_days(n: int = 90) -> pl.DataFrame:
    days = [date(2023, 1, 1) + timedelta(days=i) for i in range(n)]
    codes = [CODE["high_vol"] if i % 3 == 0 else CODE["neutral"] for i in range(n)]
    codes[0] = None
    return pl.DataFrame({"date": days, "asset": "BTC", "dvol": np.linspace(50, 70, n),
                         "regime_code": pl.Series(codes, dtype=pl.Int8)})


def test_forecast_metrics_have_a_vol_regime_scope():
    market = _labelled_days()
    past = pl.DataFrame({"date": [date(2022, 12, 1) + timedelta(days=i) for i in range(31)], "asset": "BTC",
                         "dvol": 60.0, "regime_code": pl.Series([0] * 31, dtype=pl.Int8)})
    market = pl.concat([past, market])
    rng = np.random.default_rng(1)
    preds = pl.concat([
        market.filter(pl.col("date") >= date(2023, 1, 1)).select(
            "date", "asset", horizon=pl.lit(1), family=pl.lit(f), fold=pl.col("date").dt.strftime("%Y-%m"),
            y_hat=pl.lit(0.0) + rng.normal(size=90), y=pl.lit(1.0) + rng.normal(size=90))
        for f in ("har", "zero")])
    table = metrics_table(preds, market)
    vr = table.filter((pl.col("scope") == "vol_regime") & (pl.col("asset") == "BTC") & (pl.col("family") == "har"))
    assert sorted(vr["regime"]) == ["high_vol", "neutral", "unknown"]
    assert dict(zip(vr["regime"], vr["n"])) == {"high_vol": 29, "neutral": 60, "unknown": 1}
    # without the codes the scope is simply absent (an older features table)
    assert "vol_regime" not in metrics_table(preds, market.drop("regime_code"))["scope"].to_list()


def test_strategy_metrics_by_vol_regime_sum_to_the_strategy():
    market = _labelled_days()
    daily = market.select("date", "asset", strategy=pl.lit("s"), family=pl.lit("har"), horizon=pl.lit(7),
                          net_usd=pl.Series(np.arange(90, dtype=float) - 40), position=pl.lit(1.0),
                          turnover=pl.lit(0.0), gross_usd=pl.Series(np.arange(90, dtype=float) - 40),
                          cost_usd=pl.lit(0.0))
    out = by_regime(daily, market)
    vr = out.filter(pl.col("scheme") == "vol_regime")
    assert set(vr["regime"]) == {"high_vol", "neutral", "unknown"}
    assert vr["net_usd"].sum() == pytest.approx(daily["net_usd"].sum())
    high = daily.filter(pl.Series([i % 3 == 0 and i > 0 for i in range(90)]))["net_usd"].sum()
    assert vr.filter(pl.col("regime") == "high_vol")["net_usd"].item() == pytest.approx(high)
    assert set(out["scheme"]) == {"dvol_tercile", "vol_regime"}
