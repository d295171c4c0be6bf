"""The portfolio task of Wang et al. (NeurIPS 2020) as LODL (Shah et al., NeurIPS 2022) sets it up, TaskMet's third
decision-focused experiment (paper §5.1, Table 1; docs/papers/taskmet.md, "Portfolio").

Each instance is a trading day with n stocks. The predictor sees LODL's 28 price features per stock and
predicts the next day's return p_i; the decision is the mean-variance portfolio

    z*(p) = argmax_{z ≥ 0, Σz = 1} pᵀz − α zᵀΣz,   Σ = C + 0.1·I,

where C is the correlation matrix of the stocks' returns over the following days 2..10 (LODL's design, a
look-ahead), and the decision quality is g(z, y) = yᵀz − α zᵀΣz with the true next-day returns y.

Data: at tiny, the daily adjusted closes of 20 S&P 500 stocks (1990-2022) that ship inside the skfolio wheel, a
SUBSTITUTE; at full, LODL's Quandl WIKI prices of the S&P 500 (2004-2017) from the file LODL's repository keeps in
Git LFS (the WIKI feed itself cannot be queried any more; docs/papers/taskmet.md, "Portfolio"). Solver: unrolled
accelerated projected gradient ascent with the sort-based simplex projection (the bound z ≤ 1 is implied),
differentiated by autograd, instead of LODL's cvxpylayers.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from .simplex import accelerated_pga, project_simplex
from .task import Split

if TYPE_CHECKING:  # pandas is imported where the prices are read, so importing the task registry stays cheap
    import pandas as pd

__all__ = [
    "FEATURE_NAMES",
    "PortfolioOpt",
    "correlation_covariance",
    "load_prices",
    "make_data",
    "make_task",
    "mean_variance",
    "price_features",
    "sp500_csv_path",
]

_SPLITS = ("train", "val", "test")
_RETURN_LAGS = tuple(range(1, 11))  # prev1..prev10 daily returns
_PERIOD_RETURNS = (365, 120, 30, 7)  # prev_year/qtr/month/week returns, in trading rows as LODL's pct_change(n)
_PRICE_WINDOWS = (365, 120, 30, 7, 3)  # rolling mean and variance of the price
_FUTURE_DAYS = tuple(range(2, 11))  # next2..next10 returns, LODL's covariance window
FEATURE_NAMES = (
    ["cur_return"]
    + [f"prev{lag}_return" for lag in _RETURN_LAGS]
    + [f"prev{n}_period_return" for n in _PERIOD_RETURNS]
    + ["return_rolling_mean", "return_rolling_var"]
    + [f"rolling_{w}_{stat}" for w in _PRICE_WINDOWS for stat in ("mean", "var")]
    + ["Close"]
)


def sp500_csv_path() -> Path:
    """The S&P 500 daily prices shipped in the skfolio wheel (its installed file, never imported)."""
    return Path(
        str(importlib.metadata.distribution("skfolio").locate_file("skfolio/datasets/data/sp500_dataset.csv.gz"))
    )


def load_prices(path: str | Path | None = None) -> pd.DataFrame:
    """Daily adjusted closes, dates × tickers, from a wide csv (``Date`` + one column per ticker, skfolio's) or a
    long one (``Date``, ``Symbol``, ``Close``, ...: LODL's raw_historical_prices file)."""
    import pandas as pd

    path = sp500_csv_path() if path is None else Path(path)
    header = pd.read_csv(path, nrows=0).columns
    if "Symbol" in header:
        prices = _wide_closes(pd.read_csv(path, usecols=["Date", "Symbol", "Close"], parse_dates=["Date"]), path)
    else:
        prices = pd.read_csv(path, parse_dates=["Date"], index_col="Date").sort_index()
    if prices.empty or prices.isna().any().any() or (prices <= 0).any().any():
        raise ValueError(f"{path}: prices must be positive and complete")
    return prices.astype(np.float64)


def _wide_closes(long: pd.DataFrame, path: Path) -> pd.DataFrame:
    """LODL's filter, then dates × symbols: keep the symbols with the most rows (LODL keeps those whose row count
    equals the maximum), the dates most of them trade on, and the symbols with a close on every such date."""
    if long.duplicated(["Date", "Symbol"]).any():
        raise ValueError(f"{path}: a (Date, Symbol) pair appears twice")
    counts = long.groupby("Symbol").size()
    full = long[long["Symbol"].isin(counts.index[counts == counts.max()])]
    wide = full.pivot(index="Date", columns="Symbol", values="Close").sort_index()
    wide = wide.loc[wide.notna().mean(axis=1) >= 0.5]  # a date only a few symbols list is theirs, not the market's
    return wide.loc[:, wide.notna().all()]


def price_features(prices: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """LODL's `_compute_monthly_cols` per ticker, plus the close itself: name -> (dates × tickers) frame."""
    returns = prices.pct_change(fill_method=None)
    feats = {"cur_return": returns}
    feats.update({f"prev{lag}_return": returns.shift(lag) for lag in _RETURN_LAGS})
    feats.update({f"prev{n}_period_return": prices.pct_change(n, fill_method=None) for n in _PERIOD_RETURNS})
    feats["return_rolling_mean"] = returns.rolling(7).mean()
    feats["return_rolling_var"] = returns.rolling(7).var()
    for w in _PRICE_WINDOWS:
        feats[f"rolling_{w}_mean"] = prices.rolling(w).mean()
        feats[f"rolling_{w}_var"] = prices.rolling(w).var()
    feats["Close"] = prices
    assert list(feats) == FEATURE_NAMES
    return feats


def _panel(prices: pd.DataFrame) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray, np.ndarray]:
    """Dates with every feature and 10 future returns known, and z-scored features (T, S, F), targets (T, S),
    future returns (T, S, 9). Features are standardised over all these days and stocks, as LODL over its whole
    2004-2017 panel."""
    feats = price_features(prices)
    returns = feats["cur_return"]
    x = np.stack([f.to_numpy() for f in feats.values()], axis=-1)  # (T_all, S, F)
    target = returns.shift(-1).to_numpy()  # (T_all, S), next1_return
    future = np.stack([returns.shift(-i).to_numpy() for i in _FUTURE_DAYS], axis=-1)  # (T_all, S, 9)
    valid = ~(np.isnan(x).any(axis=(1, 2)) | np.isnan(target).any(axis=1) | np.isnan(future).any(axis=(1, 2)))
    x, target, future = x[valid], target[valid], future[valid]
    flat = x.reshape(-1, x.shape[-1])
    x = (x - flat.mean(0)) / (flat.std(0, ddof=1) + 1e-12)  # LODL: torch.std (unbiased) over the flat panel
    return prices.index[valid], x, target, future


def correlation_covariance(future: Tensor, reg: float) -> Tensor:
    """LODL's `computeCovariance(correl=True)`: Σ = corr of the future returns (T, S, K) + reg·I -> (T, S, S).

    Returns are centred and divided by their population std over the K days, and the products summed over K
    are divided by K − 1, as LODL (so the diagonal is K/(K − 1) + reg). A stock with constant returns over
    the window gets a zero row, so Σ stays positive definite through reg.
    """
    centred = future - future.mean(-1, keepdim=True)
    std = centred.pow(2).mean(-1, keepdim=True).sqrt()
    normed = torch.where(std > 0, centred / std.clamp_min(torch.finfo(future.dtype).tiny), torch.zeros_like(centred))
    corr = normed @ normed.transpose(-1, -2) / (future.shape[-1] - 1)  # (T, S, S)
    return corr + reg * torch.eye(future.shape[-2], dtype=future.dtype)


def make_data(config: Mapping, seed: int) -> dict[str, Split]:
    """Train/val/test splits of consecutive trading days from ``start_date`` (train first, then val, then test,
    as LODL's day indices), each day an instance of ``n_stocks`` stocks drawn from the file's with ``seed``.

    Config keys: n_train, n_val, n_test (days), n_stocks (≤ the file's stocks), start_date (ISO date; the first day
    on or after it), cov_reg (LODL's 0.1), csv (optional path; default the skfolio wheel's file). Splits hold
    x (I, S, 28), y (I, S, 1) the next-day returns, aux["chol"] (I, S, S) the Cholesky factor of Σ.
    """
    import pandas as pd

    dates, x, target, future = _panel(load_prices(config.get("csv")))
    n_stocks = int(config["n_stocks"])
    if not 0 < n_stocks <= x.shape[1]:
        raise ValueError(f"n_stocks must be in 1..{x.shape[1]}; got {n_stocks}")
    stocks = torch.randperm(x.shape[1], generator=torch.Generator().manual_seed(int(seed)))[:n_stocks].sort().values
    first = int(dates.searchsorted(pd.Timestamp(str(config["start_date"]))))
    sizes = [int(config[f"n_{name}"]) for name in _SPLITS]
    if first + sum(sizes) > len(dates):
        raise ValueError(f"{sum(sizes)} days from {config['start_date']} run past the data's end {dates[-1].date()}")
    bounds = np.cumsum([first] + sizes)
    splits = {}
    for name, lo, hi in zip(_SPLITS, bounds[:-1], bounds[1:]):
        days, idx = slice(int(lo), int(hi)), stocks.numpy()
        cov = correlation_covariance(torch.from_numpy(future[days][:, idx]), float(config["cov_reg"]))
        splits[name] = Split(
            torch.from_numpy(x[days][:, idx]).float(),
            torch.from_numpy(target[days][:, idx]).float().unsqueeze(-1),
            {"chol": torch.linalg.cholesky(cov).float()},
        )
    return splits


def mean_variance(z: Tensor, returns: Tensor, chol: Tensor, alpha: float) -> Tensor:
    """pᵀz − α‖Lᵀz‖² = pᵀz − α zᵀΣz for z, p (B, S), L (B, S, S) -> (B,) (LODL's cvxpy objective)."""
    risk = (chol.transpose(-1, -2) @ z.unsqueeze(-1)).squeeze(-1).pow(2).sum(-1)
    return (returns * z).sum(-1) - alpha * risk


class PortfolioOpt:
    """Mean-variance allocation of one unit over S stocks (TaskMet §5.1; Wang et al. 2020).

    Predictions and targets are (B, S, 1); decisions z are (B, S, 1); aux["chol"] (B, S, S) factors Σ = LLᵀ.
    """

    name = "portfolio"
    output_dim = 1

    def __init__(self, alpha: float, solver_steps: int):
        self.alpha, self.solver_steps = float(alpha), int(solver_steps)

    def solve(self, returns: Tensor, chol: Tensor) -> Tensor:
        """Unrolled accelerated PGA of pᵀz − α zᵀΣz on the simplex, p (B, S) -> z (B, S).

        Step 1/L and momentum (√κ − 1)/(√κ + 1) from the extreme eigenvalues of 2αΣ (L = 2αλ_max,
        κ = λ_max/λ_min, Nesterov's constants for a strongly concave quadratic); start at the uniform portfolio.
        """
        cov = chol @ chol.transpose(-1, -2)  # (B, S, S)
        with torch.no_grad():
            eig = torch.linalg.eigvalsh(cov)  # (B, S), ascending
            kappa_sqrt = (eig[:, -1] / eig[:, 0]).sqrt().unsqueeze(-1)  # (B, 1)
            step = 1.0 / (2.0 * self.alpha * eig[:, -1:])  # (B, 1)
            momentum = (kappa_sqrt - 1.0) / (kappa_sqrt + 1.0)
        z0 = returns.new_full(returns.shape, 1.0 / returns.shape[-1])
        return accelerated_pga(
            lambda w: returns - 2.0 * self.alpha * (cov @ w.unsqueeze(-1)).squeeze(-1),
            project_simplex,
            z0,
            step,
            momentum,
            self.solver_steps,
        )

    def decision_relaxed(self, y_hat: Tensor, aux: Mapping[str, Tensor]) -> Tensor:
        """The mean-variance portfolio of the predicted returns, differentiable: (B, S, 1) -> (B, S, 1)."""
        return self.solve(y_hat.squeeze(-1), aux["chol"].to(y_hat)).unsqueeze(-1)

    def decision_hard(self, y_hat: Tensor, aux: Mapping[str, Tensor]) -> Tensor:
        """The same portfolio without a graph: LODL decides with the same convex layer at test time."""
        with torch.no_grad():
            return self.decision_relaxed(y_hat, aux)

    def objective(self, z: Tensor, y: Tensor, aux: Mapping[str, Tensor]) -> Tensor:
        """yᵀz − α zᵀΣz per instance, z, y (B, S, 1) -> (B,).

        LODL's `get_objective` computes ‖Lz‖² = zᵀLᵀLz here while its solver uses ‖Lᵀz‖² = zᵀΣz; both use
        zᵀΣz here (docs/papers/taskmet.md, deviations).
        """
        return mean_variance(z.squeeze(-1), y.squeeze(-1), aux["chol"].to(y), self.alpha)


def make_task(config: Mapping) -> PortfolioOpt:
    """The task from config keys alpha (risk aversion, TaskMet's 0.1) and solver_steps."""
    return PortfolioOpt(float(config["alpha"]), int(config["solver_steps"]))
