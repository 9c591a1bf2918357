"""A small LSTM over the last 90 days of standardised features, per asset, in torch (CPU).

* Input for row (D, asset): the `seq_len` (90) most recent rows of that asset with date
  ≤ D — nothing later, nothing from another asset. Features are imputed and standardised
  with the training-window scaler (`Preprocessor`, saved with the model); vol-point
  levels other than dvol enter as `gap_<f> = f − dvol` (see gbm.py). The target is standardised with
  the train-proper mean/std and mapped back to vol points.
* History at predict: the rows of the frame itself, preceded by the last `seq_len − 1`
  training rows of the asset that are older than the frame's first row for that asset
  (stored with the model), so a fold's month can be predicted from the month alone. Days
  between the training end and the frame (the purge gap) are not known to the model; pass
  them in the frame for an exact sequence. A row with fewer than `min_history` rows of
  history (default: 90, i.e. the first 89 days of an asset) predicts NaN; with a smaller
  `min_history` the missing days are left-padded with zeros (the training mean), and
  training uses such padded sequences too. (That NaN is the residual's: the family's
  forecast there is HAR's, see below.)
* HAR's residual (residual.py): the net learns r = y − HAR(x) (HAR fitted on the
  train-proper rows), and the forecast is HAR(x) + λ·net(x), λ ∈ [0, 1] chosen on the
  validation slice (0 unless the net's residual forecast is significant there: then the
  family is HAR exactly, and predict does not run the net). The net early-stops on the
  stopping slice (its epochs: the capacity); λ is chosen on the λ slice for HAR and a net
  of those epochs refit on every row before it (residual.py, step 4), and that net is the
  one that forecasts, added to HAR refit on the whole window. Unlike LightGBM's booster it
  is not refit on the whole window: a net of one or two epochs from a seeded start is a
  high-variance fit, and another one on more rows is another function, whose λ nobody
  measured (on the simulated market's 32 folds at 14 days, a refit net ended 0.019-0.030
  R² below HAR, the measured net 0.011-0.013: docs/dvol/forecasts.md). A row with under
  `min_history` days of history gets HAR's forecast (no residual forecast: no NaN).
* Net (`lstm_net`, trained by `train_net`, both also the universe lane's): LSTM (1 layer,
  16 hidden) → linear head on the last step. Adam, MSE, gradient clipping; early stopping on the end-of-window validation slice with the horizon purge
  (`split_validation`), keeping the best epoch's weights. Patience 1 (stop at the first
  epoch that does not improve the validation loss): on the default simulated market the
  best epoch is the 1st or 2nd in most folds, so a longer patience spent most of the LSTM's
  time on epochs it then threw away, and did not lower the out-of-sample RMSE at any
  horizon (bench_walkforward; docs/benchmarks.md). Each fold trains from a fresh seeded
  initialisation, never warm-started from an earlier fold, so a fold re-run alone
  reproduces exactly. Seeded (`torch.manual_seed` inside `fork_rng`, numpy Generator for
  batch order),
  `use_deterministic_algorithms`, a fixed thread count (1: two intra-op threads were
  slower for these small batches on the shared 2-core box; both cores are used by
  fitting families in parallel processes instead, see quant/learn/parallel.py); the global
  torch settings are restored afterwards.
"""

from __future__ import annotations

import copy
import functools
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from numpy.lib.stride_tricks import sliding_window_view

from dvol_pipeline.quant.learn.base import Forecaster, numeric
from dvol_pipeline.quant.learn.preprocess import Preprocessor, add_gaps
from dvol_pipeline.quant.learn.residual import (
    before, before_mask, choose_shrinkage, combine, fit_har, inner_split, load_har, save_har,
)

WEIGHTS_FILE, CONTEXT_FILE = "lstm.pt", "context.parquet"


def load_torch():
    """torch, imported on first use: a process that never fits or loads an LSTM (an end-of-day
    run whose promoted models are HAR or GARCH) skips torch's slow import."""
    import torch

    return torch


@contextmanager
def torch_determinism(seed: int, threads: int):
    """Seeded (`manual_seed` inside `fork_rng`), deterministic algorithms, `threads` threads;
    the global torch settings and RNG state are restored on exit."""
    torch = load_torch()
    threads_before, deterministic_before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield
    finally:
        torch.set_num_threads(threads_before)
        torch.use_deterministic_algorithms(deterministic_before)


@functools.cache
def _net_class() -> type:
    nn = load_torch().nn

    class TorchNet(nn.Module):
        def __init__(self, n_in: int, hidden: int, layers: int) -> None:
            super().__init__()
            self.lstm = nn.LSTM(n_in, hidden, num_layers=layers, batch_first=True)
            self.head = nn.Linear(hidden, 1)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.head(out[:, -1]).squeeze(-1)

    TorchNet.__qualname__ = "TorchNet"  # pickled by name (the fold pool): see __getattr__
    return TorchNet


def __getattr__(name: str):
    """`TorchNet` resolves on first use, so unpickling a fitted net imports torch only then."""
    if name == "TorchNet":
        return _net_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def lstm_net(n_in: int, hidden: int, layers: int):
    """The network (a `TorchNet`): an LSTM of `layers` layers and `hidden` units over sequences
    of `n_in` features, then a linear head on the last step; one output per sequence."""
    return _net_class()(n_in, hidden, layers)


def train_net(net, train: tuple[np.ndarray, np.ndarray], valid: tuple[np.ndarray, np.ndarray], *, lr: float,
              weight_decay: float, batch_size: int, epochs: int, patience: int, seed: int) -> dict[str, Any]:
    """Fit `net` to (windows, standardised targets) in place; call it inside `torch_determinism`.

    Adam with weight decay on the MSE, gradient norm clipped at 1, batches in a seeded order
    (numpy `default_rng(seed)`). With validation rows, early stopping: training stops at the
    `patience`-th epoch in a row that does not lower the validation MSE (by 1e-6), and the
    best epoch's weights are kept; without, `epochs` epochs and the last weights. Returns
    epochs_run, best_epoch and validation_mse (None without validation rows)."""
    torch = load_torch()
    opt = torch.optim.Adam(net.parameters(), lr=float(lr), weight_decay=float(weight_decay))
    rng = np.random.default_rng(seed)
    xt, zt, xv, zv = map(torch.from_numpy, (*train, *valid))
    has_val = len(zv) > 0
    best, best_epoch, best_state, bad, run = np.inf, 0, copy.deepcopy(net.state_dict()), 0, 0
    for epoch in range(1, int(epochs) + 1):
        net.train()
        order = torch.from_numpy(rng.permutation(len(zt)))
        for start in range(0, len(zt), int(batch_size)):
            idx = order[start:start + int(batch_size)]
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(net(xt[idx]), zt[idx])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
        run = epoch
        if has_val:
            net.eval()
            with torch.no_grad():
                val = float(torch.nn.functional.mse_loss(net(xv), zv))
            if val < best - 1e-6:
                best, best_epoch, best_state, bad = val, epoch, copy.deepcopy(net.state_dict()), 0
            elif (bad := bad + 1) >= int(patience):
                break
    if has_val:
        net.load_state_dict(best_state)
    net.eval()
    return {"epochs_run": run, "best_epoch": best_epoch if has_val else run,
            "validation_mse": float(best) if has_val else None}


def predict_net(net, windows: np.ndarray, batch_size: int) -> np.ndarray:
    """`net`'s output for every window, `batch_size` windows at a time (inside `torch_determinism`)."""
    torch = load_torch()
    out = np.full(len(windows), np.nan)
    with torch.no_grad():
        for start in range(0, len(out), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(windows[start:start + batch_size]))
            out[start:start + batch_size] = net(batch).numpy()
    return out


class LSTMForecaster(Forecaster):
    name = "lstm"
    defaults: dict[str, Any] = {
        "seq_len": 90, "min_history": 90, "hidden": 16, "layers": 1, "lr": 3e-3, "weight_decay": 1e-4,
        "batch_size": 128, "max_epochs": 40, "patience": 1, "val_fraction": 0.2, "val_min_days": 30,
        "epochs_no_val": 15, "gap_features": "replace", "num_threads": 1, "shrinkage": None, "shrinkage_min_t": 2.0,
        "shrinkage_fraction": 0.15, "shrinkage_min_days": 30,
    }
    """`shrinkage`: None = λ chosen on the validation slice; a number in [0, 1] fixes λ where the
    window is too short for one (else λ = 0 there). `shrinkage_min_t`, `shrinkage_fraction`,
    `shrinkage_min_days`: the λ slice and its gate, see residual.py."""

    def __init__(self, horizon: int, seed: int = 0, **config: Any) -> None:
        super().__init__(horizon, seed, **config)
        self._net, self._net_folder = None, None
        self.har, self.context = None, None

    @property
    def net(self):
        """The fitted net; a loaded model reads its weights (and imports torch) on first use, not at
        load: with λ = 0 a forecast is HAR's exactly and never runs the net, so an end-of-day run
        whose promoted ensemble has such an LSTM member skips torch's ~2 s import."""
        if self._net is None and self._net_folder is not None:
            self._net, self._net_folder = self._read_net(self._net_folder), None
        return self._net

    @net.setter
    def net(self, value) -> None:
        self._net, self._net_folder = value, None

    def __getstate__(self) -> dict[str, Any]:
        """A copy or a pickle (the fold pool) carries the net itself, not the folder it would be read from."""
        _ = self.net
        return self.__dict__.copy()

    def _sequences(self, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(windows (n, L, F) float32, history length per row, row order) for a frame sorted by asset, date."""
        pre = Preprocessor.from_dict(self.state["preprocessor"])
        x = pre.transform(add_gaps(frame, self.features, self.config["gap_features"])[0]).astype(np.float32)
        L = int(self.config["seq_len"])
        windows, history = [], []
        assets = frame["asset"].to_numpy()
        for asset in dict.fromkeys(assets):
            block = x[assets == asset]
            padded = np.vstack([np.zeros((L - 1, x.shape[1]), np.float32), block])
            windows.append(sliding_window_view(padded, (L, x.shape[1]))[:, 0])
            history.append(np.arange(1, block.shape[0] + 1))
        return np.concatenate(windows), np.concatenate(history), assets

    def _fit(self, train, labelled, features, target) -> list[str]:
        if not features:
            raise ValueError("lstm: no usable feature in the training frame")
        self.features = list(features)
        # HAR on the frame as given: the `har` family's fit, row order included (OLS rounding)
        self.har = fit_har(train, self.features, target, self.horizon, self.seed)
        train = train.sort("asset", "date")
        gapped, columns = add_gaps(train, self.features, self.config["gap_features"])
        self.state["preprocessor"] = Preprocessor(columns, standardize=True).fit(gapped).to_dict()
        windows, history, _ = self._sequences(train)
        y = numeric(train, target)
        ok = np.isfinite(y) & (history >= int(self.config["min_history"]))
        if ok.sum() < 50:
            raise ValueError(f"lstm: only {int(ok.sum())} labelled rows with {self.config['min_history']} days of history")
        x, y, dates = np.ascontiguousarray(windows[ok]), y[ok], train["date"].filter(pl.Series(ok))
        c = self.config
        split = inner_split(dates, self.horizon, c["val_fraction"], c["val_min_days"], c["shrinkage_fraction"],
                            c["shrinkage_min_days"])
        none = np.zeros(y.size, bool)
        tr, va, sh = split[:3] if split else (np.ones(y.size, bool), none, none)
        inner = fit_har(before(train, split[3]["validation_start"], self.horizon), self.features, target,
                        self.horizon, self.seed) if split else self.har
        r = y - inner.predict(train)[ok]
        self.state["y_mean"], self.state["y_std"] = float(r[tr].mean()), float(r[tr].std()) or 1.0
        z = ((r - self.state["y_mean"]) / self.state["y_std"]).astype(np.float32)
        with torch_determinism(self.seed, int(c["num_threads"])):
            self.net, info = self._train(len(columns), x[tr], z[tr], x[va], z[va])
        info["validation"] = split[3] if split else None
        if split is None:
            self.notes.append("window too short for a validation slice: fixed epochs, no early stopping")
            fixed = c["shrinkage"]
            shrink = {"lambda": 0.0 if fixed is None else float(fixed),
                      "reason": "window too short for the inner slices"}
        else:
            info["har_validation_rmse"] = float(np.sqrt(np.mean(r[va] ** 2)))
            # λ judges the procedure that forecasts, one step back: HAR and the net (its epochs) refit on every
            # row before the λ slice, the net on that HAR's residuals (residual.py, step 4)
            start = split[3]["shrinkage_start"]
            har_pre = fit_har(before(train, start, self.horizon), self.features, target, self.horizon, self.seed)
            r = y - har_pre.predict(train)[ok]
            pre = before_mask(dates, start, self.horizon)
            r_hat = self._refit(len(columns), x, r, pre, info["best_epoch"], predict=x[sh])
            shrink = choose_shrinkage(r[sh], r_hat, dates.filter(pl.Series(sh)).to_numpy(), self.horizon,
                                      float(c["shrinkage_min_t"]))
        if not 0.0 <= shrink["lambda"] <= 1.0:
            raise ValueError(f"lstm: shrinkage must be within [0, 1] or None, got {shrink['lambda']}")
        # the net λ was chosen with is the one that forecasts (no refit on the whole window: see the module doc)
        self.state["training"] = info
        self.state["shrinkage"], self.state["shrinkage_info"] = float(shrink["lambda"]), shrink
        L = int(self.config["seq_len"])
        self.context = train.select("date", "asset", *self.features).group_by("asset", maintain_order=True).tail(L - 1)
        return self.features

    def _refit(self, n_in: int, x: np.ndarray, r: np.ndarray, rows: np.ndarray, epochs: int,
               predict: np.ndarray | None = None) -> np.ndarray | None:
        """A fresh net (same seed) fitted to the residuals `r` of `rows` for `epochs` epochs, no
        validation; it becomes the model's net, with its target scaling. Returns its residual
        forecast (vol points) for the windows `predict`, when given."""
        self.state["y_mean"], self.state["y_std"] = float(r[rows].mean()), float(r[rows].std()) or 1.0
        z = ((r - self.state["y_mean"]) / self.state["y_std"]).astype(np.float32)
        empty = np.zeros(len(r), bool)
        with torch_determinism(self.seed, int(self.config["num_threads"])):
            self.net, _ = self._train(n_in, x[rows], z[rows], x[empty], z[empty], epochs=epochs)
            if predict is None:
                return None
            return predict_net(self.net, predict, 1024) * self.state["y_std"] + self.state["y_mean"]

    def _train(self, n_in, x_tr, z_tr, x_va, z_va, epochs: int | None = None) -> tuple[Any, dict[str, Any]]:
        c = self.config
        net = lstm_net(n_in, int(c["hidden"]), int(c["layers"]))
        has_val = len(z_va) > 0
        epochs = epochs or int(c["max_epochs"] if has_val else c["epochs_no_val"])
        fit = train_net(net, (x_tr, z_tr), (x_va, z_va), lr=c["lr"], weight_decay=c["weight_decay"],
                        batch_size=int(c["batch_size"]), epochs=int(epochs),
                        patience=int(c["patience"]), seed=self.seed)
        val_rmse = float(np.sqrt(fit["validation_mse"]) * self.state["y_std"]) if has_val else None
        return net, {"epochs_run": fit["epochs_run"], "best_epoch": fit["best_epoch"], "validation_rmse": val_rmse,
                     "train_sequences": int(len(z_tr)), "validation_sequences": int(len(z_va))}

    def _predict(self, frame: pl.DataFrame) -> np.ndarray:
        if self.har is None:  # saved before the residual construction: the net forecast y itself
            return self.residual(frame)
        lam = float(self.state["shrinkage"])
        return combine(self.har.predict(frame), self.residual(frame) if lam > 0 else None, lam)

    def residual(self, frame: pl.DataFrame) -> np.ndarray:
        """The net's forecast of HAR's residual for each row of `frame` (before λ); NaN for a
        row with under `min_history` days of history."""
        rows = frame.select("date", "asset", *self.features).with_row_index("__r").with_columns(pl.lit(False).alias("__ctx"))
        first = rows.group_by("asset").agg(pl.col("date").min().alias("__first"))
        ctx = (self.context.join(first, on="asset").filter(pl.col("date") < pl.col("__first")).drop("__first")
               .with_columns(pl.lit(None, pl.UInt32).alias("__r"), pl.lit(True).alias("__ctx")))
        both = pl.concat([ctx.select(rows.columns), rows], how="vertical_relaxed").sort("asset", "date")
        windows, history, _ = self._sequences(both)
        keep = ~both["__ctx"].to_numpy()
        windows, history = windows[keep], history[keep]
        with torch_determinism(self.seed, int(self.config["num_threads"])):
            out = predict_net(self.net, windows, 1024)
        out = out * self.state["y_std"] + self.state["y_mean"]
        out[history < int(self.config["min_history"])] = np.nan
        result = np.empty(frame.height)
        result[both.filter(~pl.col("__ctx"))["__r"].to_numpy()] = out
        return result

    def params(self) -> dict[str, Any]:
        """The Forecaster's, with λ and its track-record gate on top (so the fold's MLflow run logs them)."""
        return {**super().params(), "shrinkage": self.state.get("shrinkage_info"),
                "track_record": self.state.get("track_record")}

    def _fitted_params(self) -> dict[str, Any]:
        return {**self.state["training"], "y_mean": self.state["y_mean"], "y_std": self.state["y_std"],
                "shrinkage": self.state.get("shrinkage"),
                "har": self.har.params()["fitted"] if self.har is not None else None}

    def _save_files(self, folder: Path) -> None:
        torch = load_torch()
        torch.save(self.net.state_dict(), folder / WEIGHTS_FILE)
        self.context.write_parquet(folder / CONTEXT_FILE)
        if self.har is not None:
            save_har(self.har, folder)

    def _load_files(self, folder: Path) -> None:
        if not (folder / WEIGHTS_FILE).is_file():
            raise FileNotFoundError(f"{folder / WEIGHTS_FILE}: the LSTM's weights are missing")
        self._net, self._net_folder = None, Path(folder)  # read on first use (`net`)
        self.context = pl.read_parquet(folder / CONTEXT_FILE)
        self.har = load_har(folder)

    def _read_net(self, folder: Path):
        torch = load_torch()
        n_in = len(Preprocessor.from_dict(self.state["preprocessor"]).features)
        net = lstm_net(n_in, int(self.config["hidden"]), int(self.config["layers"]))
        net.load_state_dict(torch.load(folder / WEIGHTS_FILE, weights_only=True))
        net.eval()
        return net
