"""Deribit's public API (no key) as a raw-data source: DVOL, chart data, funding, option chains.

`client` speaks HTTP/JSON-RPC with rate limiting and retries, `mapping` turns replies into
the raw tables' contract shape, and `source` plans the requests for a table and a range.
Importing `source` registers the source under the name "deribit".
"""

from dvol_pipeline.sources.deribit.client import DeribitClient, DeribitError, RateLimiter
from dvol_pipeline.sources.deribit.source import DeribitSource, deribit_source

__all__ = ["DeribitClient", "DeribitError", "DeribitSource", "RateLimiter", "deribit_source"]
