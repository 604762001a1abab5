"""``report --compare`` and ``--compare-by`` list the parameters and environment facts that
differ between the sides, above the table; per-run bookkeeping is never listed."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dlbs.cli.main import main
from dlbs.reports.differences import RUN_BOOKKEEPING, difference_line, differences

LogsOf = Callable[[list[dict[str, Any]], Path], list[Path]]
#: What a real log's header records of the machine and software (docs/log-format.md).
ENVIRONMENT: dict[str, Any] = {
    "hw.hostname": "node1", "hw.cpu_model": "Xeon 8480", "hw.num_cpus": 16,
    "exp.framework_version": "2.3.0", "exp.python_version": "3.11.9", "exp.num_threads": 4,
    "exp.num_batches": 50, "exp.interleave": "random",
}


def _side(records: list[dict[str, Any]], order_seed: int, **changed: Any
          ) -> list[dict[str, Any]]:
    """The records as one session's logs: the environment, a session's own bookkeeping (start
    times, order seed, round positions differ run to run), and ``changed`` on every run."""
    out = []
    for number, record in enumerate(records):
        run = {**ENVIRONMENT, **record, "exp.order_seed": order_seed,
               "exp.repeat_index": number % 3, "exp.round_position": number % 7,
               "exp.start_time": f"2026-11-0{order_seed}T10:{number // 60:02d}:{number % 60:02d}",
               "exp.log_file": f"/logs/{order_seed}/{number}.log", **changed}
        out.append({k: v for k, v in run.items() if v is not None})
    return out


@pytest.fixture
def folders(tmp_path: Path, records: list[dict[str, Any]], new_records: list[dict[str, Any]],
            logs_of: LogsOf) -> tuple[Path, Path]:
    """BASE and NEW log folders: torch and the host changed, the threads of one model too,
    and NEW's logs record the CPU governor that BASE's did not."""
    threads = [{"exp.num_threads": 8 if r["exp.model"] == "alexnet" else 4} for r in new_records]
    new = [{**r, **t} for r, t in zip(_side(new_records, 2, **{
        "exp.framework_version": "2.4.1", "hw.hostname": "node2",
        "hw.cpu_governor": "performance"}), threads)]
    logs_of(_side(records, 1), tmp_path / "base")
    logs_of(new, tmp_path / "new")
    return tmp_path / "base", tmp_path / "new"


EXPECTED = [
    {"key": "exp.framework_version", "base": ["2.3.0"], "new": ["2.4.1"]},
    {"key": "exp.num_threads", "base": ["4"], "new": ["4", "8"]},
    {"key": "hw.cpu_governor", "base": ["(not logged)"], "new": ["performance"]},
    {"key": "hw.hostname", "base": ["node1"], "new": ["node2"]},
]


def test_json_lists_every_difference_and_no_bookkeeping(
        folders: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base, new = folders
    assert main(["report", "--compare", str(base), str(new), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["differences"] == EXPECTED
    assert list(report).index("differences") < list(report).index("tables")


def test_text_shows_the_differences_above_the_table(
        folders: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base, new = folders
    assert main(["report", "--compare", str(base), str(new)]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = lines.index("Parameters that differ between base and new:")
    assert lines[start + 1:start + 6] == [
        "  exp.framework_version: 2.3.0 -> 2.4.1",
        "  exp.num_threads: 1 value in base (4), 2 in new (4, 8)",
        "  hw.cpu_governor: (not logged) -> performance",
        "  hw.hostname: node1 -> node2",
        ""]
    assert start < next(i for i, line in enumerate(lines) if line.startswith("Speedup"))


def test_markdown_and_html_show_the_differences_before_the_tables(
        folders: tuple[Path, Path], tmp_path: Path) -> None:
    base, new = folders
    for fmt, heading, table in (("markdown", "### Parameters that differ", "### Speedup"),
                                ("html", "<h2>Parameters that differ", "<h2>Speedup")):
        out = tmp_path / f"report.{fmt}"
        assert main(["report", "--compare", str(base), str(new), "--format", fmt,
                     "--output_file", str(out)]) == 0
        text = out.read_text()
        assert text.index(heading) < text.index("hw.hostname: node1 -&gt;" if fmt == "html"
                                                else "hw.hostname: node1 ->") < text.index(table)


def test_compare_by_lists_what_changed_with_the_axis(
        tmp_path: Path, records: list[dict[str, Any]], logs_of: LogsOf,
        capsys: pytest.CaptureFixture[str]) -> None:
    """One session, exp.dtype compared; the runs of float16 also ran with other threads (an
    unrelated change a reader must see); the axis itself is not listed as a difference."""
    half = [{**r, "exp.dtype": "float16", "exp.num_threads": 2} for r in records]
    logs_of(_side([*records, *half], 1), tmp_path / "session")
    assert main(["report", str(tmp_path / "session"), "--compare-by", "exp.dtype", "float32",
                 "float16", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["differences"] == [
        {"key": "exp.num_threads", "base": ["4"], "new": ["2"]}]
    assert report["notes"][0] == "compared: exp.dtype: float32 -> float16 (within one session)"


def test_same_parameters_say_none(tmp_path: Path, records: list[dict[str, Any]],
                                  logs_of: LogsOf, capsys: pytest.CaptureFixture[str]) -> None:
    logs_of(_side(records, 1), tmp_path / "base")
    logs_of(_side(records, 2), tmp_path / "new")  # another session: only bookkeeping differs
    assert main(["report", "--compare", str(tmp_path / "base"), str(tmp_path / "new")]) == 0
    assert "Parameters that differ between base and new:\n  none (results and per-run " \
           "bookkeeping left out)\n" in capsys.readouterr().out


@pytest.mark.parametrize("base, new, line", [
    pytest.param(["a"], ["b"], "k: a -> b", id="wholesale"),
    pytest.param(["1", "2", "3"], ["1", "2"], "k: 3 values in base (1, 2, 3), 2 in new (1, 2)",
                 id="varying"),
    pytest.param([str(i) for i in range(6)], ["0"],
                 "k: 6 values in base (0, 1, 2, 3, ... (2 more)), 1 in new (0)", id="long"),
])
def test_difference_line(base: list[str], new: list[str], line: str) -> None:
    assert difference_line({"key": "k", "base": base, "new": new}) == line


@pytest.mark.parametrize("base, new, expected", [
    pytest.param([10, 2, 2], [2], ["2", "10"], id="numbers-by-value"),
    pytest.param(["b", None, "a"], ["a"], ["(not logged)", "a", "b"], id="text"),
])
def test_values_are_listed_in_a_stable_order(base: list[Any], new: list[Any],
                                              expected: list[str]) -> None:
    found = differences([{"exp.k": v} for v in base], [{"exp.k": v} for v in new])
    assert found[0]["base"] == expected


def test_bookkeeping_and_results_are_never_differences() -> None:
    one = {**{k: 1 for k in RUN_BOOKKEEPING}, "results.time": 1.0, "exp.model": "m"}
    two = {**{k: 2 for k in RUN_BOOKKEEPING}, "results.time": 2.0, "exp.model": "m"}
    assert differences([one], [two]) == []
    assert differences([{"exp.seq_len": 0}], [{}]) == []  # an "off" value is no value
