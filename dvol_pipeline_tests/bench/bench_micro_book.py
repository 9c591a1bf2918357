"""`make bench`: order-book rebuild rate, side by side with hftbacktest's replay of the same events.

`python -m dvol_pipeline_tests.bench.bench_micro_book [--rows N]` (default 10 M delta rows). Prints the
reference loop first, then every wall time also as a multiple of it. The stream is synthetic (seeded): a
Binance USD-M style diff stream (4 level rows a message, `pu` chained) over one day of the local clock, a
snapshot arriving after the first diffs, levels placed at geometric distances around a random-walk mid
(one deletion row at each mid move keeps the book uncrossed, as a real one is).

hftbacktest runs in its own interpreter (`HFT_PYTHON`, default `.venv-hft/bin/python`, built by `make
bench`; it needs numpy < 2.3): the events our replay applied are written as its `event_dtype` .npz and
replayed by `hft_replay.py` in 60-s `elapse` steps; its best bid/ask after each step is compared with the
rebuilt top as of that instant (an oracle on the same events). Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS", "POLARS_MAX_THREADS"):
    os.environ.setdefault(_var, "1")  # per core, as the other benchmarks (effective before numpy/polars load)

import numpy as np
import polars as pl

from dvol_pipeline_tests.bench.reference import (
    best_seconds,
    reference_line,
    reference_seconds,
)

DAY_NS = 86_400 * 10**9
ROWS_PER_MESSAGE = 4
HFT_DTYPE = np.dtype([("ev", "u8"), ("exch_ts", "i8"), ("local_ts", "i8"), ("px", "f8"), ("qty", "f8"),
                      ("order_id", "u8"), ("ival", "i8"), ("fval", "f8")], align=True)
"""hftbacktest.types.event_dtype (copied: the package is not importable from this interpreter)."""
EXCH_EVENT, LOCAL_EVENT, BUY_EVENT, SELL_EVENT, DEPTH_EVENT = 1 << 31, 1 << 30, 1 << 29, 1 << 28, 1


def synthetic_stream(rows: int, seed: int = 1, tick: float = 0.1, levels: int = 500) -> pl.DataFrame:
    """`rows` diff rows (+ a snapshot of `levels` a side) of one futures stream over one day."""
    rng = np.random.default_rng(seed)
    steps = np.where(rng.random(rows) < 0.002, rng.choice([-1, 1], rows), 0)
    mid = 300_000 + np.cumsum(steps)
    bid = rng.random(rows) < 0.5
    off = rng.geometric(0.15, rows)
    px = np.where(bid, mid - off, mid + off)
    size = np.where(rng.random(rows) < 0.35, 0.0, np.round(rng.exponential(2.0, rows) + 0.001, 3))
    moved = steps != 0  # the level the mid moved onto is emptied: asks stay >= mid + 1, bids <= mid - 1
    bid = np.where(moved, steps < 0, bid)
    px = np.where(moved, mid, px)
    size = np.where(moved, 0.0, size)
    msg = np.arange(rows) // ROWS_PER_MESSAGE
    u = (msg + 1) * 10
    ts = np.cumsum(rng.exponential(DAY_NS / rows, rows)).astype(np.int64) + 1_704_067_200 * 10**9
    ts = ts[msg * ROWS_PER_MESSAGE]  # a message's rows share its receive time
    diffs = pl.DataFrame({
        "ts_local": ts, "ts_exchange": ts - 5_000_000 - rng.integers(0, 2_000_000, rows),
        "side": np.where(bid, "bid", "ask"), "price": px * tick, "size": size,
        "first_update_id": u - 9, "update_id": u, "prev_update_id": u - 10, "is_snapshot": False})
    k = np.arange(1, levels + 1)
    snap_id = 25  # inside message 2 (U=21, u=30): the first applied diff
    at = 3 * ROWS_PER_MESSAGE
    snap = pl.DataFrame({
        "ts_local": np.full(2 * levels, ts[at - 1] + 1), "ts_exchange": np.full(2 * levels, ts[at - 1] - 1_000_000),
        "side": ["bid"] * levels + ["ask"] * levels,
        "price": np.concatenate([mid[0] - k, mid[0] + k]) * tick, "size": np.full(2 * levels, 1.0),
        "first_update_id": None, "update_id": snap_id, "prev_update_id": None, "is_snapshot": True},
        schema_overrides={"first_update_id": pl.Int64, "prev_update_id": pl.Int64})
    frame = pl.concat([diffs[:at], snap.cast(diffs.schema), diffs[at:]])
    return frame.with_columns(pl.col("ts_local", "ts_exchange").cast(pl.Datetime("ns", "UTC")),
                              venue=pl.lit("bench_usdm"), symbol=pl.lit("BTCUSDT")).select(
        "ts_local", "ts_exchange", "venue", "symbol", "side", "price", "size", "first_update_id", "update_id",
        "prev_update_id", "is_snapshot")


def hft_events(stream: pl.DataFrame) -> np.ndarray:
    """The rows our replay applies (the snapshot, then the diffs from the first applied one) as hftbacktest events."""
    first = stream.with_row_index().filter(pl.col("is_snapshot"))["index"][0]
    snap_id = stream["update_id"][int(first)]
    rows = stream.filter(pl.col("is_snapshot") | (pl.col("update_id") >= snap_id))
    rows = pl.concat([rows.filter(pl.col("is_snapshot")), rows.filter(~pl.col("is_snapshot"))])
    ev = np.zeros(rows.height, HFT_DTYPE)
    side = np.where((rows["side"] == "bid").to_numpy(), BUY_EVENT, SELL_EVENT).astype(np.uint64)
    ev["ev"] = np.uint64(EXCH_EVENT | LOCAL_EVENT | DEPTH_EVENT) | side
    local = rows["ts_local"].cast(pl.Int64).to_numpy()
    ev["local_ts"] = np.maximum.accumulate(local)
    ev["exch_ts"] = np.minimum(rows["ts_exchange"].cast(pl.Int64).to_numpy(), ev["local_ts"])
    ev["exch_ts"] = np.maximum.accumulate(ev["exch_ts"])
    ev["px"] = rows["price"].to_numpy()
    ev["qty"] = rows["size"].to_numpy()
    return ev


def run_hft(stream: pl.DataFrame, tick: float) -> dict | None:
    python = os.environ.get("HFT_PYTHON", ".venv-hft/bin/python")
    if not Path(python).exists():
        print(f"hftbacktest: skipped ({python} not found; `make bench` builds .venv-hft, or set HFT_PYTHON)")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path, out = Path(tmp, "events.npz"), Path(tmp, "out.json")
        np.savez(path, data=hft_events(stream))
        script = Path(__file__).with_name("hft_replay.py")
        done = subprocess.run([python, str(script), str(path), repr(tick), str(out)], capture_output=True, text=True,
                              cwd=tmp, check=False)
        if done.returncode != 0:
            print(f"hftbacktest: failed ({done.stderr.strip().splitlines()[-1] if done.stderr else done.returncode})")
            return None
        return json.loads(out.read_text())


def oracle(top: pl.DataFrame, hft: dict) -> tuple[int, int]:
    """(agreeing, compared) sample instants: hftbacktest's best bid/ask vs the rebuilt top as of that instant.

    The last sample is taken when `elapse` reports the end of the data, after every event: it is compared
    with the last rebuilt top (its reported timestamp is the step's, not the last event's).
    """
    ts = list(hft["ts"])
    if ts:
        ts[-1] = int(top["ts_local"].cast(pl.Int64).max())
    samples = pl.DataFrame({"t": ts, "hb": hft["bid"], "ha": hft["ask"]}).with_columns(
        pl.col("t").cast(pl.Datetime("ns", "UTC"))).filter(pl.col("hb").is_finite() & pl.col("ha").is_finite())
    m = samples.sort("t").join_asof(top.select("ts_local", "bid_price", "ask_price").sort("ts_local"),
                                    left_on="t", right_on="ts_local", strategy="backward").drop_nulls("bid_price")
    ok = ((m["bid_price"] - m["hb"]).abs() < 1e-6) & ((m["ask_price"] - m["ha"]).abs() < 1e-6)
    return int(ok.sum()), m.height


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args(argv)
    ref = reference_seconds()
    print(reference_line(ref))
    print(f"threads pinned to 1 (POLARS/NUMBA/OMP = {os.environ.get('POLARS_MAX_THREADS')}); "
          f"1-min load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")

    def line(what: str, seconds: float, extra: str = "") -> None:
        print(f"{what:<44} {seconds:8.3f} s  ({seconds / ref:6.2f} x ref){extra}")

    from dvol_pipeline.quant.micro.book import rebuild_book

    t0 = time.perf_counter()
    stream = synthetic_stream(args.rows)
    line(f"synthetic stream ({stream.height:,} rows)", time.perf_counter() - t0)
    rebuild_book(synthetic_stream(20_000, seed=2))  # numba's cache / compile, outside the timing
    result = {}

    def once():  # keep the fastest run's stage timings, next to its wall time
        t = time.perf_counter()
        r = rebuild_book(stream)
        t = time.perf_counter() - t
        if t < result.get("t", float("inf")):
            result["r"], result["t"] = r, t

    wall = best_seconds(once, repeats=2)
    r = result["r"]
    n = stream.height
    rate = f"  {n / wall / 1e6:6.2f} M events/s"
    line("rebuild_book, whole (best of 2)", wall, rate)
    line("  prepare (columns, tick, index)", r.timings["prepare"])
    line("  replay loop (numba)", r.timings["replay"], f"  {n / r.timings['replay'] / 1e6:6.2f} M events/s")
    line("  frames (top, snapshots, sessions)", r.timings["frames"])
    s = r.sessions.row(0, named=True)
    print(f"  rule {r.rule}, tick {r.tick:g}; top rows {r.top.height:,}, 1-s snapshots {r.snapshots.height:,}, "
          f"breaks {s['sequence_breaks']}, crossed {s['crossed_states']}")
    hft = run_hft(stream, r.tick)
    if hft is not None:
        line(f"hftbacktest build ({hft['events']:,} events, read lazily)", hft["load_seconds"])
        line("hftbacktest elapse over the data", hft["elapse_seconds"],
             f"  {hft['events'] / hft['elapse_seconds'] / 1e6:6.2f} M events/s")
        agree, compared = oracle(r.top, hft)
        print(f"  oracle: best bid/ask equal to hftbacktest's at {agree}/{compared} sampled instants (every 60 s)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
