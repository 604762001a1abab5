"""Plans too large to expand: every command that expands a plan counts it first and refuses
past ``--max-experiments`` in one line, within seconds and bounded memory; ``print --count``
stays exact.

The 8-million-experiment plan (three 200-value variables) runs as a user would run it, in a
process limited to 2 GiB of address space and a time limit: before the limit existed,
``validate`` grew to gigabytes with no output.
"""
from __future__ import annotations

import json

import pytest

from .test_expansion_faults import dlbs, error_line

VALUES = json.dumps(list(range(1, 201)))
HUGE = (f"-Vexp.replica_batch={VALUES}", f"-Vexp.num_warmup_batches={VALUES}",
        f"-Vexp.num_batches={VALUES}")


def test_print_count_counts_eight_million_experiments_without_expanding_them() -> None:
    result = dlbs("print", "--count", *HUGE)
    assert (result.returncode, result.stdout) == (0, "8000000\n"), result.stderr[-2000:]


@pytest.mark.parametrize("command", [
    pytest.param(("validate",), id="validate"),
    pytest.param(("run",), id="run"),
    pytest.param(("status",), id="status"),
    pytest.param(("print", "--format", "jsonl"), id="print"),
    pytest.param(("print", "--format", "table"), id="print-table"),
    pytest.param(("build",), id="build"),
])
def test_every_command_that_expands_refuses_eight_million_experiments(
        command: tuple[str, ...]) -> None:
    result = dlbs(*command, *HUGE)
    line = error_line(result)
    assert "more than 100,000 experiments (at least 8,000,000)" in line
    assert "--max-experiments" in line and result.stdout == ""
