"""Short-horizon models of the micro lane: labels, feature selection, validation, walk-forward, IC.

Pure functions on polars frames (no IO, no Dagster, no MLflow): the assets layer logs
`walkforward.mlflow_records(result)` and writes the tables. See docs/micro/models.md.
"""
