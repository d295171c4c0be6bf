"""LagOT: Neural Optimal Transport with Lagrangian Costs (Pooladian, Domingo-Enrich, Chen, Amos, UAI 2024,
arXiv:2406.00288).

Optimal transport under the cost c(x, y) = min over paths γ(0) = x, γ(1) = y of ∫ ½γ̇ᵀA(γ)γ̇ − U(γ) dt,
with amortized spline geodesics, a neural dual with amortized c-transforms, and metric learning.
Modules: geometry (the `Geometry` interface, the path cost, the registry), obstacles (barrier potentials and
their annealing), metrics (Riemannian metrics, the learned metric), splines (fixed-end cubic-spline paths),
amortizer (the spline MLP and the envelope-theorem cost), geodesic (per-pair refinement). docs/papers/lagot.md
describes what is reproduced and every deviation.
"""

from .geometry import GEOMETRIES, Geometry, make_geometry, path_cost

__all__ = ["GEOMETRIES", "Geometry", "make_geometry", "path_cost"]
