"""A run whose training loss or inference outputs were not finite (``results.loss_finite`` /
``results.output_finite`` false, ``results.numerics`` not_finite) is marked ``x`` wherever its
throughput is shown; one whose ``--check_numerics`` found it off its reference ``?``."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from dlbs.reports.aggregate import aggregate
from dlbs.reports.frame import to_frame
from dlbs.reports.pivot import cell_marks


def test_a_report_marks_a_run_whose_numerics_were_not_finite() -> None:
    base = {"exp.framework": "pytorch", "exp.model": "m", "exp.phase": "training",
            "exp.dtype": "float32", "exp.device_type": "cpu", "exp.gpus": "",
            "exp.num_replicas": 1, "results.status": "ok", "results.time": 10.0,
            "results.throughput": 800.0, "results.time_std": 0.1}
    records = [{**base, "exp.replica_batch": b, "exp.effective_batch": b, **extra}
               for b, extra in ((8, {"results.loss_finite": True}),
                                (16, {"results.loss_finite": False}),
                                (32, {"results.output_finite": False}), (64, {}))]
    marks = cell_marks(aggregate(to_frame(records))).tolist()
    assert marks == ["", "x", "x", ""]


def test_a_report_marks_a_run_whose_check_found_it_off_or_not_finite() -> None:
    base = {"exp.framework": "pytorch", "exp.model": "m", "exp.phase": "inference",
            "exp.dtype": "bfloat16", "exp.device_type": "cpu", "exp.gpus": "",
            "exp.num_replicas": 1, "results.status": "ok", "results.time": 10.0,
            "results.throughput": 800.0, "results.time_std": 0.1}
    records = [{**base, "exp.replica_batch": b, "exp.effective_batch": b, **extra}
               for b, extra in ((8, {"results.numerics": "ok"}),
                                (16, {"results.numerics": "off"}),
                                (32, {"results.numerics": "not_finite"}), (64, {}))]
    agg = aggregate(to_frame(records))
    assert cell_marks(agg).tolist() == ["", "?", "x", ""]
    assert agg["runs_numerics_off"].tolist()[:3] == [0.0, 1.0, 0.0]


def test_the_mark_of_a_run_off_its_reference_is_in_the_text_report_and_its_legend(
        tmp_path: Path) -> None:
    """Through the CLI as a user reads it: the throughput cell carries the mark and the legend
    says what it means."""
    header = {"exp.framework": "pytorch", "exp.model": "resnet18", "exp.phase": "inference",
              "exp.dtype": "bfloat16", "exp.device_type": "cpu", "exp.gpus": "",
              "exp.num_replicas": 1, "results.status": "ok", "results.time": 10.0,
              "results.time_std": 0.1, "exp.replica_batch": 8, "exp.effective_batch": 8}
    for i, (tput, numerics) in enumerate(((800.0, "ok"), (900.0, "off"))):
        facts = {**header, "exp.id": f"e{i}", "exp.replica_batch": 8 * (i + 1),
                 "exp.effective_batch": 8 * (i + 1), "results.throughput": tput,
                 "results.numerics": numerics, "results.exit_code": 0}
        (tmp_path / f"r{i}.log").write_text(
            "".join(f"__{k}__={json.dumps(v)}\n" for k, v in facts.items()))
    out = subprocess.run([sys.executable, "-m", "dlbs", "report", str(tmp_path)],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert "900.00?" in out.stdout.replace(" ", ""), out.stdout
    assert "? numerics off" in out.stdout, out.stdout
    # CSV keeps its cells plain numbers: the marks follow in a block of their own (they were
    # lost there: a spreadsheet showed the run off its reference as a plain 900)
    csv = subprocess.run([sys.executable, "-m", "dlbs", "report", str(tmp_path), "--format",
                          "csv"], capture_output=True, text=True, check=False)
    assert csv.returncode == 0, csv.stderr
    blocks = {block.splitlines()[0]: block.splitlines()[1:]
              for block in csv.stdout.strip().split("\n\n")}
    assert blocks["# Throughput (samples/s)"][1:] == ["resnet18,1x cpu,800.0,900.0"]
    assert blocks["# Throughput (samples/s) (marks)"][1:] == ["resnet18,1x cpu,,?"]
    assert blocks["# Marks"][1].startswith('?,"numerics off:')
