"""Faults of logs and parsed files, done for real: damaged bytes, absurd values, folders that
cannot be listed. The parser keeps every good fact; each lost line is a warning naming
file:line; nothing crashes.
"""
from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pytorch_benchmarks.facts import MAX_DEPTH, format_fact, parse_fact

from dlbs.errors import LogFormatError
from dlbs.logs.parser import parse_log
from dlbs.logs.sources import find_inputs, load_records
from dlbs.logs.store import read_records

GOOD_LOG = Path(__file__).parents[1] / "logs" / "fixtures" / "ok_resnet50_b16.log"
#: Keys the parser itself may set when the damaged line was the runner's trailer.
JUDGED = {"results.status", "results.error", "results.truncated"}


def good_lines() -> list[bytes]:
    return GOOD_LOG.read_bytes().split(b"\n")


def write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines))
    return path


def expected_facts(lines: list[bytes], lost: set[int]) -> dict[str, Any]:
    """The facts of ``lines`` without the (0-based) lines in ``lost``."""
    facts: dict[str, Any] = {}
    for number, line in enumerate(lines):
        if number not in lost:
            fact = parse_fact(line.decode("utf-8", "replace"))
            if fact is not None:
                facts[fact[0]] = fact[1]
    return facts


def fact_line_numbers(lines: list[bytes]) -> list[int]:
    return [i for i, line in enumerate(lines) if parse_fact(line.decode()) is not None]


def assert_kept(record: dict[str, Any] | None, lines: list[bytes], lost: set[int]) -> None:
    assert record is not None
    expected = expected_facts(lines, lost)
    last_line: dict[str, int] = {}  # where each key of the undamaged log was last written
    for number, line in enumerate(good_lines()):
        fact = parse_fact(line.decode())
        if fact is not None:
            last_line[fact[0]] = number
    for key, value in expected.items():
        if key in JUDGED or last_line.get(key) in lost:
            continue
        assert _as_written(record, key) == value, key


def _as_written(record: dict[str, Any], key: str) -> Any:
    """A fact as the log wrote it: ``exp.log_file`` is the file read, and the path written in
    the log, where it differs, is ``exp.log_file_written``."""
    if key == "exp.log_file":
        return record.get("exp.log_file_written", record[key])
    return record[key]


# --- one damaged line loses that line alone ---------------------------------------------------

@pytest.mark.parametrize("damage", [
    pytest.param(b"\x00", id="nul"),
    pytest.param(b"\xff\xfe\x80", id="invalid-utf8"),
    pytest.param(b"\x00" * 4096, id="block-of-nuls"),
    pytest.param(b"\xc3", id="cut-utf8-sequence"),
])
def test_damaged_bytes_in_a_fact_line_lose_that_line_only(tmp_path: Path, damage: bytes) -> None:
    lines = good_lines()
    target = next(i for i, line in enumerate(lines) if line.startswith(b"__results.throughput"))
    lines[target] = lines[target][:-2] + damage + lines[target][-2:]
    result = parse_log(write(tmp_path / "a.log", lines))
    assert result.error is None
    assert "results.throughput" not in result.record  # type: ignore[operator]
    assert_kept(result.record, lines, {target})
    what = "a NUL byte" if 0 in damage else "bytes that are not UTF-8"
    assert result.warnings == [
        f"{tmp_path / 'a.log'}:{target + 1}: damaged fact line skipped: it holds {what}",
        (f"{tmp_path / 'a.log'}: damaged results, marked failed: unreadable "
         f"results.throughput (line {target + 1})")]
    # the run's time alone never passes for a success (issue 30)
    assert result.record["results.status"] == "failure"  # type: ignore[index]


def test_a_damaged_noise_line_is_named_and_loses_no_fact(tmp_path: Path) -> None:
    lines = [*good_lines()[:5], b"progress \x00\x01\xff garbage", *good_lines()[5:]]
    result = parse_log(write(tmp_path / "a.log", lines))
    assert result.error is None and result.record is not None
    assert_kept(result.record, lines, set())
    assert result.warnings == [(f"{tmp_path / 'a.log'}:6: damaged line ignored (NUL byte or "
                                "bytes that are not UTF-8); it held no fact")]


def test_a_zero_filled_tail_after_a_crash_keeps_the_facts(tmp_path: Path) -> None:
    """A file system that lost the end of a write fills it with NUL bytes (one long line)."""
    lines = [*good_lines(), b"\x00" * 65536]
    result = parse_log(write(tmp_path / "a.log", lines))
    assert result.error is None and result.record is not None
    assert result.record["results.status"] == "ok"
    assert_kept(result.record, lines, set())
    assert len(result.warnings) == 1 and f":{len(lines)}: damaged line" in result.warnings[0]


def test_many_damaged_noise_lines_are_counted_not_listed(tmp_path: Path) -> None:
    lines = [*good_lines(), *[b"noise \xff"] * 50]
    result = parse_log(write(tmp_path / "a.log", lines))
    assert result.record is not None and len(result.warnings) == 6
    assert "45 more damaged lines without facts ignored" in result.warnings[-1]


def test_a_mostly_binary_file_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(b'__exp.model__="x"\n' + bytes(range(256)) * 64)
    result = parse_log(path)
    assert result.record is None and "binary file, not an experiment log" in str(result.error)


@pytest.mark.parametrize("seed", range(200))
def test_random_bytes_anywhere_lose_at_most_their_line(tmp_path: Path, seed: int) -> None:
    """The class, not the example: 1 to 16 random bytes (no line break) at a random place of a
    random line of a good log; every fact of the other lines is kept, nothing raises, and a
    damaged fact line is a warning naming it."""
    rng = random.Random(seed)
    lines = good_lines()
    target = rng.randrange(len(lines))
    junk = bytes(rng.choice([b for b in range(256) if b not in b"\n\r"])
                 for _ in range(rng.randint(1, 16)))
    at = rng.randint(0, len(lines[target]))
    lines[target] = lines[target][:at] + junk + lines[target][at:]
    path = write(tmp_path / "a.log", lines)
    result = parse_log(path)
    assert result.error is None
    assert_kept(result.record, lines, {target})
    damaged = b"\x00" in junk or _not_utf8(lines[target])
    if damaged and lines[target].lstrip(b" \t").startswith(b"__"):
        assert any(w.startswith(f"{path}:{target + 1}: ") for w in result.warnings)


def _not_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


# --- absurd values: a warning, the fact dropped, the log kept ---------------------------------

@pytest.mark.parametrize("raw,why", [
    pytest.param("[" * 100_000 + "]" * 100_000, "nested too deep", id="100000-deep"),
    pytest.param("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "nested too deep",
                 id="just-too-deep"),
    pytest.param('{"a":' * 5000 + "1" + "}" * 5000, "nested too deep", id="deep-object"),
    pytest.param("[" * 100_000, "nested too deep", id="deep-and-unclosed"),
    pytest.param("1e999", "not a finite number (1e999)", id="1e999"),
    pytest.param("-1e999", "not a finite number (-1e999)", id="-1e999"),
    pytest.param("NaN", "not a finite number (NaN)", id="NaN"),
    pytest.param("Infinity", "not a finite number (Infinity)", id="Infinity"),
    pytest.param("[1.5, 2.5, NaN]", "not a finite number (NaN)", id="NaN-in-list"),
    pytest.param("1" * 400 + ".0", "not a finite number", id="400-digit-float"),
    pytest.param("9" * 250 + "e60", "not a finite number", id="long-mantissa-overflow"),
    pytest.param("1" * 5000, "not a finite number", id="5000-digit-int"),
])
def test_absurd_values_are_dropped_with_file_and_line(tmp_path: Path, raw: str, why: str) -> None:
    lines = good_lines()
    target = next(i for i, line in enumerate(lines) if line.startswith(b"__results.throughput"))
    lines[target] = f"__results.throughput__={raw}".encode()
    path = write(tmp_path / "a.log", lines)
    result = parse_log(path)
    assert result.error is None and result.record is not None
    assert "results.throughput" not in result.record
    assert_kept(result.record, lines, {target})
    assert len(result.warnings) == 2
    assert result.warnings[0].startswith(f"{path}:{target + 1}: malformed fact line skipped: "
                                         "value of 'results.throughput' ")
    assert why in result.warnings[0]
    assert result.warnings[1] == (f"{path}: damaged results, marked failed: unreadable "
                                  f"results.throughput (line {target + 1})")
    assert result.record["results.status"] == "failure"
    assert result.record["results.error"].startswith("damaged log: unreadable results.throughput")


def test_a_damaged_result_line_with_a_good_repeat_keeps_the_run(tmp_path: Path) -> None:
    """A later readable line of the same result (last occurrence wins) keeps the run ok; a
    damaged line of another fact never fails a run."""
    lines = good_lines()
    target = next(i for i, line in enumerate(lines) if line.startswith(b"__results.throughput"))
    lines.insert(target, b"__results.throughput__=NaN")
    lines.insert(0, b"__exp.model_title__=\"cut")
    result = parse_log(write(tmp_path / "a.log", lines))
    assert result.record is not None and result.record["results.status"] == "ok"
    assert len(result.warnings) == 2 and "marked failed" not in " ".join(result.warnings)


def test_finite_values_next_to_the_limits_are_kept(tmp_path: Path) -> None:
    deep = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    path = tmp_path / "a.log"
    path.write_text(f"__a__=1e308\n__b__={deep}\n__c__={'9' * 300}\n__d__=\"NaN 1e999\"\n"
                    '__results.throughput__=5.0\n')
    result = parse_log(path)
    assert result.warnings == [] and result.record is not None
    assert result.record["a"] == 1e308 and result.record["c"] == int("9" * 300)
    assert result.record["d"] == "NaN 1e999" and json.dumps(result.record["b"]) == deep


#: Parse a log in its own process: the record and the warnings as JSON.
PARSE = ("import json, sys; from dlbs.logs.parser import parse_log; r = parse_log(sys.argv[1]); "
         "print(json.dumps({'record': r.record, 'warnings': r.warnings}))")


def test_a_line_padded_with_a_million_blanks_parses_in_linear_time(tmp_path: Path) -> None:
    """Backtracking over the blanks would take about 10**12 steps (hours): the parse ends
    within a hang guard no busy machine reaches (no speed is measured)."""
    path = tmp_path / "a.log"
    path.write_text("__a__=1" + " " * 1_000_000 + "x\n__results.throughput__=5.0\n")
    try:
        done = subprocess.run([sys.executable, "-c", PARSE, str(path)], capture_output=True,
                              text=True, timeout=300, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("parsing a line of a million blanks did not end in 300 s: not linear")
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["record"] is not None and result["record"]["results.throughput"] == 5.0
    assert len(result["warnings"]) == 1 and ":1: malformed fact line" in result["warnings"][0]


def test_the_command_line_keeps_every_good_fact_of_a_damaged_log(tmp_path: Path) -> None:
    """``dlbs parse`` end to end, in its own process: a NUL, a 100,000-deep fact and 1e999 in
    one log; exit 0, the record without those three facts, a warning for each."""
    lines = good_lines()
    facts = fact_line_numbers(lines)
    lost = {facts[1], facts[2], facts[3]}
    lines[facts[1]] = lines[facts[1]] + b"\x00"
    lines[facts[2]] = b"__deep__=" + b"[" * 100_000 + b"]" * 100_000
    lines[facts[3]] = b"__infinite__=1e999"
    path = write(tmp_path / "a.log", lines)
    done = subprocess.run([sys.executable, "-m", "dlbs", "parse", str(path),
                           "--failed_benchmarks", "keep"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)["data"][0]
    assert "deep" not in record and "infinite" not in record
    assert_kept(record, lines, lost)
    for number in sorted(lost):
        assert f"{path}:{number + 1}: " in done.stderr


# --- folders ------------------------------------------------------------------------------------

def _refuse(monkeypatch: pytest.MonkeyPatch, refused: Path) -> None:
    """Make ``os.scandir`` (which os.walk uses) refuse ``refused``, as chmod 000 does for a
    user who is not root (the tests run as root)."""
    real = os.scandir

    def scandir(path: Any = ".") -> Any:
        if Path(path) == refused:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


def _tree(tmp_path: Path) -> Path:
    top = tmp_path / "logs"
    for sub in ("a", "b", "b/c"):
        (top / sub).mkdir(parents=True)
        (top / sub / "x.log").write_bytes(GOOD_LOG.read_bytes())
    (top / "top.log").write_bytes(GOOD_LOG.read_bytes())
    return top


def test_an_unreadable_sub_folder_is_a_warning_naming_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    top = _tree(tmp_path)
    _refuse(monkeypatch, top / "b")
    assert find_inputs([str(top)], recursive=True).logs == [str(top / "a" / "x.log"),
                                                            str(top / "top.log")]
    assert len(load_records([str(top)], recursive=True)) == 2
    assert f"cannot list folder '{top / 'b'}': Permission denied; the logs in it are skipped" \
        in caplog.text


def test_an_unreadable_named_folder_is_a_warning_then_no_logs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    top = _tree(tmp_path)
    _refuse(monkeypatch, top)
    for recursive in (False, True):
        with pytest.raises(LogFormatError, match="no logs found"):
            find_inputs([str(top)], recursive=recursive)
        assert f"cannot list folder '{top}'" in caplog.text
        caplog.clear()


def test_folders_still_find_every_log(tmp_path: Path) -> None:
    top = _tree(tmp_path)
    (top / "a" / "not_a_log.txt").write_text("x")
    (top / "a" / "dir.log").mkdir()
    assert find_inputs([str(top)]).logs == [str(top / "top.log")]
    assert find_inputs([str(top)], recursive=True).logs == sorted(
        str(p) for p in (top / "a" / "x.log", top / "b" / "x.log", top / "b" / "c" / "x.log",
                         top / "top.log"))


# --- parsed-results files -------------------------------------------------------------------

@pytest.mark.parametrize("name,data,why", [
    ("deep.json", b'{"data":[' + b"[" * 100_000 + b"]" * 100_000 + b"]}", "nested too deep"),
    ("deep.jsonl", b'{"a":' + b"[" * 100_000 + b"}\n", ":1: not a usable record"),
    ("latin1.json", b'\xff{"data":[]}', "not UTF-8 text"),
    ("cut.json.gz", gzip.compress(b'{"data":[{"a":1}]}' * 50, mtime=0)[:-30] + b"x" * 30, "damaged"),
    ("notgzip.json.gz", b"plain text", "Not a gzipped file"),
    ("huge.csv", b"a\n" + b"x" * 200_000 + b"\n", "damaged"),
])
def test_a_damaged_parsed_file_is_an_error_naming_it(tmp_path: Path, name: str, data: bytes,
                                                      why: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(LogFormatError, match=why) as caught:
        read_records(path)
    assert str(path) in str(caught.value)


def test_a_jsonl_file_cut_mid_record_keeps_its_whole_records(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Each line of a JSON Lines file stands alone (issue 30): a last record cut mid-write,
    or one damaged line, loses that line alone, with a warning naming it."""
    path = tmp_path / "all.jsonl"
    good = [{"exp.model": f"m{i}", "results.time": 2.0 + i} for i in range(42)]
    lines = [json.dumps(r) for r in good]
    lines.insert(7, '{"exp.model": "dam')
    path.write_text("\n".join(lines) + '\n{"exp.model": "tr')
    assert read_records(path) == good
    assert f"{path}:8: not a JSON record" in caplog.text
    assert f"{path}:44: not a JSON record" in caplog.text


def test_a_deep_csv_cell_is_read_as_text(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("a,b\n" + "[" * 5000 + "]" * 5000 + ",1\n")
    assert read_records(path)[0]["b"] == 1


def test_ignore_errors_skips_a_damaged_parsed_file_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\xff\xfe")
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"exp.model": "x", "results.time": 2.0}) + "\n")
    [record] = load_records([str(bad), str(good)], ignore_errors=True)
    assert record["exp.model"] == "x" and record["results.status"] == "ok"
    assert f"cannot read '{bad}': not UTF-8 text" in caplog.text


def test_the_fact_writer_never_writes_what_the_parser_drops() -> None:
    for value in (float("nan"), float("inf"), -float("inf"), [1.0, float("nan")]):
        line = format_fact("results.throughput", value)
        assert parse_fact(line, strict=True) is not None
