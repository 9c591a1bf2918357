"""Serve the app with uvicorn on 127.0.0.1 by default (`python -m dvol_pipeline serve`)."""

from __future__ import annotations

from pathlib import Path

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000


def serve(lake_root: Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, log_level: str = "info") -> None:
    import uvicorn

    from dvol_pipeline.serve.app import create_app

    print(f"Serving the lake at {lake_root}: dashboard http://{host}:{port}/ , API docs http://{host}:{port}/docs")
    uvicorn.run(create_app(lake_root), host=host, port=port, log_level=log_level, access_log=False)
