"""docs/slurm.md's two-node example, run as it is written, on the real test cluster."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import dlbs

from .test_runner import facts_of

pytestmark = pytest.mark.slurm

DOC = Path(dlbs.PROJECT_ROOT) / "docs" / "slurm.md"


def example_commands() -> list[list[str]]:
    """The commands of the first bash block of the "A two-node example" section."""
    section = DOC.read_text(encoding="utf-8").split("## A two-node example", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block, "docs/slurm.md lost its example"
    text = block.group(1).replace("\\\n", " ")
    return [shlex.split(line) for line in text.splitlines() if line.strip()]


def test_two_node_example_runs_as_written(slurm: str, tmp_path: Path) -> None:
    commands = example_commands()
    assert [c[0] for c in commands] == ["experimenter", "experimenter", "dlbs"]
    outputs = []
    for argv in commands:
        result = subprocess.run([sys.executable, "-m", "dlbs", *argv[1:]], cwd=tmp_path,
                                capture_output=True, text=True, timeout=600, check=False)
        assert result.returncode == 0, f"{shlex.join(argv)}\n{result.stderr[-3000:]}"
        outputs.append(result)
    assert "2 experiments: 2 done (2 ok)" in outputs[1].stderr
    logs = sorted((tmp_path / "logs" / "slurm").glob("*.log"))
    facts = [facts_of(log) for log in logs]
    assert sorted(len(f["results.nodes"]) for f in facts) == [1, 2]
    assert sorted(f["exp.num_replicas"] for f in facts) == [1, 2]
    report = outputs[2].stdout
    assert "Efficiency" in report and "Speedup" in report
