"""DLBS's logparser options, with DLBS's meaning (its ``python/dlbs/logparser.py``):
``--filter_query`` matches 'relaxed' (a log without the key is kept), ``--filter_params`` keeps
the logs that have all the keys, ``-P`` adds parameters computed from each log's own keys
(``tutorials/dlcookbook/log_parser.sh``), ``--overwrite`` is accepted, and without
``--output_file`` the records are printed as DLBS prints them: a plain JSON list
(``json.dump(records, indent=4, sort_keys=True)``). The expected outputs are what DLBS's own
logparser printed for the same logs (HewlettPackard/dlcookbook-dlbs 834350c, Python 3).
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from dlbs.cli.main import logparser_main, main


def dlbs_log(folder: Path, name: str, **facts: Any) -> Path:
    """A DLBS log: its header's parameters, the framework's chatter, its results."""
    params = {"exp.framework_title": "PyTorch", "exp.model": "alexnet",
              "exp.model_title": "AlexNet", "exp.effective_batch": 64, "exp.dtype": "float16",
              "exp.log_file": f"/dlbs/logs/{name}", **facts}
    lines = [f"Running subprocess (['pytorch.sh']) with log file '/dlbs/logs/{name}'"]
    lines += [f"__{k}__={json.dumps(v)}" for k, v in params.items() if v is not None]
    lines += ["[PyTorch benchmakrs] torch.cuda.is_available()=True"]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    dlbs_log(folder, "a.log", **{"results.time": 100.0, "results.throughput": 640})
    dlbs_log(folder, "b.log", **{"exp.dtype": None, "exp.model_title": "ResNet50",
                                 "exp.effective_batch": 128, "results.time": 400.0,
                                 "results.throughput": 320})
    dlbs_log(folder, "c.log", **{"exp.dtype": "float32", "results.time": 90.0,
                                 "results.throughput": 711})
    return folder


def printed(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    assert logparser_main(list(argv)) == 0
    return capsys.readouterr().out


def test_stdout_is_dlbs_plain_list(logs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = printed(capsys, str(logs / "a.log"), "--output_params",
                  "exp.model_title,results.time,exp.effective_batch")
    assert out == ('[\n    {\n        "exp.effective_batch": 64,\n'
                   '        "exp.model_title": "AlexNet",\n        "results.time": 100.0\n'
                   '    }\n]\n')  # DLBS's logparser, byte for byte
    capsys.readouterr()
    assert main(["parse", str(logs / "a.log"), "--output_params", "results.time"]) == 0
    assert json.loads(capsys.readouterr().out) == {"data": [{"results.time": 100.0}]}


def test_filter_query_keeps_a_log_without_the_key_as_dlbs(
        logs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """DLBS: ``DictUtils.match(params, filter_query)``, default policy 'relaxed'."""
    out = printed(capsys, str(logs), "--output_params", "exp.log_file,exp.dtype",
                  "--filter_query", '{"exp.dtype": "float16"}')
    assert json.loads(out) == [
        {"exp.dtype": "float16", "exp.log_file": str(logs / "a.log")},
        {"exp.log_file": str(logs / "b.log")}]  # b.log has no exp.dtype: kept, as by DLBS


def test_filter_params_keeps_logs_that_have_every_key(
        logs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = printed(capsys, str(logs), "--output_params", "exp.log_file",
                  "--filter_params", "exp.dtype,results.time")
    # the file read, not the path the log holds (/dlbs/logs/a.log): issue 54
    assert json.loads(out) == [{"exp.log_file": str(logs / "a.log")},
                               {"exp.log_file": str(logs / "c.log")}]


def test_p_adds_parameters_from_each_log(logs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``log_parser.sh``'s last example; an expression as DLBS computes it (a string)."""
    summary = ('{"exp.my_summary":"${exp.framework_title}/${exp.model_title}/'
               '${exp.effective_batch} -> ${results.time}"}')
    out = printed(capsys, str(logs), "--recursive", "--output_params", "exp.my_summary,exp.x",
                  f"-P{summary}", '-P{"exp.x": "$(${exp.effective_batch}*2)$"}')
    assert json.loads(out) == [
        {"exp.my_summary": "PyTorch/AlexNet/64 -> 100.0", "exp.x": "128"},
        {"exp.my_summary": "PyTorch/ResNet50/128 -> 400.0", "exp.x": "256"},
        {"exp.my_summary": "PyTorch/AlexNet/64 -> 90.0", "exp.x": "128"}]


def test_p_naming_a_key_a_log_lacks_is_one_line(
        logs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """DLBS stops too ("Missing dependencies"); dlbs names the log and what to do."""
    assert logparser_main([str(logs), "-P", '{"exp.x": "${exp.dtype}"}']) == 1
    err = capsys.readouterr().err
    assert err == (f"error: -P: {logs / 'b.log'} has no 'exp.dtype' (referenced by exp.x), as "
                   "DLBS's logparser requires; keep only the records that have it: "
                   "--filter_params exp.dtype\n")
    out = printed(capsys, str(logs), "--filter_params", "exp.dtype", "--output_params", "exp.x",
                  "-P", '{"exp.x": "${exp.dtype}"}')
    assert json.loads(out) == [{"exp.x": "float16"}, {"exp.x": "float32"}]


@pytest.mark.parametrize("value, message", [
    pytest.param("{bad", "error: -P '{bad' is not valid JSON", id="bad-json"),
    pytest.param("[1]", "error: -P '[1]' must be a JSON object", id="not-object"),
])
def test_bad_p_is_one_line(logs: Path, capsys: pytest.CaptureFixture[str], value: str,
                           message: str) -> None:
    assert logparser_main([str(logs), "-P", value]) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_overwrite_is_accepted(logs: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    for _ in range(2):
        assert logparser_main([str(logs), "--output_file", str(out), "--overwrite"]) == 0
    assert len(json.loads(out.read_text())["data"]) == 3


def test_log_gz_is_parsed(logs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    packed = tmp_path / "a.log.gz"
    packed.write_bytes(gzip.compress((logs / "a.log").read_bytes()))
    out = printed(capsys, str(packed), "--output_params", "exp.model_title,results.time")
    assert json.loads(out) == [{"exp.model_title": "AlexNet", "results.time": 100.0}]
