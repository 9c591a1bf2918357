"""`python -m dvol_pipeline demo | run | eod | materialize | query | serve | home`, for people without the UI.

Runs go through the same Dagster definitions and the same Dagster instance as the UI
(`<lake>/.dagster`), so a run started here shows up in `make ui` afterwards.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import textwrap
import time
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from dvol_pipeline.partitions import FIRST_FOLD
from dvol_pipeline.quant.lanes import TICKS, LanePlan, daily_span, first_fold, plan_lanes
from dvol_pipeline.resources import MarketResource
from dvol_pipeline.settings import (
    DEFAULT_COINS,
    HISTORY_START,
    REPO_ROOT,
    dagster_home,
    event_volume_defaults,
    lake_root,
)
from dvol_pipeline.sources.inputs import FILE_SOURCES, Inputs, source_inputs
from dvol_pipeline.sources.micro.read import MICRO_FILE_SOURCES, tick_coverage

DEMO_START = date.fromisoformat(HISTORY_START)
DEMO_END = date(2024, 12, 31)
EXAMPLE_SQL = (
    "SELECT asset, year(ts) AS year, round(avg(close), 1) AS mean_dvol, "
    "round(max(high), 1) AS max_dvol FROM raw_dvol GROUP BY ALL ORDER BY ALL"
)


ALL_FILE_SOURCES = (*FILE_SOURCES, *MICRO_FILE_SOURCES)
"""Every source read from landing files (the micro lane's tick files included): no --start/--end needed."""
MICRO_DAYS = 2
"""Days of simulated ticks `demo` and `run --source simulated` give the micro lane (the last days of the
range): a tick day of three coins on two venues is millions of rows, not one bar."""
DEMO_MICRO = {"intensity": 0.25, "bars": ["1s", "1m", "5m"],
              "research": {"min_train_hours": 24, "test_hours": 4, "step_hours": 4, "embargo_hours": 0.25,
                           "n_trials": 0}}
"""The demo's lighter order book (a quarter of the default event rates) and its research scaled to two days:
train on the first day, test 4-hour windows of the second (the plan's 90/30/30 days need months of ticks)."""

WIDTH = 100
"""What the CLI prints to a person fits this many columns (a path longer than that stays whole)."""


def prepare_home(root: Path) -> Path:
    """Point Dagster at `<lake>/.dagster` and give it the project's dagster.yaml, or the file that
    `DVOL_DAGSTER_YAML` names (e.g. deploy/dagster.postgres.yaml, the production profile)."""
    home = dagster_home(root)
    home.mkdir(parents=True, exist_ok=True)
    config = Path(os.environ.get("DVOL_DAGSTER_YAML") or REPO_ROOT / "dagster.yaml").expanduser()
    if os.environ.get("DVOL_DAGSTER_YAML") and not config.is_file():
        raise ValueError(f"DVOL_DAGSTER_YAML={config} is not a file: point it at a dagster.yaml such as "
                         "deploy/dagster.postgres.yaml")
    if config.exists() and (not (home / "dagster.yaml").exists() or
                            (home / "dagster.yaml").read_bytes() != config.read_bytes()):
        shutil.copyfile(config, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    event_volume_defaults()  # one planned event per asset for a range, materializations written in batches
    return home


def parse_selection(text: str):
    """A `--select` string (Dagster's selection syntax) as a `dg.AssetSelection`."""
    import warnings

    import dagster as dg

    with warnings.catch_warnings():
        # Dagster 1.13's own parser calls `AssetSelection.groups(..., include_sources=...)` for every
        # "group:" term, and that parameter is labelled beta; the label is about Dagster's call, not
        # about anything `--select` can ask for, so it is silenced here, where every string is parsed.
        warnings.filterwarnings("ignore", message=r"Parameter `include_sources` of function `AssetSelection.groups`",
                                category=dg.BetaWarning)
        return dg.AssetSelection.from_string(text)


def run_materialize(selection: str, start: date | str, end: date | str, market: MarketResource):
    """Materialize `selection` for the partition range [start, end] as ONE run on the persistent
    instance; days for daily assets, "YYYY-MM" fold keys for the walk-forward."""
    import dagster as dg

    from dvol_pipeline.definitions import defs
    from dvol_pipeline.resources import LakeResource

    market.open()  # fail fast on an unknown source name
    assets = list(defs.assets or [])
    try:
        parsed = parse_selection(selection)
        keys = parsed.resolve(assets)
    except Exception as err:  # Dagster raises several types for a bad selection string
        raise ValueError(
            f'invalid --select "{selection}" ({err}); use Dagster selection syntax, e.g. '
            '"group:raw", "key:raw_dvol or key:raw_funding", "raw_dvol+"'
        ) from None
    kinds = {str(a.partitions_def) for a in assets if a.partitions_def and set(a.keys) & keys}
    if len(kinds) > 1:
        raise ValueError(
            f'--select "{selection}" mixes daily and monthly-fold assets, which cannot share a run: '
            'select "group:raw or group:features" with days, or "group:forecasts" with folds (YYYY-MM)'
        )
    root = lake_root()
    prepare_home(root)
    with dg.DagsterInstance.get() as instance:
        return dg.materialize(
            assets,
            selection=parsed,
            instance=instance,
            resources={"lake": LakeResource(root=str(root)), "market": market},
            tags={
                "dagster/asset_partition_range_start": str(start),
                "dagster/asset_partition_range_end": str(end),
                "dvol/started_by": "cli",
            },
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}},
                        "ops": range_ops(assets, keys, start, end, market)},
            raise_on_error=False,
        )


def range_ops(assets: list, keys: set, start: date | str | None, end: date | str | None,
              market: MarketResource) -> dict[str, dict]:
    """The op config that gives the run's days to each selected unpartitioned asset that works over
    a range of days (the universe's and the micro lane's raw and derived assets: their config has
    `start` and `end`), and the order book's coins to one that simulates them (`coins`). Why: the
    partition range tags reach partitioned assets only, and those assets would otherwise read
    every day of their inputs, or (the simulated sources) ask for a range the user did give."""
    if not isinstance(start, date) or not isinstance(end, date):
        return {}
    ops = {}
    for a in assets:
        if a.partitions_def is not None or not set(a.keys) & keys:
            continue
        node = a.node_def
        schema = node.config_mapping.config_schema if getattr(node, "config_mapping", None) else node.config_schema
        fields = set(getattr(schema.config_type, "fields", None) or {}) if schema is not None else set()
        if {"start", "end"} <= fields:
            config = {"start": str(start), "end": str(end)}
            if "coins" in fields and "intensity" in fields:  # the simulated order book (raw_ticks)
                config["coins"] = order_book_coins(market)
            ops[node.name] = {"config": config}
    return ops


def order_book_coins(market: MarketResource) -> list[str]:
    """The simulated order book's coins: the market's, and SOL (its third coin)."""
    return list(market.coins) + [c for c in ("SOL",) if c not in market.coins]


def lane_keys(lanes: Iterable[str]) -> frozenset:
    """The asset keys of the named lanes (their `assets/<lane>/definitions.py`)."""
    from dvol_pipeline.definitions import LANE_DEFS

    return frozenset(key for lane in lanes for a in LANE_DEFS[lane].assets or () for key in a.keys)


def run_job(job_name: str, start: date | str | None, end: date | str | None, market: MarketResource, *,
            without: str | None = None, run_config: dict | None = None, leave_out: frozenset = frozenset()):
    """Execute `job_name`, a job of jobs.py, for the partition range [start, end] (days, or "YYYY-MM"
    folds; nothing for an unpartitioned job) as ONE run on the persistent instance, recorded under the
    job's name as the schedules' runs are. `without` names another job whose assets an earlier run
    built already: those are left out of this run (which still counts as `job_name`'s), and so are
    the asset keys in `leave_out` (the lanes that have no inputs)."""
    import dagster as dg

    from dvol_pipeline.definitions import defs

    if market.source not in ALL_FILE_SOURCES:
        market.open()  # fail fast on an unknown source name (the file sources' names are known)
    job = defs.resolve_job_def(job_name)
    keys = None
    if without is not None or leave_out:
        keys = job.asset_layer.executable_asset_keys - leave_out
        if without is not None:
            keys -= defs.resolve_job_def(without).asset_layer.executable_asset_keys
        keys = sorted(keys)
    tags, partition_key = {"dvol/started_by": "cli"}, None
    if job.partitions_def is not None and start == end:
        partition_key = str(start)  # one day (or fold), as the schedules ask for it
    elif job.partitions_def is not None:
        tags |= {"dagster/asset_partition_range_start": str(start), "dagster/asset_partition_range_end": str(end)}
    root = lake_root()
    prepare_home(root)
    # the lake and the market as the run's resource config (what the UI's launchpad shows and a
    # re-execution reuses), not as resource objects, which Dagster refuses for a subset of a job
    market_config = {name: getattr(market, name) for name in MarketResource.model_fields}
    resources = {"lake": {"config": {"root": str(root)}},
                 "market": {"config": {k: v for k, v in market_config.items() if v is not None}}}
    with dg.DagsterInstance.get() as instance:
        return job.execute_in_process(
            instance=instance,
            partition_key=partition_key,
            asset_selection=keys,
            tags=tags,
            run_config={**(run_config or {}), "resources": resources,
                        "loggers": {"console": {"config": {"log_level": "INFO"}}}},
            raise_on_error=False,
        )


SUMMARY_NOTES = (
    "duplicates_resolved", "conflicts_resolved_by_newer_file", "partial_rows_excluded", "files_refused",
    "files_refused_why", "files_off_price_level", "files_not_in_coins", "files_ignored", "whitespace_trimmed",
    "funding_times_snapped", "future_dated_rows", "units", "lake_merge",
)
"""Every rule that changes, drops or keeps a row on the user's behalf, as the run summary prints it."""


def check_args(args: argparse.Namespace) -> str | None:
    """A user's fault in the environment or the arguments, as one line naming it; None when all is well."""
    env = os.environ.get("DVOL_LAKE")
    if env and Path(env).expanduser().exists() and not Path(env).expanduser().is_dir():
        return f"DVOL_LAKE={env} is a file, not a folder: point DVOL_LAKE at a folder (it is created if missing)"
    first_day, last_day = DEMO_START, datetime.now(UTC).date() - timedelta(days=1)
    for flag in ("start", "end"):
        value = getattr(args, flag, None)
        if isinstance(value, str) and value < FIRST_FOLD:
            return f"--{flag} {value} is before the first walk-forward fold ({FIRST_FOLD}): use {FIRST_FOLD} or later"
        if isinstance(value, date) and value < first_day:
            return f"--{flag} {value} is before the first partition ({first_day}): use --{flag} {first_day} or later"
        if isinstance(value, date) and value > last_day:
            return f"--{flag} {value} is after the last complete day ({last_day}): use --{flag} {last_day} or earlier"
    if getattr(args, "select", None):
        from dvol_pipeline.definitions import defs

        try:
            keys = parse_selection(args.select).resolve(list(defs.assets or []))
        except Exception:  # a malformed selection is reported by run_materialize with the syntax
            return None
        if not keys:
            return (f'--select "{args.select}" matches no asset, so nothing would run: use a group such as '
                    '"group:raw" or a key such as "key:raw_dvol" (the UI lists them)')
    return None


def run_summary(result) -> list[str]:
    """One line per raw table: what landed, what was quarantined, what the source resolved."""
    lines = []
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        meta = {k: v.value for k, v in mat.metadata.items()}
        name = mat.asset_key.path[-1]
        if "rows_quarantined" not in meta or any(line.startswith(name + ":") for line in lines):
            continue
        notes = meta.get("source_notes") or {}
        extra = {k: notes[k] for k in SUMMARY_NOTES if notes.get(k)}
        lines.append(
            f"{name}: {meta['dagster/row_count']:,} rows"
            + (f" in {meta['partitions_written']} partitions" if "partitions_written" in meta else "")  # one-file tables
            + f", {meta['rows_quarantined']} quarantined" + (f", {extra}" if extra else "")
            + (f" (not provided: {meta['not_provided']})" if meta.get("not_provided") else "")
        )
    return lines


def _view(root: Path, sql: str, con: duckdb.DuckDBPyConnection | None = None):
    """The frame `sql` returns on the warehouse (on `con`, a connection to it, when given), or None
    where a view it reads does not exist (a view exists only once its asset ran) or there is no
    warehouse yet."""
    from dvol_pipeline.lake.warehouse import query

    try:
        return query(root, sql) if con is None else con.sql(sql).pl()
    except (duckdb.Error, FileNotFoundError):
        return None


def _summary_connection(root: Path) -> duckdb.DuckDBPyConnection:
    """One connection for every query of a summary (each connect costs ~50-100 ms): the warehouse,
    read-only, or an empty database where there is none yet."""
    from dvol_pipeline.lake.warehouse import warehouse_path

    path = warehouse_path(root)
    return duckdb.connect(str(path), read_only=True) if path.exists() else duckdb.connect()


def _day_view(root: Path, name: str, day: date, sql: str, con: duckdb.DuckDBPyConnection):
    """`sql` over the rows of lake table `name` (partitioned by coin and day) on `day`, read from
    that day's partitions, or None where it has none. Why not the warehouse's view: a query on the
    view lists every partition of the table (thousands of files on the demo lake, most of a second
    for the four tables an `eod` summary reads); the rows are the same files'. The frame stands in
    for the view of the same name on `con` during the query only. Without the day's partitions
    the view answers (a warehouse built from elsewhere, or none: None)."""
    from dvol_pipeline.lake.parquet import read_table_or_none

    frame = read_table_or_none(root, name, day, day)
    if frame is None or frame.is_empty():
        return _view(root, sql, con)
    con.register(name, frame.to_arrow())
    try:
        return con.sql(sql).pl()
    finally:
        con.unregister(name)


def _section(title: str, frame, headers: dict[str, str] | None = None) -> list[str]:
    """A titled plain-text table (reports/text.py), or nothing for no frame or no rows."""
    from dvol_pipeline.reports.text import text_table

    if frame is None or frame.is_empty():
        return []
    return ["", *textwrap.wrap(title, WIDTH), text_table(frame, WIDTH, headers=headers)]


def _side(units: float | None) -> str:
    """A futures position in words: long 1, short 2, flat."""
    if not units:
        return "flat" if units is not None else "-"
    return f"{'long' if units > 0 else 'short'} {abs(units):g}"


def lake_summary(root: Path) -> list[str]:
    """What the lake holds, table by table, and where the warehouse is, with a query to try."""
    from dvol_pipeline.lake.catalog import warehouse_file

    catalog = _view(root, "SELECT view_name, row_count, partition_count FROM lake_catalog ORDER BY ALL")
    lines = [f"Lake: {root}", *_section(f"{0 if catalog is None else catalog.height} tables:", catalog,
                                        {"view_name": "table", "row_count": "rows", "partition_count": "partitions"})]
    lines += ["", "Warehouse (DuckDB, open it read-only at any time):", f"  {warehouse_file(root)}"]
    if catalog is not None and "raw_dvol" in catalog["view_name"]:  # the example reads the dvol lane's raw table
        sql = textwrap.wrap(EXAMPLE_SQL, WIDTH - 6)
        lines += ["", "Try a query, e.g. the mean and the highest DVOL per coin and year:",
                  "  python -m dvol_pipeline query \\", f'    "{sql[0]}', *(f"     {part}" for part in sql[1:])]
        lines[-1] += '"'
        example = _view(root, EXAMPLE_SQL)
        lines += _section("which prints:", example if example is None else example.cast({"year": str}), {"asset": "coin"})
    return lines


def day_summary(root: Path, last_day: date) -> list[str]:
    """The desk's view of `last_day`: the signals, the regimes, the strategies and the paper book, with
    codes as the names they stand for; a section whose table does not exist yet is left out."""
    with _summary_connection(root) as con:
        return _day_summary(root, last_day, con)


def _day_summary(root: Path, last_day: date, con: duckdb.DuckDBPyConnection) -> list[str]:
    import polars as pl

    from dvol_pipeline.quant.dvol.signals import DIRECTION_NAMES
    from dvol_pipeline.quant.execution.options.selection import STRUCTURE_NAMES

    day = f"DATE '{last_day}'"
    lines = []
    sig = _day_view(root, "signals", last_day, con=con, sql=(
                    "SELECT asset, round(yhat_1d, 2) AS d1, round(yhat_7d, 2) AS d7, round(yhat_14d, 2) AS d14, "
                    f"direction, round(confidence, 2) AS confidence, model_version FROM signals WHERE date = {day} "
                    "ORDER BY asset"))
    if sig is not None:
        sig = sig.with_columns(pl.col("direction").replace_strict(DIRECTION_NAMES, default="?", return_dtype=pl.Utf8))
        lines += _section(f"Signals for {last_day} (the forecast change of DVOL, in vol points, over 1, 7 and 14 days):",
                          sig.drop("model_version"), {"asset": "coin", "d1": "1 day", "d7": "7 days", "d14": "14 days",
                                                      "direction": "signal"})
        models = sig.select("asset", "model_version").rows()
        said = ([f"models: {models[0][1]}"] if len({m for _, m in models}) == 1 else
                [f"{coin} models: {m}" for coin, m in models])  # the promoted model of each horizon
        for line in said:
            lines += textwrap.wrap(line, WIDTH, initial_indent="  ", subsequent_indent="    ")
    lines += _section(f"Volatility regime on {last_day} (DVOL rank in its past year; realised over implied vol):",
                      _day_view(root, "vol_regimes", last_day, con=con,
                                sql="SELECT asset, regime, round(dvol_rank, 2) AS dvol_rank, round(rv_iv_ratio, 2) "
                                    f"AS rv_iv FROM vol_regimes WHERE date = {day} ORDER BY asset"),
                      {"asset": "coin", "dvol_rank": "DVOL rank", "rv_iv": "RV / IV"})
    auc = _view(root, con=con, sql="SELECT round(avg(auc), 3) AS auc FROM ivrank_gate_folds")
    gate = f"; the trade gate's mean AUC {auc['auc'][0]}" if auc is not None and auc.height else ""
    lines += _section(f"IV-rank strategies (out of sample, both coins, costs x1{gate}):",
                      _view(root, con=con,
                            sql="SELECT strategy, n_trades, round(hit_rate, 2) AS hit_rate, round(net_usd) AS net_usd, "
                                "round(sharpe, 2) AS sharpe FROM ivrank_strategy_metrics WHERE asset = 'ALL' AND "
                                "regime = 'ALL' AND cost_mult = 1 ORDER BY strategy"),
                      {"n_trades": "trades", "hit_rate": "hit rate", "net_usd": "net USD", "sharpe": "Sharpe"})
    lines += _section("Smile fits (median IV error in vol points; the share of fits inside the bid-ask spread):",
                      _view(root, con=con, sql="SELECT test, model, round(median(iv_rmse_vol), 2) AS iv_rmse, "
                                               "round(avg(inside_spread_share), 2) AS inside FROM surface_model_comparison "
                                               "GROUP BY ALL ORDER BY ALL"),
                      {"test": "sample", "iv_rmse": "IV RMSE", "inside": "inside spread"})
    futures = _day_view(root, "paper_positions", last_day, con=con,
                        sql="SELECT asset, contract_expiry, position, target_next, round(equity_usd, 2) AS equity_usd, "
                            f"halted FROM paper_positions WHERE date = {day} ORDER BY asset")
    if futures is not None:
        futures = futures.with_columns(pl.Series(c, [_side(v) for v in futures[c]], dtype=pl.Utf8)
                                       for c in ("position", "target_next"))
    lines += _section(f"Paper book after {last_day}, DVOL futures:", futures,
                      {"asset": "coin", "contract_expiry": "contract", "position": "holds", "target_next": "next",
                       "equity_usd": "equity USD"})
    sleeve = _day_view(root, "paper_option_book", last_day, con=con,
                       sql="SELECT asset, structure, n_legs, round(hedge_coin, 3) AS hedge_coin, round(equity_usd, 2) "
                           f"AS equity_usd, target_next, halted FROM paper_option_book WHERE date = {day} ORDER BY asset")
    if sleeve is not None:
        sleeve = sleeve.with_columns(pl.col(c).replace_strict(STRUCTURE_NAMES, default="?", return_dtype=pl.Utf8)
                                     for c in ("structure", "target_next"))
    lines += _section(f"Paper book after {last_day}, option sleeve (delta-hedged with the perpetual):", sleeve,
                      {"asset": "coin", "structure": "holds", "n_legs": "legs", "hedge_coin": "hedge (coin)",
                       "equity_usd": "equity USD", "target_next": "next"})
    return lines


def where_to_look(root: Path) -> list[str]:
    """The last lines of a run: the Dagster UI, the tear sheets and reports, then the dashboard."""
    from dvol_pipeline.lake.catalog import report_file, universe_report_file
    from dvol_pipeline.settings import api_url, dagster_ui_url

    sheet = report_file(root, "latest", "*")
    sheets = [*sorted(p.name for p in sheet.parent.glob(sheet.name)),
              *([universe_report_file(root, "latest").name] if universe_report_file(root, "latest").exists() else [])]
    lines = ["", f"Dagster UI (runs, assets, partitions, checks): `make ui`, then {dagster_ui_url()}"]
    if sheets:
        lines += ["Tear sheets and reports (open them in any browser; they work offline), in", f"  {sheet.parent}/",
                  *textwrap.wrap("  ".join(sheets), WIDTH, initial_indent="  ", subsequent_indent="  ")]
    lines.append(f"Dashboard (signals, regimes, the paper book): `make serve`, then {api_url()}")
    return lines


MICRO_SQL = """
SELECT q.venue, q.symbol, count(DISTINCT q.date) AS days, sum(q.events) AS events,
       sum(q.sequence_breaks) AS breaks, sum(q.resyncs) AS resyncs,
       round(100.0 * sum(q.known_seconds) / (86400 * count(DISTINCT q.date)), 1) AS known_pct,
       sum(q.crossed_states) AS crossed, round(median(q.skew_median_ms), 1) AS skew_ms,
       round(100 * min(q.bbo_agreement), 2) AS bbo_pct
FROM book_quality q GROUP BY ALL ORDER BY ALL
"""
"""The micro lane's books per stream: what the rebuild found (book_quality)."""


def micro_summary(root: Path) -> list[str]:
    """The rebuilt books per venue and symbol, in words a researcher reads."""
    books = _view(root, MICRO_SQL)
    return _section("Order books rebuilt (micro lane; book_quality): events, sequence breaks, resyncs, share of the "
                    "day with a known book, crossed states, clock skew (local minus exchange), and the lowest share "
                    "of seconds whose best bid/ask equal the venue's own stream:", books,
                    {"known_pct": "known %", "skew_ms": "skew ms", "bbo_pct": "bbo agree %"})


def final_summary(root: Path, last_day: date | None) -> str:
    """The screen a person reads after a run: the lake, the last day's results, where to look next."""
    return "\n".join([*lake_summary(root), *micro_summary(root), *(day_summary(root, last_day) if last_day else []),
                      *where_to_look(root)])


GraphRun = tuple[str, date | str | None, date | str | None, str | None]
"""(job, first partition, last partition, the job whose assets an earlier run built): `run_job`'s arguments."""


def graph_runs(plans: dict[str, LanePlan]) -> list[GraphRun]:
    """The lanes that can run (`plans`) as consecutive runs of the jobs in jobs.py, one per kind of
    partition, in dependency order: the days of the dvol and options lanes (daily_job), then the
    monthly folds (monthly_job: metrics, backtests, tear sheets), the universe lane over its own days,
    then the rest of the end-of-day job for the dvol lane's last day (its signals and paper book, as
    the end-of-day schedule computes them), or a warehouse refresh. The universe run leaves the
    warehouse to the last run; alone, it refreshes the warehouse itself."""
    runs: list[GraphRun] = []
    if (days := daily_span(plans)) is not None:
        runs.append(("daily_job", *days, None))
    dvol = plans["dvol"].span
    fold = first_fold(dvol) if dvol is not None else None
    if fold is not None:
        runs.append(("monthly_job", max(fold, FIRST_FOLD), f"{dvol[1]:%Y-%m}", None))
        runs.append(("eod_job", max(dvol[0], date.fromisoformat(f"{max(fold, FIRST_FOLD)}-01")), dvol[1], "daily_job"))
    elif days is not None:
        if dvol is not None:
            print(textwrap.fill(f"note: {dvol[0]}..{dvol[1]} holds no month with a year of purged history before "
                                "it, which the first walk-forward fold needs: forecasts, backtests, tear sheets "
                                "and signals are skipped", WIDTH))
        runs.append(("warehouse_job", None, None, None))
    if (universe := plans["universe"].span) is not None:
        if runs:
            runs.insert(len(runs) - 1, (UNIVERSE_JOB, *universe, "warehouse_job"))
        else:
            runs.append((UNIVERSE_JOB, *universe, None))
    if (micro := plans["micro"].span) is not None:
        if runs:
            runs.insert(len(runs) - 1, (MICRO_JOB, *micro, "warehouse_job"))
        else:
            runs.append((MICRO_JOB, *micro, None))
    return runs


def run_label(job: str, without: str | None) -> str:
    return job if without is None else f"{job} without {without}"


def phase_time(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {seconds % 60:04.1f} s"


def phase_table(phases: list[tuple[str, str, float]], total: float) -> str:
    """Each run of the graph with its range and wall time, and the total, aligned."""
    width = max(len(sel) for sel, _, _ in phases)
    span = max(len(rng) for _, rng, _ in phases)
    lines = [f"\nDone in {phase_time(total)}. Phase times (wall, Dagster included):"]
    lines += [f"  {sel:<{width}}  {rng:<{span}}  {phase_time(sec):>12}" for sel, rng, sec in phases]
    lines.append(f"  {'total':<{width}}  {'':<{span}}  {phase_time(total):>12}")
    return "\n".join(lines)


def run_graph(market: MarketResource, plans: dict[str, LanePlan], universe: dict | None = None,
              micro: dict | None = None) -> int:
    """The lanes that can run (`plans`) as consecutive runs (graph_runs); the assets of a lane that
    cannot run are left out of every run. `universe`, `micro`: run_universe's and run_micro's options."""
    from dvol_pipeline.progress import echo, progress

    started = time.perf_counter()
    phases = []
    runs = graph_runs(plans)
    leave_out = lane_keys(name for name, plan in plans.items() if not plan.runs)
    from dvol_pipeline.quant.dvol.paper import HISTORY_DAYS

    # the end of day over the last HISTORY_DAYS days for a new paper book (the history the schedule
    # would have written); a lake whose book ran before: the days it missed since (a catch-up)
    if (dvol := plans["dvol"].span) is not None:
        runs = [(job, eod_start(lake_root(), last, market.coins, HISTORY_DAYS, first), last, without)
                if job == "eod_job" else (job, first, last, without) for job, first, last, without in runs]
    # one line for the whole graph (which run, elapsed), the step's own progress after it
    with progress("graph", total=len(runs), unit="run") as bar:
        for job, first, last, without in runs:
            label = run_label(job, without)
            span = f"{first}..{last}" if first is not None else "unpartitioned"
            if job == UNIVERSE_JOB:
                bar.step(label)
                t0 = time.perf_counter()
                if run_universe(market, first, last, without=without, **(universe or {})):
                    return 1
                phases.append((label, span, time.perf_counter() - t0))
                continue
            if job == MICRO_JOB:
                bar.step(label)
                t0 = time.perf_counter()
                if run_micro(market, first, last, without=without, **(micro or {})):
                    return 1
                phases.append((label, span, time.perf_counter() - t0))
                continue
            echo(f"\n== {label}: {span} (one run) ==")
            bar.step(label)
            t0 = time.perf_counter()
            result = run_job(job, first, last, market, without=without, leave_out=leave_out)
            phases.append((label, span, time.perf_counter() - t0))
            echo(f"== {label}: done in {phase_time(phases[-1][2])} ==")
            if not result.success:
                echo(f"The run of {label} failed; the log above names the failing asset and check.", sys.stderr)
                return 1
    print(phase_table(phases, time.perf_counter() - started) + "\n")
    dvol = plans["dvol"].span
    print(final_summary(lake_root(), dvol[1] if dvol else None))
    return 0


UNIVERSE_JOB = "universe_job"  # inside the whole graph without the warehouse: the graph's last run refreshes it
DEMO_UNIVERSE = {"n_coins": 20, "n_trials": 2, "refit_months": 6, "lstm_refit_months": 12}
"""The demo's reduced universe (20 coins over the demo's ~4 years, 2 Optuna trials per year, LightGBM
refit every 6 folds, the LSTM every 12) keeps the lane to about half a minute of the demo; `run` uses
60 coins and the assets' defaults."""


def run_universe(market: MarketResource, start: date | None, end: date | None, n_coins: int = 60,
                 without: str | None = None, **model: int) -> int:
    """universe_job (the universe lane and a warehouse refresh) as one unpartitioned run; `without`
    as in run_job; `model` overrides UniverseModelConfig fields (n_trials, refit_months, lstm_refit_months ...)."""
    from dvol_pipeline.lake.catalog import universe_report_file
    from dvol_pipeline.progress import echo

    label = run_label(UNIVERSE_JOB, without)
    echo(f"\n== {label}: {start or 'files'}..{end or 'files'} ({market.source}, one run) ==")
    t0 = time.perf_counter()
    config = {"start": str(start or ""), "end": str(end or ""), "n_coins": n_coins}
    result = run_job(UNIVERSE_JOB, None, None, market, without=without,
                     run_config={"ops": {"raw_universe": {"config": config}, "universe_forecasts": {"config": model}}})
    echo(f"== {label}: done in {phase_time(time.perf_counter() - t0)} ==")
    if not result.success:
        echo("The universe run failed; the log above names the failing asset.", sys.stderr)
        return 1
    print(f"Universe report: {universe_report_file(lake_root(), 'latest')}  (open it in any browser; it works offline)")
    return 0


MICRO_JOB = "micro_job"


def run_micro(market: MarketResource, start: date | None, end: date | None, without: str | None = None,
              intensity: float = 1.0, bars: list[str] | None = None, research: dict | None = None) -> int:
    """micro_job (the micro lane and a warehouse refresh) as one unpartitioned run over [start, end]
    (a file source: None reads every day of its files); `without` as in run_job."""
    from dvol_pipeline.progress import echo

    label = run_label(MICRO_JOB, without)
    echo(f"\n== {label}: {start or 'files'}..{end or 'files'} ({market.source}, one run) ==")
    t0 = time.perf_counter()
    span = {"start": str(start or ""), "end": str(end or "")}
    ops = {"raw_ticks": {"config": {**span, "coins": order_book_coins(market), "intensity": intensity}},
           "micro_books": {"config": {**span, **({"bars": bars} if bars else {})}},
           "micro_features": {"config": span}, "micro_research": {"config": {**span, **(research or {})}},
           "micro_eod": {"config": span}}
    result = run_job(MICRO_JOB, None, None, market, without=without, run_config={"ops": ops})
    echo(f"== {label}: done in {phase_time(time.perf_counter() - t0)} ==")
    if not result.success:
        echo("The micro run failed; the log above names the failing asset.", sys.stderr)
        return 1
    return 0


def micro_plan_span(source: str, landing: Path, start: date | None, end: date | None,
                    micro_days: int = MICRO_DAYS) -> tuple[tuple[date, date] | None, str]:
    """The days the micro lane's inputs cover: the files' own days, or the last `micro_days` days of
    the range for the simulated order book."""
    covered, enable = tick_coverage(source, landing, start, end)
    if source == "simulated" and covered is not None:
        covered = (max(covered[0], covered[1] - timedelta(days=micro_days - 1)), covered[1])
    return covered, enable


def lane_plans(market: MarketResource, start: date | None, end: date | None,
               micro_days: int = MICRO_DAYS) -> dict[str, LanePlan]:
    """Which lanes can run on the source's inputs, over which days (quant/lanes.py decides), each
    told in one line."""
    from dvol_pipeline.sources.universe import universe_coverage

    landing = Path(market.landing).expanduser() if market.landing else lake_root() / "landing"
    if market.source in MICRO_FILE_SOURCES:  # tick files feed the micro lane only
        inputs = Inputs({}, {"raw_dvol": "CryptoDataDownload's daily DVOL files with --source cdd",
                             "raw_option_chain": "saved Deribit option chains with --source deribit_dumps"})
    else:
        inputs = source_inputs(market.source, landing=landing, coins=market.coins, start=start, end=end,
                               funding_units=market.funding_units)
    universe, enable = universe_coverage(market.source, landing, start, end)
    ticks, tick_enable = micro_plan_span(market.source, landing, start, end, micro_days)
    covers = {**inputs.covers, **({"raw_universe_daily": universe} if universe else {}),
              **({TICKS: ticks} if ticks else {})}
    plans = plan_lanes(covers, {**inputs.enables, "raw_universe_daily": enable, TICKS: tick_enable}, first=DEMO_START,
                       last=datetime.now(UTC).date() - timedelta(days=1), start=start, end=end)
    for plan in plans.values():
        print(textwrap.fill(plan.line, WIDTH, subsequent_indent="    ", break_long_words=False, break_on_hyphens=False))
    if not any(plan.runs for plan in plans.values()):
        raise ValueError(f"no lane has inputs in {landing if market.source in ALL_FILE_SOURCES else market.source}: "
                         "add the files a line above names")
    return plans


def cmd_demo(args: argparse.Namespace) -> int:
    print(f"Simulating BTC and ETH {args.start}..{args.end} and materializing every asset ...")
    market = MarketResource(source="simulated", **({"seed": args.seed} if args.seed is not None else {}))
    plans = lane_plans(market, args.start, args.end)
    if plans["universe"].runs:
        print(f"Universe lane: a reduced simulated universe of {DEMO_UNIVERSE['n_coins']} coins over the same days")
    return run_graph(market, plans, universe=DEMO_UNIVERSE, micro=DEMO_MICRO)


def _market(args: argparse.Namespace) -> MarketResource:
    coins = [c.strip().upper() for c in args.coins.split(",") if c.strip()]
    return MarketResource(
        source=args.source, coins=coins, landing=args.landing, funding_units=args.funding_units,
        rebuild=getattr(args, "rebuild", False), **({"seed": args.seed} if args.seed is not None else {}),
    )


def _range(args: argparse.Namespace, market: MarketResource) -> tuple[date | str, date | str]:
    start, end = args.start, args.end
    if start is None or end is None:
        if args.source != "cdd":
            raise ValueError("--start and --end are required (only --source cdd can infer them from its files)")
        from dvol_pipeline.sources.cdd.source import coverage

        covered = coverage(market.open(), first=DEMO_START)
        if covered is None:
            raise ValueError(f"no CDD files with rows on or after {DEMO_START} in {market.open().landing}")
        start, end = start or covered[0], end or covered[1]
        print(f"CDD files cover {covered[0]}..{covered[1]}; materializing {start}..{end}")
    return start, end


def cmd_run(args: argparse.Namespace) -> int:
    """Every lane whose inputs the source has, each over the days they cover (or [--start, --end]);
    a lane without inputs is skipped with a line that names what would enable it."""
    market = _market(args)
    if market.source not in ALL_FILE_SOURCES:
        market.open()  # fail fast on an unknown source name
    return run_graph(market, lane_plans(market, args.start, args.end, args.micro_days),
                     universe={"n_coins": args.universe_coins})


def eod_start(root: Path, day: date, coins: list[str], history_days: int = 1, earliest: date | None = None) -> date:
    """The first day the end of day closing `day` runs: the day after the paper book's newest
    state when days were missed since (a catch-up, as a scheduler's would run them), else `day`;
    a book that never ran starts `history_days` before `day` (quant/dvol/paper.py: first_eod_day)."""
    from dvol_pipeline.pipeline.dvol.paper import last_state_day
    from dvol_pipeline.quant.dvol.paper import first_eod_day

    return first_eod_day(last_state_day(root, "paper_positions", day, coins), day, history_days, earliest)


def cmd_eod(args: argparse.Namespace) -> int:
    """eod_job for one closed day, as eod_schedule runs it (a run of eod_job in the run history);
    days missed since the paper book last ran are run first, in the same run (`eod_start`)."""
    from datetime import UTC, datetime

    from dvol_pipeline.schedules import closed_day

    day = args.date or closed_day(datetime.now(UTC))
    started = time.perf_counter()
    market = _market(args)
    start = eod_start(lake_root(), day, market.coins)
    if start < day:
        print(f"eod {day}: catching up {start}..{day - timedelta(days=1)} (the paper book last ran "
              f"{start - timedelta(days=1)}): one run of eod_job over {start}..{day}")
    result = run_job("eod_job", start, day, market)
    print("\n".join(run_summary(result)))
    if not result.success:
        print(f"eod {day} FAILED: see the log above (failing asset, check and rows)", file=sys.stderr)
        return 1
    print(f"eod {day} done in {time.perf_counter() - started:.1f} s")
    print("\n".join([*day_summary(lake_root(), day), *where_to_look(lake_root())]))
    return 0


def cmd_materialize(args: argparse.Namespace) -> int:
    market = _market(args)
    start, end = _range(args, market)
    result = run_materialize(args.select, start, end, market)
    print("\n".join(run_summary(result)))
    print("run succeeded" if result.success else "run FAILED: see the log above (failing asset, check and rows)")
    return 0 if result.success else 1


def cmd_query(args: argparse.Namespace) -> int:
    import polars as pl

    from dvol_pipeline.lake.warehouse import query

    with pl.Config(tbl_rows=args.rows, tbl_cols=-1, tbl_width_chars=200):
        print(query(lake_root(), args.sql))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from dvol_pipeline.serve.run import serve

    root = Path(args.lake).expanduser().resolve() if args.lake else lake_root()
    if not root.is_dir():
        raise FileNotFoundError(f"no lake at {root}: run `make demo` first, or pass --lake PATH (or set DVOL_LAKE)")
    serve(root, args.host, args.port)
    return 0


def cmd_home(_: argparse.Namespace) -> int:
    print(prepare_home(lake_root()))
    return 0


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2024-01-31") from None


def _partition(text: str) -> date | str:
    """A day (2024-01-31) for daily assets, or a fold key (2024-01) for the walk-forward."""
    if len(text) == 7:
        try:
            date.fromisoformat(text + "-01")
            return text
        except ValueError:
            pass
    try:
        return _day(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a day (2024-01-31) nor a fold (2024-01)") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dvol_pipeline", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="simulate the default market and materialize everything (one run)")
    demo.add_argument("--start", type=_day, default=DEMO_START)
    demo.add_argument("--end", type=_day, default=DEMO_END)
    demo.add_argument("--seed", type=int, default=None)
    demo.set_defaults(func=cmd_demo)

    mat = sub.add_parser("materialize", help="materialize a selection for a date range in one run")
    mat.add_argument("--select", default="group:raw or group:surface or group:features or group:warehouse",
                     help='Dagster asset selection, e.g. "group:raw", "key:raw_dvol", "group:forecasts"')
    mat.add_argument("--start", type=_partition,
                     help="first day, or first fold (YYYY-MM) for the walk-forward; cdd infers it from its files")
    mat.add_argument("--end", type=_partition, help="last day or fold, inclusive")
    mat.add_argument("--source", default="simulated", help="simulated (default), cdd or deribit")
    mat.add_argument("--landing", default=None, help="folder of CDD files (default <lake>/landing)")
    mat.add_argument("--funding-units", default="auto", choices=["auto", "fraction", "percent"],
                     help="CDD funding rates (auto: see docs/sources/cdd.md)")
    mat.add_argument("--coins", default=",".join(DEFAULT_COINS))
    mat.add_argument("--rebuild", action="store_true",
                     help="raw tables: replace the range's partitions with this run's rows (default: merge into them)")
    mat.add_argument("--seed", type=int, default=None, help="seed of the simulated market")
    mat.set_defaults(func=cmd_materialize)

    run = sub.add_parser("run", help="the whole graph on a source: days, folds, signals (consecutive runs)")
    run.add_argument("--start", type=_day, help="first day (cdd infers it from its files)")
    run.add_argument("--end", type=_day, help="last day, inclusive (cdd infers it from its files)")
    eod = sub.add_parser("eod", help="the end-of-day job for one closed day (default: yesterday, UTC)")
    eod.add_argument("--date", type=_day, default=None, help="the UTC day to close (default: yesterday)")
    for cmd in (run, eod):
        cmd.add_argument("--source", default="simulated",
                         help="simulated (default), cdd or deribit" + (
                             ", cmc (universe lane only), or a tick source (micro lane only): "
                             + ", ".join(MICRO_FILE_SOURCES) if cmd is run else ""))
        cmd.add_argument("--landing", default=None, help="folder of CDD (or CMC) files (default <lake>/landing)")
        cmd.add_argument("--funding-units", default="auto", choices=["auto", "fraction", "percent"])
        cmd.add_argument("--coins", default=",".join(DEFAULT_COINS))
        cmd.add_argument("--seed", type=int, default=None, help="seed of the simulated market")
    run.add_argument("--universe-coins", type=int, default=60, help="simulated universe: coins (default 60)")
    run.add_argument("--micro-days", type=int, default=MICRO_DAYS,
                     help=f"simulated order book: the last N days of the range get ticks (default {MICRO_DAYS})")
    run.set_defaults(func=cmd_run)
    eod.set_defaults(func=cmd_eod)

    q = sub.add_parser("query", help="run one read-only SQL query on the warehouse")
    q.add_argument("sql")
    q.add_argument("--rows", type=int, default=50)
    q.set_defaults(func=cmd_query)

    srv = sub.add_parser("serve", help="the signal API and dashboard over the lake (read-only), on 127.0.0.1")
    srv.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    srv.add_argument("--port", type=int, default=8000)
    srv.add_argument("--lake", default=None, help="lake folder (default $DVOL_LAKE or data_lake/)")
    srv.set_defaults(func=cmd_serve)

    home = sub.add_parser("home", help="prepare and print DAGSTER_HOME (<lake>/.dagster)")
    home.set_defaults(func=cmd_home)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    start, end = getattr(args, "start", None), getattr(args, "end", None)
    if start and end and type(start) is not type(end):
        parser().error("--start and --end must both be days or both be folds (YYYY-MM)")
    if start and end and end < start:
        parser().error(f"--end {end} is before --start {start}")
    if (fault := check_args(args)) is not None:
        print(f"error: {fault}", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, duckdb.Error) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
