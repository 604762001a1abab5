"""Behaviour of the table builders and the comparison beyond the golden files."""
from __future__ import annotations

import math
from typing import Any

import pytest

from dlbs.errors import ReportError
from dlbs.reports.build import build_report, compare_records
from dlbs.reports.model import OPEN_CELL
from dlbs.reports.render import to_markdown, to_text
from dlbs.reports.verdicts import Policy


def run(model: str = "alexnet", batch: int = 16, time: float = 10.0, status: str = "ok",
        **extra: Any) -> dict[str, Any]:
    # every fact that tells experiments apart (frame.CORE_KEYS): repeats of one are averaged
    record: dict[str, Any] = {"exp.model": model, "exp.replica_batch": batch,
                              "exp.device_type": "cpu", "exp.num_replicas": 1,
                              "exp.phase": "training", "exp.dtype": "float32",
                              "results.status": status}
    if status == "ok":
        record.update({"results.time": time, "results.throughput": batch * 1000.0 / time})
    record.update(extra)
    return record


def cells(report: Any, table: int = 0) -> list[list[Any]]:
    return report.tables[table].data.to_numpy().tolist()


def test_failed_cell_holds_its_status_never_zero() -> None:
    report = build_report([run(batch=16), run(batch=32, status="oom")], "regular")
    assert cells(report) == [[10.0, "oom"]]
    assert "oom" in to_text(report) and " 0.00" not in to_text(report)


def test_a_setting_that_varies_along_a_row_splits_the_rows() -> None:
    records = [run(batch=16), run(batch=32, **{"exp.phase": "inference"})]
    report = build_report(records, "regular")
    assert report.tables[0].data.index.names == ["Model", "Device", "Phase"]
    assert "rows also split by: Phase" in report.notes


def test_runs_of_other_parallelisms_or_optimizers_are_other_experiments() -> None:
    """ddp and fsdp runs of one model, batch and replicas (a sweep over exp.parallelism) are
    two rows, never one mean; a log without the key (older than it) and one with the default
    are one experiment, shown as ddp; fsdp_tp counts its devices from exp.num_devices."""
    def ranks(**extra: Any) -> dict[str, Any]:
        return {"exp.num_replicas": 4, **extra}
    records = [run(time=10.0, **ranks()), run(time=12.0, **ranks(**{"exp.parallelism": "ddp"})),
               run(time=40.0, **ranks(**{"exp.parallelism": "fsdp"})),
               run(time=50.0, **{"exp.parallelism": "fsdp_tp", "exp.tp_degree": 2,
                                 "exp.num_replicas": 2, "exp.num_devices": 4}),
               run(time=20.0, **ranks(**{"exp.optimizer": "adamw"})),
               run(time=11.0, **ranks(**{"exp.optimizer": "sgd"}))]
    report = build_report(records, "regular")
    rows = {tuple(str(v) for v in index): value[0]
            for index, value in zip(report.tables[0].data.index, cells(report))}
    assert report.tables[0].data.index.names == ["Model", "Device", "Optimizer", "Parallelism",
                                                 "TP group"]
    # SGD, what a run without the key trained with, is named (never '-': it read as the
    # model's default, AdamW for a transformer)
    # the one estimator over the three ddp/sgd runs (10, 12, 11 ms): their geometric mean
    assert rows == {("alexnet", "4x cpu", "sgd", "ddp", "-"): pytest.approx(1320.0 ** (1 / 3)),
                    ("alexnet", "4x cpu", "adamw", "ddp", "-"): 20.0,
                    ("alexnet", "4x cpu", "sgd", "fsdp", "-"): 40.0,
                    ("alexnet", "4x cpu", "sgd", "fsdp_tp", "2"): 50.0}


def test_a_weak_scaling_sweep_over_parallelisms_scales_each_along_its_row() -> None:
    """fsdp and fsdp_tp (groups of 2) at 2 and 4 ranks: a group reads one batch, so their
    effective batches differ at one device count, and each grows with the devices. The rows
    are split by the parallelism, not by the effective batch (which would leave each row one
    device count and nothing to scale): each row has its efficiency."""
    def ranked(devices: int, parallelism: str, time: float) -> dict[str, Any]:
        replicas = devices // 2 if parallelism == "fsdp_tp" else devices
        return run(time=time, **{"exp.parallelism": parallelism, "exp.num_devices": devices,
                                 "exp.num_replicas": replicas,
                                 "exp.tp_degree": 2 if parallelism == "fsdp_tp" else 0,
                                 "exp.effective_batch": 16 * replicas,
                                 "results.throughput": 16 * replicas * 1000.0 / time})
    records = [ranked(2, "fsdp", 10.0), ranked(4, "fsdp", 12.5),
               ranked(2, "fsdp_tp", 20.0), ranked(4, "fsdp_tp", 20.0)]
    report = build_report(records, "weak")
    efficiency = next(t for t in report.tables if t.name == "efficiency").data
    assert "Effective batch" not in efficiency.index.names
    by_row = {index[efficiency.index.names.index("Parallelism")]: row
              for index, row in zip(efficiency.index, efficiency.to_numpy().tolist())}
    assert by_row == {"fsdp": [100.0, pytest.approx(80.0)],
                      "fsdp_tp": [100.0, pytest.approx(100.0)]}


def test_repeats_are_averaged_and_marked_noisy_above_the_threshold() -> None:
    records = [run(time=t) for t in (10.0, 12.0, 8.0)]
    noisy = build_report(records, "regular")
    assert cells(noisy) == [[pytest.approx(960.0 ** (1 / 3))]]  # their geometric mean
    assert noisy.tables[0].marks.iat[0, 0] == "*"
    quiet = build_report(records, "regular", threshold=0.5)
    assert quiet.tables[0].marks.iat[0, 0] == ""


def test_single_run_uses_iteration_noise() -> None:
    record = run(time=10.0, **{"results.time_std": 2.0})
    summary = build_report([record], "summary").tables[0].data
    assert summary["CV (%)"].iat[0] == pytest.approx(20.0) and summary["Noisy"].iat[0]


def test_partial_failure_is_marked_and_averages_successful_runs() -> None:
    report = build_report([run(time=10.0), run(status="failure"), run(time=10.0)], "regular")
    assert cells(report) == [[pytest.approx(10.0)]] and report.tables[0].marks.iat[0, 0] == "!"


def test_pivot_of_a_statistic() -> None:
    records = [run(time=t) for t in (10.0, 11.0)] + [run(batch=32, time=20.0)]
    report = build_report(records, pivot=(["model"], ["replica_batch"], "runs"))
    assert cells(report) == [[2, 1]]


def test_unknown_pivot_column_is_an_error() -> None:
    with pytest.raises(ReportError, match="--cols: unknown column 'exp.nope'; use a log key"):
        build_report([run()], pivot=(["model"], ["exp.nope"], "time"))


# Issue 19: "no significant change" became "inconclusive" (the interval reaches into the band).
@pytest.mark.parametrize("base, new, verdict", [
    pytest.param([run(time=10.0)], [run(time=20.0, **{"results.time_data": [19.0, 21.0]})],
                 "no verdict: 1 run on a side", id="one-run-a-side"),
    pytest.param([run(time=t) for t in (10.0, 10.2, 10.1)],
                 [run(time=t) for t in (10.1, 10.15, 10.05)], "inconclusive", id="within-noise"),
    pytest.param([run(time=t) for t in (10.0, 10.001, 10.002)],
                 [run(time=t) for t in (9.95, 9.951, 9.952)], "inconclusive",
                 id="significant-but-within-the-assumed-session-shift"),
    pytest.param([run(time=t) for t in (10.0, 10.2, 9.8)], [run(time=t) for t in (20, 20.4, 19.6)],
                 "slower", id="slower"),
    pytest.param([run(time=10.0)], [run(status="timeout")], "failed in new", id="failed-in-new"),
    pytest.param([run(time=10.0)], [run(model="vgg16")], "only in base", id="only-in-base"),
])
def test_compare_verdicts(base: list[dict[str, Any]], new: list[dict[str, Any]],
                          verdict: str) -> None:
    table = compare_records(base, new).tables[0].data
    assert table["Verdict"].iat[0] == verdict


def test_one_run_a_side_gives_a_ratio_and_no_verdict_however_tight_its_iterations() -> None:
    """The 42x case: iterations of one process are not independent samples of the code."""
    base = [run(time=10.0, **{"results.time_data": [9.9, 10.0, 10.1, 10.0] * 25})]
    new = [run(time=8.0, **{"results.time_data": [7.9, 8.0, 8.1, 8.0] * 25})]
    report = compare_records(base, new)
    row = report.tables[0].data.iloc[0]
    assert row["Speedup"] == pytest.approx(1.25) and row["CI low"] is None
    assert row["Verdict"] == "no verdict: 1 run on a side"
    assert any("exp.repeat >= 3" in note for note in report.notes)


def test_repeats_give_a_verdict_and_runs_needed_when_unresolved() -> None:
    base = [run(time=t) for t in (10.0, 10.3, 9.8)]
    faster = compare_records(base, [run(time=t) for t in (8.0, 8.1, 7.9)]).tables[0].data.iloc[0]
    assert faster["Verdict"] == "faster" and 1.0 < faster["CI low"] < 1.25 < faster["CI high"]
    assert faster["Runs needed (planning)"] is None
    unclear = compare_records(base, [run(time=t) for t in (9.7, 10.4, 9.6)],
                              policy=Policy(session_cv=0.0)).tables[0].data  # no session shift
    assert unclear["Verdict"].iat[0] == "inconclusive"
    assert unclear["Runs needed (planning)"].iat[0] > 3


def test_min_change_is_checked() -> None:
    with pytest.raises(ReportError, match="--min_change"):
        compare_records([run()], [run()], min_change=1.5)


def test_compare_matches_across_what_differs_wholesale() -> None:
    """The container image is identity (``dlbs.params.identity``): one on each side is what
    the two sides compare, named in a note."""
    base = [run(**{"exp.docker": True, "exp.docker_image": "old"})]
    new = [run(**{"exp.docker": True, "exp.docker_image": "new"})]
    report = compare_records(base, new)
    assert len(report.tables[0].data) == 1
    assert 'compared: container_image: "old" -> "new"' in report.notes


def test_markdown_cell_with_a_pipe_or_line_break_stays_one_table_row() -> None:
    report = build_report([run(**{"exp.model_title": "Alex|Net\nv2"})], "regular")
    lines = to_markdown(report).splitlines()
    row = next(line for line in lines if line.startswith("| Alex"))
    assert row.startswith("| Alex\\|Net v2 | 1x cpu |")
    assert not any(line == "v2 | 1x cpu | 10.00 |" or line.startswith("v2") for line in lines)


def test_compare_row_only_on_one_side_keeps_ints_as_ints() -> None:
    # The other side lacks the batch (a truncated log): the batch stays 16 and runs stay 1,
    # not 16.0 and 1.00.
    base = [run(batch=16)]
    new = [{"exp.model": "resnet50", "results.status": "failure"}]
    report = compare_records(base, new)
    data = report.tables[0].data
    assert data.index.tolist()[0][:3] == ("alexnet", "1x cpu", "16")
    # runs: the successful ones (the evidence); the failed run is no sample
    assert data["Runs base"].tolist() == [1, None] and data["Runs new"].tolist() == [None, 0]
    assert isinstance(data["Runs base"].iat[0], int)
    row = next(line for line in to_text(report).splitlines() if line.startswith("alexnet"))
    assert "16.0" not in row and " 1.00 " not in row


@pytest.mark.parametrize("times", [
    pytest.param((10.0, 30.0, 12.0), id="three-runs-far-apart"),
    pytest.param((10.0, 10.5, 9.8), id="three-close-runs"),
])
def test_throughput_interval_is_samples_over_the_time_interval_never_negative(
        times: tuple[float, ...]) -> None:
    """Issue 19: a 2-run throughput interval was drawn down to a negative bound."""
    report = build_report([run(time=t, **{"results.throughput": 16000.0 / t}) for t in times],
                          "summary")
    row = report.tables[0].data.iloc[0]
    time_low, time_high = row["Time CI95 low"], row["Time CI95 high"]
    low, high = row["Throughput CI95 low"], row["Throughput CI95 high"]
    # an end beyond 3x the value is "open" (benchstats.shown_ends), never a number; the time's
    # lower end and the throughput's upper end are one bound inverted, open together
    if time_high == OPEN_CELL:
        assert low == OPEN_CELL
    else:
        assert low > 0 and low == pytest.approx(16000.0 / time_high)
    if time_low == OPEN_CELL:
        assert high == OPEN_CELL
    else:
        assert time_low > 0 and high == pytest.approx(16000.0 / time_low)


def test_two_runs_have_no_interval_and_the_legend_says_why() -> None:
    """Issue 56: Student's t on one degree of freedom gave two runs an interval no run comes
    near (3.72 and 8.34 samples/s: [0.033, 940.6]); the value stays, the interval is left out."""
    report = build_report([run(time=t, **{"results.throughput": 16000.0 / t})
                           for t in (10.0, 30.0)], "summary")
    row = report.tables[0].data.iloc[0]
    assert row["Throughput mean (samples/s)"] == pytest.approx(16000.0 / math.sqrt(300.0),
                                                rel=1e-9)
    assert all(row[c] is None or math.isnan(row[c]) for c in (
        "Time CI95 low", "Time CI95 high", "Throughput CI95 low", "Throughput CI95 high"))
    assert any("two runs: none" in note for note in report.notes)


def test_a_run_with_an_impossible_time_is_invalid_never_averaged() -> None:
    """Review of issue 19: a log saying ok with results.time 0 or -4 ms was averaged into a
    negative throughput (-811 samples/s) and counted as a run of a comparison."""
    negative = run(time=10.0, **{"results.time": -4.0, "results.throughput": -4000.0})
    zero = run(time=10.0, **{"results.time": 0.0, "results.throughput": None})
    report = build_report([run(time=10.0), run(time=12.0), negative, zero,
                           run(batch=32, time=5.0, **{"results.time": -1.0})], "regular")
    assert cells(report) == [[pytest.approx(math.sqrt(120.0)), "invalid"]]
    # the geometric mean of 1600 and 1333.3 samples/s: samples / that of the times
    assert cells(report, 1) == [[pytest.approx(16000.0 / math.sqrt(120.0), rel=1e-9),
                                 "invalid"]]
    compared = compare_records([run(time=10.0), run(time=10.5), negative],
                               [run(time=10.0), run(time=10.2)])
    assert compared.tables[0].data["Runs base"].tolist() == [2]


def test_a_run_without_a_model_title_joins_its_models_row() -> None:
    """A run that never started (a Slurm job cancelled in the queue) has no exp.model_title:
    it is the same model as the others, so one row, not 'DeepMNIST' and 'deep_mnist'."""
    records = [run(model="deep_mnist", batch=16, **{"exp.model_title": "DeepMNIST"}),
               run(model="deep_mnist", batch=32, status="cancelled")]
    report = build_report(records, "regular")
    assert list(report.tables[0].data.index.get_level_values(0)) == ["DeepMNIST"]
    assert cells(report) == [[10.0, "cancelled"]]


def test_settings_that_vary_together_are_all_shown_in_the_rows() -> None:
    """bfloat16 with channels_last against float32 contiguous: the rows name both, not only
    the precision."""
    records = [run(**{"pytorch.channels_last": False}),
               run(time=8.0, **{"exp.dtype": "bfloat16", "pytorch.channels_last": True})]
    report = build_report(records, "regular")
    assert list(report.tables[0].data.index.names) == [
        "Model", "Device", "Precision", "pytorch.channels_last"]
    assert "rows also split by: Precision, pytorch.channels_last" in report.notes


def test_threads_one_and_two_are_two_experiments() -> None:
    """The threads a run used (exp.num_threads, as the benchmark logs them whatever
    exp.cpu_threads asked) tell experiments apart: their runs are not averaged together."""
    records = [run(time=12.0, **{"exp.cpu_threads": 1, "exp.num_threads": 1}),
               run(time=7.0, **{"exp.cpu_threads": 2, "exp.num_threads": 2})]
    report = build_report(records, "regular")
    assert cells(report) == [[12.0], [7.0]]
    assert "Threads" in report.tables[0].data.index.names


def test_threads_asked_and_threads_resolved_alike_are_one_experiment() -> None:
    """exp.cpu_threads 0 (the benchmark's choice) that ran 2 threads is the run that asked for
    2 (issue 57: the database always merged them, the report kept them apart)."""
    records = [run(time=9.0, **{"exp.cpu_threads": 0, "exp.num_threads": 2}),
               run(time=11.0, **{"exp.cpu_threads": 2, "exp.num_threads": 2})]
    assert len(cells(build_report(records, "regular"))) == 1
