"""The instance files (dagster.yaml, deploy/dagster.*.yaml) and the Helm values: Dagster's documented
settings, one run at a time."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

from dvol_pipeline.cli import prepare_home
from dvol_pipeline.settings import REPO_ROOT

INSTANCE_FILES = [REPO_ROOT / "dagster.yaml", *sorted((REPO_ROOT / "deploy").glob("dagster.*.yaml"))]
"""Dagster instance files; deploy/ also holds Kubernetes files (helm-values.yaml, k8s-lake-pvc.yaml)."""


def _modules(node) -> list[str]:
    """Every `module:` an instance file names, at any depth."""
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "module"] + [m for v in node.values() for m in _modules(v)]
    return [m for v in node for m in _modules(v)] if isinstance(node, list) else []


@pytest.mark.parametrize("path", INSTANCE_FILES, ids=lambda p: p.name)
def test_instance_files_name_no_private_dagster_module_and_queue_one_run(path: Path):
    config = yaml.safe_load(path.read_text())
    assert not [m for m in _modules(config) if m.startswith("dagster._")], path
    assert "run_coordinator" not in config  # the run queue is Dagster's default coordinator
    assert config["concurrency"]["runs"]["max_concurrent_runs"] == 1


def test_the_default_instance_queues_one_run_at_a_time(lake):
    prepare_home(lake)
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1
        assert type(instance.event_log_storage).__name__ == "BatchedSqliteEventLogStorage"


def test_the_helm_values_queue_one_run_and_share_the_lake():
    """The chart's keys as its values schema names them (helm/dagster/schema in dagster-io/dagster)."""
    values = yaml.safe_load((REPO_ROOT / "deploy" / "helm-values.yaml").read_text())
    queue = values["dagsterDaemon"]["runCoordinator"]
    assert queue["type"] == "QueuedRunCoordinator" and queue["config"]["queuedRunCoordinator"]["maxConcurrentRuns"] == 1
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    (code,) = values["dagster-user-deployments"]["deployments"]
    assert code["env"]["DVOL_EXECUTOR"] == "k8s" and code["env"]["DVOL_LAKE"] == "/lake"
    assert {m["mountPath"] for m in code["volumeMounts"]} == {"/lake"}
    claim = yaml.safe_load((REPO_ROOT / "deploy" / "k8s-lake-pvc.yaml").read_text())
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert [v["persistentVolumeClaim"]["claimName"] for v in launcher["volumes"]] == [claim["metadata"]["name"]]
    assert values["postgresql"]["enabled"] is False and values["generatePostgresqlPasswordSecret"] is False
