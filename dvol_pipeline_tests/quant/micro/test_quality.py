"""book_quality and find_gaps on hand-built streams (expected values worked out by hand)."""

from __future__ import annotations

from datetime import date

import pytest

from dvol_pipeline.quant.micro.book import rebuild_book
from dvol_pipeline.quant.micro.quality import book_quality, find_gaps
from dvol_pipeline_tests.quant.micro.streams import at, deltas, tops
from dvol_pipeline_tests.quant.micro.test_book import FUTURES


def test_book_quality_counts_skew_and_bbo_agreement():
    d = deltas(FUTURES)  # every delta row is stamped 10 ms after the exchange
    r = rebuild_book(d)
    venue = tops([(1.3, 100.1, 2, 100.2, 4, 10),    # rebuilt as of id 10: 100.1 / 100.2: agrees
                  (1.6, 100.1, 2, 100.3, 1, 12),    # as of id 12: 100.1 / 100.3: agrees (second 1 agrees)
                  (2.0, 100.1, 2, 100.2, 1, 12),    # disagrees (second 2)
                  (3.0, 99.0, 1, 101.0, 1, 14),     # book unknown after the break at 2.5 s: not compared
                  (4.2, 99.5, 2, 101.0, 3, 20),     # agrees (second 4)
                  (4.3, 99.0, 2, 101.0, 3, 21)])    # after the last row: the book is not known, not compared
    q = book_quality(r, d, venue, None)
    assert q.height == 1
    row = q.row(0, named=True)
    assert (row["date"], row["session"], row["events"], row["snapshots"], row["sync_ts"]) == (
        date(2024, 1, 1), 0, 13, 2, at(1.2))
    assert (row["sequence_breaks"], row["resyncs"], row["known_seconds"], row["crossed_states"]) == (1, 1, 2, 0)
    assert row["skew_median_ms"] == pytest.approx(10.0) and row["skew_p99_ms"] == pytest.approx(10.0)
    assert row["bbo_agreement"] == pytest.approx(2 / 3)


def test_book_quality_splits_a_session_at_midnight():
    spec = [(-1.5, True, None, None, None, [("bid", 10.0, 1), ("ask", 11.0, 1)]),
            (1.5, False, None, None, None, [("bid", 10.0, 2)])]
    d = deltas(spec, venue="tardis_x")
    q = book_quality(rebuild_book(d), d)
    # known (23:59:58.5, 00:00:01.5]: grid points 23:59:59 | 00:00:00, 00:00:01; day 2 is known from midnight
    assert q.select("date", "session", "events", "known_seconds", "sync_ts").rows() == [
        (date(2023, 12, 31), 0, 2, 1, at(-1.5)), (date(2024, 1, 1), 0, 1, 2, at(0.0))]
    assert q["bbo_agreement"].to_list() == [None, None]


def test_find_gaps_reports_holes_over_the_threshold():
    spec = [(t, False, None, None, None, [("bid", 10.0, 1)]) for t in (0.0, 100.0, 800.0, 900.0)]
    gaps = find_gaps(deltas(spec, venue="tardis_x"), "raw_book_deltas")
    assert gaps.select("stream", "gap_start", "gap_end").rows() == [("raw_book_deltas", at(100.0), at(800.0))]
    assert gaps["minutes"].to_list() == [pytest.approx(700 / 60)] and gaps["date"].to_list() == [date(2024, 1, 1)]


def test_bbo_agreement_compares_the_state_a_batched_diff_exposes_not_an_id_inside_it():
    # Binance's depth@100ms batches every update in [U, u]; bookTicker reports each top change with its
    # own id. Inside diff 11..13 the best bid went to 100.1 (ticker id 11) and back (ticker id 13): the
    # diff shows only the net change (100.1 deleted), so the book after it is 100.0 / 100.2, which the
    # last ticker of the batch (id 13) shows. Id 11's state is not observable from diffs: not compared.
    d = deltas([(1.0, True, None, 10, None, [("bid", 100.0, 1), ("ask", 100.2, 1)]),
                (1.05, False, 9, 10, 8, [("ask", 100.2, 1)]),
                (1.5, False, 11, 13, 10, [("bid", 100.1, 0)])])
    r = rebuild_book(d)
    venue = tops([(1.4, 100.1, 2, 100.2, 1, 11),   # intermediate state inside the batch
                  (1.45, 100.0, 1, 100.2, 1, 13)])  # the batch's last: what the rebuilt book must equal
    assert book_quality(r, d, venue, None)["bbo_agreement"][0] == pytest.approx(1.0)
    wrong = tops([(1.4, 100.1, 2, 100.2, 1, 11), (1.45, 100.1, 1, 100.2, 1, 13)])  # a venue that disagrees
    assert book_quality(r, d, wrong, None)["bbo_agreement"][0] == pytest.approx(0.0)
