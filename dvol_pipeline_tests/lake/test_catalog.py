"""The table catalog: one entry per lake table, the only place paths come from, contracts on write."""

import ast
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from dvol_pipeline.contracts.derived import DerivedContractError
from dvol_pipeline.contracts.tables import RAW_TABLES
from dvol_pipeline.lake.catalog import LANES, TABLES, table
from dvol_pipeline.lake.parquet import read_table, write_fold, write_partitions, write_single

PACKAGE = Path(__file__).resolve().parents[2] / "dvol_pipeline"
LAYOUTS = PACKAGE / "lake" / "tables" / "layouts.py"
LAYOUT_CONSTANTS = {"ASSET_DATE", "FOLD", "SINGLE", "SYMBOL", "VENUE_SYMBOL_DATE"}
DAY = date(2024, 3, 1)


def test_every_raw_table_and_each_derived_one_has_an_entry():
    assert set(RAW_TABLES) <= set(TABLES)
    for name in ("features_daily", "surface_params", "chain_greeks", "oos_predictions", "forecast_metrics",
                 "backtest_daily", "model_promotion", "signals"):
        assert table(name).doc and table(name).columns
    with pytest.raises(KeyError, match="unknown lake table 'nope'"):
        table("nope")


def test_each_table_is_declared_once_in_its_lane_and_says_so():
    assert sorted(LANES) == ["core", "dvol", "micro", "options", "universe"]
    assert sorted(t.name for lane in LANES.values() for t in lane) == sorted(TABLES)
    assert all(t.lane == lane for lane, tables in LANES.items() for t in tables)
    lanes = {name: table(name).lane for name in ("raw_dvol", "raw_option_chain", "features_daily", "signals",
                                                  "surface_params", "ivrank_trades", "raw_universe_daily",
                                                  "raw_book_deltas", "micro_bars")}
    assert lanes == {"raw_dvol": "core", "raw_option_chain": "core", "features_daily": "dvol", "signals": "dvol",
                     "surface_params": "options", "ivrank_trades": "options", "raw_universe_daily": "universe",
                     "raw_book_deltas": "micro", "micro_bars": "micro"}
    # tick data is in nanoseconds (events a few ns apart stay apart); every other table keeps microseconds
    assert {t.name for t in TABLES.values() if t.time_unit == "ns"} == {t.name for t in LANES["micro"]} - {"micro_daily"}
    assert {t.time_unit for t in TABLES.values() if t.lane != "micro"} == {"us"}


def test_paths_follow_the_layout(tmp_path):
    assert table("raw_dvol").partition_file(tmp_path, "BTC", DAY) == (
        tmp_path / "raw" / "raw_dvol" / "asset=BTC" / "date=2024-03-01" / "part-0.parquet")
    assert table("oos_predictions").fold_file(tmp_path, "2024-03") == (
        tmp_path / "predictions" / "oos_predictions" / "fold=2024-03" / "part-0.parquet")
    assert table("thresholds").file(tmp_path) == tmp_path / "backtest" / "thresholds" / "part-0.parquet"
    with pytest.raises(ValueError, match="layout 'single'"):
        table("thresholds").partition_file(tmp_path, "BTC", DAY)


def _signals(direction=1):
    return pl.DataFrame({
        "date": [DAY], "asset": ["BTC"], "yhat_1d": [0.1], "yhat_7d": [1.2], "yhat_14d": [2.0],
        "direction": pl.Series([direction], dtype=pl.Int8), "confidence": [0.6],
        "primary_horizon": pl.Series([7], dtype=pl.Int32), "tau": [1.0], "model_version": ["7d=har@2024-03"],
        "family": ["har"],
    })


def test_a_derived_frame_that_breaks_its_contract_is_refused_and_the_old_partition_stays(tmp_path):
    write_partitions(tmp_path, "signals", _signals())
    target = table("signals").partition_file(tmp_path, "BTC", DAY)
    before = target.read_bytes()
    bad = _signals(-1).with_columns(pl.col("direction").cast(pl.Float64))  # wrong dtype
    with pytest.raises(DerivedContractError, match=r"signals: refusing to write 1 rows: column direction"):
        write_partitions(tmp_path, "signals", bad)
    duplicated = pl.concat([_signals(-1), _signals(-1)])
    with pytest.raises(DerivedContractError, match="duplicate key"):
        write_partitions(tmp_path, "signals", duplicated)
    assert target.read_bytes() == before
    assert read_table(tmp_path, "signals")["direction"].to_list() == [1]


def test_fold_and_single_tables_are_checked_too(tmp_path):
    with pytest.raises(DerivedContractError, match="oos_predictions.*missing column y_hat"):
        write_fold(tmp_path, "oos_predictions", "2024-03", pl.DataFrame({"date": [DAY], "asset": ["BTC"]}))
    with pytest.raises(DerivedContractError, match="model_promotion"):
        write_single(tmp_path, "model_promotion", pl.DataFrame({"asset": ["BTC"]}))
    assert not (tmp_path / "predictions").exists() and not (tmp_path / "backtest").exists()


def _string_constants(path: Path) -> list[str]:
    """String literals of a module, docstrings and other bare-string statements left out."""
    tree = ast.parse(path.read_text())
    docs = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in docs]


def test_no_module_outside_the_layouts_spells_a_lake_folder():
    """Paths are built in one place: no other module joins 'asset=', 'date=', 'fold=', 'symbol=',
    'venue=' or 'part-'."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path == LAYOUTS:
            continue
        for text in _string_constants(path):
            if any(piece in text for piece in ("asset=", "date=", "fold=", "symbol=", "venue=", "part-")):
                offenders.append(f"{path.relative_to(PACKAGE)}: {text!r}")
    assert offenders == []


def test_no_module_outside_the_table_specs_branches_on_a_layout_name():
    """A layout's name is data (the UI and /health show it); what a table's layout can do, its spec
    says, so no module compares `.layout` with anything or names a layout constant."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.parent == LAYOUTS.parent:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and any(
                isinstance(side, ast.Attribute) and side.attr == "layout" for side in (node.left, *node.comparators)
            ):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} compares .layout")
            if isinstance(node, ast.Name) and node.id in LAYOUT_CONSTANTS:
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} names {node.id}")
    assert offenders == []
