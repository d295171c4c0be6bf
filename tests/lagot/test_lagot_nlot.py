"""NLOT with the amortized spline cost (docs/papers/lagot.md, "Known answers": c-transform through the amortizer,
tiny obstacle run)."""

from __future__ import annotations

import pytest
import torch

from papersuite.lagot.amortizer import SplineAmortizer, amortized_cost
from papersuite.lagot.ctransform import solve_ctransform
from papersuite.lagot.geometry import make_geometry
from papersuite.lagot.nlot import obstacle_mask

D64 = torch.float64


@pytest.fixture(autouse=True)
def _threads(one_thread):
    """Single-threaded torch (tests/conftest.py)."""


def _straight_amortizer() -> SplineAmortizer:
    """An amortizer whose spline deviation is zero: every predicted path is the chord."""
    amortizer = SplineAmortizer(2, 10, [16]).double()
    torch.nn.init.zeros_(amortizer.net[-1].weight)
    torch.nn.init.zeros_(amortizer.net[-1].bias)
    return amortizer


@pytest.mark.parametrize("name", ["euclidean", "euclidean_lagrangian"])
def test_ctransform_through_the_amortized_cost(name):
    """On chords, both Euclidean geometries' path cost is ½|x−y|² (midpoint rule, exact for a line), and its
    envelope gradient is the closed form: the L-BFGS c-transform of g(y) = ⟨a, y⟩ lands on x + a with value
    −⟨a, x⟩ − ½|a|² (measured error < 1e-12 in float64)."""
    geometry = make_geometry(name)
    amortizer = _straight_amortizer()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 2, generator=g, dtype=D64) - 0.5
    a = torch.tensor([0.4, -0.3], dtype=D64)

    def cost(xx, yy):
        return amortized_cost(geometry, amortizer, xx, yy)

    torch.testing.assert_close(cost(x, x + a), 0.5 * a.dot(a).expand(64), atol=1e-12, rtol=0)
    result = solve_ctransform(cost, lambda y: y @ a, x, x.clone(), geometry.bounds)
    torch.testing.assert_close(result.solution, x + a, atol=1e-4, rtol=0)
    torch.testing.assert_close(result.value, -(x @ a) - 0.5 * a.dot(a), atol=1e-4, rtol=0)


def test_obstacle_mask_marks_the_box_and_the_slit_wall():
    """Half the final barrier height splits inside from outside: the box [−0.5, 0.5]², the slit's wall
    |x₁| < 0.1 with |x₂| > 0.25; no mask for the Euclidean geometry."""
    box, slit = make_geometry("box"), make_geometry("slit")
    pts = torch.tensor([[0.0, 0.0], [0.45, -0.45], [0.55, 0.0], [0.0, 0.6], [0.0, 0.1], [1.0, 1.0]])
    assert obstacle_mask(box, pts).tolist() == [True, True, False, False, True, False]
    assert obstacle_mask(slit, pts).tolist() == [False, False, False, True, False, False]
    assert obstacle_mask(make_geometry("euclidean"), pts) is None
