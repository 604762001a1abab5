"""DLBS's own tutorial configs, unchanged, pointed at PyTorch on this CPU (tests/fixtures/
dlbs_tutorials: the advanced tutorial and the multi-GPU weak-scaling recipe), and the recipe's
own logparser and reporter commands on the logs they write."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .test_runner import facts_of

TUTORIALS = Path(__file__).resolve().parents[1] / "fixtures" / "dlbs_tutorials"
ADVANCED = TUTORIALS / "advanced.json"
WEAK = TUTORIALS / "multi_gpu_compute_scaling.json"
#: The advanced tutorial on this machine: PyTorch, bare metal, the CPU.
ON_CPU = ['-Vexp.framework=["pytorch"]', '-Vexp.gpus=[""]', "-Pexp.docker=false"]
#: The batches the tutorial's extensions enable, in DLBS's order (variables in the file's
#: order, the last one varying fastest).
ENABLED = ([("alexnet", b) for b in (64, 128, 256, 512)]
           + [("googlenet", b) for b in (64, 128, 256, 512)]
           + [("resnet50", b) for b in (32, 64, 128)] + [("vgg16", b) for b in (32, 64, 128)]
           + [("resnet152", b) for b in (16, 32, 64)])


def dlbs(cwd: Path, *argv: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BENCH_ROOT": str(cwd)}
    return subprocess.run([sys.executable, "-m", "dlbs", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def plan_of(cwd: Path, *argv: str) -> list[dict[str, Any]]:
    done = dlbs(cwd, "print", *argv)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    return plan if isinstance(plan, list) else plan["experiments"]


def test_the_advanced_tutorial_plans_as_dlbs_does(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "--config", str(ADVANCED), *ON_CPU)
    assert len(plan) == 45  # 5 models x 9 batches (one framework, one GPU list)
    enabled = [(e["exp.model"], e["exp.replica_batch"]) for e in plan
               if e["exp.status"] != "disabled"]
    assert enabled == ENABLED  # re-enabled with "exp.status": "" as in DLBS
    assert plan[0]["exp.log_file"] == f"{tmp_path}/pytorch/_alexnet_8.log"
    assert {e["exp.num_batches"] for e in plan} == {1} == {e["exp.num_warmup_batches"]
                                                            for e in plan}
    checked = dlbs(tmp_path, "validate", "--config", str(ADVANCED), *ON_CPU)
    assert checked.returncode == 0, checked.stderr
    assert "45 experiments: 17 to run, 28 disabled" in checked.stdout + checked.stderr


def test_the_unmodified_tutorial_names_the_framework_it_cannot_run(tmp_path: Path) -> None:
    done = dlbs(tmp_path, "validate", "--config", str(ADVANCED))
    assert done.returncode != 0
    (line,) = done.stderr.strip().splitlines()
    assert "exp.framework" in line and "nvidia_caffe" in line and "pytorch" in line


def test_the_advanced_tutorial_runs_its_enabled_experiments(tmp_path: Path) -> None:
    """Two of its batches for one model: the disabled one is skipped, the enabled one runs
    (its one timed iteration without the tutorial's warm-up one: alexnet at batch 64 takes
    seconds per iteration on a CPU)."""
    done = dlbs(tmp_path, "run", "--config", str(ADVANCED), *ON_CPU, '-Vexp.model=["alexnet"]',
                "-Vexp.replica_batch=[8, 64]", "-Pexp.num_warmup_batches=0")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 ok, 0 failed, 1 skipped" in done.stdout + done.stderr
    logs = sorted(p.name for p in (tmp_path / "pytorch").glob("*.log"))
    assert logs == ["_alexnet_64.log"]
    facts = facts_of(tmp_path / "pytorch" / "_alexnet_64.log")
    assert facts["results.status"] == "ok" and facts["exp.replica_batch"] == 64
    assert facts["results.num_batches_done"] == 1


def test_the_weak_scaling_recipe_runs_parses_and_reports(tmp_path: Path) -> None:
    """The recipe's config on 1 and 2 CPU replicas, then its own logparser and reporter lines
    (parameters as in its ``run`` script)."""
    done = dlbs(tmp_path, "run", "--config", str(WEAK), "-Pexp.framework=pytorch",
                "-Pexp.docker=false", "-Pexp.dtype=float32", '-Vexp.gpus=[""]',
                "-Vexp.cpu_replicas=[1, 2]", "-Pexp.model=resnet18", "-Pexp.replica_batch=8",
                "-Pexp.num_batches=2", "-Pexp.num_warmup_batches=1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in (tmp_path / "logs").glob("*.log")) == [
        "0_resnet18_16.log", "0_resnet18_8.log"]  # ${exp.num_gpus}_${exp.model}_${effective}
    (tmp_path / "reports").mkdir()
    params = ("exp.effective_batch,exp.replica_batch,results.time,results.throughput,"
              "exp.model_title,exp.gpus,exp.num_gpus,exp.model")
    parsed = subprocess.run([sys.executable, "-m", "dlbs", "parse", "./logs/", "--recursive",
                             "--output_params", params, "--output_file",
                             "./reports/results.json"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, check=False)
    assert parsed.returncode == 0, parsed.stderr
    records = json.loads((tmp_path / "reports" / "results.json").read_text())["data"]
    assert all(set(r) == set(params.split(",")) for r in records)
    thr = {r["exp.effective_batch"] // 8: r["results.throughput"] for r in records}
    report = dlbs(tmp_path, "report", "--summary_file", "./reports/results.json", "--type",
                  "weak-scaling", "--target_variable", "results.time")
    assert report.returncode == 0, report.stderr
    text = report.stdout
    speedup = thr[2] / thr[1]
    assert f"{speedup:.2f}" in section(text, "Speedup")
    assert f"{100 * speedup / 2:.1f}" in section(text, "Efficiency")
    assert "runs per experiment: 1" in text and "failed" not in text


def section(text: str, title: str) -> str:
    """The lines of one table of a text report (from its title to the next blank line)."""
    start = text.index(title)
    end = text.find("\n\n", start)
    return text[start:end if end > 0 else None]


@pytest.mark.parametrize("kind", ["strong-scaling", "exploration"])
def test_dlbs_report_types_are_accepted(tmp_path: Path, kind: str) -> None:
    summary = tmp_path / "results.json"
    summary.write_text(json.dumps({"data": [
        {"exp.model": "resnet50", "exp.replica_batch": 32, "exp.effective_batch": 32,
         "exp.num_gpus": 1, "results.time": 100.0, "results.throughput": 320.0},
        {"exp.model": "resnet50", "exp.replica_batch": 16, "exp.effective_batch": 32,
         "exp.num_gpus": 2, "results.time": 62.5, "results.throughput": 512.0}]}))
    done = dlbs(tmp_path, "report", "--summary_file", str(summary), "--type", kind)
    assert done.returncode == 0, done.stderr
    assert "320" in done.stdout and "512" in done.stdout
    if kind == "strong-scaling":
        assert "1.60" in section(done.stdout, "Speedup")  # 512 / 320 at a fixed effective batch
