"""`python -m dvol_pipeline ...`: one run per range, on the persistent instance, with clear errors."""

from __future__ import annotations

import dagster as dg
import pytest

from dvol_pipeline.cli import main


def test_materialize_then_query(lake, toy, capsys):
    assert main(["materialize", "--source", "toy", "--start", "2024-01-01", "--end", "2024-01-10"]) == 0
    # the run is recorded under <lake>/.dagster, where `make ui` will show it
    with dg.DagsterInstance.from_config(str(lake / ".dagster")) as instance:
        runs = instance.get_runs()
        assert len(runs) == 1 and runs[0].tags["dagster/asset_partition_range_end"] == "2024-01-10"
    capsys.readouterr()
    assert main(["query", "SELECT asset, count(*) AS n FROM raw_dvol GROUP BY ALL ORDER BY ALL"]) == 0
    out = capsys.readouterr().out
    assert "BTC" in out and "ETH" in out and "10" in out


def test_one_coin_only(lake, toy):
    assert main(["materialize", "--select", "raw_dvol", "--source", "toy", "--coins", "eth",
                 "--start", "2024-01-01", "--end", "2024-01-02"]) == 0
    assert [p.name for p in (lake / "raw" / "raw_dvol").iterdir()] == ["asset=ETH"]


def test_a_failed_contract_makes_the_command_fail(lake, capsys):
    import polars as pl

    from dvol_pipeline_tests.toy_market import ToySource, install

    install(ToySource(plant=lambda t, f: f.with_columns(pl.lit(-1.0).alias("fees")) if t == "raw_onchain" else f))
    assert main(["materialize", "--source", "toy", "--start", "2024-01-01", "--end", "2024-01-02"]) == 1
    assert "run FAILED" in capsys.readouterr().out


def test_bad_arguments_are_explained(lake, capsys):
    assert main(["materialize", "--source", "nope", "--start", "2024-01-01", "--end", "2024-01-02"]) == 2
    assert "unknown source 'nope'; available sources:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["materialize", "--start", "2024-01-05", "--end", "2024-01-01"])
    assert "is before --start" in capsys.readouterr().err
    assert main(["query", "SELECT 1"]) == 2
    assert "no warehouse" in capsys.readouterr().err
    assert main(["materialize", "--select", "raw_dvol,raw_ohlcv", "--start", "2024-01-01", "--end", "2024-01-02"]) == 2
    assert 'invalid --select "raw_dvol,raw_ohlcv"' in capsys.readouterr().err


def test_cdd_landing_folder_builds_the_lake_for_the_range_it_covers(lake, capsys):
    """The issue's "done when": DVOL + Binance daily/hourly files for BTC and ETH, one command."""
    from datetime import timedelta

    from dvol_pipeline_tests.cdd_files import T0, price_rows, write_dvol_file, write_price_file

    landing = lake / "landing"
    landing.mkdir()
    for coin, base in (("BTC", 40_000.0), ("ETH", 2_300.0)):
        write_dvol_file(landing / f"{coin}_DVOL_d.csv", coin, T0, 15)
        daily = price_rows(coin, T0, 15, timedelta(days=1), base=base)
        write_price_file(landing / f"Binance_{coin}USDT_d.csv", daily, date_style="date")
        write_price_file(landing / f"Binance_{coin}USDT_d_older.csv", daily[:10], date_style="date")
        write_price_file(landing / f"Binance_{coin}USDT_1h.csv",
                         price_rows(coin, T0, 24 * 14 + 1, timedelta(hours=1), base=base), date_style="ampm")
    assert main(["materialize", "--source", "cdd", "--select", "group:raw"]) == 0
    out = capsys.readouterr().out
    assert "CDD files cover 2024-01-01..2024-01-14" in out
    assert "raw_dvol: 28 rows in 28 partitions, 0 quarantined" in out
    # daily: 14 complete days per coin; hourly: 14 days x 24 h per coin
    assert "raw_ohlcv: 700 rows" in out and "'duplicates_resolved': 18" in out
    assert "raw_onchain: 0 rows" in out and "not provided" in out
    assert sorted(p.name for p in (lake / "raw" / "raw_ohlcv").iterdir()) == ["asset=BTC", "asset=ETH"]


@pytest.mark.slow
def test_run_on_cdd_files_builds_everything_it_can_and_skips_the_rest_with_a_note(lake, capsys):
    """`run --source cdd`: DVOL + daily price files -> raw, features, folds, backtests, tear sheets, signals;
    the option-chain groups (surfaces, the option book) are skipped with a note, never an error."""
    from datetime import UTC, datetime, timedelta

    import numpy as np
    import polars as pl

    from dvol_pipeline.lake.warehouse import query
    from dvol_pipeline_tests.cdd_files import price_rows, write_dvol_file, write_price_file

    landing, t0, n = lake / "landing", datetime(2021, 3, 24, tzinfo=UTC), 420  # through 2022-05-17
    landing.mkdir()
    rng = np.random.default_rng(5)
    for coin, base, level in (("BTC", 40_000.0, 60.0), ("ETH", 2_500.0, 75.0)):
        write_dvol_file(landing / f"{coin}_DVOL_d.csv", coin, t0, n, level=level)
        walk = np.exp(np.cumsum(rng.normal(0, 0.03, n)))
        rows = [{**r, **{k: r[k] * w for k in ("o", "h", "l", "c")}}
                for r, w in zip(price_rows(coin, t0, n, timedelta(days=1), base=base), walk, strict=True)]
        write_price_file(landing / f"Binance_{coin}USDT_d.csv", rows, date_style="date")
    assert main(["run", "--source", "cdd"]) == 0
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert "CDD files cover 2021-03-24..2022-05-16" in out
    folds = query(lake, "SELECT DISTINCT fold FROM oos_predictions ORDER BY fold")["fold"].to_list()
    assert folds == ["2022-04", "2022-05"]
    assert sorted(p.name for p in (lake / "reports" / "latest").glob("*.html")) == ["tearsheet_BTC.html",
                                                                                   "tearsheet_ETH.html"]
    signals = query(lake, "SELECT asset, direction FROM signals WHERE date = DATE '2022-05-16' ORDER BY asset")
    assert signals["asset"].to_list() == ["BTC", "ETH"] and signals["direction"].is_in([-1, 0, 1]).all()
    no_chain = query(lake, "SELECT count(*) AS n FROM lake_catalog WHERE view_name LIKE 'surface%' OR view_name = 'chain_greeks'")
    assert no_chain["n"][0] == 0 and "no raw_option_chain" in out
    assert query(lake, "SELECT count(*) AS n FROM backtest_daily WHERE strategy LIKE 'option%'")["n"][0] == 0
    assert pl.read_parquet(lake / "backtest" / "strategy_metrics" / "part-0.parquet").height > 0
