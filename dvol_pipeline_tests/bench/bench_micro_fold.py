"""One walk-forward fold of one symbol on 1-second bars: the issue's "a month of 1-second bars in <= 60 s".

`python -m dvol_pipeline_tests.bench.bench_micro_fold [--days 30] [--trials 3]`: a synthetic 1-second
micro_bars series (bench_micro_features.synthetic_bars: every column, a random walk on a tick grid) of
`--days` days; its features (timed apart), the 10-second label, then one fold of the walk-forward
(quant/micro/models) training on all but the last day and testing on the last: LightGBM regression and
classification, selection and `--trials` Optuna trials on purged k-fold inside the window, one thread.
Every wall time also as a multiple of the reference loop.
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

import polars as pl

from .bench_micro_features import synthetic_bars
from .reference import reference_line, reference_seconds


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--trials", type=int, default=3)
    args = p.parse_args(argv)
    ref = reference_seconds()
    print(reference_line(ref))

    from dvol_pipeline.quant.micro.features import build_features
    from dvol_pipeline.quant.micro.models.labels import KEY, feature_columns, label_names, make_labels
    from dvol_pipeline.quant.micro.models.validate import FoldConfig
    from dvol_pipeline.quant.micro.models.walkforward import WalkForwardConfig, run_walkforward

    def line(what: str, seconds: float, extra: str = "") -> None:
        print(f"  {what:<44} {seconds:8.2f} s  {seconds / ref:6.2f}x ref  {extra}")

    bars = synthetic_bars(rows=args.days * 86_400)
    t0 = time.perf_counter()
    features = build_features(bars, bar="1s")
    line(f"features, {args.days} days of 1-s bars", time.perf_counter() - t0, f"{features.height:,} rows")
    label = label_names("10s")["ret"]
    frame = features.join(make_labels(bars, "1s", {"10s": 10}), on=KEY, how="left")
    names = feature_columns(features)
    folds = FoldConfig(min_train=timedelta(days=args.days - 1), test=timedelta(days=1), step=timedelta(days=1),
                       embargo=timedelta(seconds=10), partial_last=True)
    config = WalkForwardConfig(horizon="10s", horizon_bars=10, bar_width=timedelta(seconds=1), folds=folds,
                               n_trials=args.trials, cross_train="none", cross_test=())
    t0 = time.perf_counter()
    out = run_walkforward(frame, names, label, config)
    wall = time.perf_counter() - t0
    m = out.fold_metrics
    line("one fold: selection, tuning, both families (goal <= 60 s)", wall,
         f"{m.height} model(s); n_train {int(m['n_train'].max()) if m.height else 0:,}; "
         f"IC {', '.join(f'{v:.3f}' for v in m['ic'].fill_null(float('nan')))}")
    print(pl.DataFrame({"days": [args.days], "trials": [args.trials], "seconds": [round(wall, 1)]}))


if __name__ == "__main__":
    main()
