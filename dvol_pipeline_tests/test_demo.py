"""End to end on the simulated market: the demo's one run, and byte-identical re-runs."""

from __future__ import annotations

import hashlib
from datetime import date

import dagster as dg
import polars as pl
import pytest

from dvol_pipeline.cli import main
from dvol_pipeline.contracts.tables import RAW_TABLES
from dvol_pipeline.lake.warehouse import query


def _fingerprints(lake):
    return {str(p.relative_to(lake)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((lake / "raw").rglob("*.parquet"))}


@pytest.mark.slow
def test_demo_on_a_short_range_then_byte_identical_rematerialization(lake, capsys):
    assert main(["demo", "--end", "2021-04-20"]) == 0
    out = capsys.readouterr().out
    assert "raw_option_chain" in out and "Example query" in out
    with dg.DagsterInstance.from_config(str(lake / ".dagster")) as instance:
        assert len(instance.get_runs()) == 2  # every daily asset over the range in one run, then the warehouse
    catalog = query(lake, "SELECT view_name, partition_count FROM lake_catalog")
    surface = ["surface_params", "surface_grid", "surface_features", "chain_greeks", "chain_exposures"]
    assert dict(catalog.iter_rows()) == {name: 2 * 28 for name in [*RAW_TABLES, "features_daily", *surface]}
    first = _fingerprints(lake)

    # the whole range again, then one day alone: same bytes for every file
    assert main(["materialize", "--select", "group:raw", "--start", "2021-03-24", "--end", "2021-04-20"]) == 0
    assert main(["materialize", "--select", "group:raw", "--start", "2021-04-10", "--end", "2021-04-10"]) == 0
    assert _fingerprints(lake) == first

    # the DVOL the lake holds is the one replicated from the lake's own option chains
    chain = pl.read_parquet(lake / "raw" / "raw_option_chain" / "asset=BTC" / "date=2021-04-10" / "part-0.parquet")
    from dvol_pipeline.quant.variance_swap import replicate_dvol

    replica = replicate_dvol(chain)["dvol"][0]
    dvol = query(lake, "SELECT close FROM raw_dvol WHERE asset = 'BTC' AND date = DATE '2021-04-10'")["close"][0]
    assert replica == pytest.approx(dvol, abs=1e-6)
    assert date(2021, 4, 10) == chain["ts"][0].date()
