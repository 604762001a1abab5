"""A run whose training loss or inference outputs were not finite (``results.loss_finite`` /
``results.output_finite`` false) is marked ``x`` wherever its throughput is shown."""
from __future__ import annotations

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
