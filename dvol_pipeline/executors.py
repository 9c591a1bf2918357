"""The executor each profile runs steps with (`DVOL_EXECUTOR`), and how a step survives a lost worker.

Every executor here is Dagster's own: `in_process`, `multiprocess`, dagster-celery's `celery_executor`
(steps as Celery tasks on worker hosts, a Redis broker; deploy/dagster.celery.yaml) and dagster-k8s's
`k8s_job_executor` (a Kubernetes Job per step; deploy/helm-values.yaml). dagster-k8s is not in the
lock, so it is imported only when that profile is asked for.

What a lost worker costs, by executor (read in dagster 1.13.27 / dagster-celery 0.29.27, checked by
dvol_pipeline_tests/test_celery.py for celery):

* multiprocess and k8s: the executor notices the step's process (or pod) is gone and records a step
  failure through `Executor.log_failure_or_retry_event_after_error`, which honours the step's
  RetryPolicy: `step_retry_policy` below re-runs it.
* celery: the run waits on the task's result and never sees a step failure for a worker that
  vanished (with Celery's defaults the message was acknowledged on receipt and is gone: the run
  would wait forever). So `celery_config_source` makes Celery keep the message until the step
  returns (`task_acks_late`), put it back at once when a pool process dies
  (`task_reject_on_worker_lost`) and, when a whole worker host dies, lets Redis hand it to another
  worker after the visibility timeout. The step then runs again on that worker, with the same task
  id, so the run never knows. Steps can run twice safely: they are deterministic and write whole
  partitions through the lake's atomic replace.
"""

from __future__ import annotations

import dagster as dg

from dvol_pipeline.settings import celery_settings, executor_name, step_start_method

DISTRIBUTED = ("celery", "k8s")
"""The profiles whose steps run on other hosts, where a lost host is an everyday event."""


def step_retry_policy() -> dg.RetryPolicy | None:
    """Each step retried twice, 10 s then 20 s later, in the distributed profiles; none on one host.

    Why: a host lost under a step (a node drained or pre-empted, a pod evicted, the OOM killer) is
    recorded as that step's failure by the multiprocess and k8s executors, and the retry runs it on
    a healthy host; so do a dropped database connection or a shared filesystem's hiccup. Twice, not
    more: a step that loses its host three times running most likely kills it (memory), and a step
    that fails on its own data fails the same way again (a contract check), so more retries only
    delay the alert. On one host none: a failure there is the step's own, and retrying it only makes
    the failed run slower (test_postgres's failing run)."""
    if executor_name() not in DISTRIBUTED:
        return None
    return dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL)


PRELOAD = ("dvol_pipeline.definitions",)
"""What a step's process finds imported when it starts: the project (polars, numpy, scipy, the lanes' assets),
2-4 s of imports a step on one host."""


def multiprocess_executor_config() -> dict:
    """The multiprocess executor's config for `DVOL_STEP_START` (settings.step_start_method): `forkserver`
    forks each step's process from a server that imported the project once (Dagster's `start_method:
    forkserver` with `preload_modules`) instead of a fresh interpreter per step that imports it again
    (`spawn`, Dagster's default). Each step's process is still its own and rebuilds the job from its
    pointer as with `spawn`; the forkserver only imports (no thread pool runs in it to be forked
    half-held). Its one catch is the environment (settings.step_start_method). What it saves is
    measured by bench_overhead (docs/benchmarks.md)."""
    if step_start_method() == "forkserver":
        return {"start_method": {"forkserver": {"preload_modules": list(PRELOAD)}}}
    return {"start_method": {"spawn": {}}}


def celery_config_source(visibility_timeout_s: int) -> dict:
    """The Celery settings that make a lost worker's step run again elsewhere (see the module's doc);
    the same for the run that submits steps and for the workers that run them."""
    return {
        "task_acks_late": True,  # acknowledge a step's message when the step returned, not on receipt
        "task_reject_on_worker_lost": True,  # a pool process killed under a step: requeue the message now
        "worker_prefetch_multiplier": 1,  # a worker holds no step it is not running (dagster-celery's default)
        "broker_transport_options": {
            # these four are dagster-celery's defaults (dagster_celery/defaults.py), kept
            "max_retries": 3, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5,
            # a message unacknowledged this long (its worker died) goes back to the queue
            "visibility_timeout": visibility_timeout_s,
            # and a worker looks for such messages every 10 s (kombu's default sweeps every 100 s)
            "unacked_restore_interval": min(10, visibility_timeout_s),
            "unacked_restore_throttle": 1,
        },
        # the run polls results every second: a broker that restarts must not fail the poll at once
        "result_backend_always_retry": True,
        "result_backend_max_retries": 20,
    }


def celery_executor_config() -> dict:
    """The celery executor's config (broker, backend, settings) from the environment (settings.py)."""
    broker, backend, visibility = celery_settings()
    return {"broker": broker, "backend": backend, "config_source": celery_config_source(visibility)}


def _pod(cpu: str, memory: str) -> dict:
    """A step pod's container config, the schema of Dagster's `dagster-k8s/config` tag: CPU and memory
    requested (the scheduler places the pod on a node that has them), memory limited to twice that."""
    limit = f"{2 * int(memory.removesuffix('Gi'))}Gi"
    return {"container_config": {"resources": {"requests": {"cpu": cpu, "memory": memory},
                                               "limits": {"memory": limit}}}}


K8S_STEP_DEFAULT = _pod("1", "2Gi")
"""Every step pod of the k8s profile unless K8S_STEPS names it: a day's ingest, surfaces or features."""
K8S_STEPS = {
    # a walk-forward fold (its member families fitted in a process pool; one step per fold) and a horizon of
    # the universe's models (universe_forecasts fans out: one step per horizon)
    "fold_members": _pod("4", "8Gi"),
    "universe_horizon": _pod("4", "8Gi"),
    "backtest": _pod("2", "4Gi"),
    # the micro lane: a venue-symbol-day of ticks is millions of rows held in memory; the books and features
    # fan out (dynamic mapping) into one step per (venue, symbol, day) and per day, keyed by their op's name
    "raw_ticks": _pod("2", "8Gi"),
    "book_day": _pod("2", "8Gi"),
    "features_day": _pod("2", "8Gi"),
    "micro_research": _pod("4", "8Gi"),
}
"""Per-step CPU and memory by op name, as the `dagster-k8s/config` tag would give them: k8s_job_executor's
`per_step_k8s_config` takes the same dict and overrides a step's tag (dagster_k8s/executor.py,
`_get_container_context`), and one table here keeps the lanes' assets free of Kubernetes."""


def k8s_executor_config() -> dict:
    """k8s_job_executor's config: the step pods' resources (the image, namespace, PostgreSQL secret and lake
    volume come from the run launcher, deploy/helm-values.yaml)."""
    return {"step_k8s_config": K8S_STEP_DEFAULT, "per_step_k8s_config": K8S_STEPS}


def executor_def() -> dg.ExecutorDefinition:
    """The executor `DVOL_EXECUTOR` names (settings.executor_name)."""
    name = executor_name()
    if name == "multiprocess":
        return dg.multiprocess_executor.configured(multiprocess_executor_config(), name="multiprocess")
    if name == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(celery_executor_config(), name="celery")
    if name == "k8s":
        try:
            from dagster_k8s import k8s_job_executor
        except ImportError:
            raise ValueError("DVOL_EXECUTOR=k8s needs dagster-k8s (pip install dagster-k8s==0.29.27), which the "
                             "project's image for Kubernetes installs; it is not in requirements.lock") from None
        return k8s_job_executor.configured(k8s_executor_config(), name="k8s")
    return dg.in_process_executor
