"""The signal API and desk dashboard: FastAPI over the lake's Parquet, read-only.

`create_app(lake_root)` builds the app; `run.py` serves it with uvicorn. It never opens
`warehouse.duckdb` (the pipeline renames a new warehouse into place and must never wait for
a reader): every answer comes from partition files, each read as one version (snapshot.py).
Errors a user can cause are 404 (naming what exists) or 422 (naming the field), never 500.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from fastapi import FastAPI, Path as PathParam, Query, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from dvol_pipeline.lake.catalog import report_file
from dvol_pipeline.serve import views
from dvol_pipeline.serve.health import health, tear_sheets
from dvol_pipeline.serve.snapshot import SnapshotReader
from dvol_pipeline.serve.views import INSTRUMENT_HELP, BadParam, NotFound
from dvol_pipeline.settings import FRESHNESS_MAX_AGE_DAYS, dagster_ui_url

STATIC = Path(__file__).parent / "static"
STALE_HEADER = "X-Signal-Stale"
AGE_HEADER = "X-Signal-Age-Days"
ASSET = PathParam(pattern=r"^[A-Za-z0-9]{1,16}$", description="coin, e.g. BTC", examples=["BTC"])
DAY = Query(None, description="UTC day (YYYY-MM-DD); default: the newest", examples=["2024-12-31"])


class Signal(BaseModel):
    """One coin's end-of-day signal (see the catalog's `signals` columns)."""

    asset: str = Field(examples=["BTC"])
    as_of: date = Field(description="UTC day whose close the signal was computed at")
    yhat_1d: float | None = Field(description="forecast DVOL change over 1 day (vol points)")
    yhat_7d: float | None = Field(description="forecast DVOL change over 7 days (vol points)")
    yhat_14d: float | None = Field(description="forecast DVOL change over 14 days (vol points)")
    direction: int = Field(description="+1 long DVOL, -1 short, 0 flat")
    confidence: float = Field(description="past hit rate of this model's signals beyond tau (0 when flat)")
    primary_horizon: int = Field(description="the horizon that sets the direction (days)")
    tau: float | None = Field(description="the primary horizon's threshold (vol points)")
    model_version: str = Field(description="family@fold per horizon")
    data_fresh_as_of: date | None = Field(description="newest raw DVOL partition of the coin")
    age_days: int = Field(description="days between as_of and today (UTC)")
    stale: bool = Field(description=f"newest signal older than the freshness setting (also the {STALE_HEADER} header)")


def _range(start: date | None, end: date | None) -> None:
    if start and end and end < start:
        raise BadParam("query", "end", f"end {end} is before start {start}")


def create_app(lake_root: Path | str, max_age_days: int = FRESHNESS_MAX_AGE_DAYS,
               today: Callable[[], date] | None = None) -> FastAPI:
    """The app over one lake. `today` (default: the UTC date now) judges staleness; tests pin it."""
    root = Path(lake_root)
    reader = SnapshotReader(root)
    clock = today or (lambda: datetime.now(UTC).date())
    app = FastAPI(title="dvol_pipeline signals", version="1",
                  description="End-of-day DVOL signals, surfaces, greeks and pipeline health, read from the lake "
                              f"at `{root}`. The dashboard is at `/`.")
    app.state.reader = reader

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, err: NotFound):
        return JSONResponse({"detail": str(err)}, status_code=404)

    @app.exception_handler(BadParam)
    async def _bad(_: Request, err: BadParam):
        return JSONResponse({"detail": [{"loc": [err.where, err.field], "msg": err.message, "type": "value_error"}]},
                            status_code=422)

    @app.get("/signal/{asset}", response_model=Signal, tags=["signals"],
             summary="A coin's newest signal, or that of the `date` asked",
             responses={404: {"description": "unknown coin (names the known ones) or no signal that day "
                                             "(names the nearest days)"}})
    async def get_signal(asset: str = ASSET, date: date | None = DAY):
        # on the event loop, not the thread pool: a cached read is an open and an fstat, a new file
        # one read; the hand-off to a worker thread cost more than that, and skipping it lowered the
        # tail latency under concurrent clients (test_load.py; docs/benchmarks.md)
        body = views.signal(reader, asset, date, clock(), max_age_days)
        headers = {AGE_HEADER: str(body["age_days"])}
        if body["stale"]:
            headers[STALE_HEADER] = "true"
        return JSONResponse(body, headers=headers)

    @app.get("/signals", tags=["signals"], summary="Every coin's signal on the `date` asked (default: each coin's newest)")
    async def get_signals(date: date | None = DAY):  # one small file per coin: see get_signal
        body = views.signals(reader, date, clock(), max_age_days)
        stale = any(s["stale"] for s in body["signals"])
        return JSONResponse(body, headers={STALE_HEADER: "true"} if stale else {})

    @app.get("/history/{asset}", tags=["signals"], summary="A coin's signal series over [start, end]")
    def get_history(asset: str = ASSET, start: date | None = Query(None), end: date | None = Query(None)):
        _range(start, end)
        return JSONResponse(views.history(reader, asset, start, end))

    @app.get("/dvol/{asset}", tags=["signals"],
             summary="DVOL closes, the promoted model's out-of-sample forecasts at `horizon`, the newest signal")
    def get_dvol(asset: str = ASSET, start: date | None = Query(None), end: date | None = Query(None),
                 horizon: int = Query(7, description="1, 7 or 14")):
        _range(start, end)
        if horizon not in views.HORIZONS:
            raise BadParam("query", "horizon", f"horizon {horizon} is not one of {views.HORIZONS}")
        return JSONResponse(views.dvol(reader, asset, start, end, horizon))

    @app.get("/surface/{asset}", tags=["surface"],
             summary="The day's SVI params, constant-maturity grid, ATM term structure, smiles, 25-delta RR/BF")
    def get_surface(asset: str = ASSET, date: date | None = DAY):
        return JSONResponse(views.surface(reader, asset, date))

    @app.get("/greeks/{instrument}", tags=["surface"],
             summary=f"One option's Black-76 greeks and OI exposures; instrument: {INSTRUMENT_HELP}")
    def get_greeks(instrument: str = PathParam(max_length=40, examples=["BTC-27DEC24-60000-C"]),
                   date: date | None = DAY):
        return JSONResponse(views.greeks(reader, instrument, date))

    @app.get("/exposures/{asset}", tags=["surface"], summary="Open-interest greek exposures by expiry")
    def get_exposures(asset: str = ASSET, date: date | None = DAY):
        return JSONResponse(views.exposures(reader, asset, date))

    @app.get("/equity/{asset}", tags=["strategy"],
             summary="A strategy's equity and drawdown (default: the primary horizon's promoted futures strategy)")
    def get_equity(asset: str = ASSET, strategy: str | None = Query(None, max_length=80),
                   family: str | None = Query(None, max_length=80)):
        return JSONResponse(views.equity(reader, asset, strategy, family))

    @app.get("/universe", tags=["universe"],
             summary="One row per coin: the chosen family's newest forecast, the predicted regime, realised vs "
                     "forecast")
    def get_universe_desk(horizon: int | None = Query(None, description="7 or 14 (default: the shortest held)")):
        return JSONResponse(views.universe_desk(reader, horizon))

    @app.get("/universe/{symbol}", tags=["universe"],
             summary="One coin's forecast (the desk's chosen family) and realised vol over time")
    def get_universe_chart(symbol: str = PathParam(pattern=r"^[A-Za-z0-9._-]{1,32}$"),
                           horizon: int | None = Query(None, description="7 or 14 (default: the shortest held)")):
        return JSONResponse(views.universe_chart(reader, symbol, horizon))

    @app.get("/vol/{symbol}", tags=["universe"],
             summary="The coin-universe lane's newest forecast and regime probabilities (404 until it exists)")
    def get_vol(symbol: str = PathParam(pattern=r"^[A-Za-z0-9._-]{1,32}$")):
        return JSONResponse(views.universe(reader, symbol))

    @app.get("/vol", tags=["universe"], summary="Whether the coin-universe lane exists, and its symbols")
    def get_vol_index():
        return JSONResponse(views.universe_status(reader))

    @app.get("/meta", tags=["health"], summary="Coins held, links (Dagster UI, tear sheets): what the dashboard starts from")
    def get_meta():
        coins = sorted(set(reader.coins(views.SIGNALS)) | set(reader.coins("features_daily"))
                       | set(reader.coins("surface_params")))
        return JSONResponse({"lake": str(root), "coins": coins, "signal_coins": reader.coins(views.SIGNALS),
                             "dagster_ui": dagster_ui_url(), "tear_sheets": tear_sheets(root, coins)})

    @app.get("/health", tags=["health"], summary="Lake found, newest partition per table, staleness, runs, checks")
    def get_health():
        return JSONResponse(health(root, clock(), max_age_days, reader.coins(views.SIGNALS)))

    reports = report_file(root, "latest", "X").parent.parent

    @app.get("/reports/{path:path}", tags=["health"], summary="Tear sheets and report files, read-only")
    def get_report(path: str):
        target = (reports / path).resolve()
        if not target.is_relative_to(reports.resolve()) or not target.is_file():
            raise NotFound(f"no report file {path!r} under {reports}; /health lists the tear sheets")
        return FileResponse(target)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html")

    @app.get("/dashboard", include_in_schema=False)
    def dashboard():
        return RedirectResponse("/")

    return app
