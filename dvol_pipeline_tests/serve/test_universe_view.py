"""The universe endpoints read the universe lane's table through its spec, whatever its layout."""

from datetime import date

import polars as pl
import pytest

from dvol_pipeline.lake.catalog import table
from dvol_pipeline.serve import views
from dvol_pipeline.serve.snapshot import SnapshotReader


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
