"""The universe endpoints read the universe lane's tables through their specs, whatever the layout; the desk
view is one row per coin, its expected rows worked out by hand from a small lake."""

from datetime import date

import httpx
import polars as pl
import pytest

from dvol_pipeline.lake.catalog import table
from dvol_pipeline.lake.parquet import write_single
from dvol_pipeline.quant.universe import desk
from dvol_pipeline.serve import views
from dvol_pipeline.serve.app import create_app
from dvol_pipeline.serve.snapshot import SnapshotReader
from dvol_pipeline_tests.serve.live_server import live_server


def test_the_universe_view_lists_symbols_and_serves_a_symbols_newest_rows(tmp_path):
    reader = SnapshotReader(tmp_path)
    assert views.universe_status(reader)["available"] is False
    path = table(views.UNIVERSE_TABLE).path(tmp_path)  # one file, one per coin or per day: the spec knows
    path.parent.mkdir(parents=True)
    pl.DataFrame({"date": [date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 2)], "symbol": ["SOL", "SOL", "ADA"],
                  "y_hat": [0.5, 0.6, 0.7]}).write_parquet(path)
    status = views.universe_status(reader)
    assert status["available"] and status["symbols"] == ["ADA", "SOL"]
    got = views.universe(reader, "sol")
    assert got["symbol"] == "SOL" and [r["y_hat"] for r in got["rows"]] == [0.6]
    with pytest.raises(views.NotFound, match="unknown symbol 'XRP'"):
        views.universe(reader, "xrp")


def _desk_lake(root):
    """Two coins, horizon 7, folds 2024-01..2024-03 (the newest), families har_pooled, lgbm and the classifier."""
    d1, d2 = date(2024, 3, 1), date(2024, 3, 2)
    rows = [  # (date, symbol, family, split, y, y_hat, class_hat, p_low, p_mid, p_high)
        (d1, "ADA", "har_pooled", "all", 0.8, 0.7, "mid", None, None, None),
        (d2, "ADA", "har_pooled", "all", None, 0.75, "high", None, None, None),
        (d1, "ADA", "lgbm", "all", 0.8, 0.9, "high", None, None, None),
        (d2, "ADA", "lgbm", "all", None, 0.95, "high", None, None, None),
        (d1, "ADA", "lgbm_class", "all", 0.8, None, "mid", 0.2, 0.5, 0.3),
        (d2, "ADA", "lgbm_class", "all", None, None, "high", 0.1, 0.2, 0.7),
        (d1, "SOL", "har_pooled", "all", 0.5, 0.6, "low", None, None, None),
        (d1, "SOL", "har_pooled", "held_out", 0.5, 9.9, "high", None, None, None),  # another split: never shown
    ]
    names = ["date", "symbol", "family", "split", "y", "y_hat", "class_hat", "p_low", "p_mid", "p_high"]
    preds = pl.DataFrame(rows, schema=names, orient="row").with_columns(
        pl.lit("rv").alias("target"), pl.lit(7, pl.Int32).alias("horizon"), pl.lit("2024-03").alias("fold"),
        pl.lit(None, pl.Utf8).alias("class"))
    write_single(root, "universe_predictions", preds)
    # past folds: har_pooled (0.5*10 + 0.4*30)/40 = 0.425 beats lgbm (0.3*10 + 0.6*30)/40 = 0.525; the newest
    # fold and the overall scope favour lgbm, and must not decide
    metrics = [("fold", "2024-01", "har_pooled", 0.5, 10), ("fold", "2024-01", "lgbm", 0.3, 10),
               ("fold", "2024-02", "har_pooled", 0.4, 30), ("fold", "2024-02", "lgbm", 0.6, 30),
               ("fold", "2024-03", "har_pooled", 0.9, 100), ("fold", "2024-03", "lgbm", 0.1, 100),
               ("fold", "2024-02", "lgbm_class", float("nan"), 30),
               ("overall", "ALL", "har_pooled", 0.6, 140), ("overall", "ALL", "lgbm", 0.2, 140)]
    m = pl.DataFrame(metrics, schema=["scope", "group", "family", "qlike", "n"], orient="row").with_columns(
        pl.lit("all").alias("split"), pl.lit(7, pl.Int32).alias("horizon"), pl.col("n").cast(pl.Int64),
        (pl.col("qlike") / 2).alias("rmse"))
    write_single(root, "universe_forecast_metrics", m)


def test_the_desk_view_has_one_row_per_coin_with_the_family_chosen_on_past_folds(tmp_path):
    _desk_lake(tmp_path)
    reader = SnapshotReader(tmp_path)
    got = views.universe_desk(reader)
    assert (got["horizon"], got["family"], got["horizons"]) == (7, "har_pooled", [7])
    assert "2 folds before 2024-03" in got["basis"]
    assert got["rows"] == [
        {"symbol": "ADA", "family": "har_pooled", "date": "2024-03-02", "forecast": 0.75, "regime": "high",
         "p_low": 0.1, "p_mid": 0.2, "p_high": 0.7, "regime_date": "2024-03-02",
         "realised_date": "2024-03-01", "realised": 0.8, "forecast_then": 0.7},
        {"symbol": "SOL", "family": "har_pooled", "date": "2024-03-01", "forecast": 0.6, "regime": None,
         "p_low": None, "p_mid": None, "p_high": None, "regime_date": None,
         "realised_date": "2024-03-01", "realised": 0.5, "forecast_then": 0.6},
    ]
    chart = views.universe_chart(reader, "ada")
    assert (chart["symbol"], chart["family"]) == ("ADA", "har_pooled")
    assert (chart["date"], chart["y"], chart["y_hat"]) == (["2024-03-01", "2024-03-02"], [0.8, None], [0.7, 0.75])
    with pytest.raises(views.BadParam, match="horizon 14"):
        views.universe_desk(reader, 14)
    with pytest.raises(views.NotFound, match="unknown symbol 'XRP'"):
        views.universe_chart(reader, "xrp")


def test_without_an_earlier_fold_the_overall_scope_chooses(tmp_path):
    metrics = pl.DataFrame({"scope": ["overall", "overall", "fold"], "group": ["ALL", "ALL", "2024-03"],
                            "family": ["har_pooled", "lgbm", "har_pooled"], "split": "all", "horizon": 7,
                            "qlike": [0.6, 0.2, 0.1], "rmse": [0.3, 0.1, 0.05], "n": [10, 10, 10]})
    family, basis = desk.choose_family(metrics, 7, "2024-03")
    assert family == "lgbm" and "overall" in basis
    assert desk.choose_family(metrics.head(0), 7, "2024-03")[0] is None


def test_the_desk_endpoints_without_the_lane_say_what_to_run(tmp_path):
    with pytest.raises(views.NotFound, match="no rows yet"):
        views.universe_desk(SnapshotReader(tmp_path))


def test_the_desk_endpoints_over_http(tmp_path):
    _desk_lake(tmp_path)
    with live_server(create_app(tmp_path)) as url, httpx.Client(base_url=url, timeout=10) as client:
        _ask(client)


def _ask(client) -> None:
    body = client.get("/universe").json()
    assert [r["symbol"] for r in body["rows"]] == ["ADA", "SOL"] and body["family"] == "har_pooled"
    r = client.get("/universe", params={"horizon": 14})
    assert r.status_code == 422 and "horizon 14" in r.text
    assert client.get("/universe/SOL").json()["y_hat"] == [0.6]
    r = client.get("/universe/XRP")
    assert r.status_code == 404 and "ADA, SOL" in r.json()["detail"]
