"""The two naive baselines: zero change, and reversion of DVOL to its rolling mean.

* `zero`: ŷ = 0 (DVOL is a martingale). The benchmark every R²_oos is measured against.
* `mean_reversion`: ŷ = k_h · (m_w − dvol), m_w the rolling mean of DVOL over `window`
  days. k_h is fit by OLS through the origin on the training window (pooled over assets),
  or fixed with `kappa` (speed per day): k_h = 1 − exp(−kappa · h), then nothing is fit.
  m_w is the column `dvol_mean_<window>` (or `dvol_ma<window>`) when the frame has it
  (the feature table computes it over the full history); otherwise it is computed from
  `dvol` within the frame, per asset, with whatever history the frame holds (min 1 day)
  — pass history rows if the frame is short. The model ignores other features. A row whose gap is still
  missing after forward-filling within asset predicts 0 (no view), never NaN.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from dvol_pipeline.quant.learn.base import Forecaster, numeric
from dvol_pipeline.quant.learn.preprocess import forward_fill, resolve


class ZeroForecaster(Forecaster):
    name = "zero"

    def _fit(self, train, labelled, features, target) -> list[str]:
        return []

    def _predict(self, frame: pl.DataFrame) -> np.ndarray:
        return np.zeros(frame.height)


class MeanReversion(Forecaster):
    name = "mean_reversion"
    defaults: dict[str, Any] = {"window": 66, "kappa": None}

    def _mean_column(self, columns) -> str | None:
        return resolve(f"dvol_mean_{int(self.config['window'])}", columns)

    def _gap(self, frame: pl.DataFrame) -> np.ndarray:
        column = self.state.get("mean_column")
        if column is not None:
            mean = pl.col(column).cast(pl.Float64).fill_nan(None)
        else:
            window = int(self.config["window"])
            mean = pl.col("dvol").cast(pl.Float64).fill_nan(None).rolling_mean(window, min_samples=1)
        ordered = frame.select("date", "asset", "dvol", *([column] if column else [])).with_row_index("__r")
        gaps = (
            ordered.sort("asset", "date")
            .with_columns((mean.over("asset") - pl.col("dvol").cast(pl.Float64).fill_nan(None)).alias("__gap"))
            .sort("__r")
        )
        return np.nan_to_num(numeric(forward_fill(gaps, ["__gap"]), "__gap"), nan=0.0)

    def _fit(self, train, labelled, features, target) -> list[str]:
        if "dvol" not in train.columns:
            raise ValueError("mean_reversion needs the `dvol` column")
        self.state["mean_column"] = self._mean_column(train.columns)
        self.state["mean_source"] = self.state["mean_column"] or "rolling mean of dvol in the frame"
        if self.config["kappa"] is not None:
            self.state["k"] = 1.0 - math.exp(-float(self.config["kappa"]) * self.horizon)
            self.notes.append("fixed speed: k_h = 1 - exp(-kappa*h); nothing fit")
        else:
            x = self._gap(train)
            y = numeric(train, target)
            ok = np.isfinite(y)
            sxx = float(x[ok] @ x[ok])
            self.state["k"] = float(x[ok] @ y[ok]) / sxx if sxx > 0 else 0.0
        return ["dvol", *([self.state["mean_column"]] if self.state["mean_column"] else [])]

    def _predict(self, frame: pl.DataFrame) -> np.ndarray:
        return self.state["k"] * self._gap(frame)

    def _fitted_params(self) -> dict[str, Any]:
        k = self.state["k"]
        kappa = -math.log(1.0 - k) / self.horizon if 0.0 < k < 1.0 else None
        half_life = math.log(2) / kappa if kappa else None
        return {"k_h": k, "implied_kappa_per_day": kappa, "half_life_days": half_life,
                "mean_source": self.state["mean_source"]}
