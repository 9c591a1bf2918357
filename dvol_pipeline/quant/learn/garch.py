"""GARCH-based forecast: DVOL drifts toward a GARCH view of future realised vol.

The view: a GARCH(1,1) on spot returns forecasts the next 30 days' realised vol
(`garch_vol_30`, built upstream with arch); implied vol trades at that forecast plus a
variance risk premium, so the gap (garch_vol_30 − dvol) predicts where DVOL goes next:

    y_h = a_asset + g·(anchor − dvol) + b_d·dvol + b_w·dvol_mean_5 + b_m·dvol_mean_22 + e

* anchor = `garch_vol_30` (or `garch_vol30`) when among the features; else `rv_22` (the trailing
  realised vol, a cruder forecast of the same thing) — `params()["fitted"]["anchor"]` and
  the notes say which. With neither, fit refuses.
* Estimated by OLS with asset intercepts (default, `weighting="none"`), or with
  `weighting="garch"` by feasible GLS with arch: (1) pooled OLS; (2) per asset, a
  zero-mean GARCH(1,1) (arch) on the OLS residuals in date order; (3) WLS with weights
  1/σ²_t, which gives calm weeks more say than vol-of-vol spikes. On the synthetic test
  panel GLS lowered R²_oos (h=7: 0.109 vs 0.129 mean over 6 seeds): the forecast is
  judged by unweighted squared error, which spike weeks dominate, and a GARCH fit to
  overlapping h-day residuals is a poor variance model. Hence OLS by default. If arch
  does not converge for an asset, its rows get a constant weight (noted).
* Like HAR: fit on complete rows, predict imputes (forward-fill within asset, training
  medians), so every row is forecast; h-lag HAC t-stats in `params()`.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import polars as pl
from arch import arch_model

from dvol_pipeline.quant.learn.har import LinearForecaster
from dvol_pipeline.quant.learn.preprocess import resolve

LEVEL_TERMS = ("dvol", "dvol_mean_5", "dvol_mean_22")


def garch_variance(resid: np.ndarray) -> tuple[np.ndarray | None, dict[str, Any]]:
    """Conditional variance of a residual series from a zero-mean GARCH(1,1), or None."""
    scale = float(np.std(resid))
    if not np.isfinite(scale) or scale <= 0 or resid.size < 100:
        return None, {"converged": False, "reason": "too few or constant residuals"}
    model = arch_model(resid / scale, mean="Zero", vol="GARCH", p=1, q=1, dist="normal", rescale=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = model.fit(disp="off", show_warning=False, options={"maxiter": 300})
        except (ValueError, np.linalg.LinAlgError) as exc:  # pragma: no cover - arch's own failures
            return None, {"converged": False, "reason": str(exc)[:200]}
    p = res.params
    info = {"omega": float(p["omega"]) * scale**2, "alpha": float(p["alpha[1]"]), "beta": float(p["beta[1]"])}
    info["persistence"] = info["alpha"] + info["beta"]
    info["converged"] = res.convergence_flag == 0
    sigma2 = np.asarray(res.conditional_volatility, dtype=np.float64) ** 2 * scale**2
    if not info["converged"] or not np.all(np.isfinite(sigma2)) or np.any(sigma2 <= 0):
        return None, info
    return sigma2, info


class GarchForecaster(LinearForecaster):
    name = "garch"
    defaults: dict[str, Any] = {"weighting": "none"}

    def _regressors(self, frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
        anchor = self.state["anchor"]
        gap = pl.col(anchor).cast(pl.Float64).fill_nan(None) - pl.col("dvol").cast(pl.Float64).fill_nan(None)
        return frame.with_columns(gap.alias("garch_gap"))

    def _fit(self, train, labelled, features, target) -> list[str]:
        if self.config["weighting"] not in ("garch", "none"):
            raise ValueError(f"garch: weighting must be 'garch' or 'none', got {self.config['weighting']!r}")
        if "dvol" not in features:
            raise ValueError("garch needs `dvol` among the features")
        anchor = resolve("garch_vol_30", features)
        if anchor is None:
            anchor = resolve("rv_22", features)
            if anchor is None:
                raise ValueError("garch needs `garch_vol_30` (or, as a fallback, `rv_22`) among the features")
            self.notes.append(f"garch_vol_30 absent from the features: the anchor falls back to {anchor}")
        self.state["anchor"] = anchor
        levels = [name for name in (resolve(t, features) for t in LEVEL_TERMS) if name is not None]
        terms = ["garch_gap", *levels]
        self.state["terms"] = terms
        self.features = [anchor, *levels]
        labelled = labelled.sort("asset", "date")
        resid, rows = self._linear_fit(labelled, terms, target)
        if self.config["weighting"] == "garch":
            weights = np.empty(rows.height)
            assets = rows["asset"].to_numpy()
            self.state["garch"] = {}
            for asset in self.state["assets"]:
                mask = assets == asset
                sigma2, info = garch_variance(resid[mask])
                if sigma2 is None:
                    sigma2 = np.full(int(mask.sum()), float(np.var(resid[mask])) or 1.0)
                    self.notes.append(f"{asset}: GARCH on residuals did not converge; constant weight")
                weights[mask] = 1.0 / sigma2
                self.state["garch"][asset] = info
            self._linear_fit(labelled, terms, target, weights=weights / weights.mean())
        return self.features

    def _fitted_params(self) -> dict[str, Any]:
        out = super()._fitted_params()
        out["anchor"] = self.state["anchor"]
        out["weighting"] = self.config["weighting"]
        if "garch" in self.state:
            out["garch_on_residuals"] = self.state["garch"]
        return out
