"""Faults of expansion, done for real: regular expressions that backtrack for hours, built-ins
that would iterate or allocate without end, references that double at each level.

Each attack runs ``python -m dlbs print`` (or ``parse``, the log parser) as a user would, in a
process limited to 2 GiB of address space (a regression fails instead of eating the machine)
and a generous time limit (a regression fails instead of hanging). It must end with exit code 1
and one ``error:`` line, or, where the attack is harmless, succeed.
"""
from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

#: Address space of each run: a memory bomb fails the test, not the machine.
MEMORY = 2 << 30
#: Seconds each run may take: a hang fails the test (runs take well under a second or two).
TIMEOUT = 30


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def dlbs(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m dlbs ARGS`` bounded in memory and time."""
    return subprocess.run([sys.executable, "-m", "dlbs", *args], capture_output=True, text=True,
                          timeout=TIMEOUT, preexec_fn=_limit_memory, cwd=cwd, check=False)


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one ``error:`` line of a run that failed as a user error should (exit code 1)."""
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    assert len(lines[0]) < 1000, lines[0]
    return lines[0]


def plan_value(result: subprocess.CompletedProcess[str], name: str) -> object:
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)[0][name]


SLOW_PATTERN = "(.*?,){20}P"  # backtracks for minutes even in ``regex``; 'a,' * 40 never matches
SLOW_TEXT = "a," * 40


# --- regular expressions inside $(...)$ ----------------------------------------------------

def test_catastrophic_re_match_in_an_expression_ends_at_once() -> None:
    result = dlbs("print", "-Pp=$(re.match('(a*)*b', 'a'*40))$")
    assert plan_value(result, "p") == "None"


@pytest.mark.parametrize("expression", [
    pytest.param(f"re.match('{SLOW_PATTERN}', '{SLOW_TEXT}')", id="re.match"),
    pytest.param(f"re.compile('{SLOW_PATTERN}').search('{SLOW_TEXT}')", id="pattern.search"),
    pytest.param(f"re.findall('{SLOW_PATTERN}', '{SLOW_TEXT}')", id="re.findall"),
    pytest.param(f"re.sub('{SLOW_PATTERN}', 'x', '{SLOW_TEXT}')", id="re.sub"),
    pytest.param(f"re.split('{SLOW_PATTERN}', '{SLOW_TEXT}')", id="re.split"),
    # each call alone stays under the limit: the evaluation's calls share one budget
    pytest.param("[re.match('(.*?,){12}P', 'a,'*14) for i in range(100000)]", id="many-calls"),
])
def test_backtracking_regex_in_an_expression_runs_out_of_time(expression: str) -> None:
    line = error_line(dlbs("print", f"-Pp=$({expression})$"))
    assert line.startswith("error: parameter 'p': expression $(")
    assert "ran past its time limit" in line


@pytest.mark.parametrize("pattern", [
    pytest.param("(?:(?:a{1000}){1000}){1000}", id="unrolled-repeats"),
    pytest.param("a{4294967294}", id="huge-count"),
    pytest.param("(" * 900 + ")" * 900, id="nested-groups"),
])
def test_regex_that_would_not_compile_in_bounded_memory_is_refused(pattern: str) -> None:
    line = error_line(dlbs("print", f"-Pp=$(re.compile('{pattern}'))$"))
    assert line.startswith("error: parameter 'p': expression $(")
    assert "unroll to about" in line or "nested too deep" in line


# --- extension conditions -------------------------------------------------------------------

def test_catastrophic_condition_against_a_long_model_name_ends_at_once() -> None:
    extension = {"condition": {"exp.model": "(a*)*b"}, "parameters": {"exp.tag": "matched"}}
    result = dlbs("print", f"-Pexp.model={'a' * 40}", "-Pexp.tag=none", "-E", json.dumps(extension))
    assert plan_value(result, "exp.tag") == "none"


def test_backtracking_condition_runs_out_of_time_naming_the_extension() -> None:
    # a declared name (an unknown one is a warning line of its own since issue 20)
    extension = {"condition": {"exp.model": SLOW_PATTERN}, "parameters": {"exp.proj": "x"}}
    line = error_line(dlbs("print", f"-Pexp.model={SLOW_TEXT}", "-E", json.dumps(extension)))
    assert line.startswith("error: extension #1: condition on 'exp.model': regular expression")
    assert "ran past its time limit" in line


@pytest.mark.parametrize("pattern,reason", [
    pytest.param("(?:(?:a{1000}){1000}){1000}", "unroll to about", id="unrolled-repeats"),
    pytest.param("(" * 20_000 + ")" * 20_000, "nested too deep", id="nested-groups"),
])
def test_condition_that_would_not_compile_in_bounded_memory_is_refused(
        tmp_path: Path, pattern: str, reason: str) -> None:
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"extensions": [{"condition": {"exp.model": pattern}}]}))
    line = error_line(dlbs("print", "--config", str(config)))
    assert "c.json: extension #1: condition on 'exp.model': invalid regular expression" in line
    assert reason in line


# --- the log parser's --filter_query --------------------------------------------------------

def _log(tmp_path: Path, model: str) -> Path:
    log = tmp_path / "run.log"
    log.write_text(f'__exp.model__="{model}"\n__exp.id__="abc"\n__results.status__="ok"\n'
                   "__results.throughput__=10.0\n__results.time__=1.0\n")
    return log


def test_catastrophic_filter_query_ends_at_once(tmp_path: Path) -> None:
    result = dlbs("parse", str(_log(tmp_path, "a" * 40)),
                  "--filter_query", json.dumps({"exp.model": "(a*)*b"}))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["data"] == []


def test_backtracking_filter_query_runs_out_of_time_naming_the_key(tmp_path: Path) -> None:
    line = error_line(dlbs("parse", str(_log(tmp_path, SLOW_TEXT)),
                           "--filter_query", json.dumps({"exp.model": SLOW_PATTERN})))
    assert line.startswith("error: --filter_query: condition on 'exp.model': regular expression")
    assert "ran past its time limit" in line


def test_filter_query_that_would_not_compile_in_bounded_memory_is_refused(tmp_path: Path) -> None:
    line = error_line(dlbs("parse", str(_log(tmp_path, "a")), "--filter_query",
                           json.dumps({"exp.model": "(?:(?:a{1000}){1000}){1000}"})))
    assert line.startswith("error: --filter_query: 'exp.model': bad regular expression")


# --- built-ins charged before they run ------------------------------------------------------

@pytest.mark.parametrize("expression", [
    pytest.param("[max(range(999999)) for i in range(400000)]", id="max-in-a-loop"),
    pytest.param("len(list(zip(*[range(999999)]*999)))", id="zip-of-ranges"),
    pytest.param("len(list(enumerate(range(999999))))", id="enumerate"),
    pytest.param("[sorted(range(999999)) for i in range(10)]", id="sorted-in-a-loop"),
    pytest.param("[sum(x for x in range(999)) for i in range(999999)]", id="sum-generators"),
    pytest.param("[5.5 in range(999999) for i in range(999999)]", id="in-range-scan"),
    pytest.param("[s == s for s in ['a'*500000]*999999]", id="compare-big-strings"),
    pytest.param("[('a'*500000).count('b') for i in range(999999)]", id="str-method-scan"),
    pytest.param("[set(range(500000)) | set(range(500000)) for i in range(9)]", id="set-union"),
    pytest.param("[x[::1] for x in ['a'*500000]*999]", id="slice-copies"),
    pytest.param("str([[1]*1000]*999)", id="str-of-shared-lists"),
    pytest.param("re.sub('(?=(.*))', r'\\1\\1\\1', 'a'*3000)", id="re-sub-lookahead-groups"),
])
def test_builtin_work_and_memory_are_refused_quickly(expression: str) -> None:
    line = error_line(dlbs("print", f"-Pp=$({expression})$"))
    assert line.startswith("error: parameter 'p': expression $(")
    assert " is forbidden: " in line


# --- references ---------------------------------------------------------------------------

def test_references_that_double_at_each_level_stop_at_the_value_size_limit(
        tmp_path: Path) -> None:
    parameters = {"a0": "x", **{f"a{i}": f"${{a{i - 1}}}${{a{i - 1}}}" for i in range(1, 41)}}
    config = tmp_path / "double.json"
    config.write_text(json.dumps({"parameters": parameters}))
    line = error_line(dlbs("print", "--config", str(config)))
    assert line == ("error: parameter 'a20': its value would be longer than 1000000 characters "
                    "(the value-size limit); a value that repeats its references grows at each "
                    "level of references")


def test_references_nested_thousands_deep_in_a_value_are_refused() -> None:
    line = error_line(dlbs("print", "-Pa=1", "-Pp=" + "${" * 5000 + "a" + "}" * 5000))
    assert line.startswith("error: parameter 'p': references nested more than 50 deep")


def test_reference_chain_thousands_long_is_refused(tmp_path: Path) -> None:
    parameters = {f"p{i}": f"${{p{i + 1}}}" for i in range(20_000)}
    parameters["p20000"] = "end"
    config = tmp_path / "chain.json"
    config.write_text(json.dumps({"parameters": parameters}))
    line = error_line(dlbs("print", "--config", str(config)))
    assert line.endswith("reference chain too deep; simplify the references")


def test_expression_built_from_a_huge_reference_is_refused_in_one_short_line() -> None:
    line = error_line(dlbs("print", "-Pbig=$('1'*900000)$", "-Pp=$(${big} + 1)$"))
    assert line.startswith("error: parameter 'p': expression $(1111")
    assert "longer than 2000 characters" in line


# --- the bounded engine keeps the meaning of ``re`` -----------------------------------------

PATTERNS = [r"", r"a*", r"\b", r"(a)|b", r"(?P<n>\d+)", r"^$", r"(?=a)", r"\s+", r"(,)",
            r"(a)(b)?", r"(?i)resnet", r"^(resnet|vgg)(\d+)$", r"(?m)^", r"(\w+)\s\1",
            r"(?<=a)b", r"(?!a).", r"[^\d\s]+", r"é", r"(?s).+", r"a|", r"(a*)+", r"(a+)+"]
TEXTS = ["", "a", "aab,cd e", "resnet50", "ResNet101", "a b a b", "1,2,3", "x\ny\n", "éÉ ß",
         "hello hello world"]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_bounded_regex_matches_as_re_does(pattern: str) -> None:
    import re

    from dlbs.engine.bounded_re import compile_regex
    native, bounded = re.compile(pattern), compile_regex(pattern)
    assert bounded.groups == native.groups
    for text in TEXTS:
        for method in ("match", "search", "fullmatch"):
            want, got = getattr(native, method)(text), getattr(bounded, method)(text)
            assert (got and (got.span(), got.groups(default=""))) == \
                (want and (want.span(), want.groups(default=""))), (method, text)
        assert bounded.findall(text) == native.findall(text), text
        assert bounded.split(text) == native.split(text), text
        assert bounded.sub(r"<\g<0>>", text) == native.sub(r"<\g<0>>", text), text
