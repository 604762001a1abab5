"""The job array of ``dlbs accept PARTITION`` as text: a task a node, every value quoted, a
task refusing to measure a node it was not sent to (issue 60). Run on a real Slurm cluster by
tests/runner/test_slurm_accept.py."""
from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from dlbs.accept.fleetjob import array_script, check_time, task_command
from dlbs.errors import UsageError, ValidationError


def test_a_task_runs_dlbs_accept_localhost_with_every_value_quoted(tmp_path: Path) -> None:
    folder = tmp_path / "it's here"
    line = task_command("/opt/my python/bin/python3", "matmul,memcopy", tmp_path / "p $x.json",
                        0.5, folder)
    words = shlex.split(line.replace('"$node"', "n1"))
    assert words == ["/opt/my python/bin/python3", "-m", "dlbs", "accept", "localhost", "--node",
                     "n1", "--checks", "matmul,memcopy", "--plan", str(tmp_path / "p $x.json"),
                     "--burn-in", "0.5", "--figures-out", f"{folder}/n1.json"]


def test_the_array_pins_a_task_a_node_and_checks_where_it_runs(tmp_path: Path) -> None:
    script = array_script(["n1", "n2"], "debug", "echo measured $node", tmp_path, "00:30:00")
    assert "#SBATCH --partition=debug\n" in script and "#SBATCH --time=00:30:00\n" in script
    assert "#SBATCH --exclusive\n" in script and "nodes=(n1 n2)\n" in script
    path = tmp_path / "a.sbatch"
    path.write_text(script)
    for task, where, code, said in ((1, "n2", 0, "measured n2"),
                                    (0, "n2", 1, "task 0 was sent to n1 but runs on n2")):
        done = subprocess.run(["bash", str(path)], capture_output=True, text=True, check=False,
                              env={"SLURM_ARRAY_TASK_ID": str(task), "SLURMD_NODENAME": where,
                                   "PATH": "/usr/bin:/bin"})
        assert done.returncode == code and said in done.stdout + done.stderr


@pytest.mark.parametrize("call,error,line", [
    pytest.param(lambda: check_time("2 hours"), UsageError,
                 "dlbs accept: --time '2 hours' is not a time limit sbatch takes", id="time"),
    pytest.param(lambda: array_script(["n1;rm"], "debug", "true", Path("/tmp")), ValidationError,
                 "parameter 'a node name' = 'n1;rm' cannot go into an #SBATCH line", id="node"),
])
def test_what_sbatch_could_not_take_is_refused_in_one_line(call: object, error: type,
                                                           line: str) -> None:
    with pytest.raises(error) as caught:
        call()  # type: ignore[operator]
    assert str(caught.value).startswith(line)
