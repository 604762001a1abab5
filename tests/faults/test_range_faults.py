"""Counts, sizes and times out of range, refused before anything starts.

Each count, size or time parameter declares its accepted range in ``config/*.json`` (``min``,
``max``: sane bounds far above real runs, low enough that a value fits a C ``int``, a tensor
size or a timer). ``validate`` and ``run`` refuse a value out of it in one line naming the
parameter, the value and the range; ``run --no-validation`` still does (out of range, what
runs it crashes or hangs). Command-line counts (``--jobs``) are usage errors.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dlbs.cli.main import main
from dlbs.cli.param_ranges import Range, declared_ranges
from dlbs.config import default_config_files

CPU = ["-Pexp.model=resnet50", '-Pexp.gpus=""']
BIG = "99999999999999999999"  # 10^20: no C long holds it

#: (-P value, the start of the one-line problem)
OUT_OF_RANGE = [
    pytest.param(f"exp.replica_batch={BIG}", f"exp.replica_batch is {BIG}; it must be an "
                 "integer >= 1 or 'max' (at most 2147483647)", id="batch-overflow"),
    pytest.param("exp.replica_batch=-5", "exp.replica_batch is -5; it must be an integer >= 1",
                 id="batch-negative"),
    pytest.param("exp.replica_batch=0", "exp.replica_batch is 0; it must be an integer >= 1",
                 id="batch-zero"),
    pytest.param("exp.replica_batch=1.5", "parameter 'exp.effective_batch': cannot cast '1.5' "
                 "to int; give an integer such as 16 or 'max' (its value is computed from "
                 "exp.replica_batch", id="batch-fraction"),
    pytest.param("exp.replica_batch=nan", "parameter 'exp.replica_batch': cannot cast 'nan' to "
                 "int", id="batch-nan"),
    pytest.param("exp.replica_batch=true", "exp.replica_batch is True; it must be an integer",
                 id="batch-bool"),
    pytest.param(f"exp.num_batches={BIG}", f"exp.num_batches is {BIG}", id="batches-overflow"),
    pytest.param("exp.num_batches=0", "exp.num_batches is 0; it must be an integer >= 1",
                 id="batches-zero"),
    pytest.param("exp.num_batches=1e3", "exp.num_batches is 1000.0; it must be an integer",
                 id="batches-float"),
    pytest.param("exp.num_warmup_batches=-1", "exp.num_warmup_batches is -1", id="warmup"),
    pytest.param("exp.num_nodes=0", "exp.num_nodes is 0; it must be an integer >= 1",
                 id="nodes-zero"),
    pytest.param("exp.num_nodes=100000", "exp.num_nodes is 100000", id="nodes-many"),
    pytest.param("exp.cpu_threads=99999999999", "exp.cpu_threads is 99999999999; it must be an "
                 "integer >= 0 (at most 4096)", id="threads"),
    pytest.param("exp.cpu_replicas=0", "exp.cpu_replicas is 0", id="cpu-replicas"),
    pytest.param("exp.seq_len=-1", "exp.seq_len is -1", id="seq-len-negative"),
    pytest.param(f"exp.seq_len={BIG}", f"exp.seq_len is {BIG}", id="seq-len-overflow"),
    pytest.param(f"exp.generate={BIG}", f"exp.generate is {BIG}", id="generate-overflow"),
    pytest.param("exp.timeout=-5", "exp.timeout is -5; it must be an integer >= 0",
                 id="timeout-negative"),
    pytest.param(f"exp.timeout={BIG}", f"exp.timeout is {BIG} s (over 30 days)",
                 id="timeout-overflow"),
    pytest.param("exp.max_time=1e300", "exp.max_time is 1e+300; it must be a number of "
                 "seconds >= 0", id="max-time"),
    pytest.param("exp.target_precision=2", "exp.target_precision is 2", id="precision"),
    pytest.param("exp.peak_tflops=-1", "exp.peak_tflops is -1; it must be a number >= 0",
                 id="peak"),
    pytest.param("monitor.frequency=-1", "monitor.frequency is -1", id="monitor"),
    pytest.param("runtime.kill_grace=1e300", "runtime.kill_grace is 1e+300", id="kill-grace"),
    pytest.param("pytorch.num_loader_threads=-1", "pytorch.num_loader_threads is -1",
                 id="loader-threads"),
    pytest.param(f"pytorch.seed={BIG}", f"pytorch.seed is {BIG}", id="seed"),
    pytest.param("slurm.max_jobs=0", "slurm.max_jobs is 0; it must be an integer >= 1 (at most "
                 "10000)", id="slurm-max-jobs"),
    pytest.param("slurm.cpus_per_task=-1", "slurm.cpus_per_task is -1; it must be an integer "
                 ">= 0", id="slurm-cpus"),
    pytest.param("slurm.gpus_per_node=-1", "slurm.gpus_per_node is -1", id="slurm-gpus"),
    pytest.param("slurm.master_port=70000", "slurm.master_port is 70000; it must be an integer "
                 ">= 0 (at most 65535)", id="slurm-port"),
    pytest.param("exp.num_gpus=-5", "exp.num_gpus is -5; it must be an integer >= 0",
                 id="computed-gpus-negative"),
    pytest.param("exp.num_local_gpus=-1", "exp.num_local_gpus is -1", id="computed-local-gpus"),
    pytest.param("exp.num_replicas=0", "exp.num_replicas is 0; it must be an integer >= 1",
                 id="computed-replicas-zero"),
    pytest.param("exp.num_local_replicas=-2", "exp.num_local_replicas is -2",
                 id="computed-local-replicas"),
    pytest.param("exp.effective_batch=-5", "exp.effective_batch is -5; it must be an integer "
                 ">= 1 or 'max'", id="computed-effective-batch"),
    pytest.param("exp.repeat=100000000", "parameter 'exp.repeat': 100000000 runs of each "
                 "experiment is over the limit of 10000", id="repeat-huge"),
]


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize("param,problem", OUT_OF_RANGE)
def test_validate_refuses_a_value_out_of_range_in_one_line(
        capsys: pytest.CaptureFixture[str], param: str, problem: str) -> None:
    assert main(["validate", *CPU, f"-P{param}"]) == 1
    assert problem in error_line(capsys)


@pytest.mark.parametrize("options", [[], ["--no-validation"]], ids=["run", "no-validation"])
@pytest.mark.parametrize("param,problem", [
    pytest.param(f"exp.replica_batch={BIG}", f"exp.replica_batch is {BIG}", id="batch"),
    pytest.param("slurm.max_jobs=0", "slurm.max_jobs is 0", id="slurm-max-jobs"),
    pytest.param("runtime.kill_grace=-1", "runtime.kill_grace is -1", id="kill-grace"),
])
def test_run_refuses_before_anything_starts(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                            param: str, problem: str, options: list[str]) -> None:
    logs = tmp_path / "logs"
    assert main(["run", *CPU, f"-P{param}", f"-Pexp.log_dir={logs}", *options]) == 1
    assert problem in error_line(capsys)
    assert not logs.exists()  # no lock, no script, no log


def test_every_problem_is_named_with_log_level_info(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dlbs", "validate", "--log-level", "info", *CPU,
         "-Pslurm.max_jobs=0", "-Pslurm.cpus_per_task=-1", f"-Pexp.replica_batch={BIG}"],
        capture_output=True, text=True, check=False, timeout=120, cwd=tmp_path)
    assert result.returncode == 1
    err = result.stderr
    assert "(and 2 more problems; see --log-level info)" in err
    for name in ("slurm.max_jobs is 0", "slurm.cpus_per_task is -1", f"exp.replica_batch is {BIG}"):
        assert f"invalid: experiment 0: {name}" in err


@pytest.mark.parametrize("param", [
    "exp.replica_batch=2147483647", "exp.replica_batch=max", "exp.num_warmup_batches=0",
    "exp.timeout=2592000", "slurm.max_jobs=10000", "slurm.master_port=65535",
    "exp.peak_tflops=1.5", "exp.num_batches=2147483647", "exp.cpu_threads=0",
])
def test_values_at_the_bounds_are_accepted(capsys: pytest.CaptureFixture[str], param: str) -> None:
    assert main(["validate", *CPU, f"-P{param}"]) == 0, capsys.readouterr().err


def _numeric_definitions() -> dict[str, dict[str, Any]]:
    found = {}
    for path in default_config_files():
        for name, spec in json.loads(path.read_text())["parameters"].items():
            if isinstance(spec, dict) and spec.get("type") in ("int", "float"):
                found[name] = spec
    return found


def test_every_count_size_and_time_declares_its_range() -> None:
    """Every number has ``min`` and ``max``; the computed ones (their default an expression)
    at least ``min``: a user may set one (``-Pexp.num_gpus=-5``), and their maximum follows
    from the parameters they are computed from."""
    missing = [name for name, spec in _numeric_definitions().items()
               if not ("min" in spec and ("max" in spec
                                          or str(spec["val"]).startswith(("$(", "${"))))]
    assert not missing, f"declare 'min' and 'max' in config/*.json for {missing}"


def test_every_default_lies_in_its_range() -> None:
    definitions = _numeric_definitions()
    for declared in declared_ranges():
        value = definitions[declared.name]["val"]
        if not str(value).startswith(("$(", "${")):
            assert declared.problem(value) is None, declared.name
        assert declared.high is None or declared.high < 2**63  # fits a C long


@pytest.mark.parametrize("value,fits", [
    (1, True), (10, True), (11, False), (0, False), (2.0, False), (True, False), ("3", False),
    (None, False), (10**400, False), ("max", True),
])
def test_a_range_checks_kind_and_bounds(value: Any, fits: bool) -> None:
    declared = Range("p", "int", 1, 10, frozenset({"max"}))
    assert (declared.problem(value) is None) is fits


def test_a_5000_digit_value_is_named_without_printing_it() -> None:
    problem = Range("p", "int", 1, 10).problem(10**4999)
    assert problem == "p is an integer of more than 60 digits; it must be an integer >= 1 " \
                      "(at most 10)"


def test_a_user_config_cannot_declare_a_range(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Ranges are dlbs's own declarations; a user config that writes one is told so, not
    silently ignored."""
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"parameters": {"exp.replica_batch": {"val": 4, "min": 8}}}))
    assert main(["print", "--config", str(config), *CPU]) == 1
    assert "parameter 'exp.replica_batch': unknown key 'min'" in error_line(capsys)


@pytest.mark.parametrize("prog", ["logparser", "report"])
@pytest.mark.parametrize("jobs", ["0", "-1", "4096", "two", BIG])
def test_jobs_out_of_range_is_a_usage_error(tmp_path: Path, prog: str, jobs: str) -> None:
    log = Path(__file__).parents[1] / "logs" / "fixtures" / "ok_resnet50_b16.log"
    argv = ([sys.executable, "-c", ("import sys; from dlbs.cli.main import logparser_main; "
                                    "sys.exit(logparser_main())")] if prog == "logparser"
            else [sys.executable, "-m", "dlbs", "report"])
    result = subprocess.run([*argv, str(log), "--jobs", jobs], capture_output=True, text=True,
                            check=False, timeout=120, cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    last = result.stderr.strip().splitlines()[-1]
    assert "error: argument --jobs:" in last and "give an integer from 1 to 1024" in last
    assert "Traceback" not in result.stderr
