"""HAR on DVOL and realised vol: OLS of the h-day DVOL change on daily/weekly/monthly terms.

    y_h = a_asset + b_d·dvol + b_w·dvol_mean_5 + b_m·dvol_mean_22 + c_1·rv_1 + c_5·rv_5 + c_22·rv_22 + e

(Corsi's HAR written for the change: the level form DVOL(D+h) = ... is the same regression
with b_d shifted by one.) Choices:

* One regression per horizon, pooled over assets with one intercept per asset (no global
  constant): the slopes — the reversion speeds — are shared, which halves their estimation
  noise on ~3 years of data; the intercepts carry each asset's own long-run level. A row
  of an asset not seen in training uses the mean of the intercepts.
* Terms are the roles in `terms` found among `features` (either spelling: `dvol_mean_22`
  or `dvol_ma22`, `rv_22` or `rv_22d`): RV terms are used where present; `dvol` is required.
* Fit on complete rows only (no imputed regressors). Predict imputes like every family
  (forward-fill within asset, then training medians), so every row gets a forecast.
* statsmodels OLS; standard errors are HAC (Newey–West, h lags) because h-day labels
  overlap; coefficients and t-stats are in `params()`. Prediction is X @ beta in numpy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from dvol_pipeline.quant.learn.base import Forecaster, numeric
from dvol_pipeline.quant.learn.preprocess import Preprocessor, resolve

HAR_TERMS = ("dvol", "dvol_mean_5", "dvol_mean_22", "rv_1", "rv_5", "rv_22")


def asset_dummies(frame: pl.DataFrame, assets: list[str]) -> np.ndarray:
    """One 0/1 column per training asset; an unseen asset gets 1/n in each (mean intercept)."""
    values = frame["asset"].to_numpy()
    dummies = np.column_stack([(values == a).astype(np.float64) for a in assets])
    unseen = dummies.sum(axis=1) == 0
    dummies[unseen] = 1.0 / len(assets)
    return dummies


class LinearForecaster(Forecaster):
    """Shared machinery: asset intercepts + regressors, fit on complete rows, imputed predict."""

    def _regressors(self, frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
        """The frame with the regressor columns this family builds (identity for HAR)."""
        return frame

    def _design(self, frame: pl.DataFrame) -> np.ndarray:
        pre = Preprocessor.from_dict(self.state["preprocessor"])
        x = pre.transform(self._regressors(frame, self.features))
        return np.column_stack([asset_dummies(frame, self.state["assets"]), x])

    def _linear_fit(
        self, labelled: pl.DataFrame, terms: list[str], target: str, weights: np.ndarray | None = None
    ) -> tuple[np.ndarray, pl.DataFrame]:
        """(Weighted) OLS on the complete rows; returns the residuals and those rows.

        `weights`, when given, are aligned with the complete rows of a previous call.
        """
        frame = self._regressors(labelled, self.features)
        present = pl.all_horizontal(pl.col(t).cast(pl.Float64).fill_nan(None).is_not_null() for t in terms)
        complete = frame.select(present).to_series().to_numpy()
        if complete.sum() < len(terms) + 10:
            raise ValueError(f"{self.name}: only {int(complete.sum())} complete training rows for {len(terms)} terms")
        rows = frame.filter(pl.Series(complete))
        self.state["assets"] = sorted(rows["asset"].unique().to_list())
        self.state["preprocessor"] = Preprocessor(terms, standardize=False).fit(frame).to_dict()
        x = np.column_stack([asset_dummies(rows, self.state["assets"]), *(numeric(rows, t) for t in terms)])
        y = numeric(rows, target)
        names = [f"const_{a}" for a in self.state["assets"]] + terms
        import statsmodels.api as sm  # here: scoring a saved HAR needs only its coefficients (import time)

        model = sm.OLS(y, x) if weights is None else sm.WLS(y, x, weights=weights)
        result = model.fit(cov_type="HAC", cov_kwds={"maxlags": self.horizon})
        self.state["names"] = names
        self.state["coef"] = dict(zip(names, map(float, result.params)))
        self.state["t_hac"] = dict(zip(names, (round(float(t), 3) for t in result.tvalues)))
        self.state["r2_in_sample"] = float(result.rsquared)
        self.state["n_obs"] = int(result.nobs)
        return y - x @ result.params, rows

    def _predict(self, frame: pl.DataFrame) -> np.ndarray:
        beta = np.array([self.state["coef"][n] for n in self.state["names"]])
        return self._design(frame) @ beta

    def _fitted_params(self) -> dict[str, Any]:
        keys = ("coef", "t_hac", "r2_in_sample", "n_obs")
        return {k: self.state[k] for k in keys if k in self.state}


class HAR(LinearForecaster):
    name = "har"
    defaults: dict[str, Any] = {"terms": HAR_TERMS}

    def _fit(self, train, labelled, features, target) -> list[str]:
        resolved = {role: resolve(role, features) for role in self.config["terms"]}
        terms = [name for name in resolved.values() if name is not None]
        if "dvol" not in terms:
            raise ValueError("har needs `dvol` among the features (the daily HAR term)")
        self.features = terms
        skipped = [role for role, name in resolved.items() if name is None]
        if skipped:
            self.notes.append(f"terms not in the features, left out: {skipped}")
        self._linear_fit(labelled, terms, target)
        return terms
