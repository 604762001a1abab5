"""DLBS's logs and summary files, reported as DLBS's own tools report them.

The logs are written by hand in DLBS's format (``dlbs_log``: the launcher line, every parameter
as ``__key__=json``, the framework's output, then ``results.*`` with ``results.throughput`` an
``int``, as DLBS's benchmarks logged it; no trailer of ours). ``DLBS_*`` constants are what
DLBS's own ``logparser.py`` and ``reports/summary_builder.py`` (HewlettPackard/dlcookbook-dlbs
834350c, run with Python 3) printed for these very logs; dlbs's numbers must be those, except
where DLBS truncates (``int(throughput)``, ``int(10000 * efficiency) / 100``): there dlbs's value
is the exact one, which DLBS's printed value is a truncation of.
"""
from __future__ import annotations

import gzip
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dlbs.cli.main import logparser_main, main
from dlbs.reports.build import build_report
from dlbs.reports.frame import to_frame

#: DLBS's summary builder, weak-scaling, on ``WEAK`` (ResNet50 rows; AlexNet's 4-GPU run failed).
DLBS_WEAK = {"time": [400.00, 420.00, 450.00], "throughput": [320, 609, 1137],
             "speedup": [1, 1.90, 3.55], "efficiency": [100.00, 95.23, 88.88]}
DLBS_WEAK_ALEXNET = {"time": [100.00, 125.00], "throughput": [640, 1024],
                     "speedup": [1, 1.60], "efficiency": [100.00, 80.00]}
#: ... strong-scaling on ``STRONG`` (effective batch 256 on 1, 2, 4 GPUs).
DLBS_STRONG = {"time": [800.00, 420.00, 230.00], "throughput": [320, 609, 1113],
               "speedup": [1, 1.90, 3.48], "efficiency": [100.00, 95.23, 86.95]}
#: ... weak-scaling on ``SLOW`` (batch 1: DLBS's benchmark logged throughputs 1, 3, 6).
DLBS_SLOW = {"time": [600.00, 610.00, 640.00], "throughput": [1, 3, 6],
             "speedup": [1, 3.00, 6.00], "efficiency": [100.00, 98.36, 93.75]}
#: (replica batch, GPUs, time in ms); None: the run failed (out of memory).
WEAK = {"resnet50": [(128, "0", 400.0), (128, "0,1", 420.0), (128, "0,1,2,3", 450.0)],
        "alexnet": [(64, "0", 100.0), (64, "0,1", 125.0), (64, "0,1,2,3", None)]}
STRONG = {"resnet50": [(256, "0", 800.0), (128, "0,1", 420.0), (64, "0,1,2,3", 230.0)]}
SLOW = {"resnet152": [(1, "0", 600.0), (1, "0,1", 610.0), (1, "0,1,2,3", 640.0)]}
TITLES = {"resnet50": "ResNet50", "alexnet": "AlexNet", "resnet152": "ResNet152"}
#: DLBS's documented parse (tutorials/dlcookbook/log_parser.sh, the recipes): no throughput.
TIME_ONLY = "exp.framework_title,exp.model_title,exp.effective_batch,exp.gpus,results.time"


def dlbs_log(folder: Path, model: str, replica_batch: int, gpus: str, time: float | None
             ) -> Path:
    """A log of DLBS's PyTorch launcher (``time`` None: the run ran out of memory)."""
    n = len(gpus.split(","))
    path = folder / f"{n}_{model}_{replica_batch * n}.log"
    params: dict[str, Any] = {
        "exp.status": "ok", "exp.framework": "pytorch", "exp.framework_title": "PyTorch",
        "exp.model": model, "exp.model_title": TITLES[model], "exp.phase": "training",
        "exp.dtype": "float16", "exp.effective_batch": replica_batch * n,
        "exp.replica_batch": replica_batch, "exp.gpus": gpus, "exp.num_local_replicas": n,
        "exp.num_local_gpus": n, "exp.num_replicas": n, "exp.num_gpus": n,
        "exp.device_type": "gpu", "exp.id": f"{model}{n}", "exp.log_file": str(path),
        "exp.num_nodes": 1, "exp.docker": True,
        "exp.docker_image": "nvcr.io/nvidia/pytorch:18.06-py3",
        "pytorch.args": f"--model {model} --batch_size {replica_batch}",
        "runtime.EXPORT_CUDA_VISIBLE_DEVICES": f"CUDA_VISIBLE_DEVICES={gpus}",
    }
    launch = ("Running subprocess (['/opt/dlbs/scripts/launchers/pytorch.sh', '--exp_log_file', "
              f"'{path}']) with log file '{path}'")
    lines = [launch, "", "Variables from python script."]
    lines += [f"__{key}__={json.dumps(value)}" for key, value in params.items()]
    lines += ['__results.start_time__= "2019-01-02:12:00:00:123"',
              "[PyTorch benchmakrs] torch.version.__version__=0.4.0a0+3749c58"]
    if time is None:
        lines += ["RuntimeError: CUDA error: out of memory", '__results.status__="failure"']
    else:
        throughput = int(replica_batch * n / (time / 1000.0))  # as DLBS's benchmarks logged it
        lines += [f"__results.time__={time}", f"__results.time_std__={time * 0.01}",
                  f"__results.throughput__={throughput}",
                  f"__results.time_data__={json.dumps([time] * 4)}"]
    lines += ['__results.end_time__= "2019-01-02:12:01:00:456"']
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def write_logs(folder: Path, runs: dict[str, list[tuple[int, str, float | None]]]) -> Path:
    for model, cells in runs.items():
        for batch, gpus, time in cells:
            dlbs_log(folder, model, batch, gpus, time)
    return folder


def summary(tmp_path: Path, runs: dict[str, list[tuple[int, str, float | None]]],
            params: str = TIME_ONLY) -> Path:
    """DLBS's documented parse of the logs into a summary file (via ``logparser``)."""
    logs = write_logs(tmp_path / "logs", runs)
    out = tmp_path / "summary.json"
    assert logparser_main([str(logs), "--recursive", "--output_file", str(out),
                           "--output_params", params]) == 0
    return out


def report_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["report", *argv, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def table(report: dict[str, Any], name: str) -> dict[str, list[Any]]:
    """A table's rows: the row's model title -> its cells."""
    found = next(t for t in report["tables"] if t["name"] == name)
    return {row["key"][0]: row["cells"] for row in found["rows"]}


def truncated(value: float, digits: int = 2) -> float:
    return math.floor(value * 10 ** digits) / 10 ** digits


def check_as_dlbs(report: dict[str, Any], model: str, dlbs: dict[str, list[float]]) -> None:
    """Times as DLBS's; throughput, speedup, efficiency exact, of which DLBS's printed figures
    are the truncations (int throughputs, efficiency cut to 2 decimals)."""
    got = {name: [c for c in table(report, name)[model] if c is not None]
           for name in ("time", "throughput", "speedup", "efficiency")}
    assert got["time"] == pytest.approx(dlbs["time"])
    assert [int(v) for v in got["throughput"]] == dlbs["throughput"]
    # DLBS: int throughputs divided, printed %.2f; ours: exact, within 0.01 of DLBS's figure
    ints = [int(v) for v in got["throughput"]]
    assert [round(v / ints[0], 2) for v in ints] == pytest.approx(dlbs["speedup"])
    assert got["speedup"] == pytest.approx(dlbs["speedup"], abs=0.01)
    # DLBS: int(10000 * t1 / (N * tN)) / 100, truncated; ours exact
    assert [truncated(v) for v in got["efficiency"]] == pytest.approx(dlbs["efficiency"])


@pytest.mark.parametrize("target", ["results.time", "results.throughput"])
def test_time_only_summary_gives_dlbs_weak_scaling(tmp_path: Path, target: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """No results.throughput in the summary, no device count but exp.gpus: throughput from
    effective batch x 1000 / time, devices from exp.gpus; either target variable."""
    path = summary(tmp_path, WEAK)
    assert all("results.throughput" not in r for r in json.loads(path.read_text())["data"])
    report = report_json(capsys, "--summary_file", str(path), "--type", "weak-scaling",
                         "--target_variable", target)
    check_as_dlbs(report, "ResNet50", DLBS_WEAK)
    check_as_dlbs(report, "AlexNet", DLBS_WEAK_ALEXNET)
    assert table(report, "time")["ResNet50"] == pytest.approx([400.0, 420.0, 450.0])
    assert table(report, "speedup")["ResNet50"] == pytest.approx([1.0, 1.904762, 3.555556])
    assert table(report, "efficiency")["ResNet50"] == pytest.approx([100.0, 95.238095,
                                                                     88.888889])


def test_dlbs_documented_output_params_without_gpus(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """``exp.framework_title,exp.model_title,exp.effective_batch,results.time`` (DLBS's
    log_parser.sh): one device assumed, throughput from the time; no '-' cells."""
    path = summary(tmp_path, WEAK, "exp.framework_title,exp.model_title,exp.effective_batch,"
                                   "results.time")
    report = report_json(capsys, "--summary_file", str(path), "--type", "exploration")
    throughput = table(report, "throughput")
    assert sorted(v for cells in throughput.values() for v in cells if v is not None) == \
        pytest.approx(sorted([64 * 1000 / 100, 128 * 1000 / 125, 128 * 1000 / 400,
                              256 * 1000 / 420, 512 * 1000 / 450]))


def test_strong_scaling_as_dlbs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = summary(tmp_path, STRONG)
    report = report_json(capsys, "--summary_file", str(path), "--type", "strong-scaling",
                         "--target_variable", "results.time")
    check_as_dlbs(report, "ResNet50", DLBS_STRONG)


def test_whole_number_throughputs_of_dlbs_logs_come_from_the_time(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """DLBS's benchmarks logged int(throughput): 1, 3, 6 for batch 1 at 600/610/640 ms gave an
    efficiency of 150%; from the times it is DLBS's 98.36/93.75 (t1/tN)."""
    logs = write_logs(tmp_path / "logs", SLOW)
    report = report_json(capsys, str(logs), "--type", "weak")
    assert table(report, "throughput")["ResNet152"] == pytest.approx(
        [1000 / 600, 2000 / 610, 4000 / 640])
    efficiency = table(report, "efficiency")["ResNet152"]
    assert [truncated(v) for v in efficiency] == pytest.approx(DLBS_SLOW["efficiency"])
    assert all(v <= 100.0 for v in efficiency)


def test_a_throughput_logged_as_zero_is_not_a_zero_speedup(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logs = write_logs(tmp_path / "logs", {"resnet152": [(1, "0", 1500.0), (1, "0,1", 1600.0)]})
    assert '__results.throughput__=0\n' in (logs / "1_resnet152_1.log").read_text()
    report = report_json(capsys, str(logs), "--type", "weak")
    assert table(report, "speedup")["ResNet152"] == pytest.approx([1.0, 1500 / 800])


def test_float_throughputs_are_kept() -> None:
    """Our benchmark's throughputs are floats (even whole ones): never recomputed."""
    record = {"exp.model": "m", "exp.phase": "training", "exp.dtype": "float32",
              "exp.device_type": "cpu", "exp.replica_batch": 8, "exp.effective_batch": 8,
              "exp.num_replicas": 1, "results.status": "ok", "results.time": 100.0,
              "results.throughput": 81.0}
    frame = to_frame([record, {**record, "results.throughput": 81}])
    assert frame["throughput"].tolist() == [81.0, 80.0]


@pytest.mark.parametrize("facts, devices, device_type", [
    pytest.param({"exp.gpus": "0"}, 1, "gpu", id="one-gpu"),
    pytest.param({"exp.gpus": "0,1,2,3"}, 4, "gpu", id="four-gpus"),
    pytest.param({"exp.gpus": "0:1,2:3"}, 2, "gpu", id="two-replicas-of-two-gpus"),
    pytest.param({"exp.gpus": "0,1", "exp.num_nodes": 2}, 4, "gpu", id="two-nodes"),
    pytest.param({"exp.gpus": "", "exp.num_gpus": 0}, 1, "cpu", id="cpu-recipe-summary"),
    pytest.param({"exp.num_gpus": 0}, 1, "cpu", id="num-gpus-zero"),
    pytest.param({"exp.num_gpus": 2}, 2, "gpu", id="num-gpus"),
    pytest.param({"exp.device": "cuda:0"}, 1, "gpu", id="benchmark-device"),
    pytest.param({}, 1, "unknown", id="nothing-said"),
])
def test_devices_and_device_type_derived_as_dlbs(facts: dict[str, Any], devices: int,
                                                 device_type: str) -> None:
    """DLBS's replicas: the comma-separated groups of exp.gpus (its num_local_replicas),
    times exp.num_nodes; its device type: gpu when exp.num_gpus > 0."""
    record = {"exp.model_title": "M", "exp.effective_batch": 8 * devices, "results.time": 10.0,
              **facts}
    frame = to_frame([record])
    assert frame["devices"].tolist() == [devices]
    assert frame["device_type"].tolist() == [device_type]
    assert frame["replica_batch"].tolist() == [8]


def test_recipe_summary_device_is_cpu_not_unknown(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"data": [
        {"exp.model_title": "ResNet18", "exp.gpus": "", "exp.num_gpus": 0, "exp.model": "resnet18",
         "exp.replica_batch": 8, "exp.effective_batch": 8 * n, "results.time": 100.0 + n,
         "results.throughput": 8000.0 * n / (100.0 + n)} for n in (1, 2)]}))
    capsys.readouterr()
    assert main(["report", "--summary_file", str(path), "--type", "exploration"]) == 0
    out = capsys.readouterr().out
    assert "1x cpu" in out and "2x cpu" in out and "unknown" not in out


# --- records that do not say what experiment they are ----------------------------------------

def standalone_log(path: Path, time: float, flops: float) -> Path:
    """A log of ``benchmarks.py --log_file`` alone before it named its experiment: no
    exp.model/phase/replica_batch/dtype/device_type (a training and an inference run of one
    model differ only in their numbers)."""
    facts = {"exp.model_title": "AlexNet", "exp.effective_batch": 16, "exp.num_replicas": 1,
             "exp.device": "cpu", "exp.dtype_used": "float32", "results.time": time,
             "results.throughput": 16000.0 / time, "results.flops_per_sample": flops,
             "results.status": "ok"}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"__{k}__={json.dumps(v)}\n" for k, v in facts.items()))
    return path


def test_runs_that_do_not_name_their_experiment_are_never_averaged(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = standalone_log(tmp_path / "logs" / "train.log", 100.0, 2.1e9)
    infer = standalone_log(tmp_path / "logs" / "infer.log", 40.0, 0.7e9)
    report = report_json(capsys, str(tmp_path / "logs"))
    rows = {tuple(r["key"]): r["cells"]
            for r in next(t for t in report["tables"] if t["name"] == "time")["rows"]}
    assert rows == {("AlexNet", "1x cpu", str(infer)): [40.0],
                    ("AlexNet", "1x cpu", str(train)): [100.0]}
    # exp.model_title stands in for exp.model, exp.device gives the device type, the
    # effective batch over exp.num_replicas the replica batch: phase and precision are missing
    note = next(n for n in report["notes"] if "lack facts" in n)
    assert note.startswith("2 records lack facts that tell experiments apart: exp.phase (2), "
                           "exp.dtype (2) (")
    assert "each is an experiment of its own, never averaged with another" in note
    summary_report = report_json(capsys, str(tmp_path / "logs"), "--type", "summary")
    runs = next(t for t in summary_report["tables"] if t["name"] == "experiments")["rows"]
    assert len(runs) == 2 and all(r["cells"][0] == 1 for r in runs)  # one run each


def test_records_lacking_core_keys_are_split_only_where_they_would_share_a_cell() -> None:
    """A DLBS summary with a few --output_params lacks exp.phase and exp.dtype: its records
    are experiments of their own, yet a weak-scaling row stays one row."""
    records = [{"exp.model_title": "ResNet50", "exp.gpus": g, "exp.effective_batch": 128 * n,
                "results.time": t, "results.status": "ok"}
               for g, n, t in (("0", 1, 400.0), ("0,1", 2, 420.0))]
    report = build_report(records, "weak")
    assert report.tables[0].data.shape == (1, 2)
    assert any("exp.phase (2)" in n and "exp.dtype (2)" in n for n in report.notes)


def test_identified_records_get_no_note() -> None:
    record = {"exp.model": "m", "exp.phase": "training", "exp.dtype": "float32",
              "exp.device_type": "cpu", "exp.replica_batch": 8, "exp.num_replicas": 1,
              "results.status": "ok", "results.time": 100.0, "results.throughput": 80.0}
    report = build_report([record, dict(record)], "regular")
    assert not any("lack facts" in n for n in report.notes)
    assert report.tables[0].data.shape == (1, 1)  # the two runs are repeats: averaged


# --- DLBS's summary builder options ----------------------------------------------------------

def test_query_is_dlbs_strict_filter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = summary(tmp_path, WEAK)
    report = report_json(capsys, "--summary_file", str(path), "--type", "weak-scaling",
                         "--target_variable", "results.time",
                         "--query", '{"exp.model_title": "ResNet50"}')
    assert set(table(report, "time")) == {"ResNet50"}
    # strict as DLBS's: a key the records lack selects nothing (the summary has no exp.model)
    assert main(["report", "--summary_file", str(path), "--type", "weak-scaling",
                 '--query={"exp.model": "resnet50"}']) == 1
    assert "match the filter" in capsys.readouterr().err
    # --filter_query is DLBS's logparser's: relaxed, a record without the key is kept
    relaxed = report_json(capsys, "--summary_file", str(path), "--type", "weak-scaling",
                          "--filter_query", '{"exp.model": "resnet50"}')
    assert set(table(relaxed, "time")) == {"ResNet50", "AlexNet"}


def test_report_file_is_dlbs_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What DLBS's summary builder wrote to --report_file for this summary (weak-scaling)."""
    path = summary(tmp_path, WEAK)
    out = tmp_path / "weak.json"
    assert main(["report", "--summary_file", str(path), "--type", "weak-scaling",
                 "--target_variable", "results.time", "--report_file", str(out)]) == 0
    assert "Speedup" in capsys.readouterr().out  # the tables still go to stdout

    def profile(model: str, batch: int, times: dict[str, float]) -> dict[str, Any]:
        return {"m": model, "hw": {"name": "", "pu": "", "n": 1,
                                   "cluster": {"sz": 1, "interconnect": ""}},
                "sw": {"rtm": "", "bsz": batch, "btype": "weak"},
                "perf": {"data": times, "estimates": []}}
    assert json.loads(out.read_text()) == {"data": [
        profile("AlexNet", 64, {"1": 100.0, "2": 125.0}),
        profile("ResNet50", 128, {"1": 400.0, "2": 420.0, "4": 450.0})]}


def test_report_file_of_an_exploration_report(tmp_path: Path) -> None:
    path = summary(tmp_path, STRONG)
    out = tmp_path / "exploration.json"
    assert main(["report", "--summary_file", str(path), "--type", "exploration",
                 "--report_file", str(out)]) == 0
    profiles = json.loads(out.read_text())["data"]
    assert [(p["sw"]["bsz"], p["sw"]["btype"], p["perf"]["data"]) for p in profiles] == [
        (256, "strong", {"1": 800.0}), (256, "strong", {"1": 420.0}),
        (256, "strong", {"1": 230.0})]  # DLBS's order too: net, then device '0', '0,1'...


def test_report_file_needs_a_dlbs_report_type(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = summary(tmp_path, WEAK)
    assert main(["report", str(path), "--type", "summary", "--report_file",
                 str(tmp_path / "x.json")]) == 2
    assert "--report_file writes DLBS's JSON" in capsys.readouterr().err


def test_usage_names_the_command_it_was_called_by() -> None:
    done = subprocess.run([sys.executable, "-m", "dlbs", "report", "--help"],
                          capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.startswith("usage: dlbs report")
    assert "--query" in done.stdout and "--report_file" in done.stdout


# --- compressed logs ---------------------------------------------------------------------------

def test_gzip_compressed_logs_are_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """DLBS's logparser documents ``*.log.gz``; named explicitly they are parsed and reported."""
    logs = write_logs(tmp_path / "logs", WEAK)
    packed = []
    for log in sorted(logs.glob("*resnet50*.log")):
        target = tmp_path / "gz" / f"{log.name}.gz"
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(gzip.compress(log.read_bytes()))
        packed.append(str(target))
    capsys.readouterr()
    assert logparser_main([*packed, "--output_params", "exp.model_title,results.time"]) == 0
    assert sorted(r["results.time"] for r in json.loads(capsys.readouterr().out)) == [
        400.0, 420.0, 450.0]
    report = report_json(capsys, *packed, "--type", "weak")
    check_as_dlbs(report, "ResNet50", DLBS_WEAK)
    bad = tmp_path / "gz" / "cut.log.gz"
    bad.write_bytes(gzip.compress(b"__exp.model__=\"x\"\n" * 100)[:40])
    assert logparser_main([str(bad)]) == 1
    assert "cannot read log: damaged gzip file" in capsys.readouterr().err
