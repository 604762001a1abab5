"""Values are data, never code: no default pastes a parameter's value into an expression.

``exp.data_dir="/data/bob's set"`` was refused as "forbidden: invalid syntax": the default
``exp.data`` was ``$('synthetic' if '${exp.data_dir}' == '' else 'real')$``, so the value became
part of the expression's source. The defaults now pass values as values (``param('name')``, a
function of the evaluator); a scan keeps it so, and a property test gives arbitrary strings to
the parameters users set to paths and commands, expands the plan, renders the launch script and
runs it through bash with ``exec`` turned into ``printf``: each value comes back word for word.
Users' own configs keep DLBS's meaning of ``${...}`` inside ``$(...)$``.
"""
from __future__ import annotations

import functools
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlbs.cli.planargs import make_environ
from dlbs.config import default_config_files, load_config_file, load_default_configs
from dlbs.engine import build_plan, expand_experiment, expand_plan, merge_configs
from dlbs.engine.model import ParamSpec
from dlbs.engine.template import Expr, Ref, parse_template
from dlbs.errors import ExpansionError, ValidationError
from dlbs.experiment import Experiment
from dlbs.launchers import build_command, build_script

ROOT = Path(__file__).resolve().parents[2]
#: The environment variable through which a test gives a value that holds ``${`` or ``$(``
#: (typed into a config, those are DLBS's references and expressions, not text).
VALUE_VARIABLE = "DLBS_TEST_VALUE"


# -- no default pastes a value into an expression ----------------------------------------------

def _pasted_references(text: str) -> list[str]:
    """The ``${...}`` references inside the ``$(...)$`` expressions of ``text``."""
    found: list[str] = []
    stack = [(part, False) for part in parse_template(text) or ()]
    while stack:
        part, in_expression = stack.pop()
        if isinstance(part, Ref):
            if in_expression:
                found.append(part.text)
            stack.extend((inner, in_expression) for inner in part.parts)
        elif isinstance(part, Expr):
            stack.extend((inner, True) for inner in part.parts)
    return found


def _strings(value: Any) -> Iterator[str]:
    """Every string of a config value (a definition's ``val``, lists, nested)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
        yield " ".join(str(item) for item in value)  # as expansion joins a list
    elif isinstance(value, dict):
        yield from _strings(value.get("val"))


def _config_values(config: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """``(name, string)`` for every value a config sets: parameters, variables, extensions."""
    for section in ("parameters", "variables"):
        for name, value in (config.get(section) or {}).items():
            yield from ((name, text) for text in _strings(value))
    for number, extension in enumerate(config.get("extensions") or []):
        for values in (extension.get("parameters") or {}, *(extension.get("cases") or [])):
            for name, value in values.items():
                yield from ((f"extension #{number + 1}: {name}", text)
                            for text in _strings(value))


def _built_in_configs() -> list[Path]:
    """The default configs and the examples (the configs dlbs ships)."""
    return [*default_config_files(), *sorted((ROOT / "examples").glob("*.json")),
            *sorted((ROOT / "examples").glob("*.yaml"))]


@pytest.mark.parametrize("path", _built_in_configs(), ids=lambda p: p.name)
def test_no_built_in_value_pastes_a_reference_into_an_expression(path: Path) -> None:
    pasted = [f"{name}: {refs} in {text}" for name, text in _config_values(load_config_file(path))
              for refs in [_pasted_references(text)] if refs]
    assert not pasted, (f"{path.name}: pass values with param('name'), never as ${{...}} inside "
                        f"$(...)$: {pasted}")


@pytest.mark.parametrize("text, pasted", [
    pytest.param("$('synthetic' if '${exp.data_dir}' == '' else 'real')$", ["${exp.data_dir}"],
                 id="the-old-exp.data"),
    pytest.param("a$(${x} * 2)$b", ["${x}"], id="bare"),
    pytest.param("$(len('${${exp.framework}.data_dir}'))$",
                 ["${${exp.framework}.data_dir}", "${exp.framework}"], id="nested"),
    pytest.param("${a}/$(param('b') * 2)$", [], id="reference-outside"),
    pytest.param("$(param('exp.data_dir'))$", [], id="param"),
])
def test_the_scan_finds_a_pasted_reference(text: str, pasted: list[str]) -> None:
    assert sorted(_pasted_references(text)) == sorted(pasted)


# -- param(): a parameter's value as a value ---------------------------------------------------

@pytest.mark.parametrize("raw, specs, expected", [
    pytest.param({"d": "/data/bob's set", "x": "$(param('d'))$"}, {}, "/data/bob's set",
                 id="quote"),
    pytest.param({"d": "${V}", "x": "$(param('d') + '!')$"}, {},
                 "a')$ + __import__('os') + $('!", id="code-is-text"),
    pytest.param({"n": 3, "x": "$(param('n') * 2)$"}, {}, "6", id="int-stays-int"),
    pytest.param({"n": "3", "x": "$(param('n') * 2)$"}, {"n": "int"}, "6", id="cast-first"),
    pytest.param({"n": "3", "x": "$(param('n') * 2)$"}, {}, "33", id="untyped-is-text"),
    pytest.param({"b": True, "x": "$('y' if param('b') else 'n')$"}, {}, "y", id="bool"),
    pytest.param({"x": "$(param('HOME') + '/x')$"}, {}, "/home/u/x", id="environment"),
    pytest.param({"a": "${b}/c", "b": "$(param('HOME'))$", "x": "$(len(param('a')))$"}, {},
                 "9", id="chain"),
    pytest.param({"d": "", "x": "$(param('undefined') if param('d') else '')$"}, {}, "",
                 id="branch-not-taken-reads-nothing"),
])
def test_param_gives_the_value_as_a_value(raw: dict[str, Any], specs: dict[str, str],
                                          expected: str) -> None:
    spec_map = {name: ParamSpec(name, kind) for name, kind in specs.items()}
    environ = {"HOME": "/home/u", "V": "a')$ + __import__('os') + $('"}
    assert expand_experiment(raw, spec_map, environ)["x"] == expected


@pytest.mark.parametrize("raw, message", [
    pytest.param({"x": "$(param('nope'))$"}, "parameter 'x': undefined reference "
                 "param('nope'); define it with -Pnope=VALUE", id="undefined"),
    pytest.param({"x": "$(param('y'))$", "y": "$(param('x'))$"}, "reference cycle",
                 id="cycle"),
    pytest.param({"x": "$(param('x'))$"}, "parameter 'x' refers to itself", id="itself"),
    pytest.param({"x": "$(param(1))$"}, "param() takes a parameter's name as a string",
                 id="not-a-name"),
    # a function is no value: once it became "<function ...>" text (issue 30)
    pytest.param({"x": "$(param)$"}, "its value is a function, not plain data",
                 id="the-function-itself-is-refused"),
])
def test_param_errors_name_the_parameter(raw: dict[str, Any], message: str) -> None:
    try:
        expand_experiment(raw, {}, {})
    except ExpansionError as err:
        assert message and message in str(err) and "\n" not in str(err)
    else:
        assert not message


def test_param_dependencies_follow_each_experiment_of_a_plan() -> None:
    """``expand_plan`` re-resolves what changed: a value read through ``param`` counts."""
    config = merge_configs([("test", {"parameters": {"exp.model": "m"}})],
                           defaults=_defaults(), variables={
        "exp.gpus": ["0", "0,1", "", "0:1,2:3"],
        "exp.data_dir": ["", "/d/bob's", ""]})
    plan = list(build_plan(config))
    together = list(expand_plan(plan, config.specs, make_environ({})))
    alone = [expand_experiment(exp, config.specs, make_environ({})) for exp in plan]
    assert together == alone
    assert [(e["exp.num_local_gpus"], e["exp.data"]) for e in together][:6] == [
        (1, "synthetic"), (1, "real"), (1, "synthetic"), (2, "synthetic"), (2, "real"),
        (2, "synthetic")]


def test_the_default_experiment_keeps_its_values() -> None:
    """The defaults compute what they computed when they pasted references (ids included:
    ``tests/cli/test_id_stability.py`` pins one)."""
    exp = _expand({"exp.model": "resnet50", "exp.gpus": "0:1,2:3", "exp.num_nodes": 2,
                   "exp.replica_batch": 32, "exp.timeout": 600, "exp.repeat": 2})[0]
    assert (exp["exp.num_local_gpus"], exp["exp.num_local_replicas"], exp["exp.num_gpus"],
            exp["exp.num_replicas"], exp["exp.effective_batch"], exp["exp.device_type"],
            exp["runtime.visible_gpus"], exp["exp.repeat_suffix"], exp["slurm.time"],
            exp["slurm.gpus_per_node"], exp["exp.data"]) == (
        4, 2, 8, 4, 128, "gpu", "0,1,2,3", "_r0", "11", 4, "synthetic")
    assert _expand({"exp.model": "m", "exp.replica_batch": "max", "exp.gpus": 0})[0][
        "exp.effective_batch"] == "max"


# -- arbitrary strings reach the launch script as they are -------------------------------------

@functools.lru_cache(maxsize=1)
def _defaults() -> list[tuple[str, dict[str, Any]]]:
    return load_default_configs()


def _expand(params: dict[str, Any], environ: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The expanded plan of the default configs with ``params`` (a config's values)."""
    config = merge_configs([("test", {"parameters": params})], defaults=_defaults())
    return list(expand_plan(build_plan(config), config.specs, make_environ(environ or {})))


def _printed(script: str, env_name: str) -> tuple[str, list[str]]:
    """Run a launch script with its ``exec`` made ``printf``: (``$env_name``, the argv words)."""
    lines = script.splitlines(keepends=True)
    execs = [n for n, line in enumerate(lines) if line.startswith("exec ")]
    assert len(execs) == 1, script
    lines[execs[0]] = (f"printf '%s\\0' \"${{{env_name}-}}\"; exec printf '%s\\0' "
                       + lines[execs[0]][len("exec "):])
    out = subprocess.run(["bash", "-c", "".join(lines), "script"], capture_output=True,
                         check=True, timeout=60, env={"PATH": os.environ["PATH"]}).stdout
    words = out.decode("utf-8").split("\0")[:-1]
    return words[0], words[1:]


#: Pieces that break quoting or templating, mixed with arbitrary characters (no NUL and no
#: lone surrogate: those are refused, tests/faults/test_names_and_keys.py).
_PIECES = st.sampled_from(["'", '"', "\\", "$(", "${", ")$", "}", "$", "`", "\n", "\r", "\t",
                           " ", "'", "'+'", "__import__('os')", "é", "\U0001f600", "*", "~",
                           "-", "=", ":", ";", "&", "|", "!", "#", "%j", "\\'"])
_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
VALUES = st.lists(st.one_of(_PIECES, st.text(_CHARS, min_size=1, max_size=4)), min_size=1,
                  max_size=8).map("".join)

#: The parameters users give paths and commands in, with what else the experiment needs.
USER_PARAMETERS = {
    "exp.data_dir": {}, "pytorch.data_dir": {}, "exp.log_dir": {}, "exp.model": {},
    "runtime.env.DLBS_T": {}, "runtime.launcher": {},
    "exp.docker_image": {"exp.docker": True, "exp.docker_launcher": "docker"},
}


def _plain(value: str) -> bool:
    """Whether ``value`` holds none of DLBS's template syntax (``${``, ``$(``)."""
    return "${" not in value and "$(" not in value


def _given(name: str, value: str) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """Ways to give ``value`` to ``name``: as a config's value when it holds no template
    syntax, and always through an environment variable (``${DLBS_TEST_VALUE}``)."""
    ways = [({name: f"${{{VALUE_VARIABLE}}}"}, {VALUE_VARIABLE: value})]
    if _plain(value):
        ways.append(({name: value}, {}))
    return ways


def _expected_words(name: str, value: str) -> list[str] | None:
    """What ``runtime.launcher`` puts in front of the command (None: not a command line)."""
    try:
        words = shlex.split(value)
    except ValueError:
        return None
    if words and "=" in words[0] and SHELL_NAME.fullmatch(words[0].split("=")[0]):
        words = ["env", *words]
    return words


#: A shell variable's name (POSIX: ASCII letters, digits and underscores, not first a digit):
#: ``À=`` is a command word to a shell, not an assignment (Python's ``isidentifier`` said it
#: was, and CI's hypothesis run found the difference).
SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def test_only_a_shell_name_makes_the_launcher_an_assignment() -> None:
    assert _expected_words("runtime.launcher", "À= numactl") == ["À=", "numactl"]
    assert _expected_words("runtime.launcher", "OMP_NUM_THREADS=8 numactl") == [
        "env", "OMP_NUM_THREADS=8", "numactl"]


def _check_reaches_the_script(name: str, value: str, exp: dict[str, Any]) -> None:
    try:
        argv = list(build_command(Experiment.of(exp)).argv)
    except ValidationError as err:  # only a launcher that is not a command line
        assert name == "runtime.launcher" and _expected_words(name, value) is None, err
        assert "runtime.launcher" in str(err) and "\n" not in str(err)
        return
    env_value, printed = _printed(build_script(Experiment.of(exp)), "DLBS_T")
    assert printed == argv  # the script passes every word exactly
    if name in ("exp.data_dir", "pytorch.data_dir"):
        assert argv[argv.index("--data_dir") + 1] == value
    elif name == "exp.model":
        assert argv[argv.index("--model") + 1] == value
    elif name == "runtime.env.DLBS_T":
        assert env_value == value
    elif name == "runtime.launcher":
        words = _expected_words(name, value) or []
        assert argv[:len(words)] == words
    elif name == "exp.docker_image":
        assert value.strip() in argv
    elif name == "exp.log_dir":
        assert exp["exp.log_file"].startswith(f"{value}/pytorch_")


@pytest.mark.parametrize("name", list(USER_PARAMETERS))
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=VALUES)
def test_any_string_is_data_from_the_plan_to_the_script(name: str, value: str) -> None:
    if name == "exp.docker_image" and (not value.strip() or value.strip().startswith("-")):
        value = f"x{value}"  # an empty image, or one docker would read as an option, is refused
    for params, environ in _given(name, value):
        exps = _expand({"exp.model": "alexnet", "exp.gpus": "", "exp.log_dir": "/logs",
                        **USER_PARAMETERS[name], **params}, environ)
        assert len(exps) == 1
        exp = exps[0]
        assert exp[name] == value
        if name in ("exp.data_dir", "pytorch.data_dir"):
            assert exp["exp.data_dir"] == value and exp["exp.data"] == "real"
        _check_reaches_the_script(name, value, exp)


@pytest.mark.parametrize("value", [
    "/data/bob's set", "/data/it's \"quoted\"", "/d/')$", "/d/$(x", "/d/back\\slash",
    "/d/new\nline", "/d/' + 'x' * 10**9 + '", "/d/' or __import__('os') or '",
])
def test_a_hostile_data_dir_from_the_command_line_is_data(value: str, tmp_path: Path) -> None:
    """The issue's example through ``python -m dlbs print`` (``${...}``-free values as ``-P``,
    the others through the environment)."""
    given = value if _plain(value) else f"${{{VALUE_VARIABLE}}}"
    out = subprocess.run(
        [sys.executable, "-m", "dlbs", "print", "-Pexp.model=alexnet", f"-Pexp.data_dir={given}",
         f"-Pexp.log_dir={tmp_path}", "--format", "jsonl"], check=False,
        capture_output=True, text=True, timeout=120, env={**os.environ, VALUE_VARIABLE: value})
    assert out.returncode == 0, out.stderr
    exp = json.loads(out.stdout.splitlines()[0])
    assert (exp["exp.data_dir"], exp["exp.data"]) == (value, "real")


@pytest.mark.parametrize("value", ["\x0c", "\x0b", "\u00a0", "\u2003"])
def test_a_launcher_of_an_odd_blank_is_a_word_not_nothing(value: str) -> None:
    """Hypothesis found '\\x0c': str.strip called it empty (no prefix) while shlex keeps it as
    a word; the launcher is judged by shlex's rule, so what the script runs is what it says."""
    from dlbs.experiment import Experiment
    from dlbs.launchers.baremetal import PrefixLayer
    assert PrefixLayer().applies(Experiment.of({"runtime.launcher": value})) == bool(shlex.split(value))
