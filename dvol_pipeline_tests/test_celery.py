"""The celery profile end to end: PostgreSQL, Redis and two Celery workers, started here, on 127.0.0.1.

deploy/dagster.celery.yaml is the instance, `DVOL_EXECUTOR=celery` the executor; the workers are
separate processes (`celery -A dvol_pipeline.celery_app worker`, celery_stack.py) that share nothing
with the test but the broker, the database and the lake folder. The job is the project's `daily_job`
(raw tables, then three independent steps, then one more) on the toy source, over five days, and the
walk-forward's folds of `monthly_job` (one step per fold) on the simulated market. What
the test checks comes from outside the code under test: the worker that ran a step is the name the
worker was started with (`-n`), as Celery reports it in dagster-celery's "Executing steps" event;
the lake of a run through the workers must be byte for byte the lake of an in-process run.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
import time
from pathlib import Path

import dagster as dg
import pytest

from dvol_pipeline.cli import prepare_home
from dvol_pipeline.lake.journal import JOURNAL_DIR
from dvol_pipeline.settings import REPO_ROOT
from dvol_pipeline_tests.celery_stack import Redis, Workers
from dvol_pipeline_tests.pg_server import PgServer
from dvol_pipeline_tests.toy_market import ToySource, install

pytestmark = [
    pytest.mark.slow,
    # dagster-celery 0.29.27 registers its task again for every step it submits (executor._submit_task);
    # Celery keeps the first registration, which is the same code
    pytest.mark.filterwarnings("ignore:Task name 'execute_plan' is already registered"),
]

PROFILE = REPO_ROOT / "deploy" / "dagster.celery.yaml"
START, END = "2024-02-27", "2024-03-02"
STALL_ENV = "DVOL_TEST_STALL"
"""`SECONDS` or `SECONDS:MARKER`: the toy source sleeps that long when the raw_tables step fetches raw_dvol
(read in the worker); with a marker file, only the first time (the marker is created), so a retried step
runs at once."""
VISIBILITY_S = 30
"""The broker's visibility timeout here: a killed worker's step goes to the other worker after it. Longer than
any step of the job, cold start included (the first step of a pool process imports the project: 10-15 s
here); at 8 s a step still running was handed out again (and ran twice, harmlessly)."""
FAIL_ENV = "DVOL_TEST_FAIL_REGIMES"
"""A marker file's path: while it exists, the vol_regimes step fails on its worker, past any retry policy
(`dg.Failure(allow_retries=False)`, as a bad input would); removing it is the operator's fix."""
_n = itertools.count()


def _failing_while_marked(build):
    def build_or_fail(*args, **kwargs):
        marker = os.environ.get(FAIL_ENV)
        if marker and Path(marker).exists():
            raise dg.Failure(f"fault injected by the test: {marker} exists", allow_retries=False)
        return build(*args, **kwargs)

    return build_or_fail


def _stall(table: str, frame):
    if table != "raw_dvol":
        return frame
    seconds, _, marker = os.environ.get(STALL_ENV, "0").partition(":")
    if marker:
        try:
            Path(marker).touch(exist_ok=False)
        except FileExistsError:
            return frame
    time.sleep(float(seconds))
    return frame


def toy_daily_job() -> dg.JobDefinition:
    """The project's daily_job on the toy source, with the executor and retry policy DVOL_EXECUTOR names
    (rebuilt here, in each process, from this process's environment)."""
    from dvol_pipeline.jobs import daily_job

    install(ToySource(plant=_stall if os.environ.get(STALL_ENV) else None))
    if os.environ.get(FAIL_ENV):  # in the worker that rebuilds this job: the step's body looks the name up per call
        import dvol_pipeline.assets.dvol.regimes as regimes

        if not hasattr(regimes.build_range, "__wrapped_build__"):
            wrapped = _failing_while_marked(regimes.build_range)
            wrapped.__wrapped_build__ = regimes.build_range
            regimes.build_range = wrapped
    return _project_job(daily_job, "toy")


def _project_job(job, source: str) -> dg.JobDefinition:
    """The project's asset `job` on `source`, with the executor and retry policy DVOL_EXECUTOR names."""
    from dvol_pipeline.definitions import defs
    from dvol_pipeline.executors import executor_def, step_retry_policy
    from dvol_pipeline.resources import LakeResource, MarketResource

    again = dg.define_asset_job(job.name, selection=job.selection, op_retry_policy=step_retry_policy())
    return dg.Definitions(
        assets=defs.assets, asset_checks=defs.asset_checks, jobs=[again],
        resources={"lake": LakeResource(), "market": MarketResource(source=source)},
        executor=executor_def(),
    ).resolve_job_def(job.name)


RANGE_TAGS = {"dagster/asset_partition_range_start": START, "dagster/asset_partition_range_end": END}


def sim_monthly_job() -> dg.JobDefinition:
    """The project's monthly_job on the simulated market, with the executor and retry policy DVOL_EXECUTOR
    names (rebuilt in each worker)."""
    from dvol_pipeline.jobs import monthly_job

    return _project_job(monthly_job, "simulated")


def lake_digest(root: Path) -> dict[str, str]:
    """sha256 of every file of the lake but Dagster's own folder (run records, step outputs, logs)
    and the write journal (its file names carry the writing host and pid, by design)."""
    skip = {".dagster", JOURNAL_DIR}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not skip & set(p.relative_to(root).parts)}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, str]:
    """The same job and range run in process, on its own lake: what the workers' lake must equal."""
    root = tmp_path_factory.mktemp("reference") / "lake"
    root.mkdir()
    saved = {k: os.environ.get(k) for k in ("DVOL_LAKE", "DVOL_EXECUTOR", STALL_ENV, FAIL_ENV)}
    os.environ["DVOL_LAKE"] = str(root)
    for key in ("DVOL_EXECUTOR", STALL_ENV, FAIL_ENV):
        os.environ.pop(key, None)
    try:
        result = toy_daily_job().execute_in_process(instance=dg.DagsterInstance.ephemeral(), tags=RANGE_TAGS)
        assert result.success
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    digest = lake_digest(root)
    assert any(name.endswith(".parquet") for name in digest)
    return digest


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """One Redis for the module: a run's Celery app is part of its job definition, which Dagster caches per
    process (`ReconstructableJob.get_definition`), so every run of this process must find the same URLs."""
    redis = Redis(tmp_path_factory.mktemp("redis"))
    try:
        redis.start()
        yield redis
    except RuntimeError as err:
        if "not found" in str(err):
            pytest.fail(str(err), pytrace=False)
        raise
    finally:
        redis.stop()


@pytest.fixture
def stack(pg_server: PgServer, broker: Redis, lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh database, an empty broker and two workers (`w1`, `w2`, started by the test), stopped on the
    way out even when the test failed."""
    import redis as redis_client

    server = pg_server.create_database(f"celery_{next(_n)}")
    if not broker.ping():
        broker.start()
    redis_client.Redis(host="127.0.0.1", port=broker.port).flushall()  # nothing left from another test
    folder = tmp_path / "workers"
    folder.mkdir()
    env = {**server.env, "DVOL_DAGSTER_YAML": str(PROFILE), "DVOL_EXECUTOR": "celery",
           "DVOL_CELERY_BROKER": broker.url(0), "DVOL_CELERY_BACKEND": broker.url(1),
           "DVOL_CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_S)}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    prepare_home(lake)
    worker_env = {**os.environ, **env}
    worker_env.pop(STALL_ENV, None)
    worker_env.pop(FAIL_ENV, None)
    workers = Workers(folder, worker_env)
    try:
        yield broker, workers
    finally:
        workers.stop()


def _run(instance: dg.DagsterInstance, **kwargs) -> dg.ExecuteJobResult:
    return dg.execute_job(dg.reconstructable(toy_daily_job), instance, tags=RANGE_TAGS, **kwargs)


def step_workers(instance: dg.DagsterInstance, run_id: str) -> dict[str, list[str]]:
    """Step key -> the Celery workers that started it, in order (dagster-celery's engine event)."""
    placed: dict[str, list[str]] = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        meta = record.dagster_event.engine_event_data.metadata or {}
        if "Celery worker" in meta:
            placed.setdefault(record.step_key, []).append(meta["Celery worker"].value.split("@")[0])
    return placed


def _watch(instance: dg.DagsterInstance, step: str, then, timeout: float = 120) -> threading.Thread:
    """Call `then(worker)` as soon as a worker starts `step` of the newest run (a thread of its own)."""
    errors: list[BaseException] = []

    def loop():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = instance.get_runs(limit=1)
            placed = step_workers(instance, runs[0].run_id).get(step) if runs else None
            if placed:
                then(placed[0])
                return
            time.sleep(0.2)
        errors.append(TimeoutError(f"no worker started {step} within {timeout} s"))

    thread = threading.Thread(target=loop, daemon=True)
    thread.errors = errors
    thread.start()
    return thread


def test_a_run_spreads_its_steps_over_both_workers(stack, lake, reference):
    _, workers = stack
    workers.start("w1", "w2")
    with dg.DagsterInstance.get() as instance:
        result = _run(instance)
        assert result.success
        placed = step_workers(instance, result.run_id)
    # raw_tables, then chain_greeks, option_surface and features_daily side by side, then vol_regimes
    assert set(placed) == {"raw_tables", "chain_greeks", "option_surface", "features_daily", "vol_regimes"}
    assert all(len(w) == 1 for w in placed.values()), placed  # each step ran once
    assert {w[0] for w in placed.values()} == {"w1", "w2"}, placed
    assert lake_digest(lake) == reference


def test_a_worker_killed_under_a_step_its_step_runs_on_the_other(stack, lake, tmp_path, monkeypatch, reference):
    _, workers = stack
    # the first attempt of raw_tables sleeps (a long step); the worker running it is SIGKILLed then
    monkeypatch.setenv(STALL_ENV, f"300:{tmp_path / 'stalled-once'}")
    workers.env[STALL_ENV] = os.environ[STALL_ENV]
    workers.start("w1", "w2")
    killed: list[str] = []
    with dg.DagsterInstance.get() as instance:
        watcher = _watch(instance, "raw_tables", lambda w: (time.sleep(1.0), workers.kill(w), killed.append(w)))
        started = time.monotonic()
        result = _run(instance)
        watcher.join(5)
        assert not watcher.errors and killed
        assert result.success
        placed = step_workers(instance, result.run_id)
        retries = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.STEP_START)
    survivor = ({"w1", "w2"} - set(killed)).pop()
    # started on the worker that was killed, then again (the same task, redelivered) on the other
    assert placed["raw_tables"] == [killed[0], survivor], placed
    assert {w for key, ws in placed.items() if key != "raw_tables" for w in ws} == {survivor}
    assert [r.step_key for r in retries].count("raw_tables") == 2
    assert time.monotonic() - started < 300  # not the stall: the step ran again at once on the other worker
    assert lake_digest(lake) == reference  # every partition whole, once: the in-process run's bytes


def test_a_broker_restart_mid_run_then_a_re_execution_from_failure(stack, lake, monkeypatch, reference):
    redis, workers = stack
    # raw_tables takes 8 s longer on its worker: the broker goes down and comes back while it runs
    monkeypatch.setenv(STALL_ENV, "8")
    workers.env[STALL_ENV] = "8"
    workers.start("w1", "w2")
    with dg.DagsterInstance.get() as instance:
        watcher = _watch(instance, "raw_tables", lambda _: (time.sleep(1.0), redis.restart(down_s=2.0)))
        first = _run(instance)
        watcher.join(30)
        assert not watcher.errors
        runs = [first]
        if not first.success:  # failed cleanly: re-execute what did not succeed
            options = dg.ReexecutionOptions.from_failure(first.run_id, instance)
            runs.append(_run(instance, reexecution_options=options))
        assert runs[-1].success
        successes = [r.step_key for run in runs
                     for r in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)]
        starts = [r.step_key for r in instance.all_logs(first.run_id, of_type=dg.DagsterEventType.STEP_START)]
    # every step succeeded once over the runs, and the lake is the in-process run's, byte for byte
    assert sorted(successes) == sorted(set(successes)) and len(successes) == 5, successes
    if first.success:  # resumed: no step was handed out twice either (the queue survived the restart)
        assert sorted(starts) == sorted(set(starts)), starts
    assert lake_digest(lake) == reference
    print(f"broker restart: first run {'succeeded' if first.success else 'failed'}, {len(runs)} run(s)")


def test_a_failed_step_re_executed_from_failure_runs_only_what_failed(stack, lake, tmp_path, monkeypatch, reference):
    """The re-execution half of the broker test, made certain: a step fails past its retries (the broker
    restart above usually resumes instead), the operator fixes the cause and re-executes from failure."""
    import dvol_pipeline.assets.dvol.regimes as regimes

    _, workers = stack
    # this process rebuilds the job too (the run's orchestration) and wraps build_range there: put the
    # original back afterwards, so no later test in this process meets the wrapper
    monkeypatch.setattr(regimes, "build_range", regimes.build_range)
    fault = tmp_path / "regimes-broken"
    fault.touch()
    monkeypatch.setenv(FAIL_ENV, str(fault))
    workers.env[FAIL_ENV] = str(fault)
    workers.start("w1", "w2")
    with dg.DagsterInstance.get() as instance:
        first = _run(instance)
        assert not first.success
        failed = [r.step_key for r in instance.all_logs(first.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)]
        done = [r.step_key for r in instance.all_logs(first.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)]
        assert failed == ["vol_regimes"]  # once: allow_retries=False bypasses the retry policy
        assert sorted(done) == ["chain_greeks", "features_daily", "option_surface", "raw_tables"]
        assert not any(p.is_dir() for p in (lake / "features").glob("vol_regimes*")), "no half-written table"
        fault.unlink()  # the fix
        options = dg.ReexecutionOptions.from_failure(first.run_id, instance)
        second = _run(instance, reexecution_options=options)
        assert second.success
        rerun = [r.step_key for r in instance.all_logs(second.run_id, of_type=dg.DagsterEventType.STEP_START)]
        placed = step_workers(instance, second.run_id)
    assert rerun == ["vol_regimes"], rerun  # nothing that had succeeded ran again
    assert set(placed) == {"vol_regimes"} and placed["vol_regimes"][0] in {"w1", "w2"}
    assert lake_digest(lake) == reference  # the same bytes as one clean in-process run: nothing twice


def test_the_walk_forward_folds_spread_over_both_workers(stack, lake, tmp_path):
    """Issue 24's "work that spreads": each monthly fold is a step a worker takes; the ensembles, which
    link the folds (fold M weighs the members of the folds before it), are added in one step after them.
    The lake must equal the folds run one after another in one process, byte for byte."""
    import shutil
    from datetime import date

    from dvol_pipeline.quant.learn.folds import WalkForwardConfig
    from dvol_pipeline_tests.fold_lake import run_in_turn, simulated_features, walk_forward_digest, write_features

    keys = ["2022-05", "2022-06", "2022-07"]
    write_features(lake, simulated_features(date(2022, 7, 31)))
    in_turn = tmp_path / "in_turn"
    shutil.copytree(lake, in_turn, ignore=shutil.ignore_patterns(".dagster"))
    _, workers = stack
    workers.start("w1", "w2")
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(dg.reconstructable(sim_monthly_job), instance,
                                asset_selection=[dg.AssetKey("oos_predictions")],
                                run_config={"ops": {"oos_predictions": {"config": {"explain": False}}}},
                                tags={"dagster/asset_partition_range_start": keys[0],
                                      "dagster/asset_partition_range_end": keys[-1]})
        assert result.success
        placed = step_workers(instance, result.run_id)
    folds = {k: w for k, w in placed.items() if ".fold_members[" in k}
    assert len(folds) == len(keys) and all(len(w) == 1 for w in folds.values()), placed
    assert {w[0] for w in folds.values()} == {"w1", "w2"}, placed  # the folds ran on both workers
    run_in_turn(in_turn, keys, WalkForwardConfig(explain=False))
    assert walk_forward_digest(lake) == walk_forward_digest(in_turn)
