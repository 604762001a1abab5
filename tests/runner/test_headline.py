"""Issue 58, item 1: each finished experiment's console line says what it measured and how
far to trust it, and the sweep's summary counts the runs on a busy machine, without a steady
state or without an interval (the console said ``[1/12] ok in 144.1 s`` and nothing else)."""
from __future__ import annotations

import io

from dlbs.experiment import Experiment
from dlbs.runner.core import Outcome, Summary
from dlbs.runner.headline import Measured, counts, headline_figure, measured, significant
from dlbs.runner.progress import Progress


def test_the_headline_figure_of_each_kind_of_run() -> None:
    assert headline_figure({"results.throughput": 4.7123}) == "4.71 samples/s"
    assert headline_figure({"results.throughput": 1234.5,
                            "results.tokens_per_second": 98765.4}) == "98,765 tokens/s"
    assert headline_figure({"results.ttft_p50": 42.04, "results.request_throughput": 3.912,
                            "results.throughput": 3.912}) == "TTFT p50 42.0 ms, 3.91 requests/s"
    assert headline_figure({"results.capacity": 6.31, "results.capacity_unit": "requests/s",
                            "results.ttft_p50": 1.0}) == "capacity 6.31 requests/s"
    assert headline_figure({"results.status": "ok"}) == ""
    # 3 significant digits, trailing zeros kept (the console's 38.04 said '38', 3.1 '3.1')
    assert [significant(v) for v in (0.012345, 0.5, 4.7123, 38.04, 3.1, 99.94, 99.96, 100.4)] \
        == ["0.0123", "0.500", "4.71", "38.0", "3.10", "99.9", "100", "100"]


def test_marks_busy_unsteady_and_withheld() -> None:
    quiet = measured({"results.throughput": 4.71, "results.other_cpu_share": 0.03,
                      "results.steady_state": True, "results.ci_withheld": None})
    assert quiet.text() == "4.71 samples/s"
    busy = measured({"results.throughput": 4.71, "results.other_cpu_share": 0.873,
                     "results.steady_state": False, "results.ci_withheld": "not steady"})
    assert busy.text() == "4.71 samples/s, busy 87%, not steady"
    short = measured({"results.throughput": 4.71, "results.ci_withheld": "heavy tails"})
    assert short.text() == "4.71 samples/s, no interval: heavy tails"


def test_the_console_line_carries_the_figure() -> None:
    stream = io.StringIO()
    progress = Progress(12, stream=stream, bar=False)
    progress.start(0, Experiment.of({"exp.model": "resnet18", "exp.log_file": "/logs/a.log"}))
    progress.finish(0, "ok", 41.23, "4.71 samples/s, busy 87%")
    assert "[1/12] ok in 41.2 s: 4.71 samples/s, busy 87% | done 1 failed 0" in \
        stream.getvalue()


def test_the_summary_counts_runs_on_a_busy_machine() -> None:
    runs = [Measured("4.71 samples/s", busy=0.87)] * 11 + [Measured("5.0 samples/s")]
    lines = counts(runs)
    assert lines[0].startswith("  11 of 12 runs on a busy machine")
    assert "figures not comparable" in lines[0] and "docs/reports.md" in lines[0]
    assert counts([Measured("1 samples/s")] * 3) == []  # all well: nothing said
    summary = Summary(total=3, outcomes=[
        Outcome("ok", 1.0, "/l/a.log", measured=Measured("1 samples/s", unsteady=True)),
        Outcome("ok", 1.0, "/l/b.log", measured=Measured("1 samples/s", withheld="heavy tails")),
        Outcome("failure", 1.0, "/l/c.log", "exit 1")])
    text = summary.text()
    assert "1 of 2 runs found no steady state" in text
    assert "1 of 2 runs without an interval of their own" in text


def test_ranks_above_cores_are_marked_and_counted() -> None:
    """Issue 58, item 4: a run whose ranks x threads exceed its usable cores is marked on
    its console line and counted once in the summary (exp.ranks_above_cores)."""
    run = measured({"results.throughput": 0.5, "exp.ranks_above_cores": True,
                    "results.other_cpu_share": 0.5})
    assert run.text() == "0.500 samples/s, busy 50%, ranks above cores"
    assert measured({"results.throughput": 0.5, "exp.ranks_above_cores": False}).text() == \
        "0.500 samples/s"
    lines = counts([run, measured({"results.throughput": 0.5})])
    assert any(line.startswith("  1 of 2 runs with more threads than usable cores "
                               "(exp.ranks_above_cores)") and line.endswith(
                                   "lower exp.cpu_threads or the ranks per node")
               for line in lines)


def test_the_busy_count_names_the_runs_not_judged() -> None:
    """Issue 56, item 7: a run whose timed window was too short to judge the machine (its
    results.other_cpu_share null) is counted as not judged, not dropped from the count."""
    busy = measured({"results.throughput": 4.71, "results.other_cpu_share": 0.5})
    short = measured({"results.throughput": 4.71, "results.other_cpu_share": None,
                      "results.other_cpu_seconds": 0.01})
    [line] = counts([busy] * 4 + [short] * 2)
    assert line.startswith("  4 of 6 runs on a busy machine (other processes took over 10% of "
                           "their CPUs: results.other_cpu_share) (2 not judged: a timed window "
                           "under 1 s): figures not comparable")
    [line] = counts([measured({"results.throughput": 4.71, "results.other_cpu_share": 0.01}),
                     short, measured({"results.throughput": 4.71})])
    assert "0 of 3 runs on a busy machine" in line
    assert "(1 not judged: a timed window under 1 s; 1 not judged: no machine state logged)" \
        in line and "a busy machine not ruled out; raise exp.num_batches" in line
    failed = measured({"results.status": "failure"})  # measured nothing: no state expected
    assert counts([measured({"results.throughput": 4.71, "results.other_cpu_share": 0.01}),
                   failed]) == []


def _short_run(steady: bool | None, withheld: str, untested: str | None) -> Measured:
    """The facts a 30-iteration run writes: no interval, and a steady state found against
    (false) or not tested (null, with the reason)."""
    return measured({"results.throughput": 4.71, "results.steady_state": steady,
                     "results.time_ci95": None, "results.ci_withheld": withheld,
                     "results.steady_state_untested": untested})


def test_the_interval_count_adds_up_with_the_unsteady_runs() -> None:
    """Issue 58 item 2: all 10 runs had no interval (8 too short, 2 not steady) and the summary
    said ``8 of 10 runs without an interval``; the unsteady ones are counted, by reason."""
    runs = ([_short_run(None, "too few iterations", "too few iterations")] * 8
            + [_short_run(False, "not steady", None)] * 2)
    lines = counts(runs)
    assert "  2 of 10 runs found no steady state" in "\n".join(lines)
    assert ("  10 of 10 runs without an interval of their own (8: too few iterations, "
            "2: not steady: results.ci_withheld; repeated runs give one over the runs)") in lines


def test_an_unsteady_log_without_the_reason_counts_as_withheld() -> None:
    """A log written before results.ci_withheld: steady_state false still means no interval."""
    old = measured({"results.throughput": 4.71, "results.steady_state": False,
                    "results.time_ci95": [1.0, 2.0]})
    assert old.withheld == "not steady"
    assert "1 of 1 run without an interval of their own (1: not steady" in counts([old])[-1]


def test_runs_too_short_to_test_are_counted_not_tested() -> None:
    """Issue 58 item 1: a run whose steady state was not tested is said so, apart from the
    runs found unsteady, and not counted steady."""
    runs = [_short_run(None, "too few iterations", "too few iterations")] * 8
    lines = counts(runs)
    assert ("  8 of 8 runs with the steady state not tested (8: too few iterations: "
                        "results.steady_state_untested), not counted steady: raise "
                        "exp.num_batches (100 iterations or more)") in lines
    assert not any("found no steady state" in line for line in lines)
