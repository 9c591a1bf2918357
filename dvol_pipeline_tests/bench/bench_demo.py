"""`make bench`: the demo and the end-of-day run as a user runs them, against the issue's targets.

(1) `python -m dvol_pipeline demo` on a fresh lake in a temp folder, as a child process: wall time
    (imports and Dagster's start included), the phase table it prints, and its peak RSS
    (`RUSAGE_CHILDREN` maxrss: the largest process, the demo runs in one);
(2) `python -m dvol_pipeline eod --date <the day after the demo's last>` on that lake, twice (a
    new day, the first of a month, whose forecasters refit; then the same day again), and then for
    the day after (an ordinary day): wall time from the command line to its exit.

Targets: demo <= 3 min and <= 2 GiB on 2 cores (issue 11); eod <= 5 s for a new day, Dagster's start
included (issue 23), with the run's step times (the rest is the process: imports, Dagster's start,
the summary). Prints the reference loop and every wall time as a multiple of it; asserts nothing.

    python -m dvol_pipeline_tests.bench.bench_demo [--keep]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from dvol_pipeline_tests.bench.reference import reference_seconds

DEMO_END = date(2024, 12, 31)
TARGETS = {"demo_s": 180.0, "demo_gib": 2.0, "eod_s": 5.0}
REFERENCE_LOOP_S = 3.0  # the machine a target in seconds assumes (its reference loop's time)


def _run(args: list[str], lake: Path) -> tuple[float, str, int]:
    env = {**os.environ, "DVOL_LAKE": str(lake), "DVOL_PROGRESS": "0"}
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "dvol_pipeline", *args], env=env, capture_output=True, text=True)
    return time.perf_counter() - t0, done.stdout + done.stderr, done.returncode


def _phases(out: str) -> list[str]:
    lines = out.splitlines()
    start = next((i for i, line in enumerate(lines) if "Phase times" in line), None)
    if start is None:
        return []
    block = []
    for line in lines[start + 1:]:
        if not line.strip():
            break
        block.append(line)
    return block


def _step_times(lake: Path) -> str:
    """The newest run's wall time and its steps', from the lake's Dagster instance (the rest of
    the command's wall time is the process: imports, Dagster's start, the summary it prints)."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(lake / ".dagster")  # the instance's dagster.yaml reads it
    with dg.DagsterInstance.from_config(str(lake / ".dagster")) as instance:
        run = instance.get_runs(limit=1)[0]
        stats = instance.get_run_stats(run.run_id)
        steps = instance.get_run_step_stats(run.run_id)
    took = f"run {stats.end_time - stats.start_time:.2f} s: " if stats.end_time and stats.start_time else ""
    return took + ", ".join(f"{s.step_key} {s.end_time - s.start_time:.2f} s" for s in steps if s.end_time)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--keep", action="store_true", help="keep the demo lake and print its path")
    args = p.parse_args(argv)
    lake = Path(tempfile.mkdtemp(prefix="dvol-bench-demo-")) / "lake"
    loop = reference_seconds()
    print(f"demo and eod benchmark: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, lake {lake}, "
          f"reference loop {loop:.2f} s\n")
    try:
        seconds, out, rc = _run(["demo"], lake)
        gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
        print(f"make demo (python -m dvol_pipeline demo)   {seconds:7.1f} s = {seconds / loop:.1f}x loop  "
              f"(target <= {TARGETS['demo_s']:.0f} s)   "
              f"peak RSS {gib:.3f} GiB  (target <= {TARGETS['demo_gib']:.1f} GiB)   rc={rc}")
        print("\n".join(f"    {line}" for line in _phases(out)))
        if rc:
            print(out[-3000:])
            return 1
        scaled = TARGETS["eod_s"] * loop / REFERENCE_LOOP_S
        print(f"eod target: <= {TARGETS['eod_s']:.0f} s at a {REFERENCE_LOOP_S:.0f} s loop = "
              f"{TARGETS['eod_s'] / REFERENCE_LOOP_S:.2f}x loop = {scaled:.1f} s on this machine, Dagster's start included")
        first = DEMO_END + timedelta(days=1)
        for day, label in ((first, "a new month's day"), (first, "the same day again"),
                           (first + timedelta(days=1), "an ordinary day")):
            seconds, out, rc = _run(["eod", "--date", str(day)], lake)
            print(f"eod --date {day} ({label:<18})   {seconds:7.1f} s = {seconds / loop:.2f}x loop  "
                  f"({'met' if seconds <= scaled else 'over'} the target)   rc={rc}")
            print(f"    steps: {_step_times(lake)}")
            if rc:
                print(out[-3000:])
                return 1
    finally:
        if args.keep:
            print(f"\nlake kept: {lake}")
        else:
            shutil.rmtree(lake.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
