"""Statistical mean reversion on hand-built frames; expected trades worked out by hand in comments."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.quant.micro.strategies import MeanReversionConfig
from dvol_pipeline.quant.micro.strategies.mean_reversion import run_strategy

from .strat_frames import frame, ts

CFG = MeanReversionConfig(window=3, entry_z=1.0, vol_window=4)
BASE = dict(adx_14=10.0, rv_60=10.0, ou_half_life=20.0)


def test_entry_mean_exit_and_pnl():
    # bar 4: window [100, 100, 97]: mean 99, std sqrt(3), z = -2/sqrt(3) = -1.155 < -1 -> long signal.
    # filled at bar 5's close (97). bar 6: window [97, 97, 98] mean 97.33 < 98 -> back at the mean,
    # exit filled at bar 7's close 98.5. gross = (98.5/97 - 1) 1e4 = 154.639 bps; cost: two aggressive
    # legs of half spread 1 + taker 5 = 12 bps.
    f = frame([100, 100, 100, 100, 97, 97, 98, 98.5, 98.5], **BASE)
    run = run_strategy(f, CFG)
    t = run.trades
    assert t.height == 1
    row = t.row(0, named=True)
    assert row["signal_ts"] == ts(4) and row["entry_ts"] == ts(5) and row["exit_ts"] == ts(7)
    assert row["side"] == 1 and row["exit_reason"] == "mean" and row["holding_minutes"] == 2.0
    assert row["gross_bps"] == pytest.approx(1e4 * (98.5 / 97 - 1))
    assert row["cost_bps"] == pytest.approx(12.0)
    assert row["net_bps"] == pytest.approx(1e4 * (98.5 / 97 - 1) - 12.0)
    assert row["qty"] == pytest.approx(100_000 / 97)
    # bar P&L sums to the trade's net
    assert run.bar_pnl["net_bps"].sum() == pytest.approx(row["net_bps"])
    assert run.bar_pnl["position"].to_list() == [0, 0, 0, 0, 0, 0, 1, 1, 0]


@pytest.mark.parametrize("col,value", [("adx_14", 30.0), ("rv_60", 50.0)])
def test_kill_switch_blocks_entry(col, value):
    # the same frame; at the signal bar 4 ADX 30 > 25, or rv 50 above the p90 (10) of the bars before
    cols = dict(BASE)
    cols[col] = [cols[col]] * 4 + [value] + [cols[col]] * 4
    prices = [100, 100, 100, 100, 97, 97, 98, 98.5, 98.5]
    assert ts(4) in run_strategy(frame(prices, **BASE), CFG).trades["signal_ts"].to_list()
    run = run_strategy(frame(prices, **cols), CFG)
    # the long at bar 4 never happens (a short signal at bar 6, z = +1.155, is another trade)
    assert ts(4) not in run.trades["signal_ts"].to_list()
    assert run.bar_pnl.filter(pl.col("ts") <= ts(6))["position"].abs().sum() == 0.0


def test_stop_loss_at_twice_expected_reversion():
    # signal at bar 4: deviation 1e4 (97/99 - 1) = -202.02 bps, stop 404.04 bps. Entry 97 at bar 5;
    # bar 6 close 93: (93/97 - 1) 1e4 = -412.4 <= -404.04 -> stop, filled at bar 7's 92.
    run = run_strategy(frame([100, 100, 100, 100, 97, 97, 93, 92], **BASE), CFG)
    row = run.trades.row(0, named=True)
    assert row["exit_reason"] == "stop" and row["exit_ts"] == ts(7)
    assert row["gross_bps"] == pytest.approx(1e4 * (92 / 97 - 1))


def test_time_stop_from_half_life():
    # half-life 1 bar -> 1 minute, clipped up to min_hold 2 -> hold 2 bars: entry bar 5, exit bar 7 (time)
    cfg = MeanReversionConfig(window=3, entry_z=1.0, vol_window=4, min_hold_minutes=2.0)
    run = run_strategy(frame([100, 100, 100, 100, 97, 97, 96, 96, 96], **{**BASE, "ou_half_life": 1.0}), cfg)
    row = run.trades.row(0, named=True)
    assert (row["exit_reason"], row["entry_ts"], row["exit_ts"]) == ("time", ts(5), ts(7))
    assert row["gross_bps"] == pytest.approx(1e4 * (96 / 97 - 1))


def test_passive_fill_and_miss():
    # passive long at the touch 97 (1 - 1/1e4) = 96.9903 (half of the 2 bps spread) placed at bar 4's close;
    # bar 5's low 96.9 trades through -> filled at 96.9903 on bar 5; exit as before at bar 7 (98.5).
    # cost: passive entry 0 (no rebate) + aggressive exit 6 bps.
    prices = [100, 100, 100, 100, 97, 97, 98, 98.5, 98.5]
    low = list(prices)
    low[5] = 96.9
    cfg = MeanReversionConfig(window=3, entry_z=1.0, vol_window=4, passive=True, fill_bars=2)
    run = run_strategy(frame(prices, mid_low=low, **BASE), cfg)
    row = run.trades.row(0, named=True)
    lim = 97 * (1 - 1e-4)
    assert row["execution"] == "passive" and row["entry_ts"] == ts(5) and row["entry_px"] == pytest.approx(lim)
    assert row["gross_bps"] == pytest.approx(1e4 * (98.5 / lim - 1))
    assert row["cost_bps"] == pytest.approx(6.0)
    assert run.bar_pnl["gross_bps"].sum() == pytest.approx(row["gross_bps"])
    # never traded through within 2 bars -> missed at bar 6, no P&L
    missed = run_strategy(frame(prices, **BASE), cfg).trades
    # (the short signalled at bar 6 is filled on bar 7, whose 98.5 trades through 98.0098, and ends with the data)
    assert missed["exit_reason"].to_list() == ["missed", "end"]
    assert missed.row(0, named=True)["entry_ts"] == ts(6) and missed["qty"][0] == 0.0


def test_fair_values_ema_and_vwap():
    # z of the given deviation over z_window 3: [0, 0, -30] -> mean -10, std 17.32, z = -1.155 -> long
    dev = [0.0, 0.0, 0.0, 0.0, -30.0, -30.0, 5.0, 5.0, 5.0]
    for fair, col in (("ema", "ema_dev_bps"), ("vwap", "vwap_dev_bps")):
        cfg = MeanReversionConfig(fair=fair, z_window=3, entry_z=1.0, vol_window=4)
        run = run_strategy(frame([100, 100, 100, 100, 97, 97, 98, 98.5, 98.5], **{col: dev}, **BASE), cfg)
        assert run.trades["entry_ts"].to_list() == [ts(5)]
        assert run.trades["exit_reason"].to_list() == ["mean"]


def test_no_look_ahead_by_truncation():
    rng = np.random.default_rng(7)
    n = 400
    p = list(100 * np.exp(np.cumsum(rng.normal(0, 2e-3, n))))
    f = frame(p, adx_14=list(rng.uniform(5, 35, n)), rv_60=list(rng.uniform(5, 15, n)), ou_half_life=20.0)
    cfg = MeanReversionConfig(window=20, entry_z=1.5, vol_window=50, min_hold_minutes=5, max_hold_minutes=30)
    full = run_strategy(f, cfg)
    for cut in (150, 273, 399):
        part = run_strategy(f.head(cut), cfg)
        last = f["ts"][cut - 1]
        done = pl.col("exit_ts") < last
        assert part.trades.filter(done).equals(full.trades.filter(done))
        assert part.bar_pnl["position"].to_list()[: cut - 1] == full.bar_pnl["position"].to_list()[: cut - 1]
    assert full.trades.height > 3
