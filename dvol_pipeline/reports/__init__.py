"""Self-contained HTML tear sheets: pure Python over polars frames, no Dagster, no lake IO."""

from dvol_pipeline.reports.tearsheet import TearSheetData, render_tearsheet, write_tearsheet

__all__ = ["TearSheetData", "render_tearsheet", "write_tearsheet"]
