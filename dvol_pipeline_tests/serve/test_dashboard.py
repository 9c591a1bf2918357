"""The dashboard in a real headless browser (Debian's chromium through chromedriver, `make browser`).

Each page must load with no console error, draw charts that hold data points (the page
counts them in `window.dvolDash.points`), and the surface's date picker must redraw the
surface for the day picked. A screenshot of every page lands in the test's temp folder.
"""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest

from dvol_pipeline.lake.catalog import report_file
from dvol_pipeline.serve.app import create_app
from dvol_pipeline_tests.serve import desk_lake
from dvol_pipeline_tests.serve.desk_lake import END, SURFACE_DAYS
from dvol_pipeline_tests.serve.live_server import live_server

webdriver = pytest.importorskip("selenium.webdriver")
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="chromium/chromedriver missing: run `make browser`")]

PAGES = {
    "signals": ["chart-history"],
    "dvol": ["chart-dvol"],
    "surface": ["heatmap", "chart-term", "chart-smiles"],
    "greeks": ["chart-exposures"],
    "strategy": ["chart-equity", "chart-drawdown"],
    "universe": [],
    "health": [],
}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = desk_lake.build(tmp_path_factory.mktemp("dash") / "lake")
    sheet = report_file(root, "latest", "BTC")
    sheet.parent.mkdir(parents=True)
    sheet.write_text("<html><body>tear sheet</body></html>")
    with live_server(create_app(root, today=lambda: END + timedelta(days=1))) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _wait(driver, script: str, timeout: float = 20.0):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: d.execute_script(script))


def _console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_every_page_loads_with_data_and_no_console_error(site, browser, tmp_path):
    browser.get(site + "/")
    _wait(browser, "return window.dvolDash && window.dvolDash.initialised && window.dvolDash.ready.signals")
    for page, charts in PAGES.items():
        browser.get(f"{site}/#{page}")
        _wait(browser, f"return window.dvolDash.ready['{page}'] === true")
        assert browser.execute_script("return window.dvolDash.errors") == [], page
        points = browser.execute_script("return window.dvolDash.points")
        for chart in charts:
            assert points.get(chart, 0) > 0, f"{page}: chart {chart} has no data points"
        browser.save_screenshot(str(tmp_path / f"{page}.png"))
        assert (tmp_path / f"{page}.png").stat().st_size > 5_000
        assert _console_errors(browser) == [], page
    browser.get(f"{site}/#universe")
    _wait(browser, "return window.dvolDash.ready.universe === true")
    assert "no rows yet" in browser.execute_script("return document.getElementById('universe-msg').textContent")
    browser.get(f"{site}/#health")
    _wait(browser, "return window.dvolDash.ready.health === true")
    rows = browser.execute_script("return document.querySelectorAll('#health-tables tr').length")
    assert rows > 10
    links = browser.execute_script("return [...document.querySelectorAll('header a')].map(a => a.href)")
    assert any(link.endswith("/reports/latest/tearsheet_BTC.html") for link in links)
    assert "http://127.0.0.1:3000/" in links  # the Dagster UI


def test_the_date_picker_changes_the_surface(site, browser, tmp_path):
    browser.get(f"{site}/#surface")
    browser.refresh()
    _wait(browser, "return window.dvolDash.ready && window.dvolDash.ready.surface === true")
    cell = "return document.querySelector('#heatmap rect title').textContent"
    before = browser.execute_script(cell)
    assert browser.execute_script("return window.dvolDash.surfaceDate") == END.isoformat()
    day = SURFACE_DAYS[0].isoformat()
    browser.execute_script(
        "const p = document.getElementById('surface-date'); p.value = arguments[0];"
        "p.dispatchEvent(new Event('change'));", day)
    _wait(browser, f"return window.dvolDash.surfaceDate === '{day}' && window.dvolDash.ready.surface === true")
    after = browser.execute_script(cell)
    assert before != after  # the day's grid, not the newest one (10P 7d: 2 vol points lower)
    browser.save_screenshot(str(tmp_path / "surface_picked.png"))
    # a day without a surface is answered on the page, without a failing request
    browser.execute_script(
        "const p = document.getElementById('surface-date'); p.value = '2024-06-01';"
        "p.dispatchEvent(new Event('change'));")
    msg = browser.execute_script("return document.getElementById('surface-msg').textContent")
    assert "no surface on 2024-06-01" in msg and SURFACE_DAYS[0].isoformat() in msg
    assert _console_errors(browser) == []
