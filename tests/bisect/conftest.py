"""Fixtures of the bisect tests: a synthetic repository (``dlbs.bisect.synthetic``)."""
from __future__ import annotations

from pathlib import Path

import pytest

from dlbs.bisect.synthetic import make_repo


@pytest.fixture
def repo8(tmp_path: Path) -> tuple[Path, list[str]]:
    """8 commits; commit 5 makes the benchmark 5% slower (run noise 1%)."""
    path = tmp_path / "repo"
    return path, make_repo(path, 8, 5, slowdown=0.05, noise=0.01)
