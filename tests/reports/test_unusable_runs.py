"""Every number means what it says (issue 30): a run logged ok without a usable measurement
is left out of every statistic and named; an interval carries the marks of its value; a
report from the database says which filter it read."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dlbs.cli.main import main
from dlbs.reports.build import build_report, compare_by_records, compare_records
from dlbs.reports.frame import INVALID_STATUS, to_frame
from dlbs.reports.html import to_html
from dlbs.reports.render import to_csv, to_json, to_markdown, to_text

from .conftest import write_logs

TIME = 40.0  # ms, batch 4: 100 samples/s
NOTE = "1 run without a usable {key} left out of every statistic"


def run(repeat: int, time: float = TIME, **extra: Any) -> dict[str, Any]:
    """One run as our runner logs it (its header's exp.runner_start_time, its trailer)."""
    record: dict[str, Any] = {
        "exp.framework": "pytorch", "exp.model": "deep_mnist", "exp.model_title": "DeepMNIST",
        "exp.phase": "training", "exp.dtype": "float32", "exp.device_type": "cpu",
        "exp.num_replicas": 1, "exp.replica_batch": 4, "exp.effective_batch": 4,
        "exp.runner_start_time": "2026-11-25T12:55:26+00:00", "exp.repeat_index": repeat,
        "exp.log_file": f"/logs/run_{repeat}.log", "results.status": "ok",
        "results.time": time, "results.throughput": 4 * 1000.0 / time,
        "results.exit_code": 0,
    }
    record.update(extra)
    return {k: v for k, v in record.items() if v is not None}


#: The third run's measurements -> the key named in the note.
UNUSABLE = [
    ({"results.throughput": 0.0}, "results.throughput"),
    ({"results.throughput": -5}, "results.throughput"),
    ({"results.throughput": -5.0}, "results.throughput"),
    ({"results.throughput": None}, "results.throughput"),  # missing, the time logged
    ({"results.time": None}, "results.time"),                 # missing, the throughput logged
    ({"results.time": 0.0}, "results.time"),
    ({"results.time": -4.0, "results.throughput": -1000.0},
     "results.throughput and results.time"),
]


def summary_row(report: Any) -> dict[str, Any]:
    table = report.tables[0]
    return dict(zip(table.data.columns, table.data.iloc[0].tolist()))


@pytest.mark.parametrize("bad, key", UNUSABLE)
def test_a_run_without_a_usable_measurement_is_left_out_of_every_statistic(
        bad: dict[str, Any], key: str) -> None:
    """Was: a throughput of 0.0 counted OK=2, a mean of 5.23 with CI 5.23-5.23 and CV 141%;
    -5 recomputed from the time; nothing said."""
    good = [run(0, 39.0), run(1, 41.0)]
    records = [*good, run(2, **bad)]
    summary = build_report(records, "summary")
    row = summary_row(summary)
    assert row["Runs"] == 3 and row["OK"] == 2
    alone = summary_row(build_report(good, "summary"))
    for column in ("Time mean (ms)", "Throughput mean (samples/s)", "Throughput CI95 low",
                   "CV (%)"):
        assert row[column] == pytest.approx(alone[column]), column
    assert row["CV (%)"] < 5.0 and not row["Noisy"]
    note = NOTE.format(key=key)
    assert any(n.startswith(note) for n in summary.notes), summary.notes
    assert len(summary.warnings) == 1 and summary.warnings[0].startswith("/logs/run_2.log: ")
    assert "left out of every statistic" in summary.warnings[0]
    # the other reports: the same runs, the same note
    regular = build_report(records, "regular")
    assert regular.tables[1].data.iat[0, 0] == pytest.approx(alone["Throughput mean (samples/s)"])
    assert regular.tables[1].mark(0, 0) == "!"  # some repeats did not count
    for report in (regular, build_report(records, "weak"),
                   build_report(records, "regular", (["model"], ["replica_batch"], "time"))):
        assert any(n.startswith(note) for n in report.notes), report.kind
        assert report.warnings == summary.warnings
    compared = compare_records(records, good)
    assert compared.tables[0].data["Runs base"].tolist() == [2]
    assert any(n.startswith(note) for n in compared.notes)
    sweep = [{**r, "exp.num_threads": 1} for r in records] + \
        [{**r, "exp.num_threads": 2, "exp.log_file": f"/logs/t2_{i}.log"} for i, r in
         enumerate(good)]
    by = compare_by_records(sweep, "exp.num_threads", "1", "2")
    assert by.tables[0].data["Runs base"].tolist() == [2]
    assert any(n.startswith(note) for n in by.notes)


def test_every_run_unusable_is_an_invalid_experiment_never_a_number() -> None:
    report = build_report([run(0, **{"results.throughput": 0.0}),
                           run(1, **{"results.throughput": 0.0})], "regular")
    assert report.tables[1].data.iat[0, 0] == INVALID_STATUS
    assert any(n.startswith("2 runs without a usable results.throughput") for n in report.notes)


def test_a_usable_set_of_runs_has_no_note_and_no_warning() -> None:
    report = build_report([run(0), run(1)], "summary")
    assert report.warnings == []
    assert not any("left out of every statistic" in n for n in report.notes)


def test_only_dlbs_logs_get_a_missing_throughput_from_the_time() -> None:
    """DLBS's logs and parses (no runner header) may lack the throughput: it is effective
    batch x 1000 / time, as DLBS computed it. Our runner's benchmark writes both: one missing
    is no measurement."""
    dlbs = {k: v for k, v in run(0).items()
            if k not in ("exp.runner_start_time", "results.throughput")}
    ours = run(0, **{"results.throughput": None})
    frame = to_frame([dlbs, ours])
    assert frame["status"].tolist() == ["ok", INVALID_STATUS]
    assert frame["throughput"].iloc[0] == pytest.approx(100.0)


def test_the_cli_names_each_run_left_out_on_stderr(tmp_path: Path) -> None:
    """The repro of the review: two runs, the second with a throughput of 0.0."""
    records = [run(0), run(1, **{"results.throughput": 0.0})]
    for record in records:
        record.pop("exp.log_file")  # the parser names a log by its path
    paths = write_logs(records, tmp_path / "z")

    def report(*argv: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "dlbs", "report", str(tmp_path / "z"),
                               "--type", "summary", *argv], capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        return done

    done = report("--format", "csv")
    header, row = done.stdout.splitlines()[1:3]
    cells = dict(zip(header.split(","), row.split(",")))
    assert cells["OK"] == "1" and float(cells["Throughput mean (samples/s)"]) == 100.0
    assert f"{paths[1]}: results.throughput is 0.0" in done.stderr
    assert str(paths[0]) not in done.stderr
    assert NOTE.format(key="results.throughput") in report().stdout


# --- B: an interval carries the marks of its value ---------------------------------------

def unsteady_runs() -> list[dict[str, Any]]:
    """Three runs, none of which found a steady state (one slower than the others)."""
    return [run(i, time, **{"results.steady_state": False})
            for i, time in enumerate((39.0, 40.0, 40.5))]


def test_the_interval_of_unsteady_runs_is_marked_in_every_format(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Was: the throughput cell '100.99~' beside a bare interval '98.57 - 103.54', shown in
    HTML as a failed status, and no mark at all in CSV."""
    write_logs(unsteady_runs(), tmp_path / "logs")
    assert main(["report", str(tmp_path / "logs")]) == 0
    text = capsys.readouterr().out
    assert re.search(r"\nDeepMNIST +1x cpu +\d+\.\d\d - \d+\.\d\d~\n", text), text
    report = build_report(unsteady_runs(), "regular")
    ci = next(t for t in report.tables if t.name == "throughput_ci")
    throughput = report.tables[1]
    assert ci.mark(0, 0) == throughput.mark(0, 0) == "~"
    assert re.search(r"\| \d+\.\d\d - \d+\.\d\d\\~ \|", to_markdown(report))
    page = to_html(report)
    assert re.search(r'<td class="num unsteady">\d+\.\d\d - \d+\.\d\d~</td>', page)
    assert '<td class="status">' not in page
    marks = json.loads(to_json(report))["tables"]
    assert next(t for t in marks if t["name"] == "throughput_ci")["rows"][0]["marks"] == ["~"]


def test_the_summary_marks_its_means_and_intervals_and_its_csv_has_a_marks_column() -> None:
    report = build_report(unsteady_runs(), "summary")
    table = report.tables[0]
    columns = list(table.data.columns)
    for heading in ("Throughput mean (samples/s)", "Throughput CI95 low", "Throughput CI95 high",
                    "Time mean (ms)", "Time CI95 low", "Time CI95 high"):
        assert table.mark(0, columns.index(heading)) == "~", heading
    assert table.mark(0, columns.index("Throughput median")) == ""
    assert any(n.startswith("~ no steady state") for n in report.notes)
    header, row = to_csv(report).splitlines()[1:3]
    cells = dict(zip(header.split(","), row.split(",")))
    assert cells["Marks"] == "~" and header.split(",")[-1] == "Marks"
    assert re.fullmatch(r"\d+\.\d+", cells["Throughput CI95 low"])  # the number stays plain
    text = to_text(report)
    assert re.search(r"\d+\.\d\d~", text)
