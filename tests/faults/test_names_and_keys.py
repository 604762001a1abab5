"""Names and keys: NUL and lone surrogates, duplicate keys, look-alike names.

- A NUL or a lone surrogate in any name or value (a config file, ``-P``/``-V``/``-E`` from
  argv, bytes that are not UTF-8 included, a plan file, ``runtime.env.*``, the environment, a
  computed value) is refused in one line naming the parameter, exit 1, and ``run`` leaves no
  launch script and no ``.part`` behind.
- A key given twice in a JSON or YAML config, a plan or a ``-P``/``-E`` value is an error
  naming the key, both values and the file (YAML: nested, anchored and merged mappings too).
- A name in full-width or other compatibility characters (``ｅｘｐ.replica_batch``) is read in
  its NFKC form, the ASCII name; a name that is still not ASCII-identifier-like (a Cyrillic
  letter, a blank, a zero-width space) is refused with the closest known name.

Each case runs ``python -m dlbs`` as a user does.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlbs.config import load_config_file
from dlbs.engine import build_plan, expand_experiment, merge_configs
from dlbs.engine.names import bad_character, normal_name
from dlbs.errors import ConfigError, DLBSError

TIMEOUT = 120
BASE = ["-Pexp.model=alexnet", "-Pexp.gpus=", "-Pexp.log_dir=/tmp/unused"]


def dlbs(*args: str | bytes, env: dict[str, str | bytes] | None = None,
         cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m dlbs ARGS`` (arguments may be bytes: argv that is not UTF-8)."""
    environ: dict[str | bytes, str | bytes] = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "dlbs", *args], capture_output=True,
                          text=True, errors="backslashreplace", timeout=TIMEOUT, check=False,
                          env=environ, cwd=cwd)  # type: ignore[arg-type]


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one ``error:`` line of a run that failed as a user error (exit 1, no traceback)."""
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    return lines[0]


def printed(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.splitlines()[0])


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- NUL and lone surrogates -------------------------------------------------------------------

@pytest.mark.parametrize("name, text, parameter, what", [
    pytest.param("c.json", '{"parameters": {"exp.model": "a\\u0000b"}}', "exp.model", "NUL",
                 id="json-nul-value"),
    pytest.param("c.json", '{"parameters": {"exp.model": "a\\ud800b"}}', "exp.model",
                 "U+D800", id="json-surrogate-value"),
    pytest.param("c.json", '{"parameters": {"exp.model": "a\\udcffb"}}', "exp.model",
                 "U+DCFF", id="json-escaped-byte-value"),
    pytest.param("c.json", '{"parameters": {"exp.mo\\u0000del": "a"}}', "exp.mo\\x00del",
                 "NUL", id="json-nul-name"),
    pytest.param("c.json", '{"parameters": {"runtime.env.A": {"val": "x\\u0000"}}}',
                 "runtime.env.A", "NUL", id="json-definition-runtime-env"),
    pytest.param("c.json", '{"parameters": {"runtime.env.A\\u0000B": "x"}}',
                 "runtime.env.A\\x00B", "NUL", id="json-runtime-env-name"),
    pytest.param("c.json", '{"variables": {"exp.model": ["a", "b\\u0000"]}}', "exp.model",
                 "NUL", id="json-variable"),
    pytest.param("c.json", '{"parameters": {"exp.model": ["a", "b\\ud83d"]}}', "exp.model",
                 "U+D83D", id="json-list-item"),
    pytest.param("c.json", '{"extensions": [{"condition": {"exp.model": "a\\u0000"}}]}',
                 "exp.model", "NUL", id="json-condition"),
    pytest.param("c.json", '{"extensions": [{"cases": [{"exp.model": "a\\u0000"}]}]}',
                 "exp.model", "NUL", id="json-case"),
    pytest.param("c.yaml", 'parameters:\n  exp.model: "a\\0b"\n', "exp.model", "NUL",
                 id="yaml-nul-value"),
    pytest.param("c.yaml", 'parameters:\n  "exp.mo\\0del": a\n', "exp.mo\\x00del", "NUL",
                 id="yaml-nul-name"),
])
def test_nul_or_surrogate_in_a_config_is_one_line_naming_the_parameter(
        tmp_path: Path, name: str, text: str, parameter: str, what: str) -> None:
    config = _write(tmp_path / name, text)
    line = error_line(dlbs("print", "--config", str(config), *BASE))
    assert str(config) in line and parameter in line and what in line


@pytest.mark.parametrize("args, parameter, what", [
    pytest.param([b"-Pexp.model=a\xffb"], "exp.model", "U+DCFF", id="P-value-not-utf8"),
    pytest.param([b"-Pexp.mo\xffdel=a"], "exp.mo\\udcffdel", "U+DCFF", id="P-name-not-utf8"),
    pytest.param([b"-Vexp.model=[\"a\", \"\xfe\"]"], "exp.model", "U+DCFE",
                 id="V-value-not-utf8"),
    pytest.param(["-Pexp.model=\"a\\u0000b\""], "exp.model", "NUL", id="P-json-nul"),
    pytest.param(["-Pruntime.env.X=\"\\ud800\""], "runtime.env.X", "U+D800",
                 id="P-runtime-env-surrogate"),
    pytest.param(["-E", '{"parameters": {"exp.model": "a\\u0000"}}'], "exp.model", "NUL",
                 id="E-nul"),
])
def test_nul_or_surrogate_on_the_command_line_is_one_line(args: list[str | bytes],
                                                          parameter: str, what: str) -> None:
    line = error_line(dlbs("print", *BASE, *args))
    assert parameter in line and what in line


@pytest.mark.parametrize("args, env, what", [
    pytest.param(["-Pexp.data_dir=${BAD}"], {b"BAD": b"/data/\xff"}, "U+DCFF",
                 id="environment-not-utf8"),
    pytest.param(["-Pexp.data_dir=$('/d/\\x00')$"], {}, "NUL", id="computed-nul"),
    pytest.param(["-Pexp.data_dir=$('\\ud800')$"], {}, "U+D800",
                 id="computed-surrogate"),
])
def test_nul_or_surrogate_made_by_expansion_names_the_parameter(
        args: list[str], env: dict[str | bytes, str | bytes], what: str) -> None:
    line = error_line(dlbs("print", *BASE, *args, env=env))  # type: ignore[arg-type]
    assert "parameter 'exp.data_dir'" in line and what in line


@pytest.mark.parametrize("experiment, where", [
    pytest.param({"exp.model": "a\u0000"}, "parameter 'exp.model'", id="value"),
    pytest.param({"exp.model": "alexnet", "runtime.env.X": "\udcff"},
                 "parameter 'runtime.env.X'", id="runtime-env"),
    pytest.param({"exp.model": "alexnet", "exp.mo\u0000": "a"}, "experiment 0: parameter name",
                 id="name"),
])
def test_nul_or_surrogate_in_a_plan_file_is_one_line(tmp_path: Path, experiment: dict,
                                                    where: str) -> None:
    plan = _write(tmp_path / "plan.json", json.dumps(
        [{"exp.gpus": "", "exp.log_dir": str(tmp_path / "logs"), **experiment}]))
    line = error_line(dlbs("print", "--plan", str(plan)))
    assert where in line


@pytest.mark.parametrize("options", [[], ["--no-validation"]], ids=["validated", "unvalidated"])
def test_run_with_a_nul_value_leaves_no_script_and_no_part(tmp_path: Path,
                                                           options: list[str]) -> None:
    """A two-experiment plan whose second experiment holds a NUL (a plan is expanded one
    experiment at a time): nothing of the second is written, no empty script anywhere."""
    logs = tmp_path / "logs"
    common = {"exp.model": "alexnet", "exp.gpus": "", "exp.log_dir": str(logs),
              "runtime.python": "/bin/true"}
    plan = _write(tmp_path / "plan.json", json.dumps(
        [{**common, "exp.replica_batch": 1},
         {**common, "exp.replica_batch": 2, "runtime.env.X": "a\u0000b"}]))
    line = error_line(dlbs("run", "--plan", str(plan), *options))
    assert "parameter 'runtime.env.X'" in line and "NUL" in line
    left = sorted(p.name for p in logs.iterdir()) if logs.exists() else []
    assert not [n for n in left if n.endswith((".part", ".tmp")) or "_b2_" in n], left
    assert all((logs / n).stat().st_size > 0 for n in left if n.endswith(".sh")), left


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=6), st.sampled_from(["\x00", "\ud800", "\udcff", "\udfff"]),
       st.text(max_size=6))
def test_any_value_holding_nul_or_a_surrogate_is_refused_naming_it(before: str, bad: str,
                                                                   after: str) -> None:
    value = before + bad + after
    with pytest.raises(ConfigError, match=r"parameter 'exp\.data_dir': its value holds"):
        merge_configs([("c.json", {"parameters": {"exp.data_dir": value}})])
    reason = bad_character(value)
    assert reason is not None and "\n" not in reason


# -- duplicate keys ----------------------------------------------------------------------------

@pytest.mark.parametrize("name, text, key, first, second", [
    pytest.param("c.json", '{"parameters": {"exp.model": "a", "exp.model": "b"}}',
                 "exp.model", '"a"', '"b"', id="json-parameters"),
    pytest.param("c.json", '{"parameters": {"exp.model": {"val": "a", "val": "b"}}}', "val",
                 '"a"', '"b"', id="json-definition"),
    pytest.param("c.json", '{"parameters": {}, "parameters": {"exp.model": "b"}}',
                 "parameters", "{}", '{"exp.model": "b"}', id="json-top-level"),
    pytest.param("c.json", '{"extensions": [{"cases": [{"exp.phase": "training", '
                 '"exp.phase": "inference"}]}]}', "exp.phase", '"training"', '"inference"',
                 id="json-extension-case"),
    pytest.param("c.yaml", "parameters:\n  exp.model: a\n  exp.model: b\n", "exp.model",
                 '"a"', '"b"', id="yaml-block"),
    pytest.param("c.yaml", "parameters: {exp.model: a, exp.model: [b]}\n", "exp.model",
                 '"a"', "[...]", id="yaml-flow"),
    pytest.param("c.yaml", "extensions:\n  - cases:\n      - {exp.phase: training}\n"
                 "      - exp.phase: training\n        exp.phase: inference\n", "exp.phase",
                 '"training"', '"inference"', id="yaml-nested-in-a-list"),
    pytest.param("c.yaml", "base: &b {exp.model: a, exp.model: b}\nparameters:\n  <<: *b\n",
                 "exp.model", '"a"', '"b"', id="yaml-in-a-merged-anchor"),
    pytest.param("c.yaml", "x: &x {a: 1}\ny: &y {a: 2}\nparameters:\n  <<: *x\n  <<: *y\n",
                 "<<", "{...}", "{...}", id="yaml-merge-key-twice"),
    pytest.param("c.yaml", "parameters:\n  exp.docker: 1\n  'exp.docker': 2\n", "exp.docker",
                 '"1"', '"2"', id="yaml-quoted-and-plain"),
])
def test_a_key_given_twice_names_the_key_both_values_and_the_file(
        tmp_path: Path, name: str, text: str, key: str, first: str, second: str) -> None:
    config = _write(tmp_path / name, text)
    line = error_line(dlbs("print", "--config", str(config), *BASE))
    assert str(config) in line and "given twice" in line
    assert f'"{key}"' in line and first in line and second in line
    assert line.index(first) < line.index(second, line.index(first) + len(first) - 1)


def test_a_merged_key_the_mapping_overrides_is_not_a_duplicate(tmp_path: Path) -> None:
    """YAML's merge key: the mapping's own key wins over the merged one (what ``<<`` is for)."""
    config = _write(tmp_path / "c.yaml", "base: &b {exp.model: a, exp.phase: inference}\n"
                    "parameters:\n  <<: *b\n  exp.model: resnet50\n")
    assert load_config_file(config)["parameters"] == {"exp.model": "resnet50",
                                                      "exp.phase": "inference"}


@pytest.mark.parametrize("args, key", [
    pytest.param(["-Pexp.x={\"a\": 1, \"a\": 2}"], "a", id="P-value"),
    pytest.param(["-E", '{"parameters": {"exp.model": "a", "exp.model": "b"}}'], "exp.model",
                 id="E"),
])
def test_a_key_given_twice_on_the_command_line(args: list[str], key: str) -> None:
    line = error_line(dlbs("print", *BASE, *args))
    assert f'"{key}" is given twice' in line


def test_a_key_given_twice_in_a_plan_file(tmp_path: Path) -> None:
    plan = _write(tmp_path / "plan.json",
                  '[{"exp.model": "alexnet", "exp.gpus": "", "exp.gpus": "0"}]')
    line = error_line(dlbs("print", "--plan", str(plan)))
    assert str(plan) in line and '"exp.gpus" is given twice' in line and '"", then "0"' in line


# -- look-alike names --------------------------------------------------------------------------

@pytest.mark.parametrize("arg, name, value", [
    pytest.param("-P\uff45\uff58\uff50.replica_batch=32", "exp.replica_batch", 32,
                 id="full-width"),
    pytest.param("-Pexp.log_\ufb01le=/x/y.log", "exp.log_file", "/x/y.log", id="ligature"),
    pytest.param("-V\uff45\uff58\uff50.replica_batch=8", "exp.replica_batch", 8,
                 id="full-width-variable"),
    pytest.param("-Pexp.\uff4dodel=\uff52\uff45\uff53", "exp.model", "\uff52\uff45\uff53",
                 id="the-value-is-kept-as-it-is"),
])
def test_a_look_alike_name_is_the_ascii_name(arg: str, name: str, value: object) -> None:
    exp = printed(dlbs("print", *BASE, arg, "--format", "jsonl"))
    assert exp[name] == value
    assert not [key for key in exp if not key.isascii()]


@pytest.mark.parametrize("arg, shown, suggestion", [
    # issue 20: a look-alike of a declared name (Cyrillic o in exp.model) is a typo now, exit 2
    # (tests/cli/test_unknown_names.py); a Cyrillic letter that looks like no Latin one stays
    # this error (exit 1)
    pytest.param("-Pexp.m\u0434del=x", "exp.m\u0434del", "exp.model", id="cyrillic-de"),
    pytest.param("-Pexp.\u200bmodel=x", "exp.\\u200bmodel", "exp.model", id="zero-width-space"),
    pytest.param("-Pexp.mod\u00e8l=x", "exp.mod\u00e8l", "exp.model", id="accent"),
    pytest.param("-Pexp.replica batch=1", "exp.replica batch", "exp.replica_batch",
                 id="blank-inside"),
])
def test_a_name_that_is_not_ascii_after_nfkc_is_refused_with_did_you_mean(
        arg: str, shown: str, suggestion: str) -> None:
    line = error_line(dlbs("print", *BASE, arg))
    assert shown in line and "which no parameter name has" in line
    assert f"did you mean '{suggestion}'?" in line


def test_a_look_alike_and_its_ascii_name_together_are_refused(tmp_path: Path) -> None:
    config = _write(tmp_path / "c.json", '{"parameters": {"exp.model": "a", '
                    '"\uff45\uff58\uff50.model": "b"}}')
    line = error_line(dlbs("print", "--config", str(config), *BASE[1:]))
    assert "'exp.model' in NFKC form" in line and "keep one" in line


def test_look_alike_names_in_configs_plans_and_extensions_are_normalised(tmp_path: Path) -> None:
    fw = "\uff45\uff58\uff50"  # "exp" in full-width letters
    config = _write(tmp_path / "c.yaml", f"parameters:\n  {fw}.replica_batch: 4\n"
                    f"extensions:\n  - condition: {{{fw}.model: alexnet}}\n"
                    f"    parameters: {{{fw}.num_batches: 3}}\n"
                    f"    cases: [{{{fw}.phase: inference}}]\n")
    exp = printed(dlbs("print", "--config", str(config), *BASE, "--format", "jsonl"))
    assert (exp["exp.replica_batch"], exp["exp.num_batches"], exp["exp.phase"]) == (
        4, 3, "inference")
    plan = _write(tmp_path / "plan.json", json.dumps(
        [{"exp.model": "alexnet", "exp.gpus": "", f"{fw}.replica_batch": 2,
          "exp.log_dir": "/x"}]))
    assert printed(dlbs("print", "--plan", str(plan), "--format", "jsonl"))[
        "exp.replica_batch"] == 2


def test_a_look_alike_reference_is_the_ascii_name() -> None:
    assert expand_experiment({"exp.model": "m", "x": "${\uff45\uff58\uff50.model}"}, {},
                             {})["x"] == "m"


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=12))
def test_any_name_is_the_ascii_name_or_one_clear_refusal(name: str) -> None:
    """Never dropped in silence: a name is merged under an ASCII name or refused."""
    try:
        config = merge_configs([("c.json", {"parameters": {name: 1}})])
    except DLBSError as err:
        assert "\n" not in str(err) and "c.json" in str(err)
        return
    [merged] = config.parameters
    assert merged == normal_name(name)
    # runtime.env.NAME: validate checks the variable name (test_validate.py)
    assert merged.isascii() or merged.startswith("runtime.env.")


def test_a_look_alike_environment_variable_name_is_refused_by_validate() -> None:
    line = error_line(dlbs("validate", *BASE, "-Pruntime.env.\u0391BC=1"))
    assert "environment variable name '\u0391BC' is not valid" in line


def test_a_look_alike_name_in_var_order_orders_the_variable() -> None:
    config = merge_configs([("c.json", {
        "parameters": {"sys.plan_builder.var_order": ["\uff45\uff58\uff50.b"]},
        "variables": {"exp.a": [1, 2], "exp.b": [3, 4]}})])
    assert [(e["exp.a"], e["exp.b"]) for e in build_plan(config)] == [(1, 3), (2, 3), (1, 4),
                                                                      (2, 4)]


def test_a_key_given_twice_in_logparser_params_is_one_line(tmp_path: Path) -> None:
    log = _write(tmp_path / "x.log", '__exp.model__="m"\n__results.status__="ok"\n')
    line = error_line(dlbs("parse", str(log), "-P", '{"exp.x": 1, "exp.x": 2}'))
    assert '"exp.x" is given twice' in line and "(1, then 2)" in line
