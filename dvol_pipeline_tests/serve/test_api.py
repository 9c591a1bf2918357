"""The signal API over real HTTP: uvicorn on a free 127.0.0.1 port, a small lake in a temp folder."""

from __future__ import annotations

import threading
from datetime import timedelta

import httpx
import pytest

from dvol_pipeline.cli import main
from dvol_pipeline.lake.catalog import PART_FILE, report_file, table
from dvol_pipeline.lake.parquet import write_partitions
from dvol_pipeline.serve.app import AGE_HEADER, STALE_HEADER, create_app
from dvol_pipeline_tests.serve import desk_lake
from dvol_pipeline_tests.serve.desk_lake import END, HOLE, SIGNAL_DAYS, START, SURFACE_DAYS, expiry_code
from dvol_pipeline_tests.serve.live_server import live_server


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return desk_lake.build(tmp_path_factory.mktemp("desk") / "lake")


@pytest.fixture(scope="module")
def clock():
    return {"today": END + timedelta(days=1)}


@pytest.fixture(scope="module")
def api(root, clock):
    app = create_app(root, max_age_days=2, today=lambda: clock["today"])
    with live_server(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield client


@pytest.fixture
def fresh(clock):
    clock["today"] = END + timedelta(days=1)
    yield
    clock["today"] = END + timedelta(days=1)


def test_signal_is_the_coins_newest_with_the_documented_fields(api, fresh):
    r = api.get("/signal/BTC")
    assert r.status_code == 200
    body = r.json()
    assert set(body) >= {"asset", "as_of", "yhat_1d", "yhat_7d", "yhat_14d", "direction", "confidence",
                         "primary_horizon", "tau", "model_version", "data_fresh_as_of", "stale"}
    newest = (END - START).days
    assert body["asset"] == "BTC" and body["as_of"] == END.isoformat()
    assert body["yhat_1d"] == pytest.approx(newest / 100) and body["primary_horizon"] == 7
    assert body["data_fresh_as_of"] == END.isoformat()  # newest raw_dvol partition
    assert body["stale"] is False and STALE_HEADER not in r.headers and r.headers[AGE_HEADER] == "1"


def test_a_past_day_and_a_lower_case_coin(api, fresh):
    body = api.get("/signal/eth", params={"date": START.isoformat()}).json()
    assert body["asset"] == "ETH" and body["as_of"] == START.isoformat()
    assert body["yhat_14d"] is None  # NaN in the lake (no model for that horizon) is JSON null


def test_an_unknown_coin_is_a_404_naming_the_coins_held(api):
    r = api.get("/signal/XRP")
    assert r.status_code == 404
    assert "XRP" in r.json()["detail"] and "BTC, ETH" in r.json()["detail"]


def test_a_day_without_a_signal_is_a_404_naming_the_nearest_days(api, root):
    r = api.get("/signal/BTC", params={"date": HOLE.isoformat()})
    assert r.status_code == 404
    detail = r.json()["detail"]
    assert f"{HOLE - timedelta(days=1)} (before)" in detail and f"{HOLE + timedelta(days=1)} (after)" in detail
    # a folder whose file was never renamed in (a killed run) is not offered as a nearest day
    folder = table("signals").partition_dir(root, "BTC", HOLE + timedelta(days=1))
    (folder / PART_FILE).rename(folder / ".killed.tmp")
    try:
        detail = api.get("/signal/BTC", params={"date": HOLE.isoformat()}).json()["detail"]
        assert f"{HOLE + timedelta(days=2)} (after)" in detail
    finally:
        (folder / ".killed.tmp").rename(folder / PART_FILE)
    early = api.get("/signal/BTC", params={"date": "2020-01-01"}).json()["detail"]
    assert f"{START} (after)" in early and "(before)" not in early
    assert api.get("/signals", params={"date": HOLE.isoformat()}).status_code == 404


def test_a_stale_signal_is_served_flagged_in_body_and_header(api, clock):
    clock["today"] = END + timedelta(days=10)
    r = api.get("/signal/BTC")
    assert r.status_code == 200 and r.json()["stale"] is True and r.json()["age_days"] == 10
    assert r.headers[STALE_HEADER] == "true"
    assert api.get("/signals").headers[STALE_HEADER] == "true"
    # a past day asked for explicitly is history, not a stale answer
    assert api.get("/signal/BTC", params={"date": END.isoformat()}).json()["stale"] is False
    clock["today"] = END + timedelta(days=1)


@pytest.mark.parametrize(("path", "params", "field"), [
    ("/signal/BTC", {"date": "2024-13-01"}, "date"),
    ("/signal/BTC", {"date": "yesterday"}, "date"),
    ("/signal/BT$C", {}, "asset"),
    ("/signals", {"date": "31/12/2024"}, "date"),
    ("/history/BTC", {"start": "2024-12-20", "end": "2024-12-01"}, "end"),
    ("/dvol/BTC", {"horizon": "3"}, "horizon"),
    ("/dvol/BTC", {"horizon": "week"}, "horizon"),
    ("/greeks/not-an-option", {}, "instrument"),
    ("/surface/BTC", {"date": "2024-02-30"}, "date"),
])
def test_a_malformed_parameter_is_a_422_naming_the_field(api, path, params, field):
    r = api.get(path, params=params)
    assert r.status_code == 422, r.text
    assert any(e["loc"][-1] == field for e in r.json()["detail"])


def test_signals_lists_every_coin_on_a_day(api, fresh):
    body = api.get("/signals", params={"date": START.isoformat()}).json()
    assert [s["asset"] for s in body["signals"]] == ["BTC", "ETH"]
    assert {s["as_of"] for s in body["signals"]} == {START.isoformat()}


def test_history_is_the_signal_series_over_the_range(api):
    body = api.get("/history/BTC", params={"start": "2024-12-05", "end": "2024-12-15"}).json()
    dates = [s["date"] for s in body["signals"]]
    assert dates == sorted(dates) and dates[0] == "2024-12-05" and dates[-1] == "2024-12-15"
    assert HOLE.isoformat() not in dates and body["rows"] == 10
    assert len(api.get("/history/ETH").json()["signals"]) == len(SIGNAL_DAYS)
    r = api.get("/history/BTC", params={"start": "2023-01-01", "end": "2023-02-01"})
    assert r.status_code == 404 and f"{START}..{END}" in r.json()["detail"]


def test_surface_has_the_grid_term_structure_smiles_and_skew(api):
    body = api.get("/surface/BTC").json()
    assert body["date"] == END.isoformat() and body["dates"] == [d.isoformat() for d in SURFACE_DAYS]
    grid = body["grid"]
    assert grid["tenors"] == [7, 30, 60, 90] and grid["deltas"] == ["10P", "25P", "ATM", "25C", "10C"]
    assert grid["iv"][1][2] == pytest.approx(55.0 + 0.30)  # 30d ATM as written
    assert body["term_structure"]["constant_maturity"]["atm_iv"] == pytest.approx([55.07, 55.3, 55.6, 55.9])
    assert len(body["term_structure"]["listed"]["days_to_expiry"]) == 3
    smiles = body["smiles"]
    assert len(smiles["expiries"]) == 3 and all(len(e["iv"]) == len(smiles["k"]) for e in smiles["expiries"])
    centre = len(smiles["k"]) // 2  # SVI at k=0 with m=0: sqrt((a + b sigma) / T), in vol points
    assert all(e["iv"][centre] > 40 for e in smiles["expiries"])
    assert body["rr25_30d"] == pytest.approx(-1.5) and body["bf25_30d"] == pytest.approx(1.0)
    older = api.get("/surface/BTC", params={"date": SURFACE_DAYS[0].isoformat()}).json()
    assert older["date"] == SURFACE_DAYS[0].isoformat()
    r = api.get("/surface/BTC", params={"date": START.isoformat()})
    assert r.status_code == 404 and f"{SURFACE_DAYS[0]} (after)" in r.json()["detail"]


def test_greeks_of_one_instrument_by_its_deribit_name(api):
    expiry = desk_lake._utc(END + timedelta(days=10), 8)
    name = f"BTC-{expiry_code(expiry)}-60000-P"
    body = api.get(f"/greeks/{name}").json()
    assert body["instrument"] == name and body["option_type"] == "P" and body["delta"] == pytest.approx(-0.5)
    assert body["date"] == END.isoformat()
    r = api.get(f"/greeks/BTC-{expiry_code(expiry)}-61000-P")
    assert r.status_code == 404 and expiry_code(expiry) in r.json()["detail"]
    assert api.get("/greeks/SOL-27DEC24-100-C").status_code == 404


def test_exposures_equity_and_an_unmaterialized_universe_lane(api):
    exp = api.get("/exposures/ETH").json()
    assert [e["net_gamma_usd"] for e in exp["expiries"]] == [1000.0, 2000.0, 3000.0]
    eq = api.get("/equity/BTC").json()
    assert (eq["strategy"], eq["family"]) == ("dvol_futures_7d", "har")  # the primary horizon's promoted strategy
    assert eq["equity_usd"][-1] == pytest.approx(10.0 * len(desk_lake.DAYS))
    assert api.get("/equity/BTC", params={"strategy": "nope"}).status_code == 404
    r = api.get("/vol/SOL")
    assert r.status_code == 404 and "universe" in r.json()["detail"]
    assert api.get("/vol").json()["available"] is False


def test_dvol_series_with_the_promoted_models_forecasts(api):
    body = api.get("/dvol/BTC").json()
    assert len(body["date"]) == len(desk_lake.DAYS) and body["family"] == "har"
    # the 7-day forecast made on day D is plotted at D + 7, at DVOL(D) + y_hat
    assert body["forecast"]["date"][0] == (START + timedelta(days=7)).isoformat()
    assert body["forecast"]["dvol"][0] == pytest.approx(body["dvol"][0] + 0.5)
    assert [p["horizon"] for p in body["latest_signal"]["points"]] == [1, 7, 14]


def test_health_reports_freshness_per_table_and_links(api, root, fresh):
    sheet = report_file(root, "latest", "BTC")
    sheet.parent.mkdir(parents=True, exist_ok=True)
    sheet.write_text("<html>tear sheet</html>")
    body = api.get("/health").json()
    assert body["lake_found"] is True
    by = {(t["table"], t.get("asset")): t for t in body["tables"]}
    assert by[("signals", "BTC")]["newest"] == END.isoformat() and by[("signals", "BTC")]["stale"] is False
    assert by[("raw_ohlcv", None)]["stale"] is True and "raw_ohlcv" in body["missing_tables"]
    assert body["stale_tables"] == [] and body["status"] == "ok"
    assert by[("backtest_daily", None)]["written_at"] is not None
    assert body["dagster"]["available"] is False  # no Dagster storage in this lake: said, not guessed
    assert body["tear_sheets"] == [{"asset": "BTC", "url": "/reports/latest/tearsheet_BTC.html",
                                    "written_at": body["tear_sheets"][0]["written_at"]}]
    assert api.get("/reports/latest/tearsheet_BTC.html").text == "<html>tear sheet</html>"
    assert api.get("/reports/../signals/signals").status_code == 404
    assert api.get("/reports/latest/nothing.html").status_code == 404


def test_the_openapi_page_documents_every_endpoint(api):
    paths = api.get("/openapi.json").json()["paths"]
    for p in ("/signal/{asset}", "/signals", "/history/{asset}", "/surface/{asset}", "/greeks/{instrument}",
              "/vol/{symbol}", "/universe", "/universe/{symbol}", "/health"):
        assert p in paths
    assert "yhat_7d" in str(api.get("/openapi.json").json()["components"]["schemas"]["Signal"])


@pytest.mark.parametrize("path", [
    "/signal/0", "/signal/%20", "/signals?date=0001-01-01", "/history/BTC?start=9999-12-31", "/surface/ETH?date=1970-01-01",
    "/greeks/BTC-99XYZ99-1-C", "/greeks/BTC-1JAN25-0-C", "/exposures/XRP", "/equity/XRP", "/equity/BTC?family=zzz",
    "/vol/..", "/universe", "/universe/SOL", "/universe?horizon=week", "/universe/..",
    "/dvol/XRP", "/history/BTC?end=2024-11-01", "/reports/%2e%2e/%2e%2e/etc/passwd", "/signal/BTC?date=",
])
def test_odd_input_is_never_a_500(api, path):
    assert api.get(path).status_code in (200, 404, 422)


def test_every_response_during_a_rewrite_is_wholly_the_old_or_the_new_day(api, root):
    """The end-of-day run replaces the day's partitions while the desk polls; no torn answer."""
    stop, errors = threading.Event(), []

    def rewrite():
        v = 0
        while not stop.is_set():
            v = 1 - v
            write_partitions(root, "signals", desk_lake.signal_rows([END], ["BTC"], version=v))
            write_partitions(root, "surface_grid", desk_lake.surface_rows([END], ["BTC"], version=v)["surface_grid"])

    writer = threading.Thread(target=rewrite)
    writer.start()
    seen = set()
    try:
        for _ in range(150):
            s = api.get("/signal/BTC")
            g = api.get("/surface/BTC")
            if s.status_code != 200 or g.status_code != 200:
                errors.append((s.status_code, g.status_code))
                continue
            body = s.json()
            version = int(body["model_version"][1])
            seen.add(version)
            newest = (END - START).days
            assert body["yhat_1d"] == body["yhat_7d"] == body["yhat_14d"] == pytest.approx(version + newest / 100)
            grid = g.json()["grid"]
            atm = {round(grid["iv"][i][j] - abs(j - 2) - t / 100, 6) for i, t in enumerate(grid["tenors"])
                   for j in range(5)}
            assert len(atm) == 1 and atm <= {55.0, 56.0}  # every cell from one version of the file
    finally:
        stop.set()
        writer.join()
        write_partitions(root, "signals", desk_lake.signal_rows([END], ["BTC"], version=0))
        write_partitions(root, "surface_grid", desk_lake.surface_rows([END], ["BTC"], version=0)["surface_grid"])
    assert errors == [] and seen == {0, 1}


def test_serve_refuses_a_lake_that_is_not_there(tmp_path, capsys):
    assert main(["serve", "--lake", str(tmp_path / "nowhere"), "--port", "0"]) == 2
    assert "no lake at" in capsys.readouterr().err
