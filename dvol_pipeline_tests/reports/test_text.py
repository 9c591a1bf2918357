"""Plain-text tables for the terminal: aligned, within a width, nothing but the header, a rule and the rows."""

from __future__ import annotations

from datetime import date

import polars as pl

from dvol_pipeline.reports.text import text_table


def test_numbers_right_text_left_one_decimal_count_per_column_and_none_as_a_dash():
    frame = pl.DataFrame({"asset": ["BTC", "ETH"], "net": [12345.5, -3.25], "n": [1234567, 8], "day": [date(2024, 1, 2), None],
                          "ok": [True, False]})
    assert text_table(frame, headers={"asset": "coin"}).splitlines() == [
        "  coin        net          n  day         ok",
        "  ----  ---------  ---------  ----------  ---",
        "  BTC   12,345.50  1,234,567  2024-01-02  yes",
        "  ETH       -3.25          8  -           no",
    ]


def test_a_table_wider_than_the_width_cuts_its_longest_text_column():
    frame = pl.DataFrame({"name": ["x" * 150, "short"], "note": ["y" * 40, "z"], "value": [1.5, 2.25]})
    lines = text_table(frame, width=80).splitlines()
    assert max(len(line) for line in lines) == 80
    assert lines[2].split()[0].endswith("…") and lines[2].split()[1] == "y" * 40  # the longest column gave way
    assert lines[3].split() == ["short", "z", "2.25"]
