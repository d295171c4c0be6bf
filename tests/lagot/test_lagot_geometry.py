"""Known answers of the geometries and the path cost (docs/papers/lagot.md, "Known answers")."""

from __future__ import annotations

import math

import pytest
import torch

from papersuite.lagot import geometry as geo
from papersuite.lagot import metrics, obstacles

D64 = torch.float64
ALL_NAMES = {
    "euclidean",
    "euclidean_lagrangian",
    "box",
    "slit",
    "hill",
    "well",
    "gmm",
    "vneck",
    "stunnel",
    "babymaze",
    "circle",
    "vee",
    "xpath",
    "learned",
}


@pytest.fixture(autouse=True)
def _threads(one_thread):
    """Single-threaded (tests/conftest.py)."""


def test_registry_holds_every_geometry_and_each_satisfies_the_protocol():
    """Every geometry of the paper's experiments and the learned metric is registered and is a `Geometry`."""
    assert set(geo.GEOMETRIES) == ALL_NAMES
    x = torch.randn(3, 4, 2, dtype=D64)
    for name in ALL_NAMES:
        g = geo.make_geometry(name).double() if name == "learned" else geo.make_geometry(name)
        assert isinstance(g, geo.Geometry) and g.mode in geo.MODES and len(g.bounds) == g.dim == 2
        A = g.metric(x)
        assert A.shape == (3, 4, 2, 2) and torch.allclose(A, A.transpose(-1, -2))
        assert torch.linalg.eigvalsh(A).min() > 0  # SPD
        assert g.potential(x, 0.5).shape == (3, 4)
    with pytest.raises(KeyError):
        geo.make_geometry("sphere")


@pytest.mark.parametrize("name", ["euclidean", "euclidean_lagrangian"])
def test_straight_line_costs_half_squared_distance(name):
    """A = I, U = 0: the chord costs exactly ½|x − y|² (scaled action; the original's unscaled 20-point sum
    gives ½|x − y|²/19) in both modes, for any number of points."""
    g = geo.make_geometry(name)
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(0), dtype=D64)
    y = torch.randn(16, 2, generator=torch.Generator().manual_seed(1), dtype=D64)
    for n in (2, 20, 57):
        cost = geo.path_cost(g, geo.straight_path(x, y, n))
        assert torch.allclose(cost, 0.5 * ((x - y) ** 2).sum(-1), atol=1e-12)


def test_sq_geodesic_cost_is_parametrisation_invariant():
    """½ length² does not change when the same curve is traversed at a non-uniform speed."""
    g = geo.make_geometry("circle")
    s = torch.linspace(0, 1, 400, dtype=D64)
    warped = s**2  # same curve, other speed
    arc = lambda u: torch.stack([torch.cos(math.pi * u), torch.sin(math.pi * u)], -1).unsqueeze(0)  # noqa: E731
    uniform, nonuniform = geo.path_cost(g, arc(s)), geo.path_cost(g, arc(warped))
    assert torch.allclose(uniform, nonuniform, rtol=1e-3)


def test_circle_metric_costs():
    """Circle metric, ε = 1e-3, (−1, 0) → (1, 0): chord 2.0; the upper half-circle ½(π√ε)² = 0.004935
    (midpoint rule on 20 points: measured 0.004922; the original's left-point rule gives 0.0385)."""
    g = geo.make_geometry("circle")
    x, y = torch.tensor([[-1.0, 0.0]], dtype=D64), torch.tensor([[1.0, 0.0]], dtype=D64)
    assert geo.path_cost(g, geo.straight_path(x, y, 20)).item() == pytest.approx(2.0, abs=1e-9)
    theta = torch.linspace(math.pi, 0, 20, dtype=D64)
    half_circle = torch.stack([torch.cos(theta), torch.sin(theta)], -1).unsqueeze(0)
    assert geo.path_cost(g, half_circle).item() == pytest.approx(0.5 * math.pi**2 * 1e-3, rel=0.01)


def test_metric_tensors_match_the_original_tests():
    """Circle A(−1,0) ≈ [[1,0],[0,0]], A(0,1) ≈ [[0,0],[0,1]]; vee A(0,0) ≈ [[0.5,0],[0,1]],
    A(1,1) ≈ [[0.5,−0.5],[−0.5,0.5]] (ε = 1e-3, atol 1e-2, the original's tests/test_metrics.py values)."""
    circle, vee = geo.make_geometry("circle"), geo.make_geometry("vee")
    A = circle.metric(torch.tensor([[-1.0, 0.0], [0.0, 1.0]], dtype=D64))
    assert torch.allclose(A[0], torch.tensor([[1.0, 0], [0, 0]], dtype=D64), atol=1e-2)
    assert torch.allclose(A[1], torch.tensor([[0.0, 0], [0, 1]], dtype=D64), atol=1e-2)
    A = vee.metric(torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=D64))
    assert torch.allclose(A[0], torch.tensor([[0.5, 0], [0, 1]], dtype=D64), atol=1e-2)
    assert torch.allclose(A[1], torch.tensor([[0.5, -0.5], [-0.5, 0.5]], dtype=D64), atol=1e-2)


def test_xpath_field():
    """X-paths: cheap direction (1,1)/√2 tanh(x₁x₂) in quadrants 1 and 3, (1,−1)/√2 tanh(−x₁x₂) in 2 and 4."""
    v = metrics.xpath_field(torch.tensor([[1.0, 1.0], [-1.0, 1.0], [2.0, 0.0]], dtype=D64))
    t = math.tanh(1.0) / math.sqrt(2.0)
    assert torch.allclose(v, torch.tensor([[t, t], [-t, t], [0.0, 0.0]], dtype=D64), atol=1e-12)


def test_learned_metric_has_fixed_eigenvalues_and_the_predicted_direction():
    """A = R(θ)ᵀ diag(1, 0.1) R(θ): eigenvalues (0.1, 1); the unit eigenvector (cos θ, −sin θ) has eigenvalue 1."""
    torch.manual_seed(0)
    g = metrics.LearnedMetricGeometry(hidden=(16, 16)).double()
    x = torch.randn(50, 2, dtype=D64)
    A = g.metric(x)
    assert torch.allclose(torch.linalg.eigvalsh(A), torch.tensor([0.1, 1.0], dtype=D64).expand(50, 2), atol=1e-12)
    theta = g.angle(x)
    e = torch.stack([torch.cos(theta), -torch.sin(theta)], -1)  # Rᵀ e₁
    assert torch.allclose((A @ e.unsqueeze(-1)).squeeze(-1), e, atol=1e-12)


def test_annealing_schedule():
    """M = 0 and temp = temp_start at progress 0; the end values at 1; monotone in between (the original's schedule)."""
    M_bounds, temp_bounds = (0.0, 3.61), (0.1, 0.01)
    assert obstacles.annealed_barrier(0.0, M_bounds, temp_bounds) == (0.0, 0.1)
    assert obstacles.annealed_barrier(1.0, M_bounds, temp_bounds) == (3.61, 0.01)
    grid = [obstacles.annealed_barrier(p / 100, M_bounds, temp_bounds) for p in range(101)]
    Ms, temps = [m for m, _ in grid], [t for _, t in grid]
    assert all(a <= b for a, b in zip(Ms, Ms[1:])) and all(a >= b for a, b in zip(temps, temps[1:]))
    box, x = geo.make_geometry("box"), torch.zeros(1, 2, dtype=D64)
    assert box.potential(x, 0.0).item() == 0.0
    assert box.potential(x, 1.0).item() == pytest.approx(-0.01 * 361, rel=1e-6)  # the original's M × (n − 1)²
    with pytest.raises(ValueError):
        obstacles.anneal_fraction(1.5)


def test_barrier_shapes():
    """Box and slit barriers are −M on the obstacle and 0 away from it; the slit's opening is free."""
    box, slit = geo.make_geometry("box"), geo.make_geometry("slit")
    pts = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 0.9], [0.0, 0.1]], dtype=D64)
    assert torch.allclose(box.potential(pts), torch.tensor([-3.61, 0, 0, -3.61], dtype=D64), atol=1e-6)
    assert torch.allclose(slit.potential(pts), torch.tensor([0, 0, -361.0, 0], dtype=D64), atol=0.05)


def test_clip_to_bounds():
    """Points are clamped to each dimension's bounds (vee: x ∈ [−2.5, 15], y ∈ [−15, 15])."""
    vee = geo.make_geometry("vee")
    clipped = geo.clip_to_bounds(vee, torch.tensor([[-5.0, 20.0], [1.0, -1.0]], dtype=D64))
    assert torch.equal(clipped, torch.tensor([[-2.5, 15.0], [1.0, -1.0]], dtype=D64))


def test_eigen_directions_on_a_grid():
    """On a grid over the circle's bounds the cheap eigenvector (smallest eigenvalue ε) is the circle's tangent."""
    circle = geo.make_geometry("circle")
    points = metrics.grid_points(circle.bounds, 7)
    assert points.shape == (49, 2) and torch.equal(points[1], torch.tensor([-1.0, -1.5], dtype=D64))
    away = points.norm(dim=-1) > 0.1
    values, vectors = metrics.eigen_directions(circle, points[away])
    assert torch.allclose(values, torch.tensor([1e-3, 1.0], dtype=D64).expand_as(values), atol=1e-12)
    tangent = metrics.circle_field(points[away])
    assert torch.allclose((vectors[..., 0] * tangent).sum(-1).abs(), torch.ones(int(away.sum()), dtype=D64))


class ConstantMetric:
    """A user's geometry written outside the package: constant A = diag(1, 4), no potential."""

    name, dim, mode = "diag14", 2, "lagrangian"
    bounds = ((-1.0, 1.0), (-1.0, 1.0))

    def metric(self, x: torch.Tensor) -> torch.Tensor:
        return torch.diag(torch.tensor([1.0, 4.0], dtype=x.dtype)).expand(*x.shape[:-1], 2, 2)

    def potential(self, x: torch.Tensor, anneal: float = 1.0) -> torch.Tensor:
        return torch.zeros_like(x[..., 0])


def test_a_user_geometry_plugs_in_without_touching_the_solver(monkeypatch):
    """A class with the protocol's members, registered by name, is a `Geometry`; under a constant metric the
    chord is the geodesic and costs ½ΔᵀAΔ, and a bent path costs more."""
    monkeypatch.setitem(geo.GEOMETRIES, "diag14", ConstantMetric)
    g = geo.make_geometry("diag14")
    assert isinstance(g, geo.Geometry)
    x, y = torch.tensor([[0.0, 0.0]], dtype=D64), torch.tensor([[1.0, 1.0]], dtype=D64)
    chord = geo.straight_path(x, y, 20)
    assert geo.path_cost(g, chord).item() == pytest.approx(0.5 * (1 + 4), abs=1e-12)
    bent = chord + 0.1 * torch.sin(torch.linspace(0, math.pi, 20, dtype=D64)).view(1, -1, 1)
    assert geo.path_cost(g, bent).item() > 2.5


def test_closed_form_quadratic_forms_equal_the_metric_tensors():
    """Each geometry's optional quadratic_form(x, v) equals vᵀA(x)v from metric(x) (path_cost uses the former):
    measured max difference 4.4e-15 in float64 (|v|² ≈ 2)."""
    gen = torch.Generator().manual_seed(0)
    x, v = torch.randn(500, 2, generator=gen, dtype=D64), torch.randn(500, 2, generator=gen, dtype=D64)
    for name in ALL_NAMES:
        g = geo.make_geometry(name).double() if name == "learned" else geo.make_geometry(name)
        if hasattr(g, "quadratic_form"):
            expected = torch.einsum("...i,...ij,...j->...", v, g.metric(x), v)
            torch.testing.assert_close(g.quadratic_form(x, v), expected, atol=1e-12, rtol=0)
