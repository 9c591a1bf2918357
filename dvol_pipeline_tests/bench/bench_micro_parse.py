"""`make bench`: how fast raw Binance websocket recordings are parsed, next to hftbacktest's converter.

`python -m dvol_pipeline_tests.bench.bench_micro_parse [--lines N]` writes a synthetic USDⓈ-M
recording (BTCUSDT, nanosecond local clock, the stream mix of a real BTC futures session:
bookTicker, trade, aggTrade, depth@100ms diffs, markPrice@1s, a few liquidations, REST snapshots
of 1000 levels a side), gzip and plain, and times:
- `read_binance_ws` on each, its fast path (the numba tokenizer, polars' JSON decoder for the lines it
  leaves) and its polars path alone (`fast=False`), with one polars thread (the rate per core; numba runs
  on one core) and the fast path with polars' default threads too; gzip's inflate time (Python's zlib, one
  core) is timed apart and the gzip rate also printed without it;
- hftbacktest's `hftbacktest.data.utils.binancefutures.convert` on the gzip file, in its own venv
  (it needs numpy < 2.3): the python at `$HFT_PYTHON`, default `.venv-hft/bin/python`; skipped with
  a printed line where absent. Its time is the call of `convert` only (not its import), best of 1:
  its first call includes numba's compilation of its event-order correction, as a user's does.

The first line is the reference loop; every wall time is also printed as a multiple of it.
Asserts nothing: the goal (>= 1 M lines/s per core) is read by people.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dvol_pipeline_tests.bench.reference import best_seconds, reference_line, reference_seconds

T0_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC
OURS_SCRIPT = r"""
import sys, time
from pathlib import Path
from dvol_pipeline.sources.micro.binance_ws import read_binance_ws
path, fast = Path(sys.argv[1]), sys.argv[2] == "1"
read_binance_ws(path, fast=fast)
wall, cpu = [], []
for _ in range(3):
    t0, c0 = time.perf_counter(), time.process_time()
    read_binance_ws(path, fast=fast)
    wall.append(time.perf_counter() - t0)
    cpu.append(time.process_time() - c0)
print("OURS", min(wall), min(cpu))
"""
HFT_SCRIPT = r"""
import sys, time
from hftbacktest.data.utils import binancefutures
path, rows = sys.argv[1], int(sys.argv[2])
t0 = time.perf_counter()
out = binancefutures.convert(path, opt="mt", buffer_size=rows)
print("HFT_SECONDS", time.perf_counter() - t0, "HFT_ROWS", len(out))
"""


def _levels(rng: random.Random, mid: float, n: int, side: int) -> str:
    rows = []
    for _ in range(n):
        px = mid + side * (0.1 + rng.randrange(0, 400) * 0.1)
        qty = 0.0 if rng.random() < 0.3 else rng.randrange(1, 50_000) / 1000
        rows.append(f'["{px:.2f}","{qty:.3f}"]')
    return "[" + ",".join(rows) + "]"


def synth_lines(n_lines: int, seed: int = 7) -> list[str]:
    """`n_lines` recording lines, ns local clock, in the proportions of a busy BTCUSDT futures session."""
    rng = random.Random(seed)
    mid, uid, tid, agg = 42_000.0, 1_000_000, 5_000_000, 900_000
    out, t_ns = [], T0_MS * 1_000_000
    for i in range(n_lines):
        t_ns += rng.randrange(200_000, 2_000_000)
        ems = t_ns // 1_000_000 - rng.randrange(1, 40)
        r = rng.random()
        mid += rng.choice((-0.1, 0.0, 0.1))
        if i % 250_000 == 1_000:  # a REST snapshot now and then (1000 levels a side), after the first diffs
            body = json.dumps({"lastUpdateId": uid, "E": ems, "T": ems - 1}, separators=(",", ":"))[:-1]
            line = f'{body},"bids":{_levels(rng, mid, 1000, -1)},"asks":{_levels(rng, mid, 1000, 1)}}}'
        elif r < 0.45:
            line = (f'{{"stream":"btcusdt@bookTicker","data":{{"e":"bookTicker","u":{uid},"s":"BTCUSDT",'
                    f'"b":"{mid - 0.05:.2f}","B":"{rng.randrange(1, 9000) / 1000:.3f}","a":"{mid + 0.05:.2f}",'
                    f'"A":"{rng.randrange(1, 9000) / 1000:.3f}","T":{ems},"E":{ems + 1}}}}}')
        elif r < 0.65:
            tid += 1
            line = (f'{{"stream":"btcusdt@trade","data":{{"e":"trade","E":{ems + 1},"T":{ems},"s":"BTCUSDT",'
                    f'"t":{tid},"p":"{mid:.2f}","q":"{rng.randrange(1, 2000) / 1000:.3f}","X":"MARKET",'
                    f'"m":{"true" if rng.random() < 0.5 else "false"}}}}}')
        elif r < 0.85:
            agg += 1
            line = (f'{{"stream":"btcusdt@aggTrade","data":{{"e":"aggTrade","E":{ems + 1},"a":{agg},'
                    f'"s":"BTCUSDT","p":"{mid:.2f}","q":"{rng.randrange(1, 2000) / 1000:.3f}","f":{tid},'
                    f'"l":{tid},"T":{ems},"m":{"true" if rng.random() < 0.5 else "false"}}}}}')
        elif r < 0.975:
            first = uid + 1
            uid += rng.randrange(1, 60)
            nb, na = rng.randrange(0, 15), rng.randrange(1, 15)
            line = (f'{{"stream":"btcusdt@depth@100ms","data":{{"e":"depthUpdate","E":{ems + 1},"T":{ems},'
                    f'"s":"BTCUSDT","U":{first},"u":{uid},"pu":{first - 1},"b":{_levels(rng, mid, nb, -1)},'
                    f'"a":{_levels(rng, mid, na, 1)}}}}}')
        elif r < 0.998:
            line = (f'{{"stream":"btcusdt@markPrice@1s","data":{{"e":"markPriceUpdate","E":{ems},"s":"BTCUSDT",'
                    f'"p":"{mid:.2f}","P":"{mid:.2f}","i":"{mid - 1:.2f}","r":"0.00010000",'
                    f'"T":{T0_MS + 28_800_000}}}}}')
        else:
            line = (f'{{"stream":"btcusdt@forceOrder","data":{{"e":"forceOrder","E":{ems},"o":{{"s":"BTCUSDT",'
                    f'"S":"SELL","o":"LIMIT","f":"IOC","q":"0.100","p":"{mid - 20:.2f}","ap":"{mid - 10:.2f}",'
                    f'"X":"FILLED","l":"0.100","z":"0.100","T":{ems}}}}}}}')
        out.append(f"{t_ns} {line}")
    return out


def _hft_python() -> Path:
    return Path(os.environ.get("HFT_PYTHON", ".venv-hft/bin/python"))


def _ours(path: Path, threads: int | None, fast: bool = True) -> tuple[float, float]:
    """Best wall and best CPU seconds of `read_binance_ws(path, fast=fast)` in a fresh process
    (POLARS_MAX_THREADS=threads), after one untimed call (numba's compiled code is cached on disk; the first
    call loads it). CPU seconds of a one-thread run are the rate per core also on a shared, loaded machine."""
    env = dict(os.environ)
    if threads:
        env["POLARS_MAX_THREADS"] = str(threads)
    code = OURS_SCRIPT
    res = subprocess.run([sys.executable, "-c", code, str(path), "1" if fast else "0"], env=env,
                         capture_output=True, text=True, check=True)
    wall, cpu = res.stdout.split("OURS")[-1].split()
    return float(wall), float(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--fast-only", action="store_true", help="skip the polars path and hftbacktest")
    args = parser.parse_args()
    ref = reference_seconds()
    print(reference_line(ref))
    t0 = time.perf_counter()
    lines = synth_lines(args.lines)
    text = ("\n".join(lines) + "\n").encode()
    n_levels = sum(line.count('"],["') + 1 for line in lines if '"b":[' in line or '"bids"' in line)
    with tempfile.TemporaryDirectory() as tmp:
        plain_dir, gz_dir = Path(tmp, "plain", "usdm"), Path(tmp, "gz", "usdm")
        plain_dir.mkdir(parents=True)
        gz_dir.mkdir(parents=True)
        plain, gz = plain_dir / "btcusdt_20240101.txt", gz_dir / "btcusdt_20240101.txt.gz"
        plain.write_bytes(text)
        gz.write_bytes(gzip.compress(text, compresslevel=6))
        print(f"synthetic recording: {args.lines:,} lines, {len(text) / 2**20:.0f} MiB plain, "
              f"{gz.stat().st_size / 2**20:.0f} MiB gzip (written in {time.perf_counter() - t0:.1f} s)")
        gz_bytes = gz.read_bytes()
        inflate = best_seconds(lambda: gzip.decompress(gz_bytes), 3)
        print(f"gzip inflate alone (Python zlib, one core): {inflate:.2f} s ({inflate / ref:.2f}x reference)")
        runs = (("plain", plain_dir.parent, 1, True), ("plain", plain_dir.parent, None, True),
                ("gzip", gz_dir.parent, 1, True), ("plain", plain_dir.parent, 1, False),
                ("gzip", gz_dir.parent, 1, False))
        for label, folder, threads, fast in runs:
            if args.fast_only and not fast:
                continue
            sec, cpu = _ours(folder, threads, fast)
            extra = ""
            if label == "gzip" and fast:
                extra = f"; without the inflate {args.lines / (sec - inflate) / 1e6:.2f} M lines/s"
            print(f"read_binance_ws {'fast' if fast else 'polars'} path {label:5s} threads={threads or 'default'}: "
                  f"{sec:.2f} s ({sec / ref:.2f}x reference), {args.lines / sec / 1e6:.2f} M lines/s{extra}; "
                  f"CPU {cpu:.2f} s, {args.lines / cpu / 1e6:.2f} M lines per CPU second")
        if not args.fast_only:
            _bench_hft(gz, args.lines, n_levels, ref)
    sys.stdout.flush()


def _bench_hft(gz: Path, n_lines: int, n_levels: int, ref: float) -> None:
    hft = _hft_python()
    if not hft.exists():
        print(f"hftbacktest: skipped ({hft} not found; set HFT_PYTHON to a python with hftbacktest installed)")
        return
    rows = n_levels + 3 * n_lines + 10_000
    res = subprocess.run([str(hft), "-c", HFT_SCRIPT, str(gz), str(rows)], capture_output=True, text=True)
    if res.returncode != 0 or "HFT_SECONDS" not in res.stdout:
        tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["no output"]
        print(f"hftbacktest: failed ({tail[0]})")
        return
    parts = res.stdout.split()
    sec = float(parts[parts.index("HFT_SECONDS") + 1])
    print(f"hftbacktest binancefutures.convert gzip: {sec:.2f} s ({sec / ref:.2f}x reference), "
          f"{n_lines / sec / 1e6:.2f} M lines/s (numba compile included, one run)")


if __name__ == "__main__":
    main()
