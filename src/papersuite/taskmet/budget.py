"""The budget-allocation task of Wilder et al. (AAAI 2019) as LODL (Shah et al., NeurIPS 2022) sets it up, TaskMet's
second decision-focused experiment (paper §5.1, Table 1; docs/papers/taskmet.md, "Budget allocation").

An instance has n items (channels) and m targets (users); y_ij ∈ [0, 1] is the probability that item i reaches
target j. Spending z_i ∈ [0, 1] on item i with Σ_i z_i = k reaches target j with probability
1 − Π_i (1 − z_i y_ij), so the decision maximises the expected coverage

    g(z, y) = Σ_j (1 − Π_i (1 − z_i y_ij)),

the multilinear extension of a coverage function. The original y is a Yahoo! advertiser dataset (LODL ships it
as a Git-LFS pickle, not available offline); here y is synthetic, a low-rank logistic CTR model. The features
are LODL's "scrambled labels": a fixed random Linear(m + n_fake → m) applied to the standardised y of each item
with n_fake N(0, 1) noise features appended, so x determines y up to the noise.

Test decisions: the best of all C(n, k) item subsets, exactly. Because g is convex along every direction
e_i − e_j (pipage rounding, Ageev & Sviridenko 2004), the maximum of g over the capped simplex is attained at
such a subset: the enumeration is also the exact optimum of LODL's relaxed problem.

Training decisions: unrolled accelerated projected gradient ascent on the capped simplex (LODL's
`SubmodularOptimizer`), differentiated by autograd through the unrolled steps, of the smoothed objective
g(z, ŷ) − (γ/2)‖z‖². The same convexity drives unregularised PGD to a vertex, where the decision is locally
constant and its derivative exactly zero (LODL's KKT backward is nonzero there only through its 0.01·I
conditioning term); the quadratic term (Wilder et al., AAAI 2019, smooth their LP decisions the same way)
keeps most decisions inside the polytope, where they depend on ŷ (docs/papers/taskmet.md, deviations).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import torch
from torch import Tensor

from .simplex import accelerated_pga, project_capped_simplex
from .task import Split

__all__ = [
    "BudgetAllocation",
    "coverage",
    "coverage_grad",
    "ctr_matrix",
    "item_subsets",
    "make_data",
    "make_task",
    "scramble_features",
]

_SPLITS = ("train", "val", "test")


def ctr_matrix(
    n_instances: int, n_items: int, n_targets: int, rank: int, bias: float, scale: float, gen: torch.Generator
) -> Tensor:
    """Synthetic reach probabilities y_ij = σ(b + s·u_iᵀv_j/√r), u_i, v_j ~ N(0, I_r) per instance: (I, n, m)."""
    u = torch.randn(n_instances, n_items, rank, generator=gen)
    v = torch.randn(n_instances, n_targets, rank, generator=gen)
    return torch.sigmoid(bias + scale * (u @ v.transpose(-1, -2)) / rank**0.5)  # (I, n, m)


def scramble_features(y: Tensor, mean: Tensor, std: Tensor, weight: Tensor, bias: Tensor, noise: Tensor) -> Tensor:
    """LODL's features x = W[(y − μ)/σ ⊕ ε] + b for y (I, n, m), noise ε (I, n, n_fake), W (m, m + n_fake)."""
    standardised = (y - mean) / (std + 1e-10)  # (I, n, m), μ, σ per target over the train split's items
    return torch.cat([standardised, noise], dim=-1) @ weight.T + bias  # (I, n, m)


def make_data(config: Mapping, seed: int) -> dict[str, Split]:
    """Train/val/test splits: ``n_{train,val,test}`` instances of ``n_items`` × ``n_targets`` reach probabilities.

    Config keys: n_train, n_val, n_test, n_items, n_targets, n_fake_features (LODL's num_fake_targets; 0 in
    TaskMet's config), ctr_rank, ctr_bias, ctr_scale (the CTR model of :func:`ctr_matrix`). One generator seeded
    with ``seed`` draws, in order: the scrambling layer (torch's default Linear init, U(±1/√fan_in), as LODL's
    `torch.nn.Linear`), then per split its y and its noise features. The standardisation uses the train split's
    per-target mean and std for every split (LODL standardises each split by its own statistics).
    """
    n_items, n_targets, n_fake = int(config["n_items"]), int(config["n_targets"]), int(config["n_fake_features"])
    rank, bias, scale = int(config["ctr_rank"]), float(config["ctr_bias"]), float(config["ctr_scale"])
    gen = torch.Generator().manual_seed(int(seed))
    bound = (n_targets + n_fake) ** -0.5
    weight = (2 * torch.rand(n_targets, n_targets + n_fake, generator=gen) - 1) * bound  # (m, m + n_fake)
    lin_bias = (2 * torch.rand(n_targets, generator=gen) - 1) * bound  # (m,)
    ys, noises = {}, {}
    for name in _SPLITS:
        n_inst = int(config[f"n_{name}"])
        ys[name] = ctr_matrix(n_inst, n_items, n_targets, rank, bias, scale, gen)
        noises[name] = torch.randn(n_inst, n_items, n_fake, generator=gen)
    flat = ys["train"].reshape(-1, n_targets)
    mean, std = flat.mean(0), flat.std(0)  # (m,)
    return {
        name: Split(scramble_features(ys[name], mean, std, weight, lin_bias, noises[name]), ys[name], {})
        for name in _SPLITS
    }


def coverage(z: Tensor, y: Tensor) -> Tensor:
    """g(z, y) = Σ_j (1 − Π_i (1 − z_i y_ij)) for z (B, n), y (B, n, m) -> (B,) (LODL `get_objective`)."""
    return (1.0 - (1.0 - z.unsqueeze(-1) * y).prod(dim=-2)).sum(dim=-1)


def coverage_grad(z: Tensor, y: Tensor) -> Tensor:
    """∂g/∂z_i = Σ_j y_ij Π_{l≠i} (1 − z_l y_lj), by prefix and suffix products (no division): (B, n)."""
    fail = 1.0 - z.unsqueeze(-1) * y  # (B, n, m)
    ones = torch.ones_like(fail[..., :1, :])  # (B, 1, m)
    before = torch.cat([ones, fail[..., :-1, :]], dim=-2).cumprod(dim=-2)  # Π_{l<i}
    after = torch.cat([ones, fail.flip(-2)[..., :-1, :]], dim=-2).cumprod(dim=-2).flip(-2)  # Π_{l>i}
    return (y * before * after).sum(dim=-1)


def item_subsets(n_items: int, k: int) -> Tensor:
    """Every k-subset of n items as 0/1 rows, lexicographic: (C(n, k), n)."""
    rows = [
        [1.0 if i in chosen else 0.0 for i in range(n_items)] for chosen in itertools.combinations(range(n_items), k)
    ]
    return torch.tensor(rows)


class BudgetAllocation:
    """Spend a budget of k over n items to maximise expected coverage (TaskMet §5.1; Wilder et al. 2019).

    Predictions and targets are (B, n, m); decisions z are (B, n, 1), one allocation per item.
    """

    name = "budget"

    def __init__(
        self,
        n_items: int,
        n_targets: int,
        budget: int,
        pgd_steps: int,
        pgd_lr: float,
        pgd_momentum: float,
        smoothing: float,
    ):
        if not 0 < budget < n_items:
            raise ValueError(f"budget allocation needs 0 < budget < n_items; got {budget}, {n_items}")
        self.n_items, self.output_dim, self.budget = int(n_items), int(n_targets), int(budget)
        self.pgd_steps, self.pgd_lr, self.pgd_momentum = int(pgd_steps), float(pgd_lr), float(pgd_momentum)
        self.smoothing = float(smoothing)
        self.subsets = item_subsets(self.n_items, self.budget)  # (S, n)

    def decision_relaxed(self, y_hat: Tensor, aux: Mapping[str, Tensor]) -> Tensor:
        """Unrolled accelerated PGA of g(z, ŷ) − (γ/2)‖z‖² on {0 ≤ z ≤ 1, Σz = k}: (B, n, m) -> (B, n, 1).

        It starts from the uniform allocation k/n (LODL: a random z), so the decision is a function of ŷ
        alone (docs/papers/taskmet.md, deviations).
        """
        z0 = y_hat.new_full(y_hat.shape[:-1], self.budget / self.n_items)  # (B, n)
        z = accelerated_pga(
            lambda w: coverage_grad(w, y_hat) - self.smoothing * w,
            lambda w: project_capped_simplex(w, self.budget),
            z0,
            self.pgd_lr,
            self.pgd_momentum,
            self.pgd_steps,
        )
        return z.unsqueeze(-1)

    def decision_hard(self, y_hat: Tensor, aux: Mapping[str, Tensor]) -> Tensor:
        """The k-subset of highest predicted coverage, by enumeration: (B, n, m) -> (B, n, 1) in {0, 1}."""
        with torch.no_grad():
            subsets = self.subsets.to(y_hat)  # (S, n)
            values = coverage(subsets, y_hat.unsqueeze(-3))  # (B, S)
            best = subsets[values.argmax(dim=-1)]  # (B, n)
        return best.unsqueeze(-1)

    def objective(self, z: Tensor, y: Tensor, aux: Mapping[str, Tensor]) -> Tensor:
        """Expected coverage g(z, y) per instance, z (B, n, 1), y (B, n, m) -> (B,)."""
        return coverage(z.squeeze(-1), y)


def make_task(config: Mapping) -> BudgetAllocation:
    """The task from config keys n_items, n_targets, budget, pgd_steps, pgd_lr, pgd_momentum, smoothing (γ)."""
    return BudgetAllocation(
        int(config["n_items"]),
        int(config["n_targets"]),
        int(config["budget"]),
        int(config["pgd_steps"]),
        float(config["pgd_lr"]),
        float(config["pgd_momentum"]),
        float(config["smoothing"]),
    )
