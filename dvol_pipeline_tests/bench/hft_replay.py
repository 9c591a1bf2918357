"""Run by the hftbacktest interpreter (`HFT_PYTHON`), not by the package: replay an .npz of hftbacktest events.

Usage: `<hft python> hft_replay.py EVENTS.npz TICK OUT.json`. Builds a HashMapMarketDepthBacktest over the
events, warms its njit loop up on the first 10 000 events, then times `elapse` in 60-second steps over the
whole data, recording the best bid and ask after each step (the benchmark compares them with the rebuilt
book: an oracle on the same events). Standalone on purpose: hftbacktest needs numpy < 2.3, so it lives in
its own virtual environment and must not import the pipeline.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from hftbacktest import BacktestAsset, HashMapMarketDepthBacktest
from numba import njit

STEP = 60_000_000_000


@njit
def _run(hbt, out_ts, out_bid, out_ask):
    n = 0
    while True:
        rc = hbt.elapse(STEP)
        depth = hbt.depth(0)
        if n < out_ts.size:
            out_ts[n] = hbt.current_timestamp
            out_bid[n] = depth.best_bid
            out_ask[n] = depth.best_ask
            n += 1
        if rc != 0:
            break
    return n


def _backtest(events: np.ndarray, tick: float):
    asset = (BacktestAsset().data([events]).linear_asset(1.0).constant_order_latency(0, 0).risk_adverse_queue_model()
             .no_partial_fill_exchange().trading_value_fee_model(0.0, 0.0).tick_size(tick).lot_size(0.001)
             .last_trades_capacity(1))
    return HashMapMarketDepthBacktest([asset])


def main() -> None:
    path, tick, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    events = np.load(path)["data"]
    head = events[:10_000].copy()  # hftbacktest reads the array in place: keep it alive
    small = _backtest(head, tick)
    cap = 100_000
    buf = (np.zeros(cap, np.int64), np.zeros(cap), np.zeros(cap))
    _run(small, *buf)
    small.close()
    t0 = time.perf_counter()
    hbt = _backtest(events, tick)
    load = time.perf_counter() - t0
    t1 = time.perf_counter()
    n = _run(hbt, *buf)
    elapse = time.perf_counter() - t1
    hbt.close()
    with open(out, "w") as fh:
        json.dump({"events": int(events.size), "load_seconds": load, "elapse_seconds": elapse,
                   "ts": buf[0][:n].tolist(), "bid": buf[1][:n].tolist(), "ask": buf[2][:n].tolist()}, fh)


if __name__ == "__main__":
    main()
