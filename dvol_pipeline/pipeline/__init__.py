"""The pipeline layer: one module per asset group, between the Dagster assets and the rest.

Each function reads from the lake (through the catalog), calls `quant/`, `sources/` or
`reports/`, and writes. It makes no decisions (those live in `quant/`) and imports no
dagster, so the CLI, the tests and the benchmarks run exactly what the assets run.
"""
