"""`python -m dvol_pipeline ...`: one run per range, on the persistent instance, with clear errors."""

from __future__ import annotations

import ast
import re

import dagster as dg
import pytest

from dvol_pipeline.cli import main
from dvol_pipeline.contracts.tables import RAW_TABLES


def _printed_frame(out: str) -> tuple[list[str], list[list[str]]]:
    """(column names, rows) of the one polars table `query` prints (names, ---, dtypes, then rows)."""
    cells = [[c.strip() for c in line.strip("│").split("┆")] for line in out.splitlines() if line.startswith("│")]
    assert len(cells) >= 3 and set(cells[1]) == {"---"}, out
    return cells[0], cells[3:]


SUMMARY_LINE = re.compile(
    r"(?P<name>\w+): (?P<rows>[\d,]+) rows in (?P<partitions>\d+) partitions, (?P<quarantined>\d+) quarantined"
    r"(?:, (?P<notes>\{.*?\}))?(?: \(not provided: (?P<why>.+)\))?"
)


def _run_summary(lines: list[str]) -> dict[str, tuple[int, int, int, dict, str | None]]:
    """`materialize`'s one line per raw table: (rows, partitions, quarantined, source notes, why not provided)."""
    out = {}
    for line in lines:
        m = SUMMARY_LINE.fullmatch(line)
        assert m, line
        out[m["name"]] = (int(m["rows"].replace(",", "")), int(m["partitions"]), int(m["quarantined"]),
                          ast.literal_eval(m["notes"]) if m["notes"] else {}, m["why"])
    return out


@pytest.mark.slow  # every daily group end to end over ten days: ~5 s alone, ~2.5 s after another Dagster run
def test_materialize_then_query(lake, toy, capsys):
    assert main(["materialize", "--source", "toy", "--start", "2024-01-01", "--end", "2024-01-10"]) == 0
    # the run is recorded under <lake>/.dagster, where `make ui` will show it
    with dg.DagsterInstance.from_config(str(lake / ".dagster")) as instance:
        runs = instance.get_runs()
        assert len(runs) == 1 and runs[0].tags["dagster/asset_partition_range_end"] == "2024-01-10"
    capsys.readouterr()
    assert main(["query", "SELECT asset, count(*) AS n FROM raw_dvol GROUP BY ALL ORDER BY ALL"]) == 0
    names, rows = _printed_frame(capsys.readouterr().out)
    assert names == ["asset", "n"] and rows == [["BTC", "10"], ["ETH", "10"]]  # ten days per coin


def test_one_coin_only(lake, toy):
    assert main(["materialize", "--select", "raw_dvol", "--source", "toy", "--coins", "eth",
                 "--start", "2024-01-01", "--end", "2024-01-02"]) == 0
    assert [p.name for p in (lake / "raw" / "raw_dvol").iterdir()] == ["asset=ETH"]


def test_a_failed_contract_makes_the_command_fail(lake, capsys):
    import polars as pl

    from dvol_pipeline_tests.toy_market import ToySource, install

    install(ToySource(plant=lambda t, f: f.with_columns(pl.lit(-1.0).alias("fees")) if t == "raw_onchain" else f))
    assert main(["materialize", "--source", "toy", "--start", "2024-01-01", "--end", "2024-01-02"]) == 1
    *summary, outcome = capsys.readouterr().out.splitlines()
    assert outcome.startswith("run FAILED")
    tables = _run_summary(summary)
    # the planted table's 2 coins x 2 days are all quarantined; the other raw tables land clean
    assert tables.pop("raw_onchain")[:3] == (0, 0, 4)
    assert set(tables) == set(RAW_TABLES) - {"raw_onchain"}
    assert all(rows > 0 and quarantined == 0 for rows, _, quarantined, _, _ in tables.values())


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
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "CDD files cover 2024-01-01..2024-01-14; materializing 2024-01-01..2024-01-14"
    assert out[-1] == "run succeeded"
    tables = _run_summary(out[1:-1])
    assert set(tables) == set(RAW_TABLES)
    assert tables["raw_dvol"][:3] == (28, 28, 0)  # 14 days x 2 coins, one partition each
    assert tables["raw_dvol"][3]["units"]["BTC_DVOL_d.csv"].startswith("vol points (median 5")  # and why
    # daily: 14 complete days per coin; hourly: 14 days x 24 h per coin
    rows, partitions, quarantined, notes, _ = tables["raw_ohlcv"]
    assert (rows, partitions, quarantined) == (2 * (14 + 14 * 24), 28, 0) and notes["duplicates_resolved"] == 18
    for name in ("raw_funding", "raw_onchain", "raw_option_chain", "raw_options_summary"):
        assert tables[name][:3] == (0, 0, 0) and tables[name][4], name  # nothing, and it says why
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
        rows = [{**r, **{k: r[k] * w for k in ("o", "h", "l", "c", "q")}}  # quote volume follows the price
                for r, w in zip(price_rows(coin, t0, n, timedelta(days=1), base=base), walk, strict=True)]
        write_price_file(landing / f"Binance_{coin}USDT_d.csv", rows, date_style="date")
    assert main(["run", "--source", "cdd"]) == 0
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert "CDD files cover 2021-03-24..2022-05-16; materializing 2021-03-24..2022-05-16" in out
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


def test_eod_runs_the_end_of_day_job_itself(lake, toy, capsys):
    """`eod` is a run of eod_job in the instance's history (the alert sensors watch that job), for the
    day as the schedule asks for it; on a lake without a promoted model it fails at signals, as the
    scheduled run would, after the day's raw tables and features landed."""
    assert main(["eod", "--date", "2024-03-02", "--source", "toy"]) == 1
    assert "eod 2024-03-02 FAILED" in capsys.readouterr().err
    with dg.DagsterInstance.from_config(str(lake / ".dagster")) as instance:
        (run,) = instance.get_runs()
        assert run.job_name == "eod_job" and run.tags["dagster/partition"] == "2024-03-02"
        assert run.tags["dvol/started_by"] == "cli" and run.status == dg.DagsterRunStatus.FAILURE
        failed = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
        assert [e.step_key for e in failed] == ["signals"]
    assert (lake / "features" / "features_daily" / "asset=BTC" / "date=2024-03-02" / "part-0.parquet").exists()


def test_eod_catches_up_the_days_missed_since_the_paper_book_last_ran(lake, monkeypatch, capsys):
    """eod of 2025-01-04 on a lake whose paper book last ran 2025-01-02: one run of eod_job over
    2025-01-03..04, and one line saying which days were caught up; with no day missed, the day alone."""
    from datetime import date

    from dvol_pipeline import cli
    from dvol_pipeline.lake.catalog import table

    for day in (date(2025, 1, 1), date(2025, 1, 2)):  # the book's state folders: only they are listed
        path = table("paper_positions").partition_file(lake, "BTC", day)
        path.parent.mkdir(parents=True)
        path.write_bytes(b"")
    runs = []

    class Done:
        success = True

    monkeypatch.setattr(cli, "run_job", lambda job, start, end, market: runs.append((job, start, end)) or Done())
    monkeypatch.setattr(cli, "run_summary", lambda result: [])
    monkeypatch.setattr(cli, "_outputs", lambda root, day: "")
    assert main(["eod", "--date", "2025-01-04", "--source", "simulated"]) == 0
    assert runs == [("eod_job", date(2025, 1, 3), date(2025, 1, 4))]
    assert "eod 2025-01-04: catching up 2025-01-03..2025-01-03 (the paper book last ran 2025-01-02)" in capsys.readouterr().out
    runs.clear()
    assert main(["eod", "--date", "2025-01-03", "--source", "simulated"]) == 0
    assert runs == [("eod_job", date(2025, 1, 3), date(2025, 1, 3))]
    assert "catching up" not in capsys.readouterr().out
