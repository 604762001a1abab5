"""Facts of the wrong type, done for real: a well-known key whose value is not of the type
``docs/log-format.md`` gives (``results.time="abc"``, ``exp.model=123``) is dropped with a
warning naming file and line, as any damaged fact; the log's other facts are kept, and a
report on it is built (never a string where a number is expected).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dlbs.logs.fact_types import FACT_TYPES, compile_type, type_problem
from dlbs.logs.parser import parse_log

ROOT = Path(__file__).parents[2]
DOC = ROOT / "docs" / "log-format.md"
GOOD_LOG = ROOT / "tests" / "logs" / "fixtures" / "ok_resnet50_b16.log"
KEY = re.compile(r"`([a-z_]+\.[a-z_0-9.]+)`")
#: ``str (`exp.replica_batch`: int or `"max"`)``: a row's type with one key's own
EXCEPT = re.compile(r"^(.+?) \(`([^`]+)`: (.+)\)$")


def doc_types() -> dict[str, str]:
    """key -> type from the tables of docs/log-format.md (backticks dropped; a row of two
    keys typed ``list[float], float`` gives each its own)."""
    found: dict[str, str] = {}
    for line in DOC.read_text().splitlines():
        if not line.startswith("| `"):
            continue
        keys_cell, type_cell = (cell.strip() for cell in line.strip("|").split("|")[:2])
        keys = KEY.findall(keys_cell)
        own: dict[str, str] = {}
        match = EXCEPT.match(type_cell)
        if match:
            type_cell = match.group(1)
            own[match.group(2)] = match.group(3).replace("`", "")
        type_cell = type_cell.replace("`", "")
        parts = type_cell.split(", ")
        types = parts if 1 < len(keys) == len(parts) else [type_cell] * len(keys)
        for key, kind in zip(keys, types):
            kind = own.get(key, kind)
            assert found.get(key, kind) == kind, f"{key} has two types in the doc"
            found[key] = kind
    return found


def test_the_table_of_types_is_the_documented_one() -> None:
    assert FACT_TYPES == doc_types()


def test_every_documented_type_is_understood() -> None:
    for kind in set(FACT_TYPES.values()):
        compile_type(kind)


#: (fact line, key, what the warning says it is)
WRONG = [
    pytest.param('__results.time__="abc"', "results.time", 'a string ("abc"), not float',
                 id="time-string"),
    pytest.param("__results.time__=true", "results.time", "a boolean (true), not float",
                 id="time-bool"),
    pytest.param("__results.throughput__=[1]", "results.throughput", "a list ([1]), not float",
                 id="throughput-list"),
    pytest.param('__results.throughput__={"v": 1}', "results.throughput", "an object",
                 id="throughput-object"),
    pytest.param("__exp.model__=123", "exp.model", "a number (123), not str", id="model-number"),
    pytest.param('__exp.replica_batch__="x"', "exp.replica_batch",
                 'a string ("x"), not int >= 1 or "max"', id="batch-string"),
    pytest.param("__exp.replica_batch__=1.5", "exp.replica_batch", "a number (1.5)",
                 id="batch-fraction"),
    pytest.param('__results.time_data__=[1.0, "x"]', "results.time_data",
                 "not list[float]", id="time-data-item"),
    pytest.param("__results.time_ci95__=[1.0]", "results.time_ci95", "not [float, float] or null",
                 id="ci-short"),
    pytest.param('__results.exit_code__="0"', "results.exit_code", "not int", id="exit-code"),
    pytest.param('__results.steady_state__="yes"', "results.steady_state", "not bool",
                 id="steady-string"),
    pytest.param('__exp.warnings__="oops"', "exp.warnings", "not list[str]", id="warnings"),
    pytest.param('__hw.devices__="cpu"', "hw.devices", "not list[str]", id="devices"),
    pytest.param('__exp.effective_batch__="all"', "exp.effective_batch", 'not int >= 1 or "max"',
                 id="effective-batch"),
    pytest.param('__results.status__=1', "results.status", "not str", id="status-number"),
]


def log_with(tmp_path: Path, line: str) -> tuple[Path, int]:
    """The good log with ``line`` added before the runner's trailer; its line number."""
    lines = GOOD_LOG.read_text().splitlines()
    at = next(i for i, text in enumerate(lines) if text.startswith("__results.exit_code__"))
    lines.insert(at, line)
    path = tmp_path / "logs" / "run.log"
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path, at + 1


@pytest.mark.parametrize("line,key,said", WRONG)
def test_a_fact_of_the_wrong_type_is_dropped_with_file_and_line(
        tmp_path: Path, line: str, key: str, said: str) -> None:
    path, number = log_with(tmp_path, line)
    good = parse_log(GOOD_LOG).record
    result = parse_log(path)
    assert result.error is None and result.record is not None and good is not None
    (warning,) = result.warnings
    assert warning.startswith(f"{path}:{number}: malformed fact line skipped: value of '{key}' "
                              "is ")
    assert said in warning
    # the line alone is lost: the key keeps its earlier value (the log's name is the file's)
    assert {**result.record, "exp.log_file": GOOD_LOG} == {**good, "exp.log_file": GOOD_LOG}


@pytest.mark.parametrize("key,value", [
    ("results.time", None), ("results.time", 50), ("results.precision", None),
    ("exp.replica_batch", "max"), ("exp.replica_batch", 16), ("exp.effective_batch", "max"),
    ("results.num_batches_done", 10.0), ("results.time_ci95", [1, 2.5]),
    ("results.time_data", []), ("hw.cuda_version", None), ("exp.my_own_fact", "anything"),
    ("results.my_own_number", [1, "x"]),
])
def test_values_of_the_documented_type_are_kept(key: str, value: Any) -> None:
    assert type_problem(key, value) is None


@pytest.mark.parametrize("value", [-5, 0, 2.5, -1.0, True, "16"])
@pytest.mark.parametrize("key", ["exp.replica_batch", "exp.effective_batch"])
def test_a_batch_is_a_count(key: str, value: Any) -> None:
    """A batch of -5 or 0 samples is no batch (issue 54: a report column '-5')."""
    assert type_problem(key, value) is not None


def test_the_benchmark_writes_only_facts_of_their_type(tmp_path: Path) -> None:
    """A real run's log (a token model generating, the monitor on) parses without a warning."""
    from pytorch_benchmarks import benchmarks

    log = tmp_path / "gen.log"
    code = benchmarks.main(["--model", "gpt2", "--model_config",
                            '{"layers": 1, "heads": 2, "hidden": 16, "vocab": 50}',
                            "--seq_len", "8", "--forward_only", "--generate", "2",
                            "--batch_size", "2", "--device", "cpu", "--num_batches", "2",
                            "--num_warmup_batches", "1", "--log_file", str(log)])
    result = parse_log(log)
    assert code == 0 and result.record is not None
    assert result.record["results.status"] == "ok" and result.warnings == []
    assert {"results.ttft_p50", "exp.warnings", "hw.devices"} <= result.record.keys()


@pytest.mark.parametrize("command", [
    pytest.param(["report"], id="report"),
    pytest.param(["report", "--format", "csv"], id="report-csv"),
    pytest.param(["parse"], id="parse"),
])
def test_a_report_on_a_log_with_wrong_types_warns_once_and_is_built(
        tmp_path: Path, command: list[str]) -> None:
    # a wrong value no report text holds otherwise ("abc" was found in a commit id)
    lines = ['__results.time__="not_a_time"', "__results.throughput__=[1]", "__exp.model__=123"]
    path, number = log_with(tmp_path, "\n".join(lines))
    result = subprocess.run([sys.executable, "-m", "dlbs", *command, str(path.parent)],
                            capture_output=True, text=True, check=False, timeout=120,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    warned = [line for line in result.stderr.splitlines() if "malformed fact line" in line]
    assert len(warned) == 3
    for offset, (line, key) in enumerate(zip(warned, ("results.time", "results.throughput",
                                                      "exp.model"))):
        assert f"{path}:{number + offset}: malformed fact line skipped: value of '{key}'" in line
    assert "ResNet-50" in result.stdout or "resnet50" in result.stdout
    assert "not_a_time" not in result.stdout and "50.0" in result.stdout and "320.0" in result.stdout
    if command == ["parse"]:
        (record,) = json.loads(result.stdout)["data"]
        assert (record["results.time"], record["results.throughput"]) == (50.0, 320.0)
