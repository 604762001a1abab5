"""The log parser on hand-written fixture logs: facts, noise, malformed and truncated logs."""
from __future__ import annotations

from pathlib import Path

import pytest
from pytorch_benchmarks.facts import format_fact

from dlbs.logs.parser import is_failed, parse_log, parse_text
from dlbs.logs.pool import parse_logs

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return str(FIXTURES / name)


def test_complete_log_gives_every_fact_and_no_warning() -> None:
    result = parse_log(fixture("ok_resnet50_b16.log"))
    assert result.error is None and result.warnings == []
    record = result.record
    assert record is not None
    assert record["exp.model"] == "resnet50" and record["exp.replica_batch"] == 16
    assert record["exp.model_title"] == "ResNet-50"
    assert record["hw.gpu_name"] == "Test GPU 80GB"  # blanks around '=' and before '__'
    assert record["results.time"] == 50.0 and record["results.throughput"] == 320.0
    assert len(record["results.time_data"]) == 10
    assert record["results.exit_code"] == 0 and not is_failed(record)
    assert "results.truncated" not in record


def test_noise_lines_with_double_underscores_are_not_facts() -> None:
    record = parse_log(fixture("ok_resnet50_b16.log")).record
    assert record is not None
    assert not any(key.startswith(("odd", "init")) for key in record)


def test_malformed_lines_are_warnings_with_file_and_line() -> None:
    result = parse_log(fixture("malformed_alexnet_b32.log"))
    assert result.error is None and result.record is not None
    path = fixture("malformed_alexnet_b32.log")
    assert result.warnings == [
        (f"{path}:13: malformed fact line skipped: value of 'exp.model_title' is not valid JSON "
        "(Expecting value at column 1)"),
        (f"{path}:19: malformed fact line skipped: value of 'results.time_data' is not valid JSON "
        "(Expecting ',' delimiter at column 16)"),
    ]
    assert "exp.model_title" not in result.record and "results.time_data" not in result.record


def test_last_occurrence_wins_and_carriage_returns_show_the_last_segment() -> None:
    record = parse_log(fixture("malformed_alexnet_b32.log")).record
    assert record is not None
    assert record["results.time"] == 80.0  # second of two lines wins
    assert record["results.throughput"] == 400.0  # after 'progress 10%\rprogress 50%\r'
    assert record["results.status"] == "ok"


def test_crlf_log_is_parsed() -> None:
    record = parse_log(fixture("crlf_vgg16_b8.log")).record
    assert record is not None and record["exp.model"] == "vgg16" and record["results.time"] == 250.0


@pytest.mark.parametrize("name, reason, keeps", [
    pytest.param("truncated_nostatus_resnet18.log", "no results.status", "exp.replica_batch",
                 id="benchmark-killed"),
    pytest.param("truncated_notrailer_resnet18.log", "no runner trailer", "results.time",
                 id="runner-killed"),
])
def test_truncated_log_keeps_its_facts_and_is_marked_failed(name: str, reason: str,
                                                            keeps: str) -> None:
    result = parse_log(fixture(name))
    record = result.record
    assert record is not None and result.error is None
    assert record["results.status"] == "failure" and record["results.truncated"] is True
    assert reason in record["results.error"] and keeps in record
    assert is_failed(record)
    assert result.warnings == [(f"{fixture(name)}: truncated log, marked failed: "
                               f"{record['results.error'].removeprefix('truncated log: ')}")]


def test_failure_status_of_a_complete_log_is_kept() -> None:
    record = parse_log(fixture("oom_resnet152_b256.log")).record
    assert record is not None
    assert record["results.status"] == "oom" and "results.truncated" not in record
    assert record["results.error"].startswith("CUDA out of memory")


@pytest.mark.parametrize("name, message", [
    pytest.param("nofacts.log", "no facts (__key__=value lines); not an experiment log", id="text"),
    pytest.param("binary.log", "binary file, not an experiment log", id="binary"),
    pytest.param("missing.log", "cannot read log: No such file or directory", id="missing"),
])
def test_unusable_file_is_an_error_result_not_an_exception(name: str, message: str) -> None:
    result = parse_log(fixture(name))
    assert result.record is None and result.error == f"{fixture(name)}: {message}"


def test_log_file_defaults_to_the_parsed_path() -> None:
    text = '__exp.model__="x"\n__results.status__="ok"\n__results.exit_code__=0\n'
    result = parse_text(text, "a.log")
    assert result.record == {"exp.model": "x", "results.status": "ok", "results.exit_code": 0,
                             "exp.log_file": "a.log"}


def test_round_trip_with_the_fact_writer() -> None:
    facts = {"exp.model": "resnet50", "exp.gpus": "0,1", "exp.docker": False,
             "results.time_data": [1.5, 2.5], "results.status": "ok", "results.exit_code": 0,
             "exp.log_file": "x.log", "hw.name": 'quote " and = sign', "results.none": None}
    text = "\n".join(format_fact(k, v) for k, v in facts.items())
    assert parse_text(text, "x.log").record == facts


def test_pool_returns_results_in_input_order(tmp_path: Path) -> None:
    paths = []
    for number in range(250):  # above the pool threshold
        path = tmp_path / f"{number}.log"
        path.write_text(f"__exp.n__={number}\n__results.status__=\"ok\"\n__results.exit_code__=0\n")
        paths.append(str(path))
    results = list(parse_logs(paths, jobs=2))
    assert [r.record["exp.n"] for r in results if r.record] == list(range(250))


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "[1.5, NaN]"])
def test_non_finite_fact_values_read_as_null_like_the_writer_writes_them(raw: str) -> None:
    from pytorch_benchmarks.facts import parse_fact

    key, value = parse_fact(f"__results.throughput__={raw}")
    assert key == "results.throughput"
    assert value == (None if not raw.startswith("[") else [1.5, None])
    assert parse_fact(format_fact(key, float("nan"))) == (key, None)


def test_a_log_is_named_by_the_file_read_not_the_path_written_in_it(tmp_path: Path) -> None:
    from dlbs.logs.parser import parse_text

    moved = parse_text('__exp.log_file__="/elsewhere/a.log"\n__exp.model__="m"\n', "copy/a.log")
    assert moved.record is not None and moved.record["exp.log_file"] == "copy/a.log"
    assert moved.record["exp.log_file_written"] == "/elsewhere/a.log"
    same = parse_text('__exp.log_file__="copy/a.log"\n__exp.model__="m"\n', "copy/a.log")
    assert same.record is not None and "exp.log_file_written" not in same.record
