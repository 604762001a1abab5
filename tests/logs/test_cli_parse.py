"""``dlbs parse`` / ``logparser`` end to end on the fixture logs."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dlbs.cli.main import logparser_main, main
from dlbs.logs.store import read_records

FIXTURES = Path(__file__).parent / "fixtures"
USABLE = ["crlf_vgg16_b8.log", "malformed_alexnet_b32.log", "ok_resnet50_b16.log",
          "oom_resnet152_b256.log", "truncated_nostatus_resnet18.log",
          "truncated_notrailer_resnet18.log"]


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """The usable fixture logs (no binary/no-facts files), nested one alexnet log deeper."""
    folder = tmp_path / "logs"
    folder.mkdir()
    for name in USABLE:
        shutil.copy(FIXTURES / name, folder / name)
    shutil.copytree(FIXTURES / "nested", folder / "nested")
    return folder


def test_parse_to_stdout_warns_on_stderr(logs: Path, capsys: pytest.CaptureFixture[str],
                                         caplog: pytest.LogCaptureFixture) -> None:
    assert main(["parse", str(logs), "--failed_benchmarks", "keep"]) == 0
    out, err = capsys.readouterr()[0], caplog.text
    records = json.loads(out)["data"]
    top = [r for r in records if Path(r["exp.log_file"]).parent == logs]
    assert sorted(Path(r["exp.log_file"]).name for r in top) == sorted(USABLE)
    written = [r["exp.log_file_written"] for r in top if "exp.log_file_written" in r]
    assert written == ["/runs/logs/20260101-120000/pytorch_gpu_resnet50_b16_3f2a9c01b7de.log"]
    assert "malformed_alexnet_b32.log:13: malformed fact line skipped" in err
    assert "truncated log, marked failed" in err


def test_recursive_finds_nested_logs(logs: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    assert main(["parse", str(logs), "--recursive", "--output_file", str(out),
                 "--failed_benchmarks", "keep"]) == 0
    assert len(read_records(out)) == len(USABLE) + 2


@pytest.mark.parametrize("policy, kept, failed", [
    pytest.param("keep", 6, None, id="keep"),
    pytest.param("discard", 3, None, id="discard"),
    pytest.param("keep_separately", 3, 3, id="keep-separately"),
])
def test_failed_benchmarks_policy(logs: Path, tmp_path: Path, policy: str, kept: int,
                                  failed: int | None) -> None:
    out = tmp_path / "r.json"
    assert main(["parse", str(logs), "--output_file", str(out), "--failed_benchmarks", policy]) == 0
    assert len(read_records(out)) == kept
    separate = tmp_path / "r_failed.json"
    assert separate.exists() is (failed is not None)
    if failed is not None:
        assert {r["results.status"] for r in read_records(separate)} == {"failure", "oom"}


def test_filter_and_output_params(logs: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    query = json.dumps({"exp.model": ["resnet18", "alexnet"], "exp.phase": "training"})
    assert logparser_main([str(logs), "--recursive", "--output_file", str(out),
                           "--filter_query", query, "--failed_benchmarks", "keep",
                           "--output_params", "exp.model,results.status"]) == 0
    rows = read_records(out)
    assert sorted((r["exp.model"], r["results.status"]) for r in rows) == [
        ("alexnet", "ok"), ("alexnet", "ok"), ("resnet18", "failure"), ("resnet18", "failure")]
    assert all(set(r) == {"exp.model", "results.status"} for r in rows)


@pytest.mark.parametrize("argv, message, code", [
    pytest.param(["parse", "{fixtures}/nested/readme.txt"], "error: {fixtures}/nested/readme.txt: "
                 "no facts (__key__=value lines); not an experiment log (use --ignore_errors", 1,
                 id="not-a-log"),
    pytest.param(["parse", "{empty}"], "error: no logs found in {empty} (add --recursive", 1,
                 id="no-logs"),
    pytest.param(["parse", "{fixtures}/nope"], "error: input '{fixtures}/nope' does not exist", 1,
                 id="missing-input"),
    pytest.param(["parse", "{fixtures}/ok_resnet50_b16.log", "--filter_query", "{{bad"],
                 "error: --filter_query is not valid JSON", 1, id="bad-query"),
    pytest.param(["parse", "{fixtures}/ok_resnet50_b16.log", "--output_file", "x.txt"],
                 "error: --output_file 'x.txt': name must end with one of", 2, id="bad-output"),
    pytest.param(["parse", "{fixtures}/ok_resnet50_b16.log", "--failed_benchmarks",
                  "keep_separately"], "error: --failed_benchmarks keep_separately needs", 2,
                 id="separately-needs-file"),
])
def test_bad_input_is_a_one_line_error(argv: list[str], message: str, code: int, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    names = {"fixtures": str(FIXTURES), "empty": str(tmp_path)}
    assert main([a.format(**names) for a in argv]) == code
    err = capsys.readouterr().err
    assert err.startswith(message.format(**names)) and err.count("\n") == 1


def test_ignore_errors_skips_unusable_files(capsys: pytest.CaptureFixture[str],
                                            caplog: pytest.LogCaptureFixture) -> None:
    assert main(["parse", str(FIXTURES), "--ignore_errors", "--failed_benchmarks", "keep"]) == 0
    out, err = capsys.readouterr()[0], caplog.text
    assert len(json.loads(out)["data"]) == len(USABLE)
    assert "binary file, not an experiment log; skipped" in err
    assert "no facts (__key__=value lines); not an experiment log; skipped" in err


def test_failed_benchmarks_are_discarded_by_default_as_in_dlbs(
        logs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert logparser_main([str(logs)]) == 0
    out, err = capsys.readouterr()
    assert {r["results.status"] for r in json.loads(out)} == {"ok"}  # DLBS's plain list
    assert "3 failed benchmarks (status other than ok) left out" in err


@pytest.mark.parametrize("option, sizes", [
    pytest.param(["--benchmarks_per_file", "3"], [3, 3, 2], id="per-file"),
    pytest.param(["--num_output_files", "3"], [3, 3, 2], id="num-files"),
    pytest.param(["--num-output-files", "10"], [1] * 8, id="more-files-than-records"),
])
def test_output_split_as_dlbs(logs: Path, tmp_path: Path, option: list[str],
                              sizes: list[int]) -> None:
    out = tmp_path / "split" / "r.json"
    out.parent.mkdir()
    assert logparser_main([str(logs), "--recursive", "--failed_benchmarks", "keep",
                           "--output_file", str(out), *option]) == 0
    files = sorted(out.parent.iterdir(), key=lambda p: int(p.stem.split("_")[1]))
    assert [p.name for p in files] == [f"r_{i}.json" for i in range(len(sizes))]
    assert [len(read_records(p)) for p in files] == sizes


def test_split_needs_an_output_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert logparser_main([str(FIXTURES / "ok_resnet50_b16.log"), "--num_output_files", "2"]) == 2
    assert "--num_output_files needs a positive number and --output_file" in capsys.readouterr().err
