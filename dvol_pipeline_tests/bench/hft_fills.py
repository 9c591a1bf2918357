"""Run by the hftbacktest interpreter (`HFT_PYTHON`), not by the package: passive orders through hftbacktest.

Usage: `<hft python> hft_fills.py IN.npz OUT.json`. IN holds `data` (hftbacktest events), the orders (`ts`,
`side`, `price`, `qty`, `end`: the time the order's cancel lands) and `params` (tick, lot, latency_ns, model code
0 risk-averse / 1 power-prob, power). A PartialFillExchange with a constant order latency (entry `latency_ns`,
response 0) and the chosen queue model; each order is submitted post-only (GTX) at its `ts`, its cancel is sent
`latency_ns` before `end`, and its state is read when the cancel is sent and just after it lands. Standalone on
purpose: hftbacktest needs numpy < 2.3, so it lives in its own virtual environment and must not import the pipeline.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from hftbacktest import GTX, LIMIT, BacktestAsset, HashMapMarketDepthBacktest
from hftbacktest.order import FILLED
from numba import njit


@njit
def _read(hbt, i, qty, filled, fill_ts, status):
    values = hbt.orders(0).values()
    while values.has_next():
        o = values.get()
        if o.order_id == i:
            filled[i] = qty[i] - o.leaves_qty
            status[i] = o.status
            if o.status == FILLED:
                fill_ts[i] = o.exch_timestamp
            return o.status
    return -1


@njit
def _run(hbt, stop_ts, stop_kind, stop_idx, side, price, qty, filled, fill_ts, status):
    hbt.elapse(0)  # the clock starts at i64::MAX until the first step reads the first event
    for s in range(stop_ts.size):
        d = stop_ts[s] - hbt.current_timestamp
        if d > 0:
            hbt.elapse(d)
        i = stop_idx[s]
        k = stop_kind[s]
        if k == 0:
            if side[i] > 0:
                hbt.submit_buy_order(0, i, price[i], qty[i], GTX, LIMIT, False)
            else:
                hbt.submit_sell_order(0, i, price[i], qty[i], GTX, LIMIT, False)
        elif k == 1:
            st = _read(hbt, i, qty, filled, fill_ts, status)
            if st != FILLED and st != -1:
                hbt.cancel(0, i, False)
        else:
            _read(hbt, i, qty, filled, fill_ts, status)
    return 0


def _backtest(events, tick, lot, latency, model, power):
    asset = BacktestAsset().data([events]).linear_asset(1.0).constant_order_latency(int(latency), 0)
    asset = asset.risk_adverse_queue_model() if model == 0 else asset.power_prob_queue_model(float(power))
    asset = (asset.partial_fill_exchange().trading_value_fee_model(0.0, 0.0).tick_size(tick).lot_size(lot)
             .last_trades_capacity(1))
    return HashMapMarketDepthBacktest([asset])


def main() -> None:
    src, out = sys.argv[1], sys.argv[2]
    z = np.load(src)
    events = z["data"]
    tick, lot, latency, model, power = z["params"].tolist()
    ts, side, price, qty, end = z["ts"], z["side"], z["price"], z["qty"], z["end"]
    n = ts.size
    stop_ts = np.concatenate([ts, end - int(latency), end + 1])
    stop_kind = np.repeat(np.arange(3), n)
    stop_idx = np.tile(np.arange(n), 3)
    o = np.lexsort((stop_kind, stop_ts))
    stop_ts, stop_kind, stop_idx = stop_ts[o], stop_kind[o], stop_idx[o]
    res = (np.zeros(n), np.full(n, -1, np.int64), np.full(n, -1, np.int64))
    # warm the njit loop on a short head of the data and the first order
    head = events[:5000].copy()
    small = _backtest(head, tick, lot, latency, model, power)
    w = np.array([0])
    _run(small, stop_ts[:1].copy(), stop_kind[:1].copy(), w, side, price, qty, *(r.copy() for r in res))
    small.close()
    t0 = time.perf_counter()
    hbt = _backtest(events, tick, lot, latency, model, power)
    load = time.perf_counter() - t0
    t1 = time.perf_counter()
    _run(hbt, stop_ts, stop_kind, stop_idx, side, price, qty, *res)
    run = time.perf_counter() - t1
    hbt.close()
    with open(out, "w") as fh:
        json.dump({"events": int(events.size), "load_seconds": load, "run_seconds": run,
                   "filled": res[0].tolist(), "fill_ts": res[1].tolist(), "status": res[2].tolist()}, fh)


if __name__ == "__main__":
    main()
