"""The registry of decision tasks: name -> (make_task(config), make_data(config, seed))."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from . import budget, cubic, portfolio
from .task import Split, Task

__all__ = ["TASKS", "get_task"]

TaskFactory = Callable[[Mapping], Task]
DataFactory = Callable[[Mapping, int], dict[str, Split]]

TASKS: dict[str, tuple[TaskFactory, DataFactory]] = {
    "cubic": (cubic.make_task, cubic.make_data),
    "budget": (budget.make_task, budget.make_data),
    "portfolio": (portfolio.make_task, portfolio.make_data),
}


def get_task(name: str) -> tuple[TaskFactory, DataFactory]:
    """The (make_task, make_data) pair registered as ``name``."""
    if name not in TASKS:
        raise KeyError(f"unknown taskmet task {name!r}; known: {sorted(TASKS)}")
    return TASKS[name]
