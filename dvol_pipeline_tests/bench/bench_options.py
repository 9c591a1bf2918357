"""`make bench`, options part: the vectorised pricing core on the demo range's chains, per core.

Measures, single-threaded (numpy/BLAS/numba/polars pools pinned to one thread before numpy
is imported), on the simulated market's raw_option_chain (2021-03-24 .. 2024-12-31 by
default, ~2 M options):

* greeks per second (all 9 outputs of `greeks` for every option, from its mark IV),
* implied vols per second (from the USD marks, mark_price * underlying_price),
* the same work as a per-option Python loop of py_vollib (vollib: black + 5 analytical
  greeks; implied_volatility = Jäckel's LBR in pure Python) and of QuantLib
  (BlackCalculator: value, delta, gamma, vega, theta, rho; blackFormulaImpliedStdDev at
  accuracy 1e-12, close to our precision), timed on a sample and extrapolated,
* chain_greeks wall time for the whole range, and the max |IV solved - mark IV|,
* the surface benchmark (`bench_surface.benchmark_surface`) unless --no-surface; `make
  bench` runs that one on its own instead (bench_surface).

Run: python -m dvol_pipeline_tests.bench.bench_options [--start 2024-12-01] [--end ...].
Timings are the best of `--repeats` runs (wall clock; CPU time alongside). On a shared
machine the best run is the one least disturbed by neighbours.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS", "POLARS_MAX_THREADS"):
    os.environ.setdefault(_var, "1")  # effective only if numpy/polars are not imported yet

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import date  # noqa: E402

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from dvol_pipeline.quant.pricing.options import chain_greeks, greeks, implied_vol, to_years  # noqa: E402
from dvol_pipeline.sources.simulated import SimConfig, SimulatedMarket  # noqa: E402

START, END = date(2021, 3, 24), date(2024, 12, 31)


def _best(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Best wall and CPU seconds of `repeats` calls."""
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return min(wall), min(cpu)


def _arrays(chain: pl.DataFrame) -> dict[str, np.ndarray]:
    live = chain.with_columns(T=to_years(pl.col("expiry") - pl.col("ts"))).filter(pl.col("T") > 0)
    return {
        "F": live["underlying_price"].to_numpy(),
        "K": live["strike"].to_numpy(),
        "T": live["T"].to_numpy(),
        "sigma": live["mark_iv"].to_numpy() / 100.0,
        "is_call": (live["option_type"] == "C").to_numpy(),
        "usd": (live["mark_price"] * live["underlying_price"]).to_numpy(),
    }


def _vollib_loops(a: dict[str, np.ndarray], idx: np.ndarray) -> tuple[float, float]:
    """Seconds per option of a py_vollib loop: (price + 5 greeks), (implied vol)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from vollib.black import black
        from vollib.black.greeks.analytical import delta, gamma, rho, theta, vega
        from vollib.black.implied_volatility import implied_volatility
    rows = [(("c" if a["is_call"][i] else "p"), float(a["F"][i]), float(a["K"][i]), float(a["T"][i]), float(a["sigma"][i]), float(a["usd"][i])) for i in idx]
    t0 = time.perf_counter()
    for flag, f, k, t, s, _ in rows:
        black(flag, f, k, t, 0.0, s)
        delta(flag, f, k, t, 0.0, s)
        gamma(flag, f, k, t, 0.0, s)
        vega(flag, f, k, t, 0.0, s)
        theta(flag, f, k, t, 0.0, s)
        rho(flag, f, k, t, 0.0, s)
    greeks_s = (time.perf_counter() - t0) / len(rows)
    t0 = time.perf_counter()
    for flag, f, k, t, _, p in rows:
        try:
            implied_volatility(p, f, k, 0.0, t, flag)
        except Exception:  # noqa: BLE001 - the library raises on quotes outside its bounds
            pass
    return greeks_s, (time.perf_counter() - t0) / len(rows)


def _quantlib_loops(a: dict[str, np.ndarray], idx: np.ndarray) -> tuple[float, float]:
    """Seconds per option of a QuantLib loop: BlackCalculator greeks, blackFormulaImpliedStdDev."""
    import QuantLib as ql

    rows = [(bool(a["is_call"][i]), float(a["F"][i]), float(a["K"][i]), float(a["T"][i]), float(a["sigma"][i]), float(a["usd"][i])) for i in idx]
    call, put = ql.Option.Call, ql.Option.Put
    t0 = time.perf_counter()
    for is_call, f, k, t, s, _ in rows:
        calc = ql.BlackCalculator(ql.PlainVanillaPayoff(call if is_call else put, k), f, s * t**0.5, 1.0)
        calc.value(), calc.delta(f), calc.gamma(f), calc.vega(t), calc.theta(f, t), calc.rho(t)
    greeks_s = (time.perf_counter() - t0) / len(rows)
    t0 = time.perf_counter()
    for is_call, f, k, t, _, p in rows:
        try:
            ql.blackFormulaImpliedStdDev(call if is_call else put, k, f, p, 1.0, 0.0, ql.nullDouble(), 1e-12, 100)
        except RuntimeError:
            pass
    return greeks_s, (time.perf_counter() - t0) / len(rows)


def _surface_figures(chain: pl.DataFrame) -> dict[str, float] | str:
    """The surface helper's figures, or why there are none."""
    from .bench_surface import benchmark_surface

    try:
        return benchmark_surface(chain)
    except Exception as exc:  # noqa: BLE001 - another module's failure must not hide our figures
        return f"surface bench failed: {type(exc).__name__}: {exc}"


def run(start: date = START, end: date = END, repeats: int = 3, sample: int = 20_000, surface: bool = True) -> dict[str, float | str]:
    """All figures as a dict (what `main` prints), for a combined bench."""
    t0 = time.perf_counter()
    chain = SimulatedMarket(SimConfig(), end=end).table("raw_option_chain", start, end)
    build_s = time.perf_counter() - t0
    a = _arrays(chain)
    n = a["F"].size
    F, K, T, sigma, is_call, usd = (a[k] for k in ("F", "K", "T", "sigma", "is_call", "usd"))

    greeks_wall, greeks_cpu = _best(lambda: greeks(F, K, T, sigma, is_call), repeats)
    iv_wall, iv_cpu = _best(lambda: implied_vol(usd, F, K, T, is_call), repeats)
    solved = implied_vol(usd, F, K, T, is_call)
    ok = solved.reason == 0
    iv_error = np.abs(solved.sigma[ok] - sigma[ok]) * 100.0  # vol points
    chain_wall, chain_cpu = _best(lambda: chain_greeks(chain), max(1, repeats - 1))

    idx = np.random.default_rng(0).choice(n, size=min(sample, n), replace=False)
    vollib_greeks, vollib_iv = _vollib_loops(a, idx)
    ql_greeks, ql_iv = _quantlib_loops(a, idx)
    out = {
        "n_options": float(n),
        "chain_build_s": build_s,
        "greeks_per_s": n / greeks_wall,
        "greeks_cpu_per_s": n / greeks_cpu,
        "iv_per_s": n / iv_wall,
        "iv_cpu_per_s": n / iv_cpu,
        "iv_not_ok": float((~ok).sum()),
        "iv_max_err_vol_points": float(iv_error.max()) if iv_error.size else float("nan"),
        "chain_greeks_s": chain_wall,
        "chain_greeks_cpu_s": chain_cpu,
        "vollib_greeks_per_s": 1.0 / vollib_greeks,
        "vollib_iv_per_s": 1.0 / vollib_iv,
        "quantlib_greeks_per_s": 1.0 / ql_greeks,
        "quantlib_iv_per_s": 1.0 / ql_iv,
    }
    if surface:
        figures = _surface_figures(chain)
        if isinstance(figures, str):
            out["surface_note"] = figures
        else:
            out.update({f"surface_{k}": float(v) for k, v in figures.items()})
    return out


def report(figures: dict[str, float | str], start: date, end: date) -> str:
    f = figures
    lines = [
        f"options benchmark: BTC+ETH raw_option_chain {start}..{end}, {f['n_options']:,.0f} live options",
        f"os.cpu_count() = {os.cpu_count()}, threads pinned to 1 (OMP/OPENBLAS/MKL/NUMBA/POLARS = {os.environ.get('OMP_NUM_THREADS')})",
        "",
        f"{'':34}{'per second, 1 core':>20}{'vs vollib':>12}{'vs QuantLib':>13}",
        f"{'greeks (9 outputs, array)':34}{f['greeks_per_s']:>20,.0f}"
        f"{f['greeks_per_s'] / f['vollib_greeks_per_s']:>11,.0f}x{f['greeks_per_s'] / f['quantlib_greeks_per_s']:>12,.0f}x",
        f"{'implied vol (array, LBR port)':34}{f['iv_per_s']:>20,.0f}"
        f"{f['iv_per_s'] / f['vollib_iv_per_s']:>11,.0f}x{f['iv_per_s'] / f['quantlib_iv_per_s']:>12,.0f}x",
        f"{'  (CPU time: greeks / IV)':34}{f['greeks_cpu_per_s']:>20,.0f} / {f['iv_cpu_per_s']:,.0f}",
        f"{'vollib loop: price + 5 greeks':34}{f['vollib_greeks_per_s']:>20,.0f}",
        f"{'vollib loop: implied_volatility':34}{f['vollib_iv_per_s']:>20,.0f}",
        f"{'QuantLib loop: BlackCalculator x6':34}{f['quantlib_greeks_per_s']:>20,.0f}",
        f"{'QuantLib loop: ImpliedStdDev 1e-12':34}{f['quantlib_iv_per_s']:>20,.0f}",
        "",
        f"chain_greeks, whole range        {f['chain_greeks_s']:8.2f} s wall ({f['chain_greeks_cpu_s']:.2f} s CPU)",
        f"max |IV(mark USD) - mark_iv|     {f['iv_max_err_vol_points']:.2e} vol points ({f['iv_not_ok']:.0f} quotes not solvable)",
        f"(chain simulated in {f['chain_build_s']:.1f} s; library loops timed on a sample, extrapolated)",
        "",
    ]
    surface = {k[len("surface_") :]: v for k, v in f.items() if k.startswith("surface_") and k != "surface_note"}
    if surface:
        lines.append("surface benchmark (dvol_pipeline_tests.bench.bench_surface):")
        lines += [f"    {k:<28} {v:12.4g}" for k, v in surface.items()]
    else:
        lines.append(str(f.get("surface_note", "surface bench skipped")))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=date.fromisoformat, default=START)
    parser.add_argument("--end", type=date.fromisoformat, default=END)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sample", type=int, default=20_000, help="options in the per-option library loops")
    parser.add_argument("--no-surface", action="store_true", help="skip the surface benchmark hook")
    args = parser.parse_args(argv)
    figures = run(args.start, args.end, args.repeats, args.sample, surface=not args.no_surface)
    print(report(figures, args.start, args.end))
    return 0


if __name__ == "__main__":
    sys.exit(main())
