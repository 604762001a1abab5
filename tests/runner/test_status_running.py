"""``experimenter status`` says ``running`` for a local experiment in progress (issue 58, item 3):
its ``.part`` is open for writing by the launch script's process; a ``.part`` nobody writes (a
run killed outright) stays ``incomplete``."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from dlbs.dispatch.status import local_state, open_for_writing, plan_status
from dlbs.experiment import Experiment


def _experiment(folder: Path, name: str) -> dict[str, str]:
    return {"exp.log_file": str(folder / f"{name}.log"), "exp.model": "alexnet"}


def test_a_part_being_written_is_running_and_an_abandoned_one_incomplete(tmp_path: Path) -> None:
    live, dead = _experiment(tmp_path, "live"), _experiment(tmp_path, "dead")
    Path(f"{dead['exp.log_file']}.part").write_text("__exp.model__=\"alexnet\"\n")
    part = Path(f"{live['exp.log_file']}.part")
    part.write_text("")
    # what the local executor does: the launch script's output appended to the .part
    with part.open("ab") as out:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                                 stdout=out, stderr=out)
    try:
        for _ in range(100):  # until the child's descriptor shows in /proc
            if str(part.resolve()) in open_for_writing():
                break
            time.sleep(0.05)
        states = plan_status([Experiment.of(live), Experiment.of(dead)])
        assert [s.state for s in states] == ["running", "incomplete"]
        # its stdout and stderr are two descriptors of one process: named once
        assert states[0].detail == f"here, written by pid {child.pid}"
    finally:
        child.kill()
        child.wait()
    assert local_state(0, Experiment.of(live)).state == "incomplete"  # its writer gone: killed outright


def test_a_part_open_only_for_reading_is_not_running(tmp_path: Path) -> None:
    exp = _experiment(tmp_path, "read")
    part = Path(f"{exp['exp.log_file']}.part")
    part.write_text("x\n")
    with part.open("rb"):  # a reader (tail -f, dlbs status itself) is no run
        assert local_state(0, Experiment.of(exp)).state == "incomplete"
