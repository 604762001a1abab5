"""Readers that never block and never read without a limit (issue 17).

Every file dlbs or the benchmark reads that a user names or that the system provides (a
config, a plan, a progress file, a RAPL counter and its ``name``, ``/proc`` and ``/sys``
files, a log, an ``exp.sys_info`` source) is given, in turn, a real FIFO (``os.mkfifo``, no
writer: a blocking open would wait forever), a real listening unix socket, ``/dev/zero``
(through a link: it never ends), a directory and a sparse file over the reader's limit. Each
reader must answer at once with a sentence naming what it was given, or carry on without the
figure and say why; never hang, never read the file whole. Each call runs in a thread with a
generous hang guard (60 s); nothing here asserts on time.

Then the same faults where a user meets them: the benchmark's energy reader in a real run
(``/dev/zero`` as ``energy_uj`` is "not a counter", the run is ``ok``), ``exp.sys_info`` with a
fake ``inxi`` on ``PATH`` that prints 300 MB or never ends, and ``experimenter serve`` as a
real process under six concurrent clients with a 400 MB progress file, a FIFO progress file and
more idle connections than it has workers, its memory measured with psutil.
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
import torch
from pytorch_benchmarks.data.lmdb_dataset import lmdb_problem
from pytorch_benchmarks.errors import BenchmarkError
from pytorch_benchmarks.facts import iter_facts
from pytorch_benchmarks.measure import energy, memory
from pytorch_benchmarks.run.maxbatch import limits
from pytorch_benchmarks.runtime import hostinfo

from dlbs.cli.main import logparser_main
from dlbs.config import load_config_file
from dlbs.errors import ConfigError, LogFormatError
from dlbs.logs.parser import parse_log
from dlbs.logs.sources import find_inputs
from dlbs.planfile import read_plan
from dlbs.runner import provenance, sysinfo
from dlbs.slurm import output as slurmoutput
from dlbs.web import server as server_module
from dlbs.web.server import (
    MAX_PROGRESS_BYTES,
    MAX_WORKERS,
    ProgressServer,
    load_progress,
    make_server,
)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "python" / "pytorch_benchmarks" / "benchmarks.py"
#: Seconds a reader may take before the test calls it hung (a hang guard, not a measure).
HANG_GUARD_S = 60
KINDS = ("fifo", "socket", "dev-zero", "directory", "oversize")
#: How a reader names what it was given (the over-size words are each reader's own).
KIND_WORDS = {"fifo": "a FIFO", "socket": "a socket", "dev-zero": "a character device",
              "directory": "a directory"}


# --- planting the faults ------------------------------------------------------------------------

def plant(path: Path, kind: str, oversize: int, stack: ExitStack) -> None:
    """Put ``kind`` at ``path``: a FIFO nobody writes, a listening socket, a link to
    ``/dev/zero``, a directory, or a sparse file of ``oversize`` bytes (no disk used)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        held = socket.socket(socket.AF_UNIX)
        stack.callback(held.close)
        here = os.getcwd()
        os.chdir(path.parent)  # a relative name: a unix socket's path is limited to 108 bytes
        try:
            held.bind(path.name)
        finally:
            os.chdir(here)
        held.listen(1)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "directory":
        path.mkdir()
    else:
        with path.open("wb") as stream:
            stream.truncate(oversize)


def unblock(path: Path) -> None:
    """Give a reader stuck on the FIFO ``path`` a writer that closes at once (end of file)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass


def guarded(call: Callable[[], Any], path: Path) -> Any:
    """``call()`` in a thread; fail (never hang) if it has not returned after the guard. An
    exception it raises is returned, to be checked like a value."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = call()
        except Exception as exc:  # noqa: BLE001 - checked by the test
            box["value"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(HANG_GUARD_S)
    if thread.is_alive():
        unblock(path)
        pytest.fail(f"the reader blocked on {path} for {HANG_GUARD_S} s")
    return box["value"]


# --- the readers --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reader:
    """One reader: where its file is (relative to a fresh folder), what it reads at most, how
    to call it (it gets the folder and a monkeypatch; it returns what it said, a sentence),
    and the words that say a file was over its limit (None: it keeps a head and says so)."""

    name: str
    file: str
    limit: int
    read: Callable[[Path, pytest.MonkeyPatch], str]
    oversize_words: str
    kinds: tuple[str, ...] = KINDS


def _config(folder: Path, _: pytest.MonkeyPatch) -> str:
    with pytest.raises(ConfigError) as info:
        load_config_file(folder / "c.json")
    return str(info.value)


def _plan(folder: Path, _: pytest.MonkeyPatch) -> str:
    with pytest.raises(ConfigError) as info:
        read_plan(folder / "plan.json")
    return str(info.value)


def _progress(folder: Path, _: pytest.MonkeyPatch) -> str:
    code, said, _written = load_progress(folder / "progress.json")
    assert code == 500
    return said.decode()


def _powercap(folder: Path, planted: str) -> Path:
    """A powercap folder with one package domain, ``planted`` left for the fault."""
    domain = folder / "powercap" / "intel-rapl:0"
    domain.mkdir(parents=True, exist_ok=True)
    for name, text in (("name", "package-0\n"), ("energy_uj", "1000\n"),
                       ("max_energy_range_uj", "262143328850\n")):
        if name != planted:
            (domain / name).write_text(text)
    return domain.parent


def _rapl(planted: str) -> Callable[[Path, pytest.MonkeyPatch], str]:
    def read(folder: Path, _: pytest.MonkeyPatch) -> str:
        with pytest.raises(energy.EnergyUnavailable) as info:
            energy.open_rapl(str(_powercap(folder, planted)))
        return str(info.value)
    return read


def _memory_status(folder: Path, _: pytest.MonkeyPatch) -> str:
    warnings: list[str] = []
    assert memory.vm_hwm_mib(str(folder / "status"), warn=warnings.append) is None
    assert len(warnings) == 1 and "peak memory covers the whole process" in warnings[0]
    return warnings[0]


def _memory_clear_refs(folder: Path, _: pytest.MonkeyPatch) -> str:
    warnings: list[str] = []
    scope = memory.reset_peak_memory(torch.device("cpu"), clear_refs=str(folder / "clear_refs"),
                                     warn=warnings.append)
    assert scope == memory.PROCESS and len(warnings) == 1
    return warnings[0]


def _host_cpuinfo(folder: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(hostinfo, "CPUINFO", str(folder / "cpuinfo"))
    warnings: list[str] = []
    facts = hostinfo.host_facts(warnings.append)
    assert facts["hw.cpu_model"]  # from the platform module
    assert len(warnings) == 1 and warnings[0].startswith("hw.cpu_model from the platform")
    return warnings[0]


def _maxbatch_status(folder: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(limits, "PROC_STATUS", str(folder / "status"))
    with pytest.raises(BenchmarkError) as info:
        limits.proc_status_bytes("VmData")
    return str(info.value)


def _maxbatch_meminfo(folder: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(limits, "PROC_MEMINFO", str(folder / "meminfo"))
    assert limits.mem_available() is None
    with pytest.raises(BenchmarkError) as info:
        limits.cpu_budget(0)
    return str(info.value)


def _runner_host(attribute: str, file: str) -> Callable[[Path, pytest.MonkeyPatch], str]:
    """A provenance file: the host facts go on without it and ``exp.runner_warnings`` says
    why."""
    def read(folder: Path, monkeypatch: pytest.MonkeyPatch) -> str:
        path = str(folder / file)
        monkeypatch.setattr(provenance, attribute, (path,) if attribute == "OS_RELEASE" else path)
        provenance.host_facts.cache_clear()
        try:
            facts = dict(provenance.host_facts())
        finally:
            provenance.host_facts.cache_clear()
        assert facts["hw.cpu_model"] is not None and facts["hw.os"]
        warnings = facts["exp.runner_warnings"]
        assert len(warnings) == 1 and path in warnings[0]
        return str(warnings[0])
    return read


def _git_head(folder: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    provenance._problems.clear()
    assert provenance.git_commit(folder) is None
    problems = list(provenance._problems)
    assert len(problems) == 1
    return problems[0]


def _sysinfo(source: str, attribute: str) -> Callable[[Path, pytest.MonkeyPatch], str]:
    def read(folder: Path, monkeypatch: pytest.MonkeyPatch) -> str:
        monkeypatch.setattr(sysinfo, attribute, str(folder / attribute.lower()))
        facts, missing = sysinfo.collect(source)
        if source in missing:
            return missing[source]
        found = dict(facts)
        assert found[f"hw.{source}_truncated"] is True
        assert len(json.dumps(found[f"hw.{source}"])) < 2 * sysinfo.MAX_SOURCE_BYTES
        return "truncated"
    return read


def _dmi(folder: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """One DMI file planted, another readable: the readable one is kept."""
    (folder / "dmi").mkdir(exist_ok=True)
    (folder / "dmi" / "sys_vendor").write_text("ACME\n")
    monkeypatch.setattr(sysinfo, "DMI", folder / "dmi")
    facts, missing = sysinfo.collect("dmi")
    assert dict(facts)["hw.dmi"] == {"sys_vendor": "ACME"} and not missing
    return "kept the readable files"


def _log(folder: Path, _: pytest.MonkeyPatch) -> str:
    result = parse_log(folder / "run.log")
    assert result.record is None and result.error is not None
    return result.error


def _records(folder: Path, _: pytest.MonkeyPatch) -> str:
    """A parsed-results file named as an input of logparser or report."""
    from dlbs.logs.store import read_records
    with pytest.raises(LogFormatError) as err:
        read_records(folder / "results.json")
    return str(err.value)


READERS = [
    Reader("config", "c.json", 64 << 20, _config, "over the limit of 64 MiB"),
    Reader("plan", "plan.json", 256 << 20, _plan, "over the limit of 256 MiB"),
    Reader("progress-file", "progress.json", MAX_PROGRESS_BYTES, _progress,
           "is not a progress file: it holds 1,048,577 bytes"),
    Reader("rapl-energy_uj", "powercap/intel-rapl:0/energy_uj", energy.COUNTER_BYTES,
           _rapl("energy_uj"), "not a counter (over 4,096 bytes)"),
    Reader("rapl-max_energy_range_uj", "powercap/intel-rapl:0/max_energy_range_uj",
           energy.COUNTER_BYTES, _rapl("max_energy_range_uj"), "not a counter (over 4,096"),
    Reader("rapl-name", "powercap/intel-rapl:0/name", energy.COUNTER_BYTES, _rapl("name"),
           "cannot be told apart"),
    Reader("memory-status", "status", memory.STATUS_BYTES, _memory_status, "more than 65,536"),
    # clear_refs is written, not read: a regular file of any size is not a fault of its own
    Reader("memory-clear_refs", "clear_refs", 0, _memory_clear_refs, "",
           kinds=("fifo", "socket", "dev-zero", "directory")),
    Reader("benchmark-cpuinfo", "cpuinfo", hostinfo.CPUINFO_BYTES, _host_cpuinfo,
           "more than 16,777,216"),
    Reader("maxbatch-status", "status", limits.PROC_BYTES, _maxbatch_status,
           "more than 65,536"),
    Reader("maxbatch-meminfo", "meminfo", limits.PROC_BYTES, _maxbatch_meminfo,
           "MemAvailable is unknown"),
    Reader("runner-cpuinfo", "cpuinfo", provenance.MAX_CPUINFO_BYTES,
           _runner_host("CPUINFO", "cpuinfo"), "more than 16,777,216"),
    Reader("runner-nvidia-version", "version", provenance.MAX_SMALL_FILE_BYTES,
           _runner_host("NVIDIA_VERSION_FILE", "version"), "more than 65,536"),
    Reader("runner-os-release", "os-release", provenance.MAX_SMALL_FILE_BYTES,
           _runner_host("OS_RELEASE", "os-release"), "more than 65,536"),
    Reader("runner-git-head", ".git/HEAD", provenance.MAX_SMALL_FILE_BYTES, _git_head,
           "more than 65,536"),
    Reader("sys_info-cpuinfo", "cpuinfo", sysinfo.MAX_SOURCE_BYTES,
           _sysinfo("cpuinfo", "CPUINFO"), "truncated"),
    Reader("sys_info-meminfo", "meminfo", sysinfo.MAX_SOURCE_BYTES,
           _sysinfo("meminfo", "MEMINFO"), "truncated"),
    Reader("sys_info-dmi", "dmi/product_name", 4096, _dmi, "kept the readable files"),
    Reader("log", "run.log", 256 << 20, _log, "more than 268,435,456"),
    Reader("parsed-records", "results.json", 256 << 20, _records, "more than 268,435,456"),
]


@pytest.mark.parametrize("reader,kind", [
    pytest.param(reader, kind, id=f"{reader.name}-{kind}")
    for reader in READERS for kind in reader.kinds])
def test_a_reader_given_what_is_not_a_small_regular_file_answers_at_once(
        reader: Reader, kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / reader.file
    with ExitStack() as stack:
        plant(path, kind, reader.limit + 1, stack)
        said = guarded(lambda: reader.read(tmp_path, monkeypatch), path)
    if isinstance(said, BaseException):
        raise said
    assert "\n" not in said, said
    if reader.name == "sys_info-dmi":
        return  # a DMI file that is not one is left out; the others are kept
    words = reader.oversize_words if kind == "oversize" else KIND_WORDS[kind]
    assert words in said, said
    if reader.name.startswith("rapl-") and reader.name != "rapl-name":
        assert "not a counter" in said, said


def test_a_gzip_log_that_decompresses_past_the_limit_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    from dlbs.logs import parser
    monkeypatch.setattr(parser, "MAX_LOG_BYTES", 1 << 20)
    bomb = tmp_path / "run.log.gz"
    bomb.write_bytes(gzip.compress(b"\0" * (4 << 20)))
    result = parse_log(bomb)
    assert result.record is None
    assert result.error == (f"{bomb}: cannot read log: decompresses to more than 1,048,576 "
                            "bytes, the most read from such a file: refusing to read it")


def test_a_parsed_records_file_that_decompresses_past_the_limit_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    from dlbs.logs import store
    monkeypatch.setattr(store, "MAX_RECORDS_BYTES", 1 << 20)
    bomb = tmp_path / "results.json.gz"
    bomb.write_bytes(gzip.compress(b" " * (4 << 20)))
    with pytest.raises(LogFormatError, match="decompresses to more than 1,048,576 bytes"):
        store.read_records(bomb)


# --- energy counters in a real benchmark run ----------------------------------------------------

def _benchmark(powercap: Path, log: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(SCRIPT), "--model", "deep_mnist", "--batch_size", "4", "--num_batches", "3", "--num_warmup_batches", "1",
                           "--log_file", str(log)], capture_output=True, text=True,
                          timeout=600, check=False, cwd=ROOT,
                          env={**os.environ, energy.POWERCAP_ENV: str(powercap)})
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(iter_facts(log.read_text().splitlines()))


@pytest.mark.parametrize("planted,make,why", [
    pytest.param("energy_uj", lambda p: p.symlink_to("/dev/zero"),
                 "energy_uj is not a counter (a character device, not a regular file)",
                 id="dev-zero-energy_uj"),
    pytest.param("energy_uj", os.mkfifo, "energy_uj is not a counter (a FIFO",
                 id="fifo-energy_uj"),
    pytest.param("name", lambda p: p.write_bytes("paquet-0 \xe9\n".encode("latin-1")),
                 "name is not ASCII text", id="non-ascii-name"),
    pytest.param("name", Path.mkdir, "name is not a domain's name (a directory",
                 id="unreadable-name"),
])
def test_an_energy_counter_that_is_not_one_is_a_warning_and_the_run_is_ok(
        planted: str, make: Callable[[Path], Any], why: str, tmp_path: Path) -> None:
    root = _powercap(tmp_path, planted)
    make(root / "intel-rapl:0" / planted)
    facts = _benchmark(root, tmp_path / "run.log")
    assert facts["results.status"] == "ok"
    assert "results.energy_j" not in facts
    assert why in facts["results.energy_unavailable"]
    assert any(w.startswith("no energy figures: ") and why in w for w in facts["exp.warnings"])


def test_a_counter_that_fails_during_the_window_leaves_a_warning_not_a_failure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The counter is swapped for a FIFO while the timed window runs (the sampler thread and
    the last read at its end must not raise)."""
    from pytorch_benchmarks.measure.session import Measurements
    from pytorch_benchmarks.runtime.device import DeviceSetup
    from pytorch_benchmarks.runtime.distributed import DistContext
    from pytorch_benchmarks.spec import MeasureSpec

    root = _powercap(tmp_path, "")
    monkeypatch.setenv(energy.POWERCAP_ENV, str(root))
    warnings: list[str] = []
    measures = Measurements(MeasureSpec(peak_tflops=1.0), "m", 2,
                            DeviceSetup(torch.device("cpu")), DistContext(), "training",
                            warnings.append)
    measures.prepare()
    counter = root / "intel-rapl:0" / "energy_uj"

    def window() -> dict[str, Any]:
        with measures.window():
            counter.unlink()
            os.mkfifo(counter)
        return measures.results(throughput=10.0, num_timed=3, samples_per_iteration=2,
                                replicas=1)

    facts = guarded(window, counter)
    assert not isinstance(facts, BaseException), facts
    assert "results.energy_j" not in facts
    assert "failed during the timed window" in facts["results.energy_unavailable"]
    assert "is not a counter (a FIFO" in facts["results.energy_unavailable"]
    assert warnings == [f"no energy figures: {facts['results.energy_unavailable']}"]


# --- exp.sys_info: a tool that prints 300 MB, or never ends -------------------------------------

FAKE_TOOLS = {
    "huge": "#!/bin/sh\nyes 'inxi line' | head -c 300000000\n",
    "forever": "#!/bin/sh\nsleep 100000\n",
    "daemon": "#!/bin/sh\necho 'CPU: fake'\n(sleep 100000 &)\n",
    "not-utf8": "#!/bin/sh\nprintf 'CPU: \\377\\376 fast\\n'\n",
    "huge-stderr-fails": "#!/bin/sh\nyes err | head -c 300000000 >&2\necho 'gave up' >&2\n"
                         "exit 3\n",
}


def fake_inxi(folder: Path, kind: str) -> str:
    """A ``PATH`` whose ``inxi`` is the fake ``kind`` (then the usual PATH)."""
    tools = folder / "tools"
    tools.mkdir()
    inxi = tools / "inxi"
    inxi.write_text(FAKE_TOOLS[kind])
    inxi.chmod(0o755)
    return f"{tools}{os.pathsep}{os.environ['PATH']}"


def _collect_measured(path_env: str, timeout_s: int) -> dict[str, Any]:
    """``sysinfo.collect("inxi")`` in a fresh process; its facts and how much its peak memory
    grew while collecting (``grown_kib``: the imports before it are not counted)."""
    code = ("import json, resource, sys; from dlbs.runner import sysinfo; "
            "peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; "
            f"before = peak(); sysinfo.TIMEOUT_S = {timeout_s}; "
            "facts, missing = sysinfo.collect('inxi'); "
            "json.dump({'facts': dict(facts), 'missing': missing, 'grown_kib': peak() - before}, "
            "sys.stdout)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=HANG_GUARD_S + 2 * timeout_s, check=False,
                          env={**os.environ, "PATH": path_env})
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout))


def test_a_tool_that_prints_300_mb_is_cut_at_the_cap_and_says_so(tmp_path: Path) -> None:
    got = _collect_measured(fake_inxi(tmp_path, "huge"), 20)
    lines = got["facts"]["hw.inxi"]
    assert got["facts"]["hw.inxi_truncated"] is True and not got["missing"]
    assert set(lines) == {"inxi line"}  # whole lines only: the one the cap split is dropped
    assert sum(len(line) + 1 for line in lines) <= sysinfo.MAX_SOURCE_BYTES
    assert got["grown_kib"] < 100 * 1024  # a memory bound: 300 MB never held


@pytest.mark.parametrize("kind,expected", [
    pytest.param("forever", "inxi did not answer within 2 s (killed)", id="sleeps-forever"),
    pytest.param("huge-stderr-fails", "inxi failed: gave up", id="300-mb-of-stderr"),
])
def test_a_tool_that_hangs_or_fails_is_missing_with_the_reason(kind: str, expected: str,
                                                             tmp_path: Path) -> None:
    # 300 MB through a pipe takes more than 2 s on a loaded 2-core machine (seen in CI): the
    # tool that fails gets time to fail; the one that hangs is killed at 2 s.
    got = _collect_measured(fake_inxi(tmp_path, kind), 2 if kind == "forever" else 60)
    assert got["missing"] == {"inxi": expected} and "hw.inxi" not in got["facts"]
    assert got["grown_kib"] < 100 * 1024


@pytest.mark.parametrize("kind,lines", [
    pytest.param("daemon", ["CPU: fake"], id="leaves-a-child-holding-the-pipe"),
    pytest.param("not-utf8", ["CPU: \ufffd\ufffd fast"], id="not-utf8"),
])
def test_a_tool_that_ends_oddly_still_gives_its_lines(kind: str, lines: list[str],
                                                      tmp_path: Path) -> None:
    got = _collect_measured(fake_inxi(tmp_path, kind), 30)
    assert got["facts"] == {"hw.inxi": lines} and not got["missing"]


def test_a_sweep_with_a_300_mb_inxi_logs_a_capped_fact_and_warns(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    done = subprocess.run(
        [sys.executable, "-m", "dlbs", "run", '-Pexp.gpus=""', "-Pexp.model=deep_mnist",
         "-Pexp.replica_batch=2", "-Pexp.num_warmup_batches=1", "-Pexp.num_batches=2",
         "-Pexp.sys_info=inxi", f"-Pexp.log_dir={logs}", "--progress-bar", "off"],
        capture_output=True, text=True, timeout=600, check=False, cwd=ROOT,
        env={**os.environ, "PATH": fake_inxi(tmp_path, "huge")})
    assert done.returncode == 0, done.stderr[-3000:]
    [log] = logs.glob("*.log")
    assert log.stat().st_size < 4 * sysinfo.MAX_SOURCE_BYTES
    facts = dict(iter_facts(log.read_text().splitlines()))
    assert facts["results.status"] == "ok" and facts["hw.inxi_truncated"] is True
    assert "warning: exp.sys_info output cut at 1 MiB (hw.<source>_truncated): inxi" in \
        done.stderr


# --- experimenter serve: a fixed memory, a bounded number of threads ----------------------------

@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[Path], tuple[psutil.Process, str]]]:
    """Start ``python -m dlbs serve`` (a real process) on a progress file; stopped at the end."""
    started: list[subprocess.Popen[str]] = []

    def start(progress_file: Path) -> tuple[psutil.Process, str]:
        proc = subprocess.Popen([sys.executable, "-m", "dlbs", "serve", "--progress-file",
                                 str(progress_file), "--port", "0"], stderr=subprocess.PIPE,
                                text=True, cwd=ROOT)
        started.append(proc)
        assert proc.stderr is not None
        line = proc.stderr.readline()
        found = re.search(r"serving (http://\S+) ", line)
        assert found, line + proc.stderr.read()
        return psutil.Process(proc.pid), found.group(1)

    yield start
    for proc in started:
        proc.kill()
        proc.communicate(timeout=HANG_GUARD_S)


def fetch(url: str) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of a GET (an HTTP error status is returned, not raised)."""
    try:
        with urllib.request.urlopen(url, timeout=HANG_GUARD_S) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read())


def hammer(url: str, clients: int, requests: int, server: psutil.Process
           ) -> tuple[list[int], int, int]:
    """``clients`` threads, each GETting ``url`` ``requests`` times at once with the others;
    the status codes, the server's peak resident memory and thread count sampled meanwhile."""
    codes: list[int] = []
    errors: list[BaseException] = []

    def client() -> None:
        for _ in range(requests):
            try:
                codes.append(fetch(url)[0])
            except Exception as exc:  # noqa: BLE001 - a dropped request fails the test
                errors.append(exc)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    peak_rss = peak_threads = 0
    while any(thread.is_alive() for thread in threads):
        peak_rss = max(peak_rss, server.memory_info().rss)
        peak_threads = max(peak_threads, server.num_threads())
        threads[0].join(0.01)
    for thread in threads:
        thread.join(HANG_GUARD_S)
    assert not errors, errors[:3]
    return codes, max(peak_rss, server.memory_info().rss), peak_threads


def answered(codes: list[int]) -> None:
    """Every request was answered (none dropped): with the error, or busy (a worker that has
    sent its answer may not have freed its slot yet when the same client asks again)."""
    assert len(codes) == 30 and set(codes) <= {500, 503} and 500 in codes, codes


def test_serve_with_a_400_mb_progress_file_answers_every_client_in_bounded_memory(
        tmp_path: Path, serve: Callable[[Path], tuple[psutil.Process, str]]) -> None:
    progress = tmp_path / "progress.json"
    with progress.open("wb") as stream:
        stream.write(b'{"state": "running", "history": [')
        stream.truncate(400 << 20)  # sparse: no disk used
    server, url = serve(progress)
    codes, peak_rss, _ = hammer(url + "progress.json", clients=6, requests=5, server=server)
    answered(codes)
    code, body = fetch(url + "progress.json")
    assert code == 500 and body["error"] == (
        f"{progress} is not a progress file: it holds 419,430,400 bytes, over the 1,048,576 "
        "served ('experimenter run' writes a few KiB); it is not loaded")
    assert peak_rss < 300 << 20  # a memory bound: the file is never loaded
    progress.write_text(json.dumps({"state": "running", "total": 1}))
    assert fetch(url + "progress.json") == (200, {"state": "running", "total": 1})


def test_serve_with_a_fifo_progress_file_pins_no_thread(
        tmp_path: Path, serve: Callable[[Path], tuple[psutil.Process, str]]) -> None:
    progress = tmp_path / "progress.json"
    server, url = serve(progress)  # not there yet: the page waits
    os.mkfifo(progress)  # then a FIFO appears (nobody writes it: a blocking open would wait)
    try:
        codes, _, peak_threads = hammer(url + "progress.json", clients=6, requests=5,
                                        server=server)
    finally:
        unblock(progress)
    answered(codes)
    assert peak_threads <= MAX_WORKERS + 2
    code, body = fetch(url + "progress.json")
    assert code == 500 and body["error"] == (
        f"cannot read the progress file {progress}: is a FIFO, not a regular file: refusing to "
        "read it; remove it or name a regular file")
    assert wait_for(lambda: server.num_threads() <= 2)  # none left waiting on the FIFO


def test_serve_refuses_a_fifo_progress_file_at_start(tmp_path: Path) -> None:
    progress = tmp_path / "progress.json"
    os.mkfifo(progress)
    done = subprocess.run([sys.executable, "-m", "dlbs", "serve", "--progress-file",
                           str(progress), "--port", "0"], capture_output=True, text=True,
                          timeout=HANG_GUARD_S, check=False, cwd=ROOT)
    assert done.returncode == 1
    assert done.stderr.strip() == (f"error: --progress-file {progress} is a FIFO, not a regular "
                                   "file; give the file that 'experimenter run --progress-file' "
                                   "writes")


@pytest.fixture
def quick_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ProgressServer]:
    """The server in this process, on a progress file that holds a progress object; a
    connection may take :data:`HANG_GUARD_S` in all (so that only the test ends them)."""
    monkeypatch.setattr(server_module, "REQUEST_TIMEOUT_S", HANG_GUARD_S)
    monkeypatch.setattr(server_module.ProgressHandler, "timeout", HANG_GUARD_S)
    (tmp_path / "progress.json").write_text(json.dumps({"state": "running"}))
    srv = make_server(tmp_path / "progress.json", port=0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(HANG_GUARD_S)


def workers() -> int:
    """Threads answering a request in this process."""
    return sum("process_request_thread" in t.name for t in threading.enumerate())


def wait_for(condition: Callable[[], bool]) -> bool:
    """Poll ``condition`` until it holds or the hang guard passes."""
    for _ in range(HANG_GUARD_S * 10):
        if condition():
            return True
        threading.Event().wait(0.1)
    return condition()


def test_serve_answers_503_past_its_workers_and_recovers(quick_server: ProgressServer) -> None:
    """More idle connections than workers (each sends nothing, as a slow client would): the
    server keeps a fixed number of threads, answers 503 to the rest at once, and serves again
    once they go."""
    host, port = quick_server.server_address[:2]
    idle = [socket.create_connection((host, port), timeout=HANG_GUARD_S)
            for _ in range(4 * MAX_WORKERS)]
    try:
        code, body = fetch(quick_server.url + "progress.json")
        assert code == 503 and body["error"].startswith(f"busy: {MAX_WORKERS} requests")
        assert workers() == MAX_WORKERS
        refused = 0
        for conn in idle:  # those past the workers were answered 503 without a request
            conn.settimeout(0.2)
            try:
                refused += conn.recv(64).startswith(b"HTTP/1.0 503")
            except TimeoutError:
                pass  # a worker holds it, waiting for its request
        assert refused == len(idle) - MAX_WORKERS
    finally:
        for conn in idle:
            conn.close()
    assert wait_for(lambda: fetch(quick_server.url + "progress.json")[0] == 200)
    assert wait_for(lambda: workers() == 0)


def test_serve_ends_a_client_that_trickles_its_request(quick_server: ProgressServer) -> None:
    """A socket timeout bounds each read only: a byte now and then would hold a worker forever
    without the reaper's deadline on the whole connection."""
    quick_server.reaper.limit = 1.0
    host, port = quick_server.server_address[:2]
    slow = [socket.create_connection((host, port), timeout=HANG_GUARD_S)
            for _ in range(MAX_WORKERS)]
    try:
        for conn in slow:
            conn.sendall(b"GET /progress.json HTTP/1.0\r\nX-Slow: ")

        def all_ended() -> bool:
            for conn in slow:
                try:
                    conn.sendall(b"a")
                except OSError:
                    continue
                return False
            return True
        assert wait_for(all_ended)
    finally:
        for conn in slow:
            conn.close()
    assert wait_for(lambda: fetch(quick_server.url + "progress.json")[0] == 200)


def test_the_serve_memory_bound_is_not_met_by_loading_the_file(tmp_path: Path) -> None:
    """The bound above means something: reading the 400 MB file whole takes more than it."""
    progress = tmp_path / "progress.json"
    with progress.open("wb") as stream:
        stream.truncate(400 << 20)
    code = (f"data = open({str(progress)!r}, 'rb').read(); import resource, sys; "
            "sys.stdout.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=HANG_GUARD_S, check=True)
    assert int(done.stdout) * 1024 > 300 << 20


# --- data sets, log inputs and a Slurm job's .part (issue 17 review) ---------------------------

LOG_FIXTURE = ROOT / "tests" / "logs" / "fixtures" / "ok_resnet50_b16.log"


def _prepare(kind: str, out: Path, *extra: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pytorch_benchmarks.prepare", kind, "--out",
                           str(out), "--num_images", "2", "--size", "32", *extra],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def _tiny_run(data_dir: Path, log: Path, *extra: str) -> dict[str, Any]:
    """The benchmark on ``data_dir`` in its own process, one batch of both samples; a hang is
    the subprocess timeout (a guard, not a measure)."""
    try:
        done = subprocess.run([sys.executable, str(SCRIPT), "--model", "resnet18",
                               "--image_size", "32", "--batch_size", "2", "--num_batches", "1",
                               "--num_warmup_batches", "0", "--device", "cpu",
                               "--num_loader_threads", "0", "--data_dir", str(data_dir),
                               "--log_file", str(log), *extra],
                              capture_output=True, text=True, timeout=300, check=False, cwd=ROOT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the benchmark blocked reading {data_dir}")
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    facts = dict(iter_facts(log.read_text().splitlines()))
    assert facts["results.status"] == "failure"
    assert "Traceback" not in facts["results.error"]
    return facts


def test_a_fifo_in_an_image_folder_is_a_failure_naming_it(tmp_path: Path) -> None:
    data = tmp_path / "ds"
    _prepare("imagefolder", data, "--num_classes", "1")
    images = sorted(data.rglob("*.jpg"))
    assert len(images) == 2
    images[1].unlink()
    os.mkfifo(images[1])
    facts = _tiny_run(data, tmp_path / "run.log")
    assert (f"cannot decode image '{images[1]}': it is a FIFO, not a regular file"
            in facts["results.error"]), facts["results.error"]


def test_a_fifo_data_mdb_is_a_failure_naming_it(tmp_path: Path) -> None:
    data = tmp_path / "lmdb"
    _prepare("lmdb", data)
    (data / "data.mdb").unlink()
    os.mkfifo(data / "data.mdb")
    facts = _tiny_run(data, tmp_path / "run.log", "--data_backend", "caffe_lmdb")
    assert (f"cannot read LMDB data file '{data / 'data.mdb'}': is a FIFO, not a regular file"
            in facts["results.error"]), facts["results.error"]


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory"])
def test_lmdb_problem_refuses_what_is_not_a_regular_data_mdb(kind: str, tmp_path: Path) -> None:
    name = tmp_path / "data.mdb"
    with ExitStack() as stack:
        plant(name, kind, 0, stack)
        problem = guarded(lambda: lmdb_problem(str(tmp_path)), name)
    assert isinstance(problem, str) and "\n" not in problem, problem
    assert problem.startswith(f"cannot read LMDB data file '{name}': is {KIND_WORDS[kind]}, ")


def test_logparser_given_a_fifo_says_what_it_is(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "x.log"
    os.mkfifo(fifo)
    assert guarded(lambda: logparser_main([str(fifo)]), fifo) == 1
    err = capsys.readouterr().err
    assert err == f"error: input '{fifo}' is a FIFO, not a log file\n", err


@pytest.mark.parametrize("recursive", [False, True])
def test_a_fifo_log_in_a_folder_is_a_warning_naming_it(
        recursive: bool, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "good.log").write_bytes(LOG_FIXTURE.read_bytes())
    fifo = tmp_path / "zz.log"
    os.mkfifo(fifo)
    found = guarded(lambda: find_inputs([str(tmp_path)], recursive), fifo)
    assert found.logs == [str(tmp_path / "good.log")]
    assert f"'{fifo}' is a FIFO, not a log file; skipped" in caplog.text
    caplog.clear()
    code = guarded(lambda: logparser_main([str(tmp_path), "--output_file",
                                           str(tmp_path / "out.json")]), fifo)
    assert code == 0
    assert f"'{fifo}' is a FIFO" in caplog.text


@pytest.mark.parametrize("kind", ["fifo", "link"])
def test_a_part_swapped_for_a_fifo_or_a_link_is_not_read(kind: str, tmp_path: Path) -> None:
    part = tmp_path / "run.log.part"
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"header\ndlbs-slurm-attempt: job=1 restart=0\nx\n"
                        b"dlbs-slurm-attempt: job=1 restart=1\ny\n")
    if kind == "fifo":
        os.mkfifo(part)
    else:
        part.symlink_to(outside)
    assert guarded(lambda: slurmoutput.started_before(part, 7), part) is False
    attempts = guarded(lambda: slurmoutput.set_aside_attempts(tmp_path / "run.log", part, 7, 1),
                       part)
    assert attempts.aside == [] and not list(tmp_path.glob("run.log.attempt*"))
    assert guarded(lambda: slurmoutput.read_tail(part, 7), part) == ""
    assert outside.read_bytes().startswith(b"header\ndlbs-slurm-attempt: job=1 restart=0\nx")
    assert stat_kind(part) == ("fifo" if kind == "fifo" else "link")


def stat_kind(path: Path) -> str:
    return "link" if path.is_symlink() else "fifo" if path.is_fifo() else "other"
