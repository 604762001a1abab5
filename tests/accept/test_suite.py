"""The suite of ``dlbs accept`` is an ordinary plan file (issue 60 item 1): the ``accept.*``
parameters say which checks run and their settings, each experiment is a reference training
run, ``--checks`` narrows it, and a bad value is one line naming the file and the parameter."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from dlbs.accept.suite import Suite, load_suite, narrowed
from dlbs.cli.main import main
from dlbs.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))


def _plan(tmp_path: Path, parameters: dict[str, object],
          variables: dict[str, list[object]] | None = None,
          extensions: list[dict[str, object]] | None = None) -> Path:
    path = tmp_path / "suite.json"
    base = {"exp.model": "deep_mnist", "exp.phase": "training", "exp.gpus": "",
            "exp.num_batches": 3, "exp.num_warmup_batches": 1}
    path.write_text(json.dumps({"parameters": {**base, **parameters},
                                "variables": variables or {}, "extensions": extensions or []}))
    return path


def test_the_shipped_plan_is_the_suite_it_always_was() -> None:
    suite = load_suite(ROOT / "examples/acceptance.json")
    assert suite.checks == ("matmul", "memcopy", "allreduce", "environment", "dcgmi",
                            "training")
    assert (suite.matmul_size, suite.matmul_precisions, suite.memcopy_megabytes) == \
        (1024, ("fp32", "bf16"), 128)
    assert suite.allreduce_sizes == (1 << 20, 1 << 22, 1 << 24)
    [run] = suite.trainings
    assert run.check == "training"
    assert run.args[:2] == ("-m", "pytorch_benchmarks.benchmarks")
    words = dict(zip(run.args[2::2], run.args[3::2]))
    assert (words["--model"], words["--batch_size"], words["--num_batches"],
            words["--device"]) == ("deep_mnist", "16", "20", "cpu")
    assert suite.figure_checks() == ["matmul_fp32", "matmul_bf16", "memcopy", "allreduce_busbw",
                                     "training"]


def test_a_plan_of_two_reference_runs_and_its_own_settings(tmp_path: Path) -> None:
    path = _plan(tmp_path, {"accept.training_check": "training_${exp.model}",
                            "accept.matmul_precisions": ["fp32", "fp16"],
                            "accept.matmul_size": 2048, "accept.allreduce_sizes": "64K,1G,4096",
                            "accept.checks": "matmul,training", "exp.gpus": "1"},
                 {"exp.model": ["resnet50", "llama3_8b"]},
                 [{"condition": {"exp.model": "llama3_8b"},
                   "parameters": {"pytorch.model_config": '{"layers": 1}'}}])
    suite = load_suite(path)
    cnn, block = suite.trainings
    assert (cnn.check, block.check) == ("training_resnet50", "training_llama3_8b")
    assert (cnn.gpus, block.gpus) == ("1", "1")
    assert cnn.args[cnn.args.index("--model") + 1] == "resnet50"
    assert "--model_config" not in cnn.args
    assert block.args[block.args.index("--model_config") + 1] == '{"layers": 1}'
    assert suite.allreduce_sizes == (64 << 10, 1 << 30, 4096)
    assert suite.figure_checks() == ["matmul_fp32", "matmul_fp16", "training_resnet50",
                                     "training_llama3_8b"]
    assert suite.program_options() == ["--matmul-size", "2048", "--matmul-precisions",
                                       "fp32,fp16", "--memcopy-megabytes", "128",
                                       "--allreduce-sizes", f"{64 << 10},{1 << 30},4096"]


def test_checks_narrow_the_plan_and_keep_its_settings() -> None:
    suite = Suite("p.json", ("matmul", "training"), matmul_size=64)
    assert narrowed(suite, ["matmul"]) == Suite("p.json", ("matmul",), matmul_size=64)
    assert narrowed(suite, None) is suite


@pytest.mark.parametrize("parameters,variables,said", [
    ({"accept.matmul_size": 0}, None, "accept.matmul_size is 0; it must be an integer >= 1"),
    ({"accept.matmul_size": 100000}, None, ("accept.matmul_size is 100000; it must be an "
     "integer >= 1 (at most 65536)")),
    ({"exp.num_batches": 0}, None, "exp.num_batches is 0; it must be an integer >= 1"),
    ({"accept.matmul_size": "big"}, None, "parameter 'accept.matmul_size': cannot cast 'big'"),
    ({"accept.memcopy_megabytes": -1}, None, "accept.memcopy_megabytes is -1; it must be"),
    ({"accept.matmul_precisions": "fp32,fp8"}, None, "no 'fp8'; give some of fp32,bf16,fp16"),
    ({"accept.checks": "matmul,nccl"}, None, "parameter accept.checks = 'matmul,nccl': no 'nccl'"),
    ({"accept.allreduce_sizes": "1M,6"}, None, "'6' is not a size of 4 bytes or more"),
    ({"accept.allreduce_sizes": ""}, None, "parameter accept.allreduce_sizes = '': give one size"),
    ({"accept.matmul_sise": 64}, None, ("parameter accept.matmul_sise is not one dlbs accept "
     "knows; did you mean accept.matmul_size?")),
    ({"accept.training_check": "bench"}, None, "parameter accept.training_check = 'bench'"),
    ({}, {"exp.replica_batch": [8, 16]}, ("parameter accept.training_check = 'training': 2 "
     "reference runs share this name")),
    ({}, {"accept.matmul_size": [64, 128]}, ("parameter accept.matmul_size = 128: differs "
     "between the plan's experiments")),
    ({"exp.phase": "inference"}, None, "parameter exp.phase = 'inference': a reference run"),
    ({"exp.gpus": "0,1"}, None, "parameter exp.gpus = '0,1': 2 replicas"),
    ({"exp.model": ""}, None, "parameter exp.model = '': a reference run needs a model"),
])
def test_a_bad_value_is_one_line_naming_the_file_and_the_parameter(
        tmp_path: Path, parameters: dict[str, object], variables: dict[str, list[object]] | None,
        said: str) -> None:
    path = _plan(tmp_path, parameters, variables)
    with pytest.raises(ConfigError) as found:
        load_suite(path)
    text = str(found.value)
    assert text.startswith(str(path)) and said in text and "\n" not in text, text


def test_a_bad_plan_stops_dlbs_accept_in_one_line(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = _plan(tmp_path, {"accept.matmul_precisions": "fp32,int4"})
    assert main(["accept", "localhost", "--plan", str(path)]) == 3  # judged nothing: not a failed node (1)
    err = capsys.readouterr().err.strip()
    assert f"{path}: parameter accept.matmul_precisions = 'fp32,int4'" in err
    assert len(err.splitlines()) == 1


def test_a_misspelt_name_is_not_told_of_an_option_dlbs_accept_lacks(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``experimenter`` offers --allow-unknown for a name that looks like a typo; ``dlbs
    accept`` has no such option, so its line only names the parameter meant."""
    path = _plan(tmp_path, {"exp.modle": "deep_mnist"})
    assert main(["accept", "localhost", "--plan", str(path)]) == 3
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {path}: parameter 'exp.modle' is not one dlbs knows and nothing "
                   "refers to it; did you mean 'exp.model'?")


def test_the_plan_chooses_the_checks_and_their_settings_and_checks_narrows_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Really run here: the plan's fp64 matmul of 64 x 64 and its environment check, no
    other check; then --checks environment runs that alone."""
    path = _plan(tmp_path, {"accept.checks": "matmul,environment",
                            "accept.matmul_precisions": "fp64", "accept.matmul_size": 64})
    figures = tmp_path / "figures.json"
    assert main(["accept", "localhost", "--plan", str(path), "--repeat", "1",
                 "--figures-out", str(figures)]) == 0
    record = json.loads(figures.read_text())
    assert list(record["figures"]) == ["matmul_fp64"]
    assert "accept.environment_unavailable" in record["facts"] or \
        "accept.environment" in record["facts"]
    assert main(["accept", "localhost", "--plan", str(path), "--repeat", "1",
                 "--checks", "environment", "--figures-out", str(figures)]) == 0
    assert json.loads(figures.read_text())["figures"] == {}
    capsys.readouterr()


def test_the_check_program_reads_the_settings_in_one_line_errors() -> None:
    from pytorch_benchmarks.measure.acceptance import Settings, parse

    assert parse(["--matmul-size", "64", "--allreduce-sizes", "8,16", "matmul", "pair"]) == \
        (Settings(64, ("fp32", "bf16"), 128, (8, 16)), ["matmul", "pair"])
    for argv, said in ((["--matmul-size", "x", "matmul"], "--matmul-size"),
                       (["--matmul-precisions", "fp8", "matmul"], "--matmul-precisions"),
                       (["--allreduce-sizes", "6", "allreduce"], "multiples of 4"),
                       (["--speed", "1", "matmul"], "no option --speed"),
                       (["nccl"], "unknown check 'nccl'")):
        with pytest.raises(ValueError, match=said):
            parse(argv)


def test_the_pairs_read_the_same_plan(tmp_path: Path) -> None:
    from dlbs.accept.fleetjob import pair_script

    script = pair_script([("n1", "n2")], "debug", "python", tmp_path, tmp_path,
                         plan=tmp_path / "my suite.json")
    assert f"--checks pair --repeat 1 --plan '{tmp_path / 'my suite.json'}'" in script


@pytest.mark.parametrize("name,forms,text", [
    ("accept.allreduce_sizes", ["1M,4M,16M", "1048576,4194304,16777216", ["1m", "4M", "16M"],
                                "1024K 4M 16384K"], "1M,4M,16M"),
    ("accept.matmul_size", [1024, "1024", 1024.0], "1024"),
    ("pytorch.model_config", ['{"layers": 1, "a": 2}', {"a": 2, "layers": 1}],
     '{"a": 2, "layers": 1}'),
    ("pytorch.model_config", [None, ""], ""),
])
def test_a_setting_has_one_form_however_it_is_written(name: str, forms: list[object],
                                                      text: str) -> None:
    from dlbs.accept.suite import setting_text
    assert {setting_text("t.json", name, form) for form in forms} == {text}
