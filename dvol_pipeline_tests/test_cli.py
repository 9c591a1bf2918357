"""`python -m dvol_pipeline ...`: one run per range, on the persistent instance, with clear errors."""

from __future__ import annotations

import ast
import re
from datetime import date

import dagster as dg
import pytest

from dvol_pipeline.cli import EXAMPLE_SQL, main
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
    assert "dvol lane: runs over 2021-03-24..2022-05-16 (raw_dvol covers 2021-03-24..2022-05-16)" in out
    folds = query(lake, "SELECT DISTINCT fold FROM oos_predictions ORDER BY fold")["fold"].to_list()
    assert folds == ["2022-04", "2022-05"]
    assert sorted(p.name for p in (lake / "reports" / "latest").glob("*.html")) == ["tearsheet_BTC.html",
                                                                                   "tearsheet_ETH.html"]
    signals = query(lake, "SELECT asset, direction FROM signals WHERE date = DATE '2022-05-16' ORDER BY asset")
    assert signals["asset"].to_list() == ["BTC", "ETH"] and signals["direction"].is_in([-1, 0, 1]).all()
    no_chain = query(lake, "SELECT count(*) AS n FROM lake_catalog WHERE view_name LIKE 'surface%' OR view_name = 'chain_greeks'")
    assert no_chain["n"][0] == 0 and "no raw_option_chain" in _said(out)
    assert query(lake, "SELECT count(*) AS n FROM backtest_daily WHERE strategy LIKE 'option%'")["n"][0] == 0
    assert pl.read_parquet(lake / "backtest" / "strategy_metrics" / "part-0.parquet").height > 0
    # the screen it ends with: plain tables within 100 columns, the signal by name, the dashboard last
    lines = captured.out.splitlines()
    screen = lines[next(i for i, line in enumerate(lines) if line.startswith("Done in")):]
    assert max(len(line) for line in screen) <= 100 and "shape:" not in captured.out
    start = screen.index("Signals for 2022-05-16 (the forecast change of DVOL, in vol points, over 1, 7 and 14 days):")
    named = dict(zip(signals["asset"], signals["direction"].replace_strict({1: "long DVOL", 0: "flat", -1: "short DVOL"}),
                     strict=True))
    assert [re.split(r"\s{2,}", line.strip())[4] for line in screen[start + 3:start + 5]] == [named["BTC"], named["ETH"]]
    assert screen[-3:-1] == [f"  {lake / 'reports' / 'latest'}/", "  tearsheet_BTC.html  tearsheet_ETH.html"]
    assert screen[-1] == "Dashboard (signals, regimes, the paper book): `make serve`, then http://127.0.0.1:8000"


def _said(out: str) -> str:
    """The printed text with its line wrapping undone, to find a sentence the CLI wrapped."""
    return " ".join(out.split())


def _light_universe(monkeypatch) -> None:
    """The universe lane's models cut to their quickest (no tuning, no LSTM, no SHAP, no MLflow)."""
    from functools import partial

    from dvol_pipeline import cli

    monkeypatch.setattr(cli, "run_universe", partial(cli.run_universe, tune=False, lstm=False, explain=False, track=False))


def _walk_prices(landing, coins, t0, n, seed=7):
    from datetime import timedelta

    import numpy as np

    from dvol_pipeline_tests.cdd_files import price_rows, write_price_file

    rng = np.random.default_rng(seed)
    for k, coin in enumerate(coins):
        walk = np.exp(np.cumsum(rng.normal(0, 0.04, n)))
        rows = [{**r, **{c: r[c] * w for c in ("o", "h", "l", "c", "q")}}
                for r, w in zip(price_rows(coin, t0, n, timedelta(days=1), base=50.0 * (k + 1)), walk, strict=True)]
        write_price_file(landing / f"Binance_{coin}USDT_d.csv", rows, date_style="date")


NINE = ("BTC", "ETH", "SOL", "ADA", "XRP", "DOGE", "LTC", "LINK", "DOT")


@pytest.mark.slow  # two runs of the universe lane (its quickest models) and a daily run: ~1 min
def test_run_on_price_files_alone_runs_the_universe_lane_and_each_lane_uses_its_own_days(lake, capsys, monkeypatch):
    """A new user's landing folder: daily price files of nine coins, no DVOL. The dvol and options
    lanes are skipped with a line naming what would enable them; the universe lane runs over the
    price files' own days. With DVOL files added, the dvol lane runs over the DVOL files' days and
    the universe lane still over the price files' days, from before the first daily partition."""
    from datetime import UTC, datetime

    from dvol_pipeline.lake.warehouse import query
    from dvol_pipeline_tests.cdd_files import write_dvol_file

    _light_universe(monkeypatch)
    landing = lake / "landing"
    landing.mkdir()
    _walk_prices(landing, NINE, datetime(2019, 10, 1, tzinfo=UTC), 560)  # 2019-10-01..2021-04-12
    assert main(["run", "--source", "cdd"]) == 0
    said = _said(capsys.readouterr().out)
    assert (f"dvol lane (DVOL features, forecasts, backtests, signals and the paper book): skipped, no raw_dvol in "
            f"the inputs; CryptoDataDownload's daily DVOL files (BTC_DVOL_d.csv, ETH_DVOL_d.csv) in {landing} would "
            "enable it") in said
    assert "options lane (option surfaces, greeks and the IV-rank strategies): skipped, no raw_option_chain" in said
    assert "universe lane: runs over 2019-10-01..2021-04-11" in said
    views = set(query(lake, "SELECT view_name FROM lake_catalog")["view_name"])
    assert {"raw_universe_daily", "universe_predictions", "universe_strategy_metrics"} <= views
    assert not views & {"raw_dvol", "features_daily", "vol_regimes", "surface_params"}  # nothing of a skipped lane
    universe = query(lake, "SELECT min(date) AS first, count(DISTINCT symbol) AS coins FROM raw_universe_daily")
    assert universe.row(0) == (datetime(2019, 10, 1).date(), 9)

    for coin in ("BTC", "ETH"):
        write_dvol_file(landing / f"{coin}_DVOL_d.csv", coin, datetime(2021, 3, 24, tzinfo=UTC), 20)
    assert main(["run", "--source", "cdd"]) == 0
    said = _said(capsys.readouterr().out)
    assert "dvol lane: runs over 2021-03-24..2021-04-11 (raw_dvol covers 2021-03-24..2021-04-11)" in said
    assert "universe lane: runs over 2019-10-01..2021-04-11" in said
    days = query(lake, "SELECT min(date) AS first, max(date) AS last FROM features_daily")
    assert days.row(0) == (datetime(2021, 3, 24).date(), datetime(2021, 4, 11).date())
    trained = query(lake, "SELECT min(date) AS first FROM universe_features")["first"][0]
    assert trained < datetime(2020, 1, 1).date()  # the price files' history, not the DVOL files' first day


@pytest.mark.slow  # one daily run and the warehouse: ~15 s
def test_run_on_dvol_files_alone_skips_the_universe_and_options_lanes_with_what_would_enable_them(lake, capsys):
    from dvol_pipeline.lake.warehouse import query
    from dvol_pipeline_tests.cdd_files import T0, write_dvol_file

    landing = lake / "landing"
    landing.mkdir()
    for coin in ("BTC", "ETH"):
        write_dvol_file(landing / f"{coin}_DVOL_d.csv", coin, T0, 15)
    assert main(["run", "--source", "cdd"]) == 0
    said = _said(capsys.readouterr().out)
    assert "dvol lane: runs over 2024-01-01..2024-01-14" in said
    assert "options lane (option surfaces, greeks and the IV-rank strategies): skipped, no raw_option_chain" in said
    assert (f"universe lane (realised-vol forecasts and regimes of every coin): skipped, no raw_universe_daily in the "
            f"inputs; daily spot price files per coin (Binance_SOLUSDT_d.csv ...) in {landing} would enable it") in said
    views = set(query(lake, "SELECT view_name FROM lake_catalog")["view_name"])
    assert {"raw_dvol", "features_daily", "vol_regimes"} <= views
    assert not views & {"raw_universe_daily", "surface_params", "chain_greeks"}


@pytest.mark.slow  # one daily run and the warehouse: ~20 s
def test_run_on_saved_option_chains_alone_runs_the_options_lane_only(lake, capsys):
    """Deribit dumps hold option chains only: the options lane's surfaces and greeks run, the dvol
    lane (and with it the IV-rank strategies, which read its tables) and the universe lane are skipped."""
    import shutil
    from pathlib import Path

    from dvol_pipeline.lake.warehouse import query

    dumps = Path(__file__).parent / "fixtures" / "deribit" / "dumps"
    (lake / "landing" / "deribit").mkdir(parents=True)
    for path in dumps.glob("ticker_*"):  # BTC and ETH tickers of 2023-12-28
        shutil.copy(path, lake / "landing" / "deribit" / path.name)
    assert main(["run", "--source", "deribit_dumps"]) == 0
    said = _said(capsys.readouterr().out)
    assert "dvol lane (DVOL features, forecasts, backtests, signals and the paper book): skipped, no raw_dvol" in said
    assert ("options lane: runs over 2023-12-28..2023-12-28 (raw_option_chain covers 2023-12-28..2023-12-28); "
            "without the dvol lane, the IV-rank strategies") in said
    assert "universe lane (realised-vol forecasts and regimes of every coin): skipped, no raw_universe_daily" in said
    views = set(query(lake, "SELECT view_name FROM lake_catalog")["view_name"])
    assert {"raw_option_chain", "chain_greeks"} <= views and not views & {"features_daily", "vol_regimes", "raw_dvol"}
    with dg.DagsterInstance.from_config(str(lake / ".dagster")) as instance:
        assert [r.job_name for r in reversed(instance.get_runs())] == ["daily_job", "warehouse_job"]


def test_every_lane_the_decision_names_has_its_definitions():
    from dvol_pipeline.definitions import LANE_DEFS
    from dvol_pipeline.quant.lanes import LANES

    assert [lane.name for lane in LANES] == list(LANE_DEFS)


DTYPES = {"i8", "i16", "i32", "i64", "u32", "f32", "f64", "str", "date", "bool", "datetime[μs, UTC]"}


def _desk_warehouse(root, day):
    """A warehouse.duckdb holding hand-made tables shaped as the views the last screen reads."""
    from datetime import UTC, datetime

    import duckdb
    import polars as pl

    from dvol_pipeline.lake.catalog import report_file, universe_report_file, warehouse_file

    two = {"date": [day, day], "asset": ["BTC", "ETH"]}
    tables = {
        "lake_catalog": pl.DataFrame({"view_name": ["raw_dvol", "signals", "universe_predictions"],
                                      "row_count": [2758, 2, 1_234_567], "partition_count": [2758, 2, 1]}),
        "raw_dvol": pl.DataFrame({"asset": ["BTC", "ETH"], "ts": [datetime(2024, 12, 31, tzinfo=UTC)] * 2,
                                  "close": [55.04, 70.12], "high": [61.5, 80.25]}),
        "signals": pl.DataFrame({**two, "yhat_1d": [0.412, -0.05], "yhat_7d": [1.9, -2.31], "yhat_14d": [2.2, -3.0],
                                 "direction": pl.Series([1, -1], dtype=pl.Int8), "confidence": [0.61, 0.574],
                                 "model_version": ["gbm@2024-12/fold-2024-12/run 3f9a1c2e7b5d4a1f9e8d7c6b5a4f3e2d1c0b",
                                                   "har@2024-12"]}),
        "vol_regimes": pl.DataFrame({**two, "regime": ["high", None], "dvol_rank": [0.91, None],
                                     "rv_iv_ratio": [1.12, 0.8]}),
        "ivrank_gate_folds": pl.DataFrame({"auc": [0.55, 0.61]}),
        "ivrank_strategy_metrics": pl.DataFrame({
            "strategy": ["ivrank_gated", "ivrank_rule"], "asset": ["ALL", "ALL"], "regime": ["ALL", "ALL"],
            "cost_mult": [1.0, 1.0], "n_trades": [41, 130], "hit_rate": [0.63, 0.58], "net_usd": [12_345.6, -987.0],
            "sharpe": [1.21, -0.3]}),
        "paper_positions": pl.DataFrame({**two, "contract_expiry": [date(2025, 1, 31)] * 2, "position": [1.0, 0.0],
                                         "target_next": [-1.0, 0.0], "equity_usd": [100_512.25, 99_870.0],
                                         "halted": [False, False]}),
        "paper_option_book": pl.DataFrame({**two, "structure": pl.Series([1, -1], dtype=pl.Int8), "n_legs": [2, 4],
                                           "hedge_coin": [0.0123, -0.4], "equity_usd": [50_010.5, 49_800.0],
                                           "target_next": pl.Series([0, 1], dtype=pl.Int8), "halted": [False, True]}),
    }
    with duckdb.connect(str(warehouse_file(root))) as con:
        for name, frame in tables.items():
            con.register("frame", frame)
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
            con.unregister("frame")
    for sheet in (report_file(root, "latest", "BTC"), report_file(root, "latest", "ETH"), universe_report_file(root, "latest")):
        sheet.parent.mkdir(parents=True, exist_ok=True)
        sheet.write_text("<html></html>")


def test_the_last_screen_is_for_a_person_names_not_codes_within_100_columns_links_last(tmp_path, monkeypatch):
    """What `demo` and `run` print at the end: plain tables (no dtype rows, no frames' boxes), the
    signal, position and structure codes as the names they stand for, no line over 100 columns, and
    the tear sheets and the dashboard's address last."""
    from dvol_pipeline.cli import final_summary

    monkeypatch.delenv("DVOL_API_URL", raising=False)
    monkeypatch.delenv("DVOL_DAGSTER_UI_URL", raising=False)
    day = date(2024, 12, 31)
    _desk_warehouse(tmp_path, day)
    text = final_summary(tmp_path, day)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100, [line for line in lines if len(line) > 100]
    assert not [line for line in lines if set(line.split()) & DTYPES or set(line) & set("│┆╞═┌└")]
    assert "shape:" not in text

    def rows(title: str) -> list[list[str]]:
        """The rows of the table under the line starting with `title`, cells split on runs of 2+ spaces."""
        start = next(i for i, line in enumerate(lines) if line.startswith(title))
        body = []
        for line in lines[start + 3:]:  # the title, the header, the rule
            if not line.startswith("  ") or not line.strip():
                break
            body.append(re.split(r"\s{2,}", line.strip()))
        return body

    signals, models = rows("Signals for 2024-12-31")[:2], rows("Signals for 2024-12-31")[2:]
    assert [(r[0], r[4]) for r in signals] == [("BTC", "long DVOL"), ("ETH", "short DVOL")]
    assert signals[0][1:4] == ["0.41", "1.90", "2.2"] and signals[1][1:4] == ["-0.05", "-2.31", "-3.0"]
    # each coin's promoted models under the table, whole (a long version is wrapped, not cut)
    said = " ".join(" ".join(r) for r in models)
    assert said == "BTC models: gbm@2024-12/fold-2024-12/run 3f9a1c2e7b5d4a1f9e8d7c6b5a4f3e2d1c0b ETH models: har@2024-12"
    assert [r[2:4] for r in rows("Paper book after 2024-12-31, DVOL futures")] == [["long 1", "short 1"], ["flat", "flat"]]
    sleeve = rows("Paper book after 2024-12-31, option sleeve")
    assert [(r[1], r[5]) for r in sleeve] == [("long straddle", "flat"), ("short iron condor", "long straddle")]
    assert rows("Volatility regime on 2024-12-31")[1][:2] == ["ETH", "-"]
    assert ["ivrank_gated", "41", "0.63", "12,346", "1.21"] in rows("IV-rank strategies")
    assert any("the trade gate's mean AUC 0.58" in line for line in lines)
    assert ["universe_predictions", "1,234,567", "1"] in rows("3 tables")
    # the example query is a command that runs as printed: its lines joined give the SQL back
    start = lines.index("  python -m dvol_pipeline query \\")
    command = " ".join(line.strip() for line in lines[start + 1:start + 3])
    assert command == f'"{EXAMPLE_SQL}"'
    assert rows("which prints")[0] == ["BTC", "2024", "55.0", "61.5"]
    # where to look, last: the Dagster UI, the tear sheets, then the dashboard
    assert lines[-1] == "Dashboard (signals, regimes, the paper book): `make serve`, then http://127.0.0.1:8000"
    assert lines[-2] == "  tearsheet_BTC.html  tearsheet_ETH.html  universe.html"
    assert lines[-3] == f"  {tmp_path / 'reports' / 'latest'}/"
    assert "http://127.0.0.1:3000" in lines[-5]


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
    monkeypatch.setattr(cli, "day_summary", lambda root, day: [])
    monkeypatch.setattr(cli, "where_to_look", lambda root: [])
    assert main(["eod", "--date", "2025-01-04", "--source", "simulated"]) == 0
    assert runs == [("eod_job", date(2025, 1, 3), date(2025, 1, 4))]
    assert "eod 2025-01-04: catching up 2025-01-03..2025-01-03 (the paper book last ran 2025-01-02)" in capsys.readouterr().out
    runs.clear()
    assert main(["eod", "--date", "2025-01-03", "--source", "simulated"]) == 0
    assert runs == [("eod_job", date(2025, 1, 3), date(2025, 1, 3))]
    assert "catching up" not in capsys.readouterr().out


def test_the_command_line_validates_with_pandera_without_importing_hypothesis(tmp_path):
    """The runtime install has no hypothesis; the test install has it, and pandera imports it (with
    its plugins, ~0.75 s) for data synthesis the CLI never uses. `python -m dvol_pipeline` and the
    `dvol-pipeline` script behave as the runtime install does, whichever install runs them: the
    entry point hides hypothesis, the project's definitions import, and a pandera contract still
    rejects a bad row."""
    import os
    import subprocess
    import sys
    import tomllib
    from pathlib import Path

    script = """
import sys
sys.argv = ["dvol-pipeline", "home"]
from dvol_pipeline.__main__ import run
assert run() == 0
import dvol_pipeline.definitions
import pandera.polars as pa, polars as pl
schema = pa.DataFrameSchema({"a": pa.Column(int, pa.Check.ge(0))})
schema.validate(pl.DataFrame({"a": [1]}))
try:
    schema.validate(pl.DataFrame({"a": [-1]}))
    print("not rejected")
except pa.errors.SchemaError:
    print("rejected")
print(sorted(m for m, mod in sys.modules.items() if m.split(".")[0] == "hypothesis" and mod is not None))
"""
    env = {**os.environ, "DVOL_LAKE": str(tmp_path / "lake"), "DVOL_PROGRESS": "0"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-2:] == ["rejected", "[]"], done.stdout
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["dvol-pipeline"] == "dvol_pipeline.__main__:run"


def test_materialize_gives_its_days_to_the_unpartitioned_lanes_that_work_over_a_range(lake, capsys):
    """The universe's and the micro lane's assets are not partitioned: they take their days as op
    config. `materialize --start --end` gave them none, so the simulated universe crashed inside numpy
    and the simulated order book asked for the --start and --end it had been given. Expected: the
    lake's universe bars cover exactly the days the user named."""
    import polars as pl

    from dvol_pipeline.cli import range_ops
    from dvol_pipeline.definitions import defs
    from dvol_pipeline.resources import MarketResource

    assert main(["materialize", "--select", "key:raw_universe_daily or key:universe_symbols",
                 "--start", "2024-01-01", "--end", "2024-12-31"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^raw_universe_daily: [\d,]+ rows, \d+ quarantined$", out, re.M), out
    bars = pl.read_parquet(lake / "raw" / "raw_universe_daily", hive_partitioning=True)
    assert (bars["date"].min(), bars["date"].max()) == (date(2024, 1, 1), date(2024, 12, 31))

    assets = list(defs.assets)
    micro = {k for a in assets for k, g in a.group_names_by_key.items() if g == "micro"}
    day = date(2024, 12, 31)
    ops = range_ops(assets, micro, day, day, MarketResource(source="simulated", coins=["BTC"]))
    span = {"start": "2024-12-31", "end": "2024-12-31"}
    assert ops == {"raw_ticks": {"config": {**span, "coins": ["BTC", "SOL"]}}, "micro_books": {"config": span},
                   "micro_features": {"config": span}, "micro_research": {"config": span},
                   "micro_eod": {"config": span}}
    daily = {k for a in assets for k, g in a.group_names_by_key.items() if g == "raw"}
    assert range_ops(assets, daily, day, day, MarketResource()) == {}  # partitioned: the range tags reach them
    assert range_ops(assets, micro, "2024-11", "2024-12", MarketResource()) == {}  # fold keys are not days
