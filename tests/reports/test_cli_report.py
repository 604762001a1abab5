"""``dlbs report`` end to end: logs and parsed files in, every format and --plot out."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dlbs.cli.main import main
from dlbs.logs.store import write_records

from .test_golden import measured

LogsOf = Callable[[list[dict[str, Any]], Path], list[Path]]


@pytest.fixture
def log_dir(tmp_path: Path, records: list[dict[str, Any]], logs_of: LogsOf) -> Path:
    logs_of(measured(records), tmp_path / "logs" / "sweep")
    return tmp_path / "logs"


def test_report_from_logs_equals_report_from_records(
        log_dir: Path, records: list[dict[str, Any]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(log_dir), "--recursive", "--type", "weak", "--format", "json"]) == 0
    from_logs = json.loads(capsys.readouterr().out)
    parsed = tmp_path / "parsed.json.gz"
    write_records(measured(records), parsed)
    assert main(["report", str(parsed), "--type", "weak", "--format", "json"]) == 0
    from_parsed = json.loads(capsys.readouterr().out)
    where_logs, where_parsed = from_logs.pop("provenance"), from_parsed.pop("provenance")
    assert from_parsed == from_logs
    assert where_logs["inputs"] == [str(log_dir)] and where_parsed["inputs"] == [str(parsed)]
    assert where_logs["report_by"]["version"] and where_logs["records"] == len(records)
    expected = json.loads((Path(__file__).parent / "golden" / "weak.json").read_text())
    expected.pop("provenance")  # the golden's is made from fixed facts (test_golden.py)
    assert from_logs == expected


@pytest.mark.parametrize("fmt", ["text", "markdown", "csv", "html"])
def test_every_format_to_a_file(log_dir: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"report.{fmt}"
    assert main(["report", str(log_dir), "--recursive", "--format", fmt,
                 "--output_file", str(out)]) == 0
    text = out.read_text()
    assert "ResNet-50" in text and "oom" in text
    if fmt == "html":
        assert text.count("data:image/png;base64,") == 2


def test_plot_writes_pngs(log_dir: Path, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    charts = tmp_path / "charts"
    assert main(["report", str(log_dir), "--recursive", "--type", "strong", "--plot",
                 str(charts)]) == 0
    assert sorted(p.name for p in charts.iterdir()) == [
        "efficiency.png", "scaling_throughput.png", "speedup.png"]
    assert "Strong scaling" in capsys.readouterr().out


def test_compare_two_folders(tmp_path: Path, records: list[dict[str, Any]],
                             new_records: list[dict[str, Any]], logs_of: LogsOf,
                             capsys: pytest.CaptureFixture[str], golden: Callable[[str, str], None]) -> None:
    logs_of(records, tmp_path / "base")
    write_records(new_records, tmp_path / "new.jsonl")
    assert main(["report", "--compare", str(tmp_path / "base"), str(tmp_path / "new.jsonl"),
                 "--format", "csv"]) == 0
    golden("compare.csv", capsys.readouterr().out)


def test_pivot_and_filter(log_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    query = json.dumps({"exp.model": "alexnet", "exp.num_gpus": [1, 4]})
    assert main(["report", str(log_dir), "--recursive", "--rows", "replica_batch",
                 "--cols", "devices", "--value", "time", "--filter_query", query,
                 "--format", "json"]) == 0
    table = json.loads(capsys.readouterr().out)["tables"][0]
    assert table["columns"] == [1, 4] and [r["key"] for r in table["rows"]] == [[16], [32], [64]]
    # the geometric mean of the three runs' times (10 ms / 1.0, 1.01, 0.99)
    assert table["rows"][0]["cells"][0] == pytest.approx((1000.0 / (1.01 * 0.99)) ** (1 / 3))


@pytest.mark.parametrize("argv, message, code", [
    pytest.param(["{logs}", "--recursive", "--rows", "nope", "--cols", "devices"],
                 "error: --rows: unknown column 'nope'; use a log key present in the records "
                 "or one of:", 1, id="unknown-row"),
    pytest.param(["{logs}", "--recursive", "--filter_query", "{{"],
                 "error: --filter_query is not valid JSON", 1, id="bad-query"),
    pytest.param(["{empty}"], "error: no logs found in {empty}", 1, id="no-logs"),
    pytest.param(["{logs}", "--recursive", "--filter_query", '{{"exp.model": "vgg"}}'],
                 "error: no benchmark records in {logs} match the filter", 1, id="filtered-out"),
    pytest.param(["{logs}", "--rows", "model"], "error: --rows and --cols go together", 2,
                 id="rows-without-cols"),
    pytest.param([], "error: name the logs or parsed files to report on", 2, id="no-inputs"),
    pytest.param(["{empty_csv}"], "error: no benchmark records in {empty_csv}\n", 1,
                 id="no-records-without-a-filter"),
    pytest.param(["{logs}", "--noise_threshold", "nan"], "error: --noise_threshold must be >= 0",
                 2, id="nan-noise-threshold"),
    pytest.param(["{logs}", "--recursive", "--rows", "model", "--cols", "model"],
                 "error: --cols: column 'model' is already in --rows", 1,
                 id="same-column-in-rows-and-cols"),
    pytest.param(["{logs}", "--recursive", "--rows", "model,exp.model", "--cols", "devices"],
                 "error: --rows: column 'exp.model' is already in --rows", 1,
                 id="column-twice-in-rows"),
])
def test_bad_input_is_a_one_line_error(argv: list[str], message: str, code: int, log_dir: Path,
                                       tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty.csv").write_text("")
    names = {"logs": str(log_dir), "empty": str(tmp_path / "empty"),
             "empty_csv": str(tmp_path / "empty.csv")}
    assert main(["report", *[a.format(**names) for a in argv]]) == code
    err = capsys.readouterr().err
    assert err.startswith(message.format(**names)) and err.count("\n") == 1


def test_warnings_go_to_stderr_and_data_to_stdout(tmp_path: Path) -> None:
    log = tmp_path / "cut.log"
    log.write_text('__exp.model__="alexnet"\n__exp.replica_batch__=8\n__results.time__=oops\n'
                   '__exp.runner_start_time__="2026-11-01T10:00:00+00:00"\n')  # a runner's log
    done = subprocess.run([sys.executable, "-m", "dlbs", "report", str(log)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "cut.log:3: malformed fact line skipped" in done.stderr
    assert "truncated log, marked failed" in done.stderr
    assert "failed" in done.stdout and "alexnet" in done.stdout


def test_failed_report_write_leaves_no_file_behind(log_dir: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.txt"
    out.write_text("the previous report\n")

    import os

    class Half:
        """A stream that takes half the text, then fails (a full disk)."""

        def __init__(self, stream: Any) -> None:
            self.stream = stream

        def write(self, text: str) -> None:
            self.stream.write(text[: len(text) // 2])
            raise OSError(28, "No space left on device")

        def __enter__(self) -> Any:
            return self

        def __exit__(self, *exc: object) -> None:
            self.stream.close()

        def __getattr__(self, name: str) -> Any:
            return getattr(self.stream, name)

    real_fdopen = os.fdopen  # the report is written through a descriptor (safeio.atomic_write)
    monkeypatch.setattr(os, "fdopen", lambda *args, **kwargs: Half(real_fdopen(*args, **kwargs)))
    assert main(["report", str(log_dir), "--recursive", "--output_file", str(out)]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == \
        f"error: cannot write report to '{out}': No space left on device"
    assert out.read_text() == "the previous report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs", "report.txt"]


def test_bad_plot_folder_fails_before_the_report_is_written(
        log_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("")
    out = tmp_path / "report.txt"
    assert main(["report", str(log_dir), "--recursive", "--output_file", str(out),
                 "--plot", str(tmp_path / "file")]) == 1
    assert capsys.readouterr().err.splitlines()[-1].startswith("error: --plot: cannot write")
    assert not out.exists()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_report_maker_asks_git_for_the_commit_and_uncommitted_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dlbs.runner.provenance import report_maker

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(tmp_path), *args], check=True, text=True,
                              capture_output=True).stdout.strip()
    git("init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    git("add", "a.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "a")
    head = git("rev-parse", "HEAD")
    assert report_maker(tmp_path) | {"version": None} == {"version": None, "commit": head,
                                                          "dirty": False}
    (tmp_path / "a.py").write_text("x = 2\n")
    assert report_maker(tmp_path)["dirty"] is True
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))  # no git: read .git, dirty unknown
    assert report_maker(tmp_path)["commit"] == head and report_maker(tmp_path)["dirty"] is None
