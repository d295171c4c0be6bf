"""Model-based RL with distractors (TaskMet §5.2, Bansal et al. NeurIPS 2023): MLE, OMD and TaskMet agents on
gymnasium CartPole-v1 with D i.i.d. N(0,1) distractor coordinates (docs/papers/taskmet.md, "RL")."""

from .agents import AGENTS
from .env import AddDistractors, make_env
from .loop import DEFAULTS, run

__all__ = ["AGENTS", "DEFAULTS", "AddDistractors", "make_env", "run"]
