"""Settings for the model-zoo tests: one intra-op thread (the test machines are small and
shared) and a fixture for throw-away registrations."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from pytorch_benchmarks.models._zoo import registry


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def scratch_registry() -> Iterator[list[str]]:
    """Names appended to the yielded list are unregistered after the test."""
    names: list[str] = []
    yield names
    for name in names:
        registry.unregister_model(name)
