"""The dashboard in a real headless browser (Debian's chromium through chromedriver, `make browser`).

Each page must load with no console error, draw charts that hold data points (the page
counts them in `window.dvolDash.points`) and show a readable state: no `undefined`, `NaN`,
`null` or `[object Object]` in its text, no page error, no table row of dashes only. The
surface's date picker must redraw the surface for the day picked; the Universe page holds
one row per coin, sorts by a clicked column and draws a clicked coin's chart. A screenshot
of every page lands in the test's temp folder.
"""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest

from dvol_pipeline.lake.catalog import report_file
from dvol_pipeline.serve.app import create_app
from dvol_pipeline_tests.serve import desk_lake
from dvol_pipeline_tests.serve.desk_lake import END, SURFACE_DAYS, UNIVERSE_COINS
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
    "universe": ["chart-universe"],
    "health": [],
}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = desk_lake.build(tmp_path_factory.mktemp("dash") / "lake", universe=True)
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


# what the page shows, and the rows of its tables whose every cell is empty or a dash
READABLE = """
const sec = document.getElementById('page-' + arguments[0]);
const blank = (t) => ['', '–', '-', '—'].includes(t.trim());
const dashRows = [...sec.querySelectorAll('tr')].filter((tr) => tr.querySelector('td'))
  .filter((tr) => [...tr.querySelectorAll('td')].every((td) => blank(td.textContent)))
  .map((tr) => tr.outerHTML);
const err = sec.querySelector('.page-error');
return {text: sec.innerText, dashRows, error: err ? err.textContent : null};
"""


def _assert_readable(driver, page: str) -> None:
    got = driver.execute_script(READABLE, page)
    assert got["error"] is None, f"{page}: {got['error']}"
    for word in ("undefined", "NaN", "null", "[object"):
        assert word not in got["text"], f"{page} shows {word!r}: {got['text'][:500]}"
    assert got["dashRows"] == [], f"{page}: rows of dashes only: {got['dashRows'][:3]}"


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
        _assert_readable(browser, page)
        browser.save_screenshot(str(tmp_path / f"{page}.png"))
        assert (tmp_path / f"{page}.png").stat().st_size > 5_000
        assert _console_errors(browser) == [], page
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


def _universe_cells(driver) -> list[list[str]]:
    return driver.execute_script("return [...document.querySelectorAll('#universe-table tr[data-symbol]')]"
                                 ".map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent))")


def test_the_universe_page_is_one_sortable_row_per_coin_and_a_click_draws_its_chart(site, browser, tmp_path):
    browser.get(f"{site}/#universe")
    browser.refresh()
    _wait(browser, "return window.dvolDash.ready && window.dvolDash.ready.universe === true")
    cells = _universe_cells(browser)
    assert [r[0] for r in cells] == list(UNIVERSE_COINS)  # one row per coin, by symbol
    heads = browser.execute_script(
        "return [...document.querySelectorAll('#universe-table th')].map((th) => th.textContent)")
    forecast = next(i for i, h in enumerate(heads) if h.startswith("forecast vol"))
    assert all(r[forecast].endswith("%") for r in cells)  # a vol in percent on every row, never a dash
    assert all(r[heads.index("regime")].split()[0] in ("low", "mid", "high") for r in cells)
    _assert_readable(browser, "universe")
    msg = browser.execute_script("return document.getElementById('universe-msg').textContent")
    assert "har_pooled" in msg and "fold before 2024-12" in msg
    # sort by forecast vol: the highest first (XRP's forecast is the highest in the desk lake)
    browser.execute_script("document.querySelectorAll('#universe-table th')[arguments[0]].click()", forecast)
    _wait(browser, "return window.dvolDash.ready.universe === true && window.dvolDash.universeOrder[0] === 'XRP'")
    assert [r[0] for r in _universe_cells(browser)] == list(reversed(UNIVERSE_COINS))
    # a click on a coin draws its chart
    browser.execute_script("document.querySelector('#universe-table tr[data-symbol=\"SOL\"]').click()")
    _wait(browser, "return window.dvolDash.ready.universe === true && window.dvolDash.universeSymbol === 'SOL'")
    assert browser.execute_script("return window.dvolDash.points['chart-universe']") > 30
    title = browser.execute_script("return document.querySelector('#chart-universe .u-title').textContent")
    assert title.startswith("SOL:")
    assert browser.execute_script("return document.querySelector('#universe-table tr.picked').dataset.symbol") == "SOL"
    browser.save_screenshot(str(tmp_path / "universe_sol.png"))
    # the horizon picker: the 14-day table, the picked coin's chart kept
    browser.execute_script("const s = document.getElementById('universe-h'); s.value = '14';"
                           "s.dispatchEvent(new Event('change'));")
    _wait(browser, "return window.dvolDash.ready.universe === true"
                   " && document.getElementById('universe-msg').textContent.includes('14-day')")
    assert len(_universe_cells(browser)) == len(UNIVERSE_COINS)
    assert browser.execute_script("return document.querySelector('#chart-universe .u-title').textContent") \
        .startswith("SOL: 14-day")
    _assert_readable(browser, "universe")
    assert browser.execute_script("return window.dvolDash.errors") == [] and _console_errors(browser) == []
    # the readability check itself catches a row of dashes and a NaN
    browser.execute_script("document.getElementById('universe-table').insertAdjacentHTML('beforeend',"
                           " '<tr><td>–</td><td> </td></tr>')")
    with pytest.raises(AssertionError, match="rows of dashes"):
        _assert_readable(browser, "universe")
    browser.execute_script("document.getElementById('universe-msg').textContent = 'vol NaN'")
    with pytest.raises(AssertionError, match="NaN"):
        _assert_readable(browser, "universe")


def test_a_lake_without_the_universe_lane_says_what_to_run(browser, tmp_path):
    root = desk_lake.build(tmp_path / "lake")
    with live_server(create_app(root, today=lambda: END + timedelta(days=1))) as url:
        browser.get(f"{url}/#universe")
        _wait(browser, "return window.dvolDash && window.dvolDash.ready.universe === true")
        assert "no rows yet" in browser.execute_script("return document.getElementById('universe-msg').textContent")
        _assert_readable(browser, "universe")
        assert _console_errors(browser) == []
