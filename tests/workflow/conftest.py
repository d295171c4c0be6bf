"""Fixtures of the workflow tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from workflow_helpers import copy_repo


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    return copy_repo(tmp_path / "repo")
