"""End to end on the simulated market: the demo's one run, and byte-identical re-runs."""

from __future__ import annotations

import hashlib
from datetime import date

import dagster as dg
import polars as pl
import pytest

from dvol_pipeline.cli import EXAMPLE_SQL, main
from dvol_pipeline.contracts.tables import RAW_TABLES
from dvol_pipeline.lake.warehouse import query


def _printed_tables(out: str) -> list[tuple[tuple[int, int], list[str], list[list[str]]]]:
    """Each polars table printed in `out`: (shape, column names, rows as text, the elided `…` row left out)."""
    tables, lines = [], out.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("shape: ("):
            shape = tuple(int(x) for x in line.removeprefix("shape: (").removesuffix(")").split(", "))
            cells = []
            for row in lines[i + 1 :]:
                if row.startswith("└"):
                    break
                if row.startswith("│"):
                    cells.append([c.strip() for c in row.strip("│").split("┆")])
            tables.append((shape, cells[0], [r for r in cells[3:] if set(r) != {"…"}]))
    return tables


def _fingerprints(lake):
    return {str(p.relative_to(lake)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((lake / "raw").rglob("*.parquet"))}


@pytest.mark.slow
def test_demo_on_a_short_range_then_byte_identical_rematerialization(lake, capsys):
    assert main(["demo", "--end", "2021-04-20"]) == 0
    out = capsys.readouterr().out
    with dg.DagsterInstance.from_config(str(lake / ".dagster")) as instance:
        assert len(instance.get_runs()) == 2  # every daily asset over the range in one run, then the warehouse
    catalog = query(lake, "SELECT view_name, row_count, partition_count FROM lake_catalog ORDER BY ALL")
    surface = ["surface_params", "surface_grid", "surface_features", "chain_greeks", "chain_exposures"]
    views = [*RAW_TABLES, "features_daily", "vol_regimes", *surface]
    # the smile-model comparison runs on every 7th day: 2021-03-25, 04-01, 04-08, 04-15
    views.append("surface_model_comparison")
    counts = dict(catalog.select("view_name", "partition_count").iter_rows())
    # the simulated dump carries a few crossed quotes: quarantined (own view), tolerated by the contract
    crossed = counts.pop("quarantine_raw_option_chain")
    assert counts == {name: 2 * (4 if name == "surface_model_comparison" else 28) for name in views}
    assert 1 <= crossed <= 10
    bad = query(lake, "SELECT bid, ask, reason FROM quarantine_raw_option_chain")
    assert set(bad["reason"]) == {"bid must be <= ask"}
    assert (bad["bid"].cast(pl.Float64) > bad["ask"].cast(pl.Float64)).all()
    # the summary it prints is the lake's catalog (every view, the warehouse's counts) and the example's result
    (shape, names, rows), (_, example_names, example_rows) = _printed_tables(out)[:2]
    assert shape == (len(views) + 1, 3) and names == catalog.columns
    assert rows and all(r in [[str(v) for v in c] for c in catalog.rows()] for r in rows)
    assert f'  python -m dvol_pipeline query "{EXAMPLE_SQL}"' in out.splitlines()
    example = query(lake, EXAMPLE_SQL)
    assert example_names == example.columns and example_rows == [[str(v) for v in r] for r in example.rows()]
    assert [r[:2] for r in example_rows] == [["BTC", "2021"], ["ETH", "2021"]]
    first = _fingerprints(lake)

    # the whole range again, then one day alone: same bytes for every file
    assert main(["materialize", "--select", "group:raw", "--start", "2021-03-24", "--end", "2021-04-20"]) == 0
    assert main(["materialize", "--select", "group:raw", "--start", "2021-04-10", "--end", "2021-04-10"]) == 0
    assert _fingerprints(lake) == first

    # the DVOL the lake holds is the exchange's index (from its clean marks of every strike); the
    # replica from the lake's own downloaded chain is close to it, not equal
    chain = pl.read_parquet(lake / "raw" / "raw_option_chain" / "asset=BTC" / "date=2021-04-10" / "part-0.parquet")
    from dvol_pipeline.quant.pricing.surface import REPLICA_TOLERANCE_VOL
    from dvol_pipeline.quant.pricing.variance_swap import replicate_dvol

    replica = replicate_dvol(chain)["dvol"][0]
    dvol = query(lake, "SELECT close FROM raw_dvol WHERE asset = 'BTC' AND date = DATE '2021-04-10'")["close"][0]
    assert 1e-6 < abs(replica - dvol) < REPLICA_TOLERANCE_VOL
    assert date(2021, 4, 10) == chain["ts"][0].date()
