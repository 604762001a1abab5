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
                        0.5, folder, 3)
    words = shlex.split(line.replace('"$node"', "n1"))
    assert words == ["/opt/my python/bin/python3", "-m", "dlbs", "accept", "localhost", "--node",
                     "n1", "--checks", "matmul,memcopy", "--plan", str(tmp_path / "p $x.json"),
                     "--burn-in", "0.5", "--repeat", "3", "--figures-out", f"{folder}/n1.json"]


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


def test_a_pair_task_runs_one_rank_a_node_with_the_rendezvous_on_the_first(
        tmp_path: Path) -> None:
    """The pair script run with stand-ins of scontrol and srun (which runs its command as
    ranks 0 and 1): every value reaches the ranks whole, the address is the first node's."""
    from dlbs.accept.fleetjob import pair_script

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text(
        '#!/bin/bash\nif [ "$2" = hostnames ]; then printf "n1\\nn2\\n"; '
        'else echo "NodeName=$3 Arch=x86_64 NodeAddr=10.0.0.$RANDOM NodeHostName=$3"; fi\n')
    (bin_dir / "srun").write_text(
        '#!/bin/bash\nwhile [ "${1#--}" != "$1" ]; do shift; done\n'
        'for r in 0 1; do SLURM_PROCID=$r "$@"; done\n')
    for stub in bin_dir.iterdir():
        stub.chmod(0o755)
    folder, python = tmp_path / "out dir's", tmp_path / "py thon"
    python.write_text('#!/bin/bash\necho "rank=$RANK addr=$MASTER_ADDR world=$WORLD_SIZE"\n'
                      'printf "%s\\n" "$@"\n')
    python.chmod(0o755)
    script = tmp_path / "pairs.sbatch"
    script.write_text(pair_script([("n1", "n2")], "debug", str(python), folder, tmp_path,
                                  repeat=3))
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin", "SLURM_ARRAY_TASK_ID": "0",
                               "SLURM_JOB_ID": "7", "SLURM_JOB_NODELIST": "n[1-2]"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [ln.split(" addr=")[0] for ln in lines if ln.startswith("rank=")] == ["rank=0",
                                                                                  "rank=1"]
    assert all(" world=2" in ln and "addr=10.0.0." in ln for ln in lines if "rank=" in ln)
    assert f"{folder}/pair-0-rank1.json" in lines and "n1,n2" in lines
    assert lines[lines.index("--repeat") + 1] == "3"


def test_a_node_slurm_cannot_start_a_job_on_is_not_measured_and_said(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """sinfo's answers recorded: n3 drained, n4 down (not responding): not measured."""
    from dlbs.accept import fleetjob
    from dlbs.slurm import ctl

    answers = {("sinfo", "-h", "-o", "%P"): "gpu*\ndebug\n",
               ("sinfo", "-h", "-N", "-p", "gpu", "-o", "%N|%t"):
                   "n1|idle\nn2|mix\nn3|drain\nn4|down*\n",
               ("scontrol", "show", "hostnames", "n[1-4]"): "n1\nn2\nn3\nn4\n"}
    monkeypatch.setattr(ctl, "run", lambda argv, timeout=60: answers[tuple(argv)])
    target = fleetjob.find_target("gpu", "n[1-4]")
    assert target.nodes == ["n1", "n2"]
    assert target.unavailable == {"n3": "drain", "n4": "down*"}
    with pytest.raises(UsageError) as caught:
        fleetjob.find_target("nosuch", None)
    assert str(caught.value) == ("dlbs accept: target 'nosuch' is neither localhost nor a "
                                 "partition this cluster has (sinfo lists: gpu, debug); give a "
                                 "partition, and --nodelist to measure some of its nodes")


def test_a_folder_used_before_never_gives_the_last_runs_figures(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Slurm recorded: the array is accepted but its tasks write nothing (the nodes broke).
    The figures and outputs a run before left in the same --output-dir are not read as this
    run's: both nodes fail 'measured' (they passed on the old files before)."""
    import json

    from dlbs.accept import fleetjob
    from dlbs.cli.main import main
    from dlbs.slurm import ctl

    folder = tmp_path / "accept"
    folder.mkdir()
    for i, node in enumerate(("n1", "n2")):
        (folder / f"{node}.json").write_text(json.dumps(
            {"node": node, "figures": {"matmul_fp32": [30.0, 30.1, 29.9]}, "facts": {}}))
        (folder / f"task-{i}.out").write_text("an old run's last line\n")
    monkeypatch.setattr(fleetjob, "find_target",
                        lambda partition, nodelist: fleetjob.Target(partition, ["n1", "n2"], {}))
    monkeypatch.setattr(ctl, "run", lambda argv, timeout=60: "7\n")
    monkeypatch.setattr(fleetjob, "wait", lambda *args: None)
    monkeypatch.setattr(ctl, "end_info", lambda task: None)
    assert main(["accept", "debug", "--checks", "matmul", "--output-dir", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "n1: FAIL: not measured: task 7_0: Slurm no longer knows it" in out.splitlines()
    assert "n2: FAIL: not measured: task 7_1: Slurm no longer knows it" in out.splitlines()
    assert "old run" not in out
