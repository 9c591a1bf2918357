"""Where raw data comes from: the `Source` seam and its registry of named sources."""

from dvol_pipeline.sources.base import (
    Source,
    SourceBatch,
    TableNotProvided,
    open_source,
    register_source,
    sha256_file,
)

__all__ = ["Source", "SourceBatch", "TableNotProvided", "open_source", "register_source", "sha256_file"]
