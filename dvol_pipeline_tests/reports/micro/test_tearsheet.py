"""The micro tear sheet opens with the gates, and a missing table is a note, never a failed page."""

from __future__ import annotations

import re

import polars as pl

from dvol_pipeline.reports.micro.tearsheet import MicroReportData, render_micro_report


def _gates() -> pl.DataFrame:
    rows = [("stat_mr", "BTCUSDT", "gate1", "sharpe at 1x costs", 0.4, 1.5, False, "FAIL", None),
            ("stat_mr", "BTCUSDT", "decision", "all criteria pass", 0.0, 1.0, False, "NO-GO", "failed: sharpe"),
            ("micro_mr", "BTCUSDT", "gate1", "sharpe at 1x costs", 2.0, 1.5, True, "PASS", None),
            ("micro_mr", "BTCUSDT", "decision", "all criteria pass", 1.0, 1.0, True, "GO", None)]
    return pl.DataFrame(rows, schema=["strategy", "symbol", "gate", "criterion", "value", "threshold", "passed",
                                      "decision", "reason"], orient="row")


def test_the_page_opens_with_the_gates_and_counts_the_decisions():
    html = render_micro_report(MicroReportData("r1", _gates(), None, None, None, None, None))
    titles = re.findall(r"<h2>(.*?)</h2>", html)
    assert titles[0].startswith("The plan") and len(titles) == 8
    gates = html.split("<h2>", 2)[1]
    assert "NO-GO" in gates and ">1<" in gates.replace(" ", "")  # one GO and one NO-GO card
    # the other sections say what is missing instead of failing
    assert html.count('class="na"') == 7  # books, IC, models, cost curve, regimes, symbols, fills: each says why
