"""Faults of configuration input, done for real: configs, plans and ``-P``/``-V``/``-E`` values
nested thousands deep, YAML that would crash the interpreter or expand without end, integers
longer than Python converts, ``--config /dev/zero``.

Each attack runs ``python -m dlbs print`` as a user would, in a process limited to 2 GiB of
address space and a generous time limit. It must end with exit code 1 (never a crash: the C YAML
loader dies of a segmentation fault 100,000 levels deep) and one ``error:`` line naming the file
or the argument.
"""
from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

#: Address space of each run: a memory bomb fails the test, not the machine.
MEMORY = 2 << 30
#: Seconds each run may take: a hang fails the test (runs take well under a second or two).
TIMEOUT = 30
#: Deep enough to crash a recursive parser; short enough to be one command-line argument
#: (Linux takes at most 128 KiB in one).
DEEP = 60_000


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def dlbs(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m dlbs ARGS`` bounded in memory and time."""
    return subprocess.run([sys.executable, "-m", "dlbs", *args], capture_output=True, text=True,
                          timeout=TIMEOUT, preexec_fn=_limit_memory, check=False)


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one ``error:`` line of a run that failed as a user error should (exit code 1)."""
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    assert len(lines[0]) < 1000, lines[0]
    return lines[0]


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


# --- files nested thousands deep ------------------------------------------------------------

@pytest.mark.parametrize("name,text,where", [
    pytest.param("c.json", '{"parameters": {"a": ' + nested(100_000) + "}}", "c.json:",
                 id="json-100000"),
    pytest.param("c.json", '{"parameters": {"a": ' + nested(500) + "}}", "c.json:",
                 id="json-500"),
    pytest.param("c.yaml", "parameters:\n  a: " + nested(100_000) + "\n", "c.yaml:2:",
                 id="yaml-flow-100000"),
    pytest.param("c.yaml", "parameters:\n  a: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n",
                 "c.yaml:2:", id="yaml-flow-mappings"),
    pytest.param("c.yaml", "parameters:\n  a:\n" + "".join(" " * (i + 4) + "-\n"
                                                            for i in range(2000)),
                 "c.yaml:", id="yaml-block-2000"),
])
def test_config_nested_thousands_deep_is_one_line(tmp_path: Path, name: str, text: str,
                                                  where: str) -> None:
    config = tmp_path / name
    config.write_text(text)
    line = error_line(dlbs("print", "--config", str(config)))
    assert f"{tmp_path}/{where}" in line
    assert line.endswith("lists and objects nested deeper than 100 levels; a config or value "
                         "nests only a few")


def test_plan_nested_thousands_deep_is_one_line(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text('{"format": "dlbs-plan", "version": 1, "specs": {}, "experiments": '
                    '[{"a": ' + nested(100_000) + "}]}")
    line = error_line(dlbs("print", "--plan", str(plan)))
    assert line.startswith(f"error: {plan}: lists and objects nested deeper than 100 levels")


@pytest.mark.parametrize("option,value", [
    pytest.param("-P", "a=" + nested(DEEP), id="P-list"),
    pytest.param("-P", "a=" + '{"a": ' * 10_000 + "1" + "}" * 10_000, id="P-object"),
    pytest.param("-P", "a=" + nested(300), id="P-300"),
    pytest.param("-V", "a=" + nested(DEEP), id="V"),
    pytest.param("-E", '{"parameters": {"a": ' + nested(DEEP) + "}}", id="E"),
])
def test_command_line_value_nested_thousands_deep_is_one_line(option: str, value: str) -> None:
    line = error_line(dlbs("print", option + value))
    assert line.startswith(f"error: {option} '{value[:20]}")
    assert "lists and objects nested deeper than 100 levels" in line


# --- YAML that expands or does not construct ------------------------------------------------

def test_yaml_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    config = tmp_path / "bomb.yaml"
    config.write_text("\n".join(lines) + "\nparameters:\n  p: *a9\n")
    line = error_line(dlbs("print", "--config", str(config)))
    assert line.startswith(f"error: {config}:")
    assert "values with its aliases expanded" in line


@pytest.mark.parametrize("name,text,where", [
    pytest.param("c.yaml", "parameters:\n  a: " + "7" * 5000 + "\n", "c.yaml:2:6", id="yaml"),
    pytest.param("c.yaml", "parameters:\n  a: -" + "1_000" * 1100 + "\n", "c.yaml:2:6",
                 id="yaml-underscores"),
    pytest.param("c.json", '{"parameters":\n  {"a": ' + "7" * 5000 + "}}", "c.json:2:9",
                 id="json"),
])
def test_integer_of_5000_digits_is_one_line_naming_the_place(tmp_path: Path, name: str,
                                                            text: str, where: str) -> None:
    config = tmp_path / name
    config.write_text(text)
    line = error_line(dlbs("print", "--config", str(config)))
    assert line.startswith(f"error: {tmp_path}/{where}: an integer of ")
    assert line.endswith("digits (Python reads at most 4300); write it as a string")


def test_integer_of_5000_digits_in_an_extension_argument_is_one_line() -> None:
    line = error_line(dlbs("print", "-E", '{"parameters": {"a": ' + "7" * 5000 + "}}"))
    assert line.startswith("error: -E '{\"parameters\"")
    assert "an integer of 5000 digits" in line


def test_yaml_value_that_does_not_construct_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("parameters:\n  a: 2001-13-45\n")
    line = error_line(dlbs("print", "--config", str(config)))
    assert line == f"error: {config}: malformed YAML: month must be in 1..12"


# --- files that never end -------------------------------------------------------------------

@pytest.mark.parametrize("option,what", [
    pytest.param("--config", "config file", id="config"),
    pytest.param("--plan", "plan file", id="plan"),
])
def test_dev_zero_is_refused_unread(option: str, what: str) -> None:
    line = error_line(dlbs("print", option, "/dev/zero"))
    assert line == (f"error: {what} '/dev/zero' is a character device, not a regular file: "
                    "give a regular file (a FIFO, a socket or a device may never end or never "
                    "answer; it is not read)")


def test_huge_config_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    config = tmp_path / "huge.json"
    with config.open("wb") as stream:
        stream.truncate(65 << 20)  # sparse: no disk used
    line = error_line(dlbs("print", "--config", str(config)))
    assert line == f"error: config file '{config}' is 65 MiB, over the limit of 64 MiB"
