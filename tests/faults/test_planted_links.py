"""Planted links: every file dlbs or the benchmark creates or appends to in a folder a user
names is never opened through a symbolic link (nor a hard link, FIFO or directory) someone
planted at its name. The refusal is one line naming the path (the command's usual error and a
non-zero exit; in a sweep, that experiment fails and the sweep goes on; in the benchmark, a
failure status), and nothing outside the folder is touched: the link's target keeps its bytes
and its mtime, and no file is made where a dangling link points.

Each row runs the real command as a user runs it (``python -m dlbs run/build/report/parse``,
``benchmarks.py``, ``python -m pytorch_benchmarks.prepare``), except the Slurm files (the
executor is called, nothing is submitted) and temporary names built from the pid (planted
for the test's own pid, then the writer is called in-process).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pytorch_benchmarks.facts import format_fact, iter_facts

from dlbs.experiment import Experiment

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "python" / "pytorch_benchmarks" / "benchmarks.py"
PLAN = ['-Pexp.gpus=""', "-Pexp.model=deep_mnist", "-Pexp.replica_batch=2",
        "-Pexp.num_warmup_batches=1", "-Pexp.num_batches=2"]
TINY = ["--model", "deep_mnist", "--device", "cpu", "--batch_size", "2", "--num_batches", "2",
        "--num_warmup_batches", "1", "--peak_tflops", "1"]
SYMLINK_WORDS = "is a symbolic link: refusing to follow it"


# --- what is outside, and how it is planted --------------------------------------------------

@dataclass
class Outside:
    """A folder outside every folder the commands write to, holding one precious file."""

    folder: Path

    @property
    def file(self) -> Path:
        return self.folder / "precious.txt"

    def snapshot(self) -> tuple[list[str], bytes, int]:
        return (sorted(p.name for p in self.folder.iterdir()), self.file.read_bytes(),
                self.file.stat().st_mtime_ns)


@pytest.fixture
def outside(tmp_path: Path) -> Outside:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "precious.txt").write_text("precious: not yours to write\n")
    old = time.time() - 3600  # an mtime any write would change
    os.utime(folder / "precious.txt", (old, old))
    return Outside(folder)


def plant(path: Path, how: str, outside: Outside) -> None:
    """Put at ``path`` what someone else could have put there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if how == "symlink":
        path.symlink_to(outside.file)
    elif how == "dangling":
        path.symlink_to(outside.folder / "made-through-the-link")
    elif how == "hardlink":
        os.link(outside.file, path)
    elif how == "fifo":
        os.mkfifo(path)
    elif how == "directory":
        path.mkdir()
    else:
        raise ValueError(how)


def python(*argv: str, cwd: Path, env: dict[str, str] | None = None,
           timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """``python ARGV`` as a user runs it (the timeout is a hang guard only)."""
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=timeout, check=False)


def write_logs(folder: Path, statuses: tuple[str, ...] = ("ok", "ok")) -> Path:
    """Two small benchmark logs to report on or parse (batches 2 and 4)."""
    folder.mkdir(parents=True, exist_ok=True)
    for batch, status in zip((2, 4), statuses):
        facts = {"exp.framework": "pytorch", "exp.model": "deep_mnist", "exp.phase": "training",
                 "exp.replica_batch": batch, "exp.effective_batch": batch,
                 "exp.num_replicas": 1, "exp.device_type": "cpu", "exp.dtype": "float32",
                 "results.time": 1.5, "results.throughput": 100.0 * batch,
                 "results.status": status}
        (folder / f"b{batch}.log").write_text(
            "".join(format_fact(k, v) + "\n" for k, v in facts.items()))
    return folder


def the_line(done: subprocess.CompletedProcess[str], planted: Path, words: str) -> str:
    """The one line of output that names ``planted`` and says ``words``."""
    lines = [line for line in (done.stderr + done.stdout).splitlines()
             if str(planted) in line and words in line]
    assert lines, f"no line names {planted} with {words!r}:\n{done.stderr}\n{done.stdout}"
    return lines[0]


def assert_clean(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stderr + done.stdout, done.stderr


# --- the table: one row per kind of file -------------------------------------------------------

@dataclass
class Case:
    """A command, the name planted before it runs, and the first words of its refusal."""

    argv: list[str]
    planted: Path
    env: dict[str, str] | None = None
    before: str = ""  # words that come before the path in the refusal's line
    unwritten: tuple[Path, ...] = ()  # outputs that must not be written either


def run_case(tmp: Path, name: str, *extra: str) -> Case:
    logs = tmp / "logs"
    return Case(["-m", "dlbs", "run", *PLAN, f"-Pexp.log_dir={logs}",
                 "-Pexp.log_file=${exp.log_dir}/a.log", "--progress-bar", "off", *extra],
                logs / name, before="failure: ")


def lock_case(tmp: Path) -> Case:
    logs = tmp / "logs"
    case = run_case(tmp, ".dlbs-run.lock")
    case.before = f"error: cannot use the log folder {logs}: "
    return case


def progress_case(tmp: Path) -> Case:
    case = run_case(tmp, "a.log", "--progress-file", str(tmp / "progress.json"))
    case.planted, case.before = tmp / "progress.json", "error: cannot write the progress file"
    return case


def plan_case(tmp: Path) -> Case:
    plan = tmp / "plan.json"
    return Case(["-m", "dlbs", "build", *PLAN, "--output", str(plan)], plan,
                before="error: cannot write plan file")


def report_case(flag: str, name: str) -> Callable[[Path], Case]:
    def make(tmp: Path) -> Case:
        logs, target = write_logs(tmp / "in"), tmp / "out" / name
        target.parent.mkdir()
        return Case(["-m", "dlbs", "report", str(logs), flag, str(target)], target,
                    before="error: cannot write report to")
    return make


def chart_case(tmp: Path) -> Case:
    logs, charts = write_logs(tmp / "in"), tmp / "charts"
    charts.mkdir()
    return Case(["-m", "dlbs", "report", str(logs), "--plot", str(charts), "--output_file",
                 str(tmp / "report.txt")], charts / "throughput_deep_mnist.png",
                before="error: --plot: cannot write charts to", unwritten=(tmp / "report.txt",))


def parse_case(name: str) -> Callable[[Path], Case]:
    def make(tmp: Path) -> Case:
        logs, target = write_logs(tmp / "in"), tmp / "out" / name
        target.parent.mkdir()
        return Case(["-m", "dlbs", "parse", str(logs), "--output_file", str(target)], target,
                    before="error: cannot write")
    return make


def failed_file_case(tmp: Path) -> Case:
    logs, out = write_logs(tmp / "in", ("ok", "failure")), tmp / "out"
    out.mkdir()
    return Case(["-m", "dlbs", "parse", str(logs), "--output_file", str(out / "r.json"),
                 "--failed_benchmarks", "keep_separately"], out / "r_failed.json",
                before="error: cannot write", unwritten=(out / "r.json",))


def benchmark_log_case(tmp: Path) -> Case:
    log = tmp / "logs" / "bench.log"
    return Case([str(SCRIPT), *TINY, "--log_file", str(log)], log,
                before="cannot append to --log_file")


def usage_error_log_case(tmp: Path) -> Case:
    """A usage error is written as a failure fact to ``--log_file``: never through a link."""
    log = tmp / "logs" / "bench.log"
    return Case([str(SCRIPT), "--log_file", str(log), "--batch_size", "zero"], log,
                before="benchmarks.py: cannot append to --log_file")


def marker_case(tmp: Path) -> Case:
    out = tmp / "data"
    out.mkdir()
    return Case(["-m", "pytorch_benchmarks.prepare", "imagefolder", "--out", str(out),
                 "--num_images", "4", "--size", "16"], out / ".dlbs-dataset.json",
                before="is left untouched:")


CASES = [
    pytest.param(lock_case, id="lock"),
    pytest.param(lambda t: run_case(t, "a.sh"), id="launch-script"),
    pytest.param(lambda t: run_case(t, "a.log.part"), id="part"),
    pytest.param(lambda t: run_case(t, "a.log"), id="log"),
    pytest.param(progress_case, id="progress-file"),
    pytest.param(plan_case, id="plan"),
    pytest.param(report_case("--output_file", "report.html"), id="report"),
    pytest.param(report_case("--report_file", "summary.json"), id="report-file"),
    pytest.param(chart_case, id="chart"),
    pytest.param(parse_case("records.csv"), id="csv"),
    pytest.param(parse_case("records.json"), id="json"),
    pytest.param(parse_case("records.jsonl"), id="jsonl"),
    pytest.param(parse_case("records.json.gz"), id="json-gz"),
    pytest.param(failed_file_case, id="failed-file"),
    pytest.param(benchmark_log_case, id="benchmark-log-file"),
    pytest.param(usage_error_log_case, id="benchmark-usage-error-log-file"),
    pytest.param(marker_case, id="dataset-marker"),
]


@pytest.mark.parametrize("make", CASES)
def test_a_link_planted_at_a_name_we_write_is_refused_naming_it(
        make: Callable[[Path], Case], tmp_path: Path, outside: Outside) -> None:
    (tmp_path / "work").mkdir()
    case = make(tmp_path / "work")
    plant(case.planted, "symlink", outside)
    before = outside.snapshot()
    done = python(*case.argv, cwd=tmp_path, env=case.env)
    assert done.returncode != 0, done.stderr
    assert_clean(done)
    line = the_line(done, case.planted, SYMLINK_WORDS)
    assert case.before in line.split(str(case.planted))[0], line
    assert outside.snapshot() == before
    assert case.planted.is_symlink()  # left for its owner to see
    for path in case.unwritten:
        assert not path.exists(), f"{path} was written though {case.planted} was refused"


def test_the_benchmark_reports_the_refused_log_file_as_its_failure(tmp_path: Path,
                                                                   outside: Outside) -> None:
    log = tmp_path / "bench.log"
    plant(log, "symlink", outside)
    done = python(str(SCRIPT), *TINY, "--log_file", str(log), cwd=tmp_path)
    facts = dict(iter_facts(done.stdout.splitlines()))  # the facts went to stdout instead
    assert done.returncode == 1 and facts["results.status"] == "failure"
    assert facts["results.error"] == (f"cannot append to --log_file {log}: is a symbolic link: "
                                      "refusing to follow it (someone may have planted it); "
                                      "remove it or use a folder only you can write to")


# --- the runner: other things planted, sub-folders, the sweep going on ------------------------

def run_plan(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return python("-m", "dlbs", "run", *PLAN, f"-Pexp.log_dir={tmp_path / 'logs'}",
                  "--progress-bar", "off", *extra, cwd=tmp_path)


@pytest.mark.parametrize("how, words", [
    pytest.param("dangling", SYMLINK_WORDS, id="dangling-link"),
    pytest.param("hardlink", "has 2 hard links: refusing to write through it", id="hard-link"),
    pytest.param("fifo", "is a FIFO, not a regular file", id="fifo"),
    pytest.param("directory", "is a directory, not a regular file", id="directory"),
])
@pytest.mark.parametrize("name", [".dlbs-run.lock", "a.log"])
def test_anything_but_a_regular_file_at_the_lock_or_a_log_is_refused(
        tmp_path: Path, outside: Outside, name: str, how: str, words: str) -> None:
    planted = tmp_path / "logs" / name
    plant(planted, how, outside)
    before = outside.snapshot()
    done = run_plan(tmp_path, "-Pexp.log_file=${exp.log_dir}/a.log")
    assert_clean(done)
    line = the_line(done, planted, words)
    if name == ".dlbs-run.lock":  # the whole sweep is refused before anything runs
        assert done.returncode == 1 and line.startswith("error: cannot use the log folder")
        assert not (tmp_path / "logs" / "a.log").exists()
    else:  # that experiment fails; nothing of it is left, the next run tries again
        assert done.returncode == 1 and line.strip().startswith("failure: ")
        assert sorted(p.name for p in planted.parent.iterdir()) == [".dlbs-run.lock", "a.log"]
    assert outside.snapshot() == before


def test_a_sweep_goes_on_past_an_experiment_whose_files_were_planted(tmp_path: Path,
                                                                     outside: Outside) -> None:
    logs = tmp_path / "logs"
    plant(logs / "b2.sh", "symlink", outside)
    plant(logs / "b3.log.part", "hardlink", outside)
    done = run_plan(tmp_path, "-Vexp.replica_batch=[2, 3, 4]",
                    "-Pexp.log_file=${exp.log_dir}/b${exp.replica_batch}.log")
    assert done.returncode == 1 and "1 ok, 2 failed" in done.stderr, done.stderr
    assert_clean(done)
    the_line(done, logs / "b2.sh", SYMLINK_WORDS)
    the_line(done, logs / "b3.log.part", "has 2 hard links")
    assert dict(iter_facts((logs / "b4.log").read_text().splitlines()))["results.status"] == "ok"
    assert outside.file.read_text() == "precious: not yours to write\n"
    assert not (logs / "b2.log").exists() and not (logs / "b3.log").exists()


@pytest.mark.parametrize("validation", [[], ["--no-validation"]], ids=["validated", "no-validation"])
def test_a_log_sub_folder_planted_as_a_link_out_of_the_log_folder_is_refused(
        tmp_path: Path, outside: Outside, validation: list[str]) -> None:
    """``logs/sub`` planted as a link to a folder outside: nothing is made there (not the log,
    its script, a lock file, nor a deeper folder), at validation or at write time."""
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "sub").symlink_to(outside.folder)
    before = outside.snapshot()
    done = run_plan(tmp_path, "-Pexp.log_file=${exp.log_dir}/sub/deeper/a.log", *validation)
    assert done.returncode == 1, done.stderr
    assert_clean(done)
    assert outside.snapshot() == before  # no 'deeper' folder, no .dlbs-run.lock
    if validation:
        the_line(done, tmp_path / "logs" / "sub" / "deeper",
                 f"resolves to '{outside.folder / 'deeper'}', outside exp.log_dir")
    else:
        assert "leaves exp.log_dir" in done.stderr


def _runs_a_benchmark(pid: int) -> bool:
    import psutil

    for child in psutil.Process(pid).children(recursive=True):
        try:
            if any("benchmarks.py" in part for part in child.cmdline()):
                return True
        except psutil.Error:  # ended meanwhile
            pass
    return False


def test_a_log_sub_folder_swapped_for_a_link_while_the_benchmark_runs_gets_no_trailer(
        tmp_path: Path, outside: Outside) -> None:
    """The folder is checked again when the trailer is written: nothing is made outside."""
    logs = tmp_path / "logs"
    runner = subprocess.Popen(
        [sys.executable, "-m", "dlbs", "run", *PLAN, "-Pexp.num_batches=1000000",
         "-Pexp.max_time=2", f"-Pexp.log_dir={logs}", "-Pexp.log_file=${exp.log_dir}/sub/a.log",
         "--progress-bar", "off"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120  # a hang guard: the benchmark starts in seconds
        while not _runs_a_benchmark(runner.pid):
            assert time.monotonic() < deadline and runner.poll() is None, "no benchmark"
            time.sleep(0.05)
        before = outside.snapshot()
        (logs / "sub").rename(logs / "moved")
        (logs / "sub").symlink_to(outside.folder)
        _, err = runner.communicate(timeout=240)
    finally:
        runner.kill()
    assert runner.returncode == 1 and "Traceback" not in err, err
    assert f"failure: {logs / 'sub' / 'a.log'}: '{logs / 'sub'}' resolves to " \
           f"'{outside.folder}', outside exp.log_dir" in err
    assert outside.snapshot() == before


# --- Slurm: the batch script, the job record and the end file ----------------------------------

@pytest.fixture
def slurm_experiment(tmp_path: Path) -> dict[str, Any]:
    done = python("-m", "dlbs", "print", *PLAN, "-Pexp.scheduler=slurm",
                  f"-Pexp.log_dir={tmp_path / 'logs'}", "-Pexp.log_file=${exp.log_dir}/a.log",
                  cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (exp,) = json.loads(done.stdout)
    return exp


@pytest.mark.parametrize("name", ["a.sbatch", "a.log.job", "a.log.end"])
def test_a_link_planted_at_a_slurm_file_fails_the_experiment_before_submitting(
        tmp_path: Path, outside: Outside, slurm_experiment: dict[str, Any], name: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from dlbs.runner import Runner
    from dlbs.slurm import ctl as slurmctl
    from dlbs.slurm.executor import SlurmExecutor

    submitted: list[tuple[Any, ...]] = []
    monkeypatch.setattr(slurmctl, "submit", lambda *args: submitted.append(args) or "7")
    logs = tmp_path / "logs"
    plant(logs / name, "symlink", outside)
    before = outside.snapshot()
    summary = Runner(out=io.StringIO(), err=io.StringIO(), bar=False,
                     executor=SlurmExecutor()).run([slurm_experiment])
    (failed,) = summary.failures
    assert failed.error == (f"'{logs / name}' {SYMLINK_WORDS} (someone may have planted it); "
                            "remove it or use a folder only you can write to")
    assert not submitted and outside.snapshot() == before
    assert sorted(p.name for p in logs.iterdir()) == sorted([".dlbs-run.lock", name])


def test_the_batch_script_writes_its_end_file_never_through_a_planted_link(
        tmp_path: Path, outside: Outside, slurm_experiment: dict[str, Any]) -> None:
    """The line of the real batch script that tells the runner the job ended, run by bash: a
    link planted at ``<log>.end`` while the job ran is replaced, not written through."""
    from dlbs.slurm.script import build_batch_script

    end_file = tmp_path / "logs" / "a.log.end"
    script = build_batch_script(Experiment.of(slurm_experiment), str(tmp_path / "a.sh"), str(end_file))
    (line,) = [x for x in script.splitlines() if x.startswith("end=$(mktemp")]
    plant(end_file, "symlink", outside)
    before = outside.snapshot()
    done = subprocess.run(["bash", "-c", f"set -eu\ncode=3\n{line}\necho after"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout == "after\n", done.stderr
    assert outside.snapshot() == before
    assert not end_file.is_symlink() and end_file.read_text() == "3\n"
    assert sorted(p.name for p in end_file.parent.iterdir()) == ["a.log.end"]


# --- the benchmark: calibration cache and profiler traces --------------------------------------

def test_a_link_planted_at_the_calibration_cache_is_neither_read_nor_written(
        tmp_path: Path, outside: Outside) -> None:
    cache = tmp_path / "cache"
    plant(cache / "cpu_peak_tflops.json", "symlink", outside)
    before = outside.snapshot()
    done = python(str(SCRIPT), *TINY[:-2],  # no --peak_tflops: the CPU's peak is measured
                  cwd=tmp_path, env={"DLBS_CACHE_DIR": str(cache)})
    assert done.returncode == 0, done.stderr
    facts = dict(iter_facts(done.stdout.splitlines()))
    assert facts["results.status"] == "ok"
    assert (f"not cached ({cache / 'cpu_peak_tflops.json'}: is a symbolic link: refusing to "
            "follow it") in facts["results.matmul_peak_source"]
    assert outside.snapshot() == before


def test_links_planted_at_the_trace_names_are_skipped_never_written_through(
        tmp_path: Path, outside: Outside) -> None:
    """The trace's name holds the time to the second: links planted at the names of the next
    minutes are taken names, the trace gets another (``-2``) and no link is followed."""
    from pytorch_benchmarks.measure.profiling import trace_path

    traces = tmp_path / "traces"
    traces.mkdir()
    start = time.time()
    for second in range(-5, 600):
        name = Path(trace_path(str(traces), "deep_mnist", "training", 0, 2, "float32",
                               now=start + second))
        name.unlink()  # trace_path reserved it: plant a link in its place
        name.symlink_to(outside.file)
    before = outside.snapshot()
    done = python(str(SCRIPT), *TINY, "--profile", str(traces), cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    facts = dict(iter_facts(done.stdout.splitlines()))
    written = Path(facts["results.profile_path"])
    assert written.name.endswith("-2.trace.json") and not written.is_symlink()
    assert "traceEvents" in written.read_text()
    assert outside.snapshot() == before


def test_a_link_swapped_in_for_a_reserved_trace_is_refused(tmp_path: Path,
                                                           outside: Outside) -> None:
    """Between reserving its name and writing it, the trace's file is replaced by a link."""
    from pytorch_benchmarks.measure.profiling import export_trace
    from safeio import UnsafeFileError

    path = tmp_path / "x.trace.json"
    plant(path, "symlink", outside)
    before = outside.snapshot()
    with pytest.raises(UnsafeFileError, match="symbolic link"):
        export_trace(lambda name: Path(name).write_text('{"traceEvents": []}'), str(path))
    assert outside.snapshot() == before and path.is_symlink()
    assert [p.name for p in tmp_path.iterdir() if p.name != "outside"] == ["x.trace.json"]


# --- temporary names built from the pid --------------------------------------------------------

def _progress(path: Path) -> None:
    from dlbs.runner.progress import Progress
    Progress(1, str(path), stream=open(os.devnull, "w"), bar=False)  # noqa: SIM115


def _plan(path: Path) -> None:
    from dlbs.cli.build_plan import _write_file
    from dlbs.cli.planargs import PlanSource
    _write_file(path, PlanSource(experiments=iter([{"exp.model": "deep_mnist"}]), specs={},
                                 environ={}, hints={}))


def _records(path: Path) -> None:
    from dlbs.logs.store import write_records
    write_records([{"exp.model": "deep_mnist"}], path)


def _job_record(path: Path) -> None:
    from dlbs.slurm.jobfile import write_job_file
    write_job_file(path.with_suffix(""), {"job_id": "7"})


def _calibration(path: Path) -> None:
    from pytorch_benchmarks.measure.calibration import _write_cache
    assert _write_cache(path, {"k": 1}) is None


@pytest.mark.parametrize("write, name, old_tmp", [
    pytest.param(_progress, "progress.json", ".progress.json.{pid}.tmp", id="progress-file"),
    pytest.param(_plan, "plan.json", ".plan.json.{pid}.tmp", id="plan"),
    pytest.param(_records, "records.csv", ".records.csv.{pid}.tmp", id="records"),
    pytest.param(_job_record, "a.log.job", ".a.log.job.{pid}.tmp", id="slurm-job-record"),
    pytest.param(_calibration, "cpu_peak_tflops.json", "cpu_peak_tflops.json.{pid}.tmp",
                 id="calibration-cache"),
])
def test_a_link_planted_at_the_old_pid_temporary_name_is_never_written(
        tmp_path: Path, outside: Outside, write: Callable[[Path], None], name: str,
        old_tmp: str) -> None:
    """These files were written to ``.<name>.<pid>.tmp``, a name anyone could plant ahead: now
    to a fresh ``mkstemp`` name, and renamed over the file."""
    folder = tmp_path / "shared"
    plant(folder / old_tmp.format(pid=os.getpid()), "symlink", outside)
    before = outside.snapshot()
    write(folder / name)
    assert outside.snapshot() == before
    assert (folder / name).is_file() and not (folder / name).is_symlink()
    assert sorted(p.name for p in folder.iterdir()) == sorted([name, old_tmp.format(
        pid=os.getpid())])


def test_prepare_builds_in_a_private_folder_never_at_a_plantable_name(
        tmp_path: Path, outside: Outside, monkeypatch: pytest.MonkeyPatch) -> None:
    """``prepare`` built a new data set in ``.<name>.new-<pid>`` beside ``--out``: a link
    planted there sent every image into the folder it pointed at."""
    from pytorch_benchmarks.data import prepare

    out = tmp_path / "data"
    (tmp_path / f".data.new-{os.getpid()}").symlink_to(outside.folder)
    (tmp_path / f".data.old-{os.getpid()}").symlink_to(outside.folder)
    before = outside.snapshot()
    for _ in range(2):  # a new data set, then its replacement
        assert prepare.main(["imagefolder", "--out", str(out), "--num_images", "4",
                             "--size", "16"]) == 0
    assert outside.snapshot() == before
    assert len(list(out.rglob("*.jpg"))) == 4 and (out / prepare.MARKER).is_file()
    assert oct(out.stat().st_mode & 0o777) == oct(0o777 & ~_umask())


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@pytest.mark.parametrize("how, words", [
    pytest.param("directory", "is a directory, not a regular file", id="directory"),
    pytest.param("symlink", SYMLINK_WORDS, id="symlink"),
])
def test_a_planted_interrupted_name_beside_a_stale_part_fails_that_experiment_alone(
        tmp_path: Path, outside: Outside, how: str, words: str) -> None:
    logs = tmp_path / "logs"
    write_logs(logs)  # b2.log: a complete older log, so a stale .part would be set aside
    (logs / "b4.log").unlink()
    stale = logs / "b2.log.part"
    stale.write_text(format_fact("exp.model", "x") + "\n")
    planted = logs / "b2.log.interrupted"
    plant(planted, how, outside)
    before = outside.snapshot()
    done = run_plan(tmp_path, "-Vexp.replica_batch=[3, 2]",
                    "-Pexp.log_file=${exp.log_dir}/b${exp.replica_batch}.log")
    assert_clean(done)
    assert done.returncode == 1 and "1 ok, 1 failed" in done.stderr, done.stderr
    assert the_line(done, planted, words).strip().startswith("failure: ")
    b3 = dict(iter_facts((logs / "b3.log").read_text().splitlines()))
    assert b3["results.status"] == "ok"  # the one in flight was not abandoned
    assert not (logs / "b3.log.part").exists()  # its script stays beside its complete log
    assert stale.read_text() == format_fact("exp.model", "x") + "\n"  # nothing appended
    assert not (logs / "b2.sh").exists()
    assert outside.snapshot() == before


def test_report_writes_no_output_when_a_chart_name_is_planted(tmp_path: Path,
                                                               outside: Outside) -> None:
    logs, charts = write_logs(tmp_path / "in"), tmp_path / "ch"
    planted = charts / "throughput_deep_mnist.png"
    plant(planted, "symlink", outside)
    before = outside.snapshot()
    done = python("-m", "dlbs", "report", str(logs), "--plot", str(charts), "--report_file",
                  "r.json", "--output_file", "out.txt", cwd=tmp_path)
    assert_clean(done)
    assert done.returncode == 1, done.stderr
    assert the_line(done, planted, SYMLINK_WORDS).startswith("error: --plot: cannot write")
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "out.txt").exists()
    assert [p.name for p in charts.iterdir()] == [planted.name]  # no other chart written
    assert outside.snapshot() == before
