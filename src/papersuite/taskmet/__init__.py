"""TaskMet: task-driven metric learning for model learning (Bansal, Chen, Mukadam, Amos, NeurIPS 2023,
arXiv:2312.05250).

A predictor f_θ is fitted under a learned metric A_φ(x) (a Mahalanobis prediction loss); the metric is
trained so that the fitted predictor makes good downstream decisions, by implicit differentiation through
the predictor's fit (paper §3, eq. 3-5). Modules: task (the `Task` interface a user implements, `Split`),
models (predictor and `MetricNet`), metric (the metric-weighted prediction loss), inner (the warm-started
Adam fit of θ), hypergradient (implicit function theorem with torch.func HVPs and normal-CG), train (the
bilevel loop and the MSE / DFL baselines), dq and evaluate (normalized decision quality), cubic (the
cubic top-k task), data (npz splits) and tasks (the task registry). docs/papers/taskmet.md describes what
is reproduced and every deviation.
"""

from .task import Split, Task

__all__ = ["Split", "Task"]
