"""The universe lane, Dagster-free: ingest -> features -> walk-forward -> metrics -> strategy -> report.

Each step reads its inputs through the catalog and writes its tables whole (atomic files),
so a step can be rerun alone and the assets stay thin. The raw table holds the latest
ingest's coins: a coin the new batch does not carry is removed with the rest replaced.
"""

from __future__ import annotations

import shutil
import time
from typing import TYPE_CHECKING
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from dvol_pipeline.contracts.universe import validate_universe
from dvol_pipeline.contracts.validate import find_gaps
from dvol_pipeline.contracts.tables import RAW_UNIVERSE_DAILY
from dvol_pipeline.lake.catalog import table, universe_horizon_file, universe_walkforward_dir
from dvol_pipeline.lake.parquet import (read_single, read_single_or_none, read_table, write_parquet_atomic, write_single,
                                        write_symbols)
from dvol_pipeline.lake.quarantine import replace_quarantine
from dvol_pipeline.quant.universe.features import build_universe_features
from dvol_pipeline.quant.universe.metrics import (calibration_table, class_metrics_table, forecast_metrics_table,
                                                  headline)
from dvol_pipeline.quant.universe.strategy import StrategyConfig, strategy_daily, strategy_metrics
from dvol_pipeline.quant.universe.symbols import symbol_table
from dvol_pipeline.quant.universe.walkforward import (HorizonResult, UniverseWalkForwardConfig, WalkForwardResult, combine,
                                                      prepare, run_horizon, run_walkforward)
from dvol_pipeline.sources.universe import fetch_universe

if TYPE_CHECKING:
    from dvol_pipeline.quant.learn.leakage import LeakageReport
    from dvol_pipeline.reports.universe.report import UniverseReportData

RAW = "raw_universe_daily"


@dataclass
class UniverseIngest:
    source: str
    rows_in: int
    rows_written: int
    rows_quarantined: int
    reasons: dict[str, int]
    symbols: pl.DataFrame
    gaps: pl.DataFrame
    files: dict[str, str] = field(default_factory=dict)
    notes: dict = field(default_factory=dict)


def parse_known_events(items: list[str]) -> list[tuple[str, date]]:
    """`["LUNA:2022-05-13", ...]` -> [(symbol, day)]; a malformed entry names itself."""
    out = []
    for item in items:
        try:
            sym, day = item.split(":")
            out.append((sym.strip().upper(), date.fromisoformat(day.strip())))
        except ValueError:
            raise ValueError(f"known event {item!r} is not SYMBOL:YYYY-MM-DD") from None
    return out


def ingest_universe(root: Path, source: str, start: date, end: date, *, landing: Path | None = None,
                    seed: int = 20210324, n_coins: int = 60, known_events: list[tuple[str, date]] = (),
                    min_days: int | None = None) -> UniverseIngest:
    batch, source_events = fetch_universe(source, start, end, landing=landing, seed=seed, n_coins=n_coins)
    report = validate_universe(batch.frame, [*source_events, *known_events])
    rejected = report.rejected
    if batch.rejected is not None and batch.rejected.height:
        rejected = pl.concat([rejected, batch.rejected], how="diagonal_relaxed")
    valid = report.valid
    t = table(RAW)
    if valid.is_empty():
        raise ValueError(f"{RAW}: no valid rows from source {source} for {start}..{end}"
                         + (f" ({report.message()})" if rejected.height else "")
                         + (f"; files ignored: {batch.notes.get('files_ignored')}" if batch.notes.get("files_ignored") else ""))
    stale = set(t.symbols(root)) - set(valid["symbol"].unique())
    write_symbols(root, t, valid)
    for sym in stale:
        t.symbol_file(root, sym).unlink(missing_ok=True)
    q = t.quarantine()
    covered = [(a, date.fromisoformat(d)) for a, d, _ in q.partition_dirs(root) if d != "unknown"] \
        if q.base(root).exists() else []
    replace_quarantine(root, RAW, rejected.with_columns(pl.col("symbol").alias("asset")) if rejected.height else rejected,
                       "date", covered, source)
    symbols = symbol_table(valid, **({"min_days": min_days} if min_days else {}))
    write_single(root, "universe_symbols", symbols)
    return UniverseIngest(source, batch.frame.height, valid.height, rejected.height,
                          dict(pl.DataFrame({"r": rejected["reason"]}).group_by("r").len().iter_rows())
                          if rejected.height else {},
                          symbols, find_gaps(RAW_UNIVERSE_DAILY, valid), batch.files, batch.notes)


def build_features(root: Path, check_days: int = 2) -> tuple[pl.DataFrame, "LeakageReport"]:
    """Write universe_features (and the GARCH memo); return them with the look-ahead check on
    `check_days` days spread over the history (the newest among them), as the DVOL features do."""
    from dvol_pipeline.quant.universe.leakage import check_universe_no_lookahead

    raw = read_table(root, RAW)
    symbols = read_single(root, "universe_symbols")
    memo = read_single_or_none(root, "universe_garch_memo")
    features, memo = build_universe_features(raw, symbols, memo)
    write_single(root, "universe_garch_memo", memo)
    days = sorted(features["date"].unique())
    picks = [days[int(i)] for i in np.linspace(len(days) // 2, len(days) - 1, check_days).round()] if check_days else []
    leak = check_universe_no_lookahead(raw, symbols, picks,
                                       build=lambda r, s, m=None: build_universe_features(r, s, memo))
    if leak.passed:
        write_single(root, "universe_features", features)
    return features, leak


@dataclass
class UniverseForecasts:
    predictions: pl.DataFrame
    forecast_metrics: pl.DataFrame
    class_metrics: pl.DataFrame
    headline: pl.DataFrame
    skipped: dict[str, str]
    held_out: list[str]
    tuning: pl.DataFrame
    mlflow_runs: list[str]
    seconds: float


def _forecast_inputs(root: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    return (read_single(root, "universe_features", hint="materialize universe_features first"),
            read_single(root, "universe_symbols"))


def build_forecasts(root: Path, cfg: UniverseWalkForwardConfig = UniverseWalkForwardConfig(),
                    track: bool = True) -> UniverseForecasts:
    """The walk-forward in one process (every horizon in turn) and its tables; the asset runs the same
    as one step per horizon (`forecast_horizon`) and `collect_forecasts`, with the same tables."""
    t0 = time.perf_counter()
    features, symbols = _forecast_inputs(root)
    result = run_walkforward(features, symbols, cfg)
    return _write_forecasts(root, result, symbols, cfg, track, t0)


def forecast_horizons(root: Path, cfg: UniverseWalkForwardConfig) -> list[int]:
    """The fan-out's first step: fail here, once, on a missing or unusable input (not in every horizon's
    step), and name the horizons, each one step."""
    prepare(*_forecast_inputs(root), cfg)
    return list(cfg.horizons)


@dataclass
class HorizonPart:
    """One horizon's step, small enough for Dagster's IO manager: the forecasts stay in the lake
    (`file`, relative to the lake root), the rest (tuning rows, SHAP frames, fits) travels here."""
    horizon: int
    file: str | None
    rows: int
    tuning: list[dict]
    importance: list[pl.DataFrame]
    fits: list[dict]
    unscored: list[str]
    held_out: list[str]
    skipped: dict[str, str]
    seconds: float


def forecast_horizon(root: Path, cfg: UniverseWalkForwardConfig, horizon: int, run_id: str) -> HorizonPart:
    """Every fold of one horizon, from the lake's universe_features and universe_symbols (nothing another
    step left in memory or on its host); the forecasts go to `universe_horizon_file`, written atomically."""
    t0 = time.perf_counter()
    prep = prepare(*_forecast_inputs(root), cfg)
    part = run_horizon(prep, horizon, cfg)
    file = None
    if part.predictions.height:
        path = universe_horizon_file(root, run_id, horizon)
        write_parquet_atomic(part.predictions, path)
        file = str(path.relative_to(root))
    return HorizonPart(horizon, file, part.predictions.height, part.tuning, part.importance, part.fits, part.unscored,
                       prep.held_out, prep.skipped, time.perf_counter() - t0)


def collect_forecasts(root: Path, cfg: UniverseWalkForwardConfig, parts: list[HorizonPart], run_id: str,
                      track: bool = True) -> UniverseForecasts:
    """The horizons' parts as `build_forecasts`' tables (`walkforward.combine`: same rows, order and
    columns), MLflow as there; the parts' work folders are removed last, so a collect that fails can be rerun,
    and so are other runs' folders left unchanged for `WORK_KEPT_DAYS` (runs that failed and were not re-executed).
    `seconds` is the horizons' steps summed plus this one (the work, wherever it ran)."""
    t0 = time.perf_counter()
    if len({(tuple(p.held_out), tuple(sorted(p.skipped.items()))) for p in parts}) > 1:
        raise ValueError("the horizons' steps read different universe_symbols / universe_features: rerun universe_forecasts")
    results = [HorizonResult(p.horizon, pl.read_parquet(Path(root) / p.file) if p.file else pl.DataFrame(),
                             p.tuning, p.importance, p.fits, p.unscored) for p in parts]
    result = combine(parts[0].held_out if parts else [], parts[0].skipped if parts else {}, results, cfg)
    out = _write_forecasts(root, result, read_single(root, "universe_symbols"), cfg, track,
                           t0 - sum(p.seconds for p in parts))
    # the parts' own folders: a re-execution from failure reuses the parent run's horizon steps and files
    own = universe_walkforward_dir(root, run_id)
    for folder in {own, *((Path(root) / p.file).parent for p in parts if p.file)}:
        shutil.rmtree(folder, ignore_errors=True)
    sweep_stale_work(own.parent)
    for empty in (own.parent, own.parent.parent):
        try:  # `work/` too when no other run has a folder there (another run's folder keeps them)
            empty.rmdir()
        except OSError:
            pass
    return out


WORK_KEPT_DAYS = 7
"""How long a run's horizon files wait for a collect: a run that failed after its horizon steps can be
re-executed from failure for this long (its collect reads them); after it, the next successful collect removes them."""


def sweep_stale_work(runs_folder: Path, kept_days: float = WORK_KEPT_DAYS, now: float | None = None) -> list[Path]:
    """Remove each run folder under `runs_folder` in which nothing changed for `kept_days`; returns those removed."""
    now = time.time() if now is None else now
    removed = []
    for folder in sorted(p for p in runs_folder.iterdir() if p.is_dir()) if runs_folder.is_dir() else []:
        newest = max(p.stat().st_mtime for p in (folder, *folder.rglob("*")))
        if now - newest > kept_days * 86400:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _write_forecasts(root: Path, result: WalkForwardResult, symbols: pl.DataFrame, cfg: UniverseWalkForwardConfig,
                     track: bool, t0: float) -> UniverseForecasts:
    if result.predictions.is_empty():
        raise ValueError("the universe walk-forward scored no fold: the history is too short for "
                         f"min_history_days={cfg.min_history_days}; skipped coins: {result.skipped}")
    write_single(root, "universe_predictions", result.predictions)
    fm, cm = forecast_metrics_table(result.predictions), class_metrics_table(result.predictions)
    write_single(root, "universe_forecast_metrics", fm)
    write_single(root, "universe_class_metrics", cm)
    write_single(root, "universe_calibration", calibration_table(result.predictions))
    if result.importance.height:
        write_single(root, "universe_importance", result.importance.select("horizon", "kind", "feature", "group",
                                                                           "value", "fold"))
    head = headline(fm, cm)
    runs = _log_tuning(root, result, head, cfg) if track else []
    symbols = symbols.with_columns(
        pl.col("symbol").replace_strict(result.skipped, default=None).fill_null(pl.col("skip_reason")).alias("skip_reason"))
    write_single(root, "universe_symbols", symbols.with_columns(pl.col("skip_reason").is_null().alias("modelled")))
    return UniverseForecasts(result.predictions, fm, cm, head, result.skipped, result.held_out, result.tuning, runs,
                             time.perf_counter() - t0)


def _log_tuning(root: Path, result, head: pl.DataFrame, cfg: UniverseWalkForwardConfig) -> list[str]:
    """One MLflow run per tuned fold group and horizon: the chosen parameters and the headline metrics."""
    from dvol_pipeline.lake.tracking import UNIVERSE_EXPERIMENT, log_model_run

    runs = []
    for row in (result.tuning.iter_rows(named=True) if result.tuning.height else []):
        h = int(row["horizon"])
        lgbm = head.filter((pl.col("family") == "lgbm") & (pl.col("horizon") == h))
        metrics = {"valid_qlike": float(row["valid_qlike"])}
        if lgbm.height:
            metrics |= {k: float(lgbm[k][0]) for k in ("r2_oos", "qlike") if lgbm[k][0] is not None}
        runs.append(log_model_run(
            root, f"universe lgbm {row['group']} h{h}",
            {"lane": "universe", "family": "lgbm", "fold_group": row["group"], "horizon": str(h)},
            {"chosen_params": row["params"], "n_trials": str(row["n_trials"]), "first_fold": row["fold"],
             "seed": str(cfg.seed), "refit_months": str(cfg.refit_months)},
            metrics, None, {"held_out_symbols": result.held_out, "skipped": result.skipped},
            experiment=UNIVERSE_EXPERIMENT))
    return runs


def build_strategy(root: Path, cfg: StrategyConfig = StrategyConfig()) -> pl.DataFrame:
    features = read_single(root, "universe_features")
    preds = read_single(root, "universe_predictions")
    daily = strategy_daily(features, preds, cfg)
    write_single(root, "universe_strategy_daily", daily)
    metrics = strategy_metrics(daily)
    write_single(root, "universe_strategy_metrics", metrics)
    return metrics


def report_data(root: Path, run_id: str) -> "UniverseReportData":
    from dvol_pipeline.reports.universe.report import UniverseReportData

    q = table(RAW).quarantine()
    quarantined = sum(pl.scan_parquet(f).select(pl.len()).collect().item() for f in q.files(root))
    return UniverseReportData(
        title="Coin universe: realised-volatility forecasts and regimes", run_id=run_id,
        symbols=read_single(root, "universe_symbols"), features=read_single(root, "universe_features"),
        predictions=read_single(root, "universe_predictions"),
        forecast_metrics=read_single(root, "universe_forecast_metrics"),
        class_metrics=read_single(root, "universe_class_metrics"), calibration=read_single(root, "universe_calibration"),
        importance=read_single_or_none(root, "universe_importance"),
        strategy_daily=read_single_or_none(root, "universe_strategy_daily"),
        strategy_metrics=read_single_or_none(root, "universe_strategy_metrics"), quarantined=quarantined)


def build_report(root: Path, run_id: str, track: bool = True) -> tuple[Path, str | None]:
    """Write `reports/<run id>/universe.html` (and the `latest` copy); log it to MLflow when `track`."""
    import shutil

    from dvol_pipeline.lake.catalog import universe_report_file
    from dvol_pipeline.reports.html import write_html
    from dvol_pipeline.reports.universe.report import render_universe_report

    path = write_html(render_universe_report(report_data(root, run_id)), universe_report_file(root, run_id))
    latest = universe_report_file(root, "latest")
    if latest != path:
        latest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, latest)
    if not track:
        return path, None
    from dvol_pipeline.lake.tracking import UNIVERSE_EXPERIMENT, log_report_run

    _, uri = log_report_run(root, f"universe report {run_id}", {"lane": "universe", "run_id": run_id}, {}, [path],
                            experiment=UNIVERSE_EXPERIMENT)
    return path, uri
