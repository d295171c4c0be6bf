"""Known answers of the portfolio task: data from the skfolio wheel's S&P 500 prices, the mean-variance solver
against scipy, its gradients against finite differences and the KKT closed form (docs/papers/taskmet.md,
"Portfolio" and "Known answers")."""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.optimize import minimize

from papersuite.taskmet import portfolio as P
from papersuite.taskmet.simplex import project_simplex

D64 = torch.float64
ALPHA = 0.1
CONFIG = {
    "n_train": 100,
    "n_val": 50,
    "n_test": 100,
    "n_stocks": 20,
    "start_date": "2005-06-01",
    "cov_reg": 0.1,
    "alpha": ALPHA,
    "solver_steps": 100,
}


@pytest.fixture(scope="module")
def splits():
    return P.make_data(CONFIG, 0)


def one_blas_thread():
    """numpy's BLAS on one thread: SLSQP's 20×20 products are 5x slower with threads on a loaded machine."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1)


def slsqp_portfolio(p: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Independent reference: argmax pᵀz − α zᵀΣz on {0 ≤ z ≤ 1, Σz = 1} by scipy's SLSQP."""
    n = len(p)
    with one_blas_thread():
        res = _slsqp_max(p, cov, n)
    return res.x


def _slsqp_max(p: np.ndarray, cov: np.ndarray, n: int):
    return minimize(
        lambda z: -(p @ z - ALPHA * z @ cov @ z),
        np.full(n, 1.0 / n),
        jac=lambda z: -(p - 2 * ALPHA * cov @ z),
        bounds=[(0, 1)] * n,
        constraints=[{"type": "eq", "fun": lambda z: z.sum() - 1, "jac": lambda z: np.ones(n)}],
        method="SLSQP",
        options={"ftol": 1e-15, "maxiter": 1000},
    )


def kkt_jacobian(z: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """dz*/dp from the KKT conditions on the support F: (1/2α)(Σ_F⁻¹ − Σ_F⁻¹11ᵀΣ_F⁻¹ / 1ᵀΣ_F⁻¹1), 0 off F."""
    free = z > 1e-9
    inv = torch.linalg.inv(cov[free][:, free])
    ones = torch.ones(int(free.sum()), 1, dtype=cov.dtype)
    block = (inv - inv @ ones @ ones.T @ inv / (ones.T @ inv @ ones)) / (2 * ALPHA)
    jac = torch.zeros(len(z), len(z), dtype=cov.dtype)
    jac[torch.outer(free, free)] = block.flatten()
    return jac


# --- the solver --------------------------------------------------------------------------------------------


def test_simplex_projection_matches_slsqp():
    v = 0.5 * torch.randn(20, 8, generator=torch.Generator().manual_seed(0), dtype=D64)
    z = project_simplex(v)
    for row, zi in zip(v.numpy(), z.numpy()):
        res = minimize(
            lambda x, r=row: ((x - r) ** 2).sum(),
            np.full(8, 1 / 8),
            bounds=[(0, None)] * 8,
            constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1}],
            method="SLSQP",
            options={"ftol": 1e-14},
        )
        np.testing.assert_allclose(zi, res.x, atol=1e-7)


@pytest.mark.parametrize("prediction", ["true", "tanh"])
def test_solver_matches_slsqp_on_real_days(splits, prediction):
    """On 20 test days of 20 stocks, 100 unrolled steps reach SLSQP's optimum: objective within 1e-4 (measured
    5.4e-13 true returns, 9.9e-14 tanh(N(0, 1)) predictions), weights within 1e-4 (measured 4.4e-6, 5.8e-7); the
    weights sum to 1 (measured error 3e-16) and are ≥ 0."""
    test = splits["test"]
    chol = test.aux["chol"][:20].double()
    cov = chol @ chol.transpose(-1, -2)
    if prediction == "true":
        p = test.y[:20].double().squeeze(-1)
    else:
        p = torch.tanh(torch.randn(20, 20, generator=torch.Generator().manual_seed(1), dtype=D64))
    z = P.make_task(CONFIG).solve(p, chol)
    ref = torch.from_numpy(np.stack([slsqp_portfolio(p[i].numpy(), cov[i].numpy()) for i in range(20)]))
    gap = P.mean_variance(ref, p, chol, ALPHA) - P.mean_variance(z, p, chol, ALPHA)
    assert gap.abs().max() <= 1e-4
    assert (z - ref).abs().max() <= 1e-4
    torch.testing.assert_close(z.sum(-1), torch.ones(20, dtype=D64), atol=1e-10, rtol=0)
    assert z.min() >= 0


def test_objective_is_the_mean_variance_utility(splits):
    """g(z, y) = yᵀz − α zᵀΣz with Σ = LLᵀ (the solver's quadratic, not LODL's evaluated ‖Lz‖²)."""
    test = splits["test"]
    z = torch.rand(100, 20, 1, generator=torch.Generator().manual_seed(2), dtype=D64)
    y, aux = test.y.double(), {"chol": test.aux["chol"].double()}
    cov = aux["chol"] @ aux["chol"].transpose(-1, -2)
    expected = (y * z).sum((-2, -1)) - ALPHA * (z.transpose(-1, -2) @ cov @ z).flatten()
    torch.testing.assert_close(P.make_task(CONFIG).objective(z, y, aux), expected, atol=1e-12, rtol=0)


def three_stock_instance(splits, shift: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Σ of 3 real stocks on the first test day, and p = 2αΣ·(1/3) + shift (interior optimum for small shifts)."""
    chol = splits["test"].aux["chol"][0, :3, :3].double()
    cov = chol @ chol.T
    chol3 = torch.linalg.cholesky(cov)  # the 3×3 block's own factor
    return chol3, 2 * ALPHA * cov @ torch.full((3,), 1 / 3, dtype=D64) + shift


@pytest.mark.parametrize("shift", [[0.01, -0.005, 0.0], [0.3, -0.3, 0.1]])
def test_solver_gradient_matches_finite_differences_and_kkt(splits, shift):
    """On 3 stocks (float64, 200 steps): autograd through the unrolled solver = central finite differences
    (gradcheck) = the KKT closed form on the support (measured 6.7e-16 interior, 4.4e-16 with one stock at 0), and
    the closed form = central differences of SLSQP's solutions (measured 3.0e-8, 7.2e-6)."""
    chol, p = three_stock_instance(splits, torch.tensor(shift, dtype=D64))
    task = P.PortfolioOpt(ALPHA, 200)
    assert torch.autograd.gradcheck(lambda q: task.solve(q, chol.unsqueeze(0)), (p.unsqueeze(0).requires_grad_(True),))
    jac = torch.autograd.functional.jacobian(lambda q: task.solve(q.unsqueeze(0), chol.unsqueeze(0))[0], p)
    z = task.solve(p.unsqueeze(0), chol.unsqueeze(0))[0]
    cov = chol @ chol.T
    closed = kkt_jacobian(z, cov)
    torch.testing.assert_close(jac, closed, atol=1e-8, rtol=0)
    eps, cov_np = 1e-5, cov.numpy()
    fd = np.stack(
        [
            (slsqp_portfolio(p.numpy() + eps * e, cov_np) - slsqp_portfolio(p.numpy() - eps * e, cov_np)) / (2 * eps)
            for e in np.eye(3)
        ],
        axis=1,
    )
    np.testing.assert_allclose(closed.numpy(), fd, atol=1e-4)


# --- the data ----------------------------------------------------------------------------------------------


def test_make_data_shapes_determinism_and_covariance(splits):
    """x (I, 20, 28), y (I, 20, 1), chol (I, 20, 20); Σ = corr + 0.1·I has diagonal 9/8 + 0.1 (LODL divides by
    K − 1 = 8) and λ_min ≥ 0.1 (measured 0.09999998 in float32); same seed same data; with 5 stocks the seed
    picks which."""
    assert {k: (tuple(s.x.shape), tuple(s.y.shape)) for k, s in splits.items()} == {
        "train": ((100, 20, 28), (100, 20, 1)),
        "val": ((50, 20, 28), (50, 20, 1)),
        "test": ((100, 20, 28), (100, 20, 1)),
    }
    chol = torch.cat([s.aux["chol"] for s in splits.values()]).double()
    cov = chol @ chol.transpose(-1, -2)
    torch.testing.assert_close(torch.diagonal(cov, dim1=-2, dim2=-1), torch.full((250, 20), 9 / 8 + 0.1, dtype=D64))
    assert torch.linalg.eigvalsh(cov).min() >= 0.1 - 1e-6
    again = P.make_data(CONFIG, 0)
    assert all(
        torch.equal(again[k].x, splits[k].x) and torch.equal(again[k].aux["chol"], splits[k].aux["chol"])
        for k in splits
    )
    five = {seed: P.make_data({**CONFIG, "n_stocks": 5}, seed)["train"].y for seed in (0, 1)}
    assert not torch.equal(five[0], five[1])


def test_targets_and_features_are_the_prices_returns():
    """The target of day t is close(t+1)/close(t) − 1 read straight from the csv; the train split starts on
    the first trading day on or after start_date; raw features are LODL's rolling statistics."""
    prices = pd.read_csv(P.sp500_csv_path(), parse_dates=["Date"], index_col="Date")
    splits = P.make_data(CONFIG, 0)
    first = prices.index.searchsorted(pd.Timestamp("2005-06-01"))
    close = prices.to_numpy()
    expected_next = close[first + 1] / close[first] - 1  # (20,), stocks in the csv's column order
    np.testing.assert_allclose(splits["train"].y[0, :, 0].numpy(), expected_next, rtol=1e-5)
    test_first = first + 150
    np.testing.assert_allclose(
        splits["test"].y[0, :, 0].numpy(), close[test_first + 1] / close[test_first] - 1, rtol=1e-5
    )
    feats = P.price_features(prices)
    assert len(feats) == len(P.FEATURE_NAMES) == 28
    t = first
    np.testing.assert_allclose(feats["rolling_7_mean"].iloc[t].to_numpy(), close[t - 6 : t + 1].mean(0))
    np.testing.assert_allclose(feats["rolling_30_var"].iloc[t].to_numpy(), close[t - 29 : t + 1].var(0, ddof=1))
    np.testing.assert_allclose(feats["prev3_return"].iloc[t].to_numpy(), close[t - 3] / close[t - 4] - 1)
    np.testing.assert_allclose(feats["prev365_period_return"].iloc[t].to_numpy(), close[t] / close[t - 365] - 1)


def test_lodl_long_file_reads_as_the_wide_prices(tmp_path):
    """LODL's raw_historical_prices layout (Date, Symbol, Close, Volume; full scale) gives the same dates × tickers
    frame as the wide csv, after LODL's filter: only the symbols with the most rows, and a full column each."""
    wide = P.load_prices().iloc[:400, :6]  # (400, 6) of skfolio's closes
    long = wide.rename_axis(columns="Symbol").stack().rename("Close").reset_index()
    long["Volume"] = 1000.0
    short = long[long["Symbol"] == wide.columns[0]].iloc[10:].assign(Symbol="SHORT")  # 10 rows fewer: dropped
    gap = long[long["Symbol"] == wide.columns[1]].assign(Symbol="GAP")
    gap.loc[gap.index[5], "Date"] = pd.Timestamp("1970-01-01")  # as many rows, one date off the others: no full column
    path = tmp_path / "raw_historical_prices.csv"
    pd.concat([long, short, gap]).sample(frac=1.0, random_state=0).to_csv(path, index=False)
    read = P.load_prices(path)
    pd.testing.assert_frame_equal(read, wide.rename_axis(columns="Symbol"), check_freq=False, check_names=False)
    duplicated = pd.concat([long, long.iloc[:1]])
    duplicated.to_csv(path, index=False)
    with pytest.raises(ValueError, match="appears twice"):
        P.load_prices(path)
