"""`DVOL_EXECUTOR` picks the executor and the steps' retry policy; the celery profile reads its broker from
the environment. Expected values: the variables set here, and Celery's setting names as its
configuration reference spells them (docs.celeryq.dev, "Configuration and defaults")."""

from __future__ import annotations

import builtins

import dagster as dg
import pytest

from dvol_pipeline.executors import (
    celery_executor_config,
    executor_def,
    multiprocess_executor_config,
    step_retry_policy,
)
from dvol_pipeline.settings import celery_settings


def test_the_default_and_one_host_profiles_have_no_retry_policy(monkeypatch):
    monkeypatch.delenv("DVOL_EXECUTOR", raising=False)
    assert executor_def() is dg.in_process_executor and step_retry_policy() is None
    monkeypatch.setenv("DVOL_EXECUTOR", "multiprocess")
    multiprocess = executor_def()
    assert multiprocess.name == "multiprocess" and step_retry_policy() is None
    # Dagster's multiprocess executor; its start method as Dagster's config schema names it
    assert multiprocess.executor_creation_fn is dg.multiprocess_executor.executor_creation_fn
    assert multiprocess_executor_config() == {"start_method": {"spawn": {}}}
    monkeypatch.setenv("DVOL_STEP_START", "forkserver")  # each step forked from a server that imported the project
    preload = {"preload_modules": ["dvol_pipeline.definitions"]}
    assert multiprocess_executor_config() == {"start_method": {"forkserver": preload}}
    monkeypatch.setenv("DVOL_STEP_START", "fork")
    with pytest.raises(ValueError, match="DVOL_STEP_START='fork': use one of spawn, forkserver"):
        multiprocess_executor_config()


def test_celery_reads_the_broker_and_keeps_a_lost_workers_step(monkeypatch):
    monkeypatch.setenv("DVOL_EXECUTOR", "celery")
    monkeypatch.setenv("DVOL_CELERY_BROKER", "redis://broker.internal:6380/2")
    monkeypatch.delenv("DVOL_CELERY_BACKEND", raising=False)
    monkeypatch.setenv("DVOL_CELERY_VISIBILITY_TIMEOUT", "7200")
    assert celery_settings() == ("redis://broker.internal:6380/2", "redis://127.0.0.1:6379/1", 7200)
    config = celery_executor_config()
    assert config["broker"] == "redis://broker.internal:6380/2"
    source = config["config_source"]
    assert source["task_acks_late"] and source["task_reject_on_worker_lost"]
    assert source["broker_transport_options"]["visibility_timeout"] == 7200
    assert executor_def().name == "celery"
    # twice, 10 s then 20 s later
    assert step_retry_policy() == dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL)


def test_a_bad_visibility_timeout_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("DVOL_CELERY_VISIBILITY_TIMEOUT", "an hour")
    with pytest.raises(ValueError, match="DVOL_CELERY_VISIBILITY_TIMEOUT='an hour'"):
        celery_settings()
    monkeypatch.setenv("DVOL_CELERY_VISIBILITY_TIMEOUT", "0")
    with pytest.raises(ValueError, match="must be positive"):
        celery_settings()


def test_k8s_without_dagster_k8s_says_what_to_install(monkeypatch):
    real_import = builtins.__import__

    def no_dagster_k8s(name, *args, **kwargs):
        if name == "dagster_k8s":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setenv("DVOL_EXECUTOR", "k8s")
    monkeypatch.setattr(builtins, "__import__", no_dagster_k8s)
    with pytest.raises(ValueError, match=r"DVOL_EXECUTOR=k8s needs dagster-k8s \(pip install dagster-k8s==0.29.27\)"):
        executor_def()


def test_a_celery_worker_writes_its_events_in_batches_as_the_cli_does():
    """The worker's process, started without Dagster's event-volume variables, has them once it loaded the
    app (the names and values of docs/operations.md, "Dagster's event volume")."""
    import os
    import subprocess
    import sys

    from dvol_pipeline.settings import REPO_ROOT

    names = ("DAGSTER_EVENT_BATCH_SIZE", "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS")
    env = {k: v for k, v in os.environ.items() if k not in names}
    code = "import os, dvol_pipeline.celery_app; print(*(os.environ.get(n) for n in %r))" % (names,)
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["500", "true"]


def test_a_forked_step_process_writes_a_journal_file_of_its_own():
    """A step forked from the forkserver (or a Celery pool process) must not append to its parent's
    journal file: the file name carries the writing process's id."""
    import os

    from dvol_pipeline.lake import journal

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its name and leave at once
        os.write(write, journal._FILE_NAME.encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 512).decode()
    assert child != journal._FILE_NAME and f"-{pid}-" in child and f"-{os.getpid()}-" in journal._FILE_NAME


def test_every_per_step_pod_size_names_an_op_the_jobs_run():
    """k8s_job_executor matches `per_step_k8s_config` by the step's op name (dagster_k8s/executor.py,
    `_get_container_context`: `step.op_name`); a name no op has is silently ignored, so a renamed
    op would run its heavy steps in the default 1 CPU / 2 GiB pod."""
    from dvol_pipeline.definitions import defs
    from dvol_pipeline.executors import K8S_STEPS

    ops = {op.name for job in defs.get_repository_def().get_all_jobs() for op in job.graph.iterate_op_defs()}
    assert set(K8S_STEPS) <= ops, sorted(set(K8S_STEPS) - ops)
    assert {"fold_members", "universe_horizon", "book_day", "features_day"} <= set(K8S_STEPS)  # the fanned-out heavy steps
