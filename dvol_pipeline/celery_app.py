"""The Celery app the celery profile's workers serve: `celery -A dvol_pipeline.celery_app worker`.

dagster-celery's own `dagster-celery worker start -A dagster_celery.app -y celery.yaml` writes the
YAML's executor config into a generated `dagster_celery_config` module and then runs exactly
`celery -A dagster_celery.app worker --prefetch-multiplier=1 -n NAME`. This module is that app built
from the same settings as the executor (executors.celery_executor_config: the environment), so the
run that submits steps and the workers that run them cannot disagree on the broker or the
redelivery settings. It registers dagster-celery's three tasks under their own names.
"""

from __future__ import annotations

import importlib

from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_execute_job_task, create_resume_job_task, create_task

from dvol_pipeline.executors import celery_executor_config
from dvol_pipeline.settings import event_volume_defaults

app = make_app(CeleryExecutor.for_cli(**celery_executor_config()).app_args())

# The project imported here, in the worker's main process, before it forks its pool and says "ready": a
# pool process then starts its first step with the definitions loaded, instead of importing them inside
# that step (10-15 s on a busy 2-core machine, test_celery.py; measured by bench_overhead).
importlib.import_module("dvol_pipeline.definitions")
# A worker's steps write their own events: the same event-volume settings as the run's process (the CLI's,
# the UI's), or a range's materializations go to the database one by one.
event_volume_defaults()

execute_plan = create_task(app)
execute_job = create_execute_job_task(app)
resume_job = create_resume_job_task(app)
