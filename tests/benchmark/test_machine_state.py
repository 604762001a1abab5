"""The machine's state around the timed window: load average, governor, turbo, and the CPU
time other processes took, from a fake /proc and /sys (exact figures), and on this machine
with a busy loop that is not ours (present and sane)."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from pytorch_benchmarks.measure import machine_state as ms

from .conftest import FEW, TINY_MLP, RunBench

HZ = 100


def _stat_line(name: str, user: int, system: int, idle: int, steal: int = 0) -> str:
    # user nice system idle iowait irq softirq steal guest guest_nice
    return f"{name} {user} 0 {system} {idle} 7 1 1 {steal} 0 0"


def _proc_stat(cpus: dict[int, tuple[int, int, int, int]]) -> str:
    lines = [_stat_line("cpu", *map(sum, zip(*cpus.values())))]
    lines += [_stat_line(f"cpu{i}", *v) for i, v in cpus.items()]
    return "\n".join(lines + ["intr 1 2 3", "ctxt 99"]) + "\n"


def _pid_stat(pid: int, ppid: int, ticks: tuple[int, int, int, int], name: str = "py") -> str:
    utime, stime, cutime, cstime = ticks
    rest = " ".join(["0"] * 9)  # pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    return f"{pid} ({name}) S {ppid} {rest} {utime} {stime} {cutime} {cstime} 20 0 1 0\n"


def _root(tmp_path: Path, cpus: dict[int, tuple[int, int, int, int]],
          procs: dict[int, tuple[int, tuple[int, int, int, int]]], load: str = "0.5 0.4 0.3 1/99 9"
          ) -> Path:
    proc = tmp_path / "proc"
    proc.mkdir(parents=True, exist_ok=True)
    (proc / "stat").write_text(_proc_stat(cpus))
    (proc / "loadavg").write_text(load + "\n")
    for pid, (ppid, ticks) in procs.items():
        (proc / str(pid)).mkdir(exist_ok=True)
        (proc / str(pid) / "stat").write_text(_pid_stat(pid, ppid, ticks, name="a b) c"))
    return tmp_path


def _snap(root: Path, at: float, job: int = 10, cpus: set[int] | None = None) -> ms.Snapshot:
    found = ms.snapshot(job, cpus, root)
    return ms.Snapshot(at, found.load, found.cpu, found.job)


def test_other_cpu_time_is_busy_time_less_the_jobs(tmp_path: Path) -> None:
    """2 CPUs over 2 s: 300 busy ticks; the job (root 10, child 11, grandchild 12 and a child
    reaped during the window in 11's cutime) took 180; process 20 is not the job's."""
    before = _root(tmp_path / "a", {0: (100, 50, 500, 3), 1: (200, 50, 400, 0)},
                   {10: (1, (10, 5, 0, 0)), 11: (10, (20, 0, 0, 0)), 12: (11, (1, 1, 0, 0)),
                    20: (1, (500, 0, 0, 0))})
    after = _root(tmp_path / "b", {0: (250, 100, 550, 13), 1: (300, 50, 500, 0)},
                  {10: (1, (60, 15, 0, 0)), 11: (10, (80, 0, 30, 10)), 12: (11, (21, 1, 0, 0)),
                   20: (1, (620, 0, 0, 0))})
    facts, why = ms.window_facts(_snap(before, 0.0), _snap(after, 2.0), HZ)
    assert why == []
    assert facts["results.other_cpu_seconds"] == pytest.approx((300 - 180) / HZ)
    assert facts["results.other_cpu_share"] == pytest.approx(1.2 / (2.0 * 2))
    assert facts["results.steal_cpu_seconds"] == pytest.approx(0.1)
    assert facts["results.load_avg_before"] == [0.5, 0.4, 0.3]


def test_only_the_cpus_the_process_may_use_count(tmp_path: Path) -> None:
    before = _root(tmp_path / "a", {0: (0, 0, 0, 0), 1: (0, 0, 0, 0)}, {10: (1, (0, 0, 0, 0))})
    after = _root(tmp_path / "b", {0: (100, 0, 0, 0), 1: (40, 0, 60, 0)},
                  {10: (1, (0, 0, 0, 0))})
    facts, _ = ms.window_facts(_snap(before, 0.0, cpus={1}), _snap(after, 1.0, cpus={1}), HZ)
    assert facts["results.other_cpu_seconds"] == pytest.approx(0.4)
    assert facts["results.other_cpu_share"] == pytest.approx(0.4)


def test_under_torchrun_the_other_local_ranks_are_the_job(tmp_path: Path) -> None:
    """The launcher (pid 5) has two ranks (10, 11): from rank 10, rank 11 is not "other"."""
    procs_before = {5: (1, (0, 0, 0, 0)), 10: (5, (0, 0, 0, 0)), 11: (5, (0, 0, 0, 0))}
    procs_after = {5: (1, (2, 0, 0, 0)), 10: (5, (99, 0, 0, 0)), 11: (5, (99, 0, 0, 0))}
    before = _root(tmp_path / "a", {0: (0, 0, 0, 0), 1: (0, 0, 0, 0)}, procs_before)
    after = _root(tmp_path / "b", {0: (100, 0, 0, 0), 1: (100, 0, 0, 0)}, procs_after)
    as_job, _ = ms.window_facts(_snap(before, 0.0, job=5), _snap(after, 1.0, job=5), HZ)
    alone, _ = ms.window_facts(_snap(before, 0.0, job=10), _snap(after, 1.0, job=10), HZ)
    assert as_job["results.other_cpu_seconds"] == pytest.approx(0.0)
    assert alone["results.other_cpu_seconds"] == pytest.approx(1.01)


def test_accounting_noise_is_clamped_at_zero_not_negative(tmp_path: Path) -> None:
    before = _root(tmp_path / "a", {0: (0, 0, 0, 0)}, {10: (1, (0, 0, 0, 0))})
    after = _root(tmp_path / "b", {0: (100, 0, 0, 0)}, {10: (1, (102, 0, 0, 0))})
    facts, _ = ms.window_facts(_snap(before, 0.0), _snap(after, 1.0), HZ)
    assert facts["results.other_cpu_seconds"] == 0.0 and facts["results.other_cpu_share"] == 0


def test_a_window_under_a_second_has_seconds_but_no_share(tmp_path: Path) -> None:
    before = _root(tmp_path / "a", {0: (0, 0, 0, 0)}, {10: (1, (0, 0, 0, 0))})
    after = _root(tmp_path / "b", {0: (30, 0, 0, 0)}, {10: (1, (10, 0, 0, 0))})
    facts, why = ms.window_facts(_snap(before, 0.0), _snap(after, 0.5), HZ)
    assert facts["results.other_cpu_seconds"] == pytest.approx(0.2)
    assert facts["results.other_cpu_share"] is None
    assert why and "window 0.5 s < 1 s" in why[0]


@pytest.mark.parametrize("damage", ["no-proc-stat", "no-job", "no-loadavg", "old-kernel"])
def test_what_cannot_be_read_is_null_with_a_reason(tmp_path: Path, damage: str) -> None:
    roots = [_root(tmp_path / n, {0: (0, 0, 0, 0)}, {10: (1, (0, 0, 0, 0))}) for n in "ab"]
    for root in roots:
        if damage == "no-proc-stat":
            (root / "proc" / "stat").unlink()
        elif damage == "no-job":
            (root / "proc" / "10" / "stat").unlink()
        elif damage == "no-loadavg":
            (root / "proc" / "loadavg").write_text("")
        else:  # no steal column: kernels before 2.6.11
            (root / "proc" / "stat").write_text("cpu 1 2 3 4\ncpu0 1 2 3 4\n")
    facts, why = ms.window_facts(_snap(roots[0], 0.0), _snap(roots[1], 2.0), HZ)
    key = "results.load_avg_before" if damage == "no-loadavg" else "results.other_cpu_seconds"
    assert facts[key] is None and why


@pytest.mark.parametrize("files, governor, turbo", [
    pytest.param({}, None, None, id="no-cpufreq"),
    pytest.param({"cpu0/cpufreq/scaling_governor": "performance",
                  "cpu1/cpufreq/scaling_governor": "performance",
                  "intel_pstate/no_turbo": "0"}, "performance", True, id="intel-turbo-on"),
    pytest.param({"cpu0/cpufreq/scaling_governor": "powersave",
                  "cpu1/cpufreq/scaling_governor": "performance",
                  "intel_pstate/no_turbo": "1"}, "powersave, performance", False,
                 id="mixed-turbo-off"),
    pytest.param({"cpu0/cpufreq/scaling_governor": "schedutil", "cpufreq/boost": "1"},
                 "schedutil", True, id="acpi-boost"),
    pytest.param({"cpufreq/boost": "0"}, None, False, id="boost-off"),
])
def test_governor_and_turbo_where_readable(tmp_path: Path, files: dict[str, str],
                                           governor: str | None, turbo: bool | None) -> None:
    base = tmp_path / "sys" / "devices" / "system" / "cpu"
    (base / "cpu0").mkdir(parents=True)
    (base / "cpu1").mkdir()
    for name, text in files.items():
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        (base / name).write_text(text + "\n")
    assert ms.settings_facts(tmp_path) == {"hw.cpu_governor": governor, "hw.cpu_turbo": turbo}


# -- this machine ---------------------------------------------------------------------------
def _not_our_busy_loop() -> int:
    """Start ``yes >/dev/null`` whose parent exits at once: it is no descendant of ours, so it
    is "other" (a child of ours would be the job's)."""
    done = subprocess.run(["sh", "-c", "yes >/dev/null 2>&1 & echo $!"], capture_output=True,
                          text=True, check=True)
    return int(done.stdout.strip())


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="needs Linux /proc")
def test_a_busy_loop_of_another_process_is_other_cpu_time() -> None:
    """Over a 1.5 s window in which this process sleeps, a runnable ``yes`` keeps at least one
    CPU busy: others' load only adds to it (it is "other" too), never takes away, so the bound
    holds on a loaded CI machine. A quarter of a core leaves room for a CPU quota or steal."""
    cpus = os.sched_getaffinity(0)
    pid = _not_our_busy_loop()
    try:
        time.sleep(0.2)
        before = ms.snapshot(os.getpid(), cpus)
        time.sleep(1.5)
        after = ms.snapshot(os.getpid(), cpus)
    finally:
        os.kill(pid, signal.SIGTERM)
    facts, why = ms.window_facts(before, after, ms.clock_tick())
    assert why == []
    seconds = after.at - before.at
    assert facts["results.other_cpu_seconds"] >= 0.25 * seconds
    assert facts["results.other_cpu_share"] >= 0.25 / len(cpus)
    assert facts["results.other_cpu_share"] <= 1.0 + 0.05  # tick rounding


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="needs Linux /proc")
def test_our_own_work_is_not_other_cpu_time() -> None:
    """Burn CPU in this process: the job's ticks grow by about what it burned."""
    cpus = os.sched_getaffinity(0)
    before = ms.snapshot(os.getpid(), cpus)
    start = time.process_time()
    while time.process_time() - start < 0.5:
        pass
    after = ms.snapshot(os.getpid(), cpus)
    assert before.job is not None and after.job is not None
    assert (after.job - before.job) / ms.clock_tick() >= 0.4  # tick rounding


def test_a_run_logs_the_machine_state(run_bench: RunBench) -> None:
    code, facts = run_bench(*TINY_MLP, *FEW, "--peak_tflops", "1")
    assert code == 0 and facts["results.status"] == "ok"
    for key in ("results.load_avg_before", "results.load_avg_after", "hw.cpu_governor",
                "hw.cpu_turbo", "results.other_cpu_seconds", "results.other_cpu_share",
                "results.steal_cpu_seconds"):
        assert key in facts
    if Path("/proc/stat").exists():
        assert len(facts["results.load_avg_before"]) == 3
        assert facts["results.other_cpu_seconds"] >= 0
        share = facts["results.other_cpu_share"]
        if share is None:  # a window under a second (2 iterations, usually): the note says why
            assert "too short" in facts["results.machine_state_note"]
        else:  # a loaded machine made the window longer than a second
            assert 0 <= share <= 1.05
