"""``experimenter print``: formats, every plan option, and the error paths."""
from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

import dlbs
from dlbs.cli import print_plan
from dlbs.cli.print_plan import varying_columns, write_json, write_jsonl

MODEL = "-Pexp.model=resnet50"


def test_print_is_a_json_list_on_stdout_and_nothing_on_stderr(
        cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from dlbs.cli import planargs

    # (a host without a GPU gets one note about the device: tested below)
    monkeypatch.setattr(planargs, "_host_has_gpu_driver", lambda: True)
    result = cli("print", MODEL, "-Vexp.replica_batch=[16, 32]")
    assert result.code == 0
    assert result.err == ""
    plan = result.json()
    assert [e["exp.replica_batch"] for e in plan] == [16, 32]
    assert all(e["exp.model"] == "resnet50" for e in plan)


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_json_and_jsonl_carry_the_same_experiments(cli: Any, fmt: str) -> None:
    args = ("print", MODEL, "-Vexp.gpus=[\"0\", \"0,1\"]", "-Psys.timestamp=20260101-000000")
    as_list = cli(*args).json()
    result = cli(*args, "--format", fmt)
    assert (result.json() if fmt == "json" else result.jsonl()) == as_list


def test_jsonl_is_one_compact_object_a_line(cli: Any) -> None:
    out = cli("print", MODEL, "-Vexp.num_batches=[1, 2, 3]", "--format", "jsonl").out
    lines = out.splitlines()
    assert len(lines) == 3 and all(line.startswith("{") and line.endswith("}") for line in lines)


def test_variable_without_values_is_an_error(cli: Any) -> None:
    result = cli("print", MODEL, "-Vexp.model=[]")
    assert result.code == 1 and "exp.model" in result.error_line()


def test_count_prints_only_the_number(cli: Any) -> None:
    result = cli("print", "--count", "-Vexp.model=[\"a\", \"b\"]", "-Vexp.replica_batch=[1, 2, 4]")
    assert (result.code, result.out, result.err) == (0, "6\n", "")


def test_table_shows_the_parameters_that_vary(cli: Any) -> None:
    result = cli("print", "--format", "table", "-Vexp.model=[\"alexnet\", \"resnet50\"]")
    assert result.code == 0
    header, rule, *rows = result.out.splitlines()
    assert header.split()[:2] == ["#", "exp.model"]
    assert "exp.phase" not in header
    assert set(rule) <= {"-", " "}
    assert [row.split()[:2] for row in rows] == [["0", "alexnet"], ["1", "resnet50"]]


def test_table_of_one_experiment_is_name_value_rows(cli: Any) -> None:
    out = cli("print", "--format", "table", MODEL).out
    assert out.splitlines()[0].split() == ["parameter", "value"]
    assert any(line.split() == ["exp.model", "resnet50"] for line in out.splitlines())


def test_varying_columns() -> None:
    rows = [{"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}]
    assert varying_columns(rows) == ["b", "c"]
    assert varying_columns([]) == []


@pytest.mark.parametrize("args", [
    pytest.param(["-Pexp.model=resnet50"], id="attached"),
    pytest.param(["-P", "exp.model=resnet50"], id="separate"),
    pytest.param(["-P", 'exp.model="resnet50"'], id="json-string"),
    pytest.param(["-Vexp.model=resnet50"], id="variable-scalar"),
    pytest.param(["-V", "exp.model=[\"resnet50\"]"], id="variable-separate"),
    pytest.param(["-E", '{"parameters": {"exp.model": "resnet50"}}'], id="extension"),
    pytest.param(['-E{"parameters": {"exp.model": "resnet50"}}'], id="extension-attached"),
])
def test_attached_and_separate_option_forms(cli: Any, args: list[str]) -> None:
    [experiment] = cli("print", *args).json()
    assert experiment["exp.model"] == "resnet50"


def test_later_p_wins_and_json_values_are_typed(cli: Any) -> None:
    [e] = cli("print", "-Pexp.model=a", "-Pexp.model=b", "-Pexp.replica_batch=64",
              "-Pexp.docker=false").json()
    assert (e["exp.model"], e["exp.replica_batch"], e["exp.docker"]) == ("b", 64, False)


def test_variable_beats_parameter_given_with_p(cli: Any) -> None:
    plan = cli("print", "-Pexp.model=x", "-Vexp.model=[\"a\", \"b\"]").json()
    assert [e["exp.model"] for e in plan] == ["a", "b"]


def test_first_variable_varies_slowest(cli: Any) -> None:
    plan = cli("print", "-Vexp.model=[\"a\", \"b\"]", "-Vexp.replica_batch=[1, 2]").json()
    assert [(e["exp.model"], e["exp.replica_batch"]) for e in plan] == [
        ("a", 1), ("a", 2), ("b", 1), ("b", 2)]


def test_v_replaces_a_config_variable_in_place(cli: Any, write: Any) -> None:
    config = write("c.json", {"variables": {"exp.model": ["a", "b"], "exp.replica_batch": [1]}})
    plan = cli("print", "--config", config, "-Vexp.model=[\"x\", \"y\"]",
               "-Vexp.replica_batch=[1, 2]").json()
    assert [(e["exp.model"], e["exp.replica_batch"]) for e in plan] == [
        ("x", 1), ("x", 2), ("y", 1), ("y", 2)]


def test_precedence_defaults_then_configs_in_order_then_p(cli: Any, write: Any) -> None:
    first = write("first.json", {"parameters": {"exp.model": "a", "exp.num_batches": 7,
                                                "exp.replica_batch": 3}})
    second = write("second.yaml", "parameters:\n  exp.model: b\n  exp.num_batches: '8'\n")
    [e] = cli("print", "--config", first, "--config", second, "-Pexp.replica_batch=5").json()
    assert (e["exp.model"], e["exp.num_batches"], e["exp.replica_batch"]) == ("b", 8, 5)
    assert e["exp.phase"] == "training"  # untouched default


def test_yaml_config_with_variables_and_extensions(cli: Any, write: Any) -> None:
    config = write("sweep.yml", """
variables:
  exp.model: [alexnet, resnet50]
extensions:
  - condition: {exp.model: resnet}
    parameters: {exp.replica_batch: 64}
    cases: [{exp.phase: training}, {exp.phase: inference}]
""")
    plan = cli("print", "--config", config).json()
    assert [(e["exp.model"], e["exp.replica_batch"], e["exp.phase"]) for e in plan] == [
        ("alexnet", 16, "training"), ("resnet50", 64, "training"), ("resnet50", 64, "inference")]


def test_e_extensions_run_after_config_extensions(cli: Any, write: Any) -> None:
    config = write("c.json", {"extensions": [{"parameters": {"exp.num_batches": 5}}]})
    [e] = cli("print", MODEL, "--config", config,
              "-E", '{"condition": {"exp.num_batches": 5}, "parameters": {"exp.num_batches": 6}}'
              ).json()
    assert e["exp.num_batches"] == 6


def test_discard_default_config_keeps_only_user_parameters(cli: Any, write: Any) -> None:
    config = write("c.json", {"parameters": {"a.x": {"val": "7", "type": "int"}, "a.y": "${a.x}!"}})
    for flag in ("--discard-default-config", "--discard_default_config"):
        assert cli("print", flag, "--config", config).json() == [{"a.x": 7, "a.y": "7!"}]


def test_environment_fills_references_and_defaults(cli: Any, monkeypatch: Any,
                                                   tmp_path: Any) -> None:
    monkeypatch.setenv("MY_DATA", "/mnt/data")
    monkeypatch.delenv("DLBS_ROOT", raising=False)
    [e] = cli("print", "--discard-default-config", "-Pa.x=${MY_DATA}/x", "-Pa.root=${DLBS_ROOT}",
              "-Pa.pwd=${PWD}", "-PMY_DATA=/shadowed", "-Pa.y=${MY_DATA}").json()
    assert (e["a.x"], e["a.y"]) == ("/shadowed/x", "/shadowed")  # a parameter shadows env
    assert e["a.root"] == str(dlbs.PROJECT_ROOT)
    assert e["a.pwd"] == str(tmp_path)


def test_sys_timestamp_is_set_when_empty(cli: Any) -> None:
    [e] = cli("print", MODEL).json()
    assert len(e["sys.timestamp"]) == 15 and e["sys.timestamp"][8] == "-"
    assert e["exp.log_dir"].endswith("/logs/" + e["sys.timestamp"])
    [given] = cli("print", MODEL, "-Psys.timestamp=run1").json()
    assert given["sys.timestamp"] == "run1"


@pytest.mark.parametrize("flag", ["--no-validation", "--no_validation", "--progress-file=p.json",
                                  "--progress_file=p.json", "--log-level=info", "--log_level=info"])
def test_dlbs_options_are_accepted(cli: Any, flag: str) -> None:
    assert cli("print", MODEL, "--count", flag).out == "1\n"


# --- errors: one line on stderr, exit code 1 (2 for argparse usage), traceback only with --debug -------

@pytest.mark.parametrize("args,code,message", [
    pytest.param(["-Pexp.model"], 1, "error: -P 'exp.model': expected NAME=VALUE", id="P-no-eq"),
    pytest.param(["-P", "=x"], 1, "error: -P '=x': the parameter name before '='", id="P-no-name"),
    pytest.param(["-Vexp.gpus"], 1, "error: -V 'exp.gpus': expected NAME=VALUE", id="V-no-eq"),
    pytest.param(["-E", "{x"], 1, "error: -E '{x': malformed JSON", id="E-malformed"),
    pytest.param(["-E", "3"], 1, "error: -E '3': an extension must be a JSON object",
                 id="E-not-object"),
    pytest.param(["--config", "missing.json"], 1, "error: config file 'missing.json' not found",
                 id="config-missing"),
    pytest.param(["-Pexp.phase=walking"], 1, "exp.phase", id="outside-domain"),
    pytest.param(["-Pexp.replica_batch=lots"], 1, "exp.replica_batch", id="failed-cast"),
    pytest.param(["-Pexp.model=${no.such.param}"], 1, "no.such.param", id="undefined-ref"),
    pytest.param(["-Pexp.model=$(1 +"], 1, "exp.model", id="unterminated-expression"),
    pytest.param(["-Pexp.model=$(__import__('os'))$"], 1, "exp.model", id="forbidden-expr"),
    pytest.param(["-Pa.b=${a.c}", "-Pa.c=${a.b}"], 1, "a.b", id="cycle"),
    pytest.param(["-E", '{"condition": {"exp.model": "x"}, "junk": 1}'], 1, "junk",
                 id="bad-extension-key"),
])
def test_errors_are_one_line_without_traceback(cli: Any, args: list[str], code: int,
                                               message: str) -> None:
    result = cli("print", MODEL, *args)
    assert result.code == code
    assert result.out == ""
    line = result.error_line()
    assert message in line


def test_malformed_json_config_names_file_line_and_column(cli: Any, write: Any) -> None:
    path = write("bad.json", '{"parameters": {\n  "exp.model": "x"\n  "exp.phase": "y"}}')
    result = cli("print", "--config", path)
    assert result.code == 1
    assert result.error_line() == (f"error: {path}:3:3: malformed JSON: "
                                   "Expecting ',' delimiter")


def test_malformed_yaml_config_names_file_line_and_column(cli: Any, write: Any) -> None:
    path = write("bad.yaml", "parameters:\n  exp.model: x\n exp.phase: y\n")
    result = cli("print", "--config", path)
    assert result.code == 1
    assert result.error_line().startswith(f"error: {path}:3:2: malformed YAML: ")


def test_debug_shows_the_traceback(cli: Any) -> None:
    result = cli("print", "--debug", "-Pexp.model")
    assert result.code == 1
    assert "Traceback (most recent call last)" in result.err
    assert result.err.strip().splitlines()[-1].startswith("error: -P 'exp.model'")


def test_unknown_option_is_a_usage_error(cli: Any) -> None:
    with pytest.raises(SystemExit) as info:
        cli("print", "--no-such-option")
    assert info.value.code == 2


# --- streaming ------------------------------------------------------------------------------

class _Recorder(io.StringIO):
    """A stdout that records what had been written at each flush."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed: list[str] = []

    def flush(self) -> None:
        self.flushed.append(self.getvalue())


def _lazy(seen: list[int]) -> Iterator[dict[str, Any]]:
    for index in range(3):
        seen.append(index)
        yield {"n": index}


@pytest.mark.parametrize("writer", [write_jsonl, write_json])
def test_each_experiment_is_written_and_flushed_before_the_next_is_expanded(writer: Any) -> None:
    out, seen = _Recorder(), []
    assert writer(out, _lazy(seen)) == 3
    assert len(out.flushed) == 3
    assert out.flushed[0].count('"n": 0') == 1 and '"n": 1' not in out.flushed[0]


def test_json_writer_output_is_valid_json() -> None:
    out = io.StringIO()
    write_json(out, iter([{"a": [1, {"b": 2}]}, {"a": None}]))
    assert json.loads(out.getvalue()) == [{"a": [1, {"b": 2}]}, {"a": None}]
    empty = io.StringIO()
    write_json(empty, iter([]))
    assert json.loads(empty.getvalue()) == []


def test_jsonl_reuses_the_text_of_unchanged_values_to_the_byte() -> None:
    # Each line is json.dumps of its experiment when it was written, whatever it shares with
    # the one before: the same objects, equal ones, look-alikes (1/True/1.0, 0.0/-0.0), other
    # keys or key orders, and a list changed in place between two lines (containers are
    # encoded every time).
    shared = ["a", 1]
    first = {"s": "é\n\"x\"", "i": 1, "f": -0.0, "b": True, "n": None, "l": shared,
             "d": {"k": [1.5, float("inf")]}, "nan": float("nan"), "big": 2 ** 70}
    second = {**first, "i": True, "f": 0.0, "b": 1}
    fewer = {"s": "ünïcode", "i": 1.0}
    expected = []

    def plan() -> Iterator[dict[str, Any]]:
        for experiment in [first, second, dict(second)]:
            expected.append(json.dumps(experiment))
            yield experiment
        shared.append({"new": "value"})  # the same list, changed in place
        for experiment in [dict(second), dict(reversed(list(second.items()))), fewer,
                           dict(fewer, s="x"), first]:
            expected.append(json.dumps(experiment))
            yield experiment
    out = io.StringIO()
    write_jsonl(out, plan())
    assert out.getvalue().splitlines() == expected


def test_jsonl_recalls_the_text_of_a_value_back_in_its_place_to_the_byte() -> None:
    # A value that comes back to its place takes the text it had there: look-alikes
    # (1/True/1.0/'1', 0/False/None/'') each keep their own, and a float is encoded every time.
    base = {"a": "x", "v": 1, "w": 0.0}
    rows = [{**base, "v": v, "w": w} for v in [1, True, 1.0, "1", 0, False, None, "", 1, True]
            for w in [0.0, -0.0, 0.0]]
    out = io.StringIO()
    write_jsonl(out, iter(rows))
    assert out.getvalue().splitlines() == [json.dumps(row) for row in rows]


def test_print_says_when_run_here_would_use_the_cpu(cli: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 58: print shows the plan as written (DLBS's default GPU 0) and says once that run
    on this GPU-less host would use the CPU; a plan that names its device gets no note."""
    from dlbs.cli import planargs

    monkeypatch.setattr(planargs, "_host_has_gpu_driver", lambda: True)
    with_gpu = cli("print", "-Pexp.model=alexnet", "-Vexp.replica_batch=[1,2]", "--format", "jsonl")
    monkeypatch.setattr(planargs, "_host_has_gpu_driver", lambda: False)
    without = cli("print", "-Pexp.model=alexnet", "-Vexp.replica_batch=[1,2]", "--format", "jsonl")
    assert without.out == with_gpu.out  # the plan is the same to the byte
    assert with_gpu.err == ""
    notes = [line for line in without.err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "'run' here would run its local bare-metal experiments on the CPU" \
        in notes[0]
    named = cli("print", "-Pexp.model=alexnet", "-Pexp.gpus=0", "--format", "jsonl")
    assert "note:" not in named.err


def test_the_encoders_texts_stay_within_their_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    # Values of 1,000 characters recurring at their places: the encoder keeps their texts until
    # the budget, then starts again; the lines are json.dumps's all the same.
    monkeypatch.setattr(print_plan, "TEXTS_BUDGET", 30_000)
    encoder, peak = print_plan.LineEncoder(), 0
    plan = [{"a": f"{a:03d}" + "x" * 997, "b": f"{b:03d}" + "y" * 997}
            for a in range(20) for b in range(20)] * 2
    for experiment in plan:
        assert encoder.encode(experiment) == json.dumps(experiment)
        peak = max(peak, encoder.chars)
    assert 0 < peak <= 30_000
