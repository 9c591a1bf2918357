"""The signal API and desk dashboard over the lake (read-only): `python -m dvol_pipeline serve`."""
