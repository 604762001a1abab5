"""The command line: every flag parses, booleans are lenient, usage errors exit 2 with a fact."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from pytorch_benchmarks import benchmarks
from pytorch_benchmarks.options import build_parser, parse_args, str2bool


@pytest.mark.parametrize("text,value", [
    ("true", True), ("True", True), ("1", True), ("yes", True), ("YES", True), ("on", True),
    ("false", False), ("0", False), ("no", False), ("No", False), ("off", False)])
def test_booleans_accept_common_spellings(text: str, value: bool) -> None:
    assert str2bool(text) is value


def test_a_bad_boolean_is_an_argparse_type_error() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="true/false/1/0/yes/no"):
        str2bool("maybe")


@pytest.mark.parametrize("argv,attr,value", [
    pytest.param(["--model", "resnet50"], "model.name", "resnet50", id="model"),
    pytest.param(["--forward_only"], "run.forward_only", True, id="bare-bool-is-true"),
    pytest.param(["--forward_only", "no"], "run.forward_only", False, id="forward_only-no"),
    pytest.param(["--forward_only=1"], "run.forward_only", True, id="forward_only=1"),
    pytest.param(["--batch_size", "8"], "run.batch_size", 8, id="batch_size"),
    pytest.param(["--num_batches", "3"], "run.num_batches", 3, id="num_batches"),
    pytest.param(["--num_warmup_batches", "0"], "run.num_warmup_batches", 0, id="warmup-0"),
    pytest.param(["--num_gpus", "4"], "device.num_gpus", 4, id="num_gpus"),
    pytest.param(["--device", "cuda"], "device.device", "gpu", id="cuda-is-gpu"),
    pytest.param(["--device", "CPU"], "device.device", "cpu", id="device-any-case"),
    pytest.param(["--dtype", "float"], "device.dtype", "float32", id="float-is-float32"),
    pytest.param(["--dtype", "bfloat16"], "device.dtype", "bfloat16", id="bfloat16"),
    pytest.param(["--dtype", "float16"], "device.dtype", "float16", id="float16"),
    pytest.param(["--data_dir", "/d"], "data.source", "real", id="data_dir-means-real"),
    pytest.param([], "data.source", "synthetic", id="default-synthetic"),
    pytest.param(["--data_dir", "/d", "--data", "synthetic"], "data.source", "synthetic", id="data"),
    pytest.param(["--data_backend", "caffe_lmdb"], "data.backend", "caffe_lmdb", id="backend"),
    pytest.param(["--data_shuffle", "true"], "data.shuffle", True, id="data_shuffle"),
    pytest.param(["--num_loader_threads", "0"], "data.num_loader_threads", 0, id="loader-threads"),
    pytest.param(["--cudnn_benchmark", "false"], "device.cudnn_benchmark", False, id="cudnn_bench"),
    pytest.param(["--cudnn_fastest", "yes"], "device.cudnn_fastest", True, id="cudnn_fastest"),
    pytest.param(["--data_dir", "/d", "--data_loader_only"], "data.loader_only", True,
                 id="data_loader_only"),
    pytest.param(["--list_models"], "output.list_models", True, id="list_models"),
    pytest.param(["--channels_last"], "device.channels_last", True, id="channels_last"),
    pytest.param(["--compile", "0"], "device.compile", False, id="compile"),
    pytest.param(["--seed", "7"], "run.seed", 7, id="seed"),
    pytest.param(["--log_file", "x.log"], "output.log_file", "x.log", id="log_file"),
    pytest.param(["--image_size", "64"], "model.image_size", 64, id="image_size"),
    pytest.param(["--synthetic_on_host"], "data.synthetic_on_host", True, id="synthetic_on_host"),
])
def test_every_flag_parses(argv: list[str], attr: str, value: object) -> None:
    part, field = attr.split(".")
    assert getattr(getattr(parse_args(argv), part), field) == value


def test_dlbs_default_arguments_parse() -> None:
    """The argument list DLBS's launcher always passed (seed 004) is accepted as is."""
    args = parse_args(["--model=alexnet", "--forward_only=false", "--batch_size=16",
                       "--num_batches=10", "--num_warmup_batches=2", "--num_gpus=1",
                       "--device=gpu", "--data_backend=caffe_lmdb", "--data_shuffle=false",
                       "--num_loader_threads=4", "--dtype=float32", "--cudnn_benchmark=true",
                       "--cudnn_fastest=false"])
    assert (args.model.name, args.data.source, args.device.device) == ("alexnet", "synthetic",
                                                                      "gpu")


@pytest.mark.parametrize("argv,message", [
    pytest.param(["--batch_size", "0"], "expected an integer >= 1", id="batch-zero"),
    pytest.param(["--num_batches", "x"], "expected an integer", id="not-int"),
    pytest.param(["--dtype", "int8"], "invalid choice", id="dtype"),
    pytest.param(["--forward_only", "maybe"], "true/false", id="bool"),
    pytest.param(["--data", "real"], "needs --data_dir", id="real-without-dir"),
    pytest.param(["--data_loader_only"], "give --data_dir", id="loader-only-synthetic"),
    pytest.param(["--data", "synthetic", "--data_dir", "/d", "--data_loader_only"],
                 "not --data synthetic", id="loader-only-explicit-synthetic"),
    pytest.param(["--no_such_flag"], "unrecognized arguments", id="unknown-flag"),
])
def test_usage_errors_exit_2_with_a_message_and_a_failure_fact(
        argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert benchmarks.main(argv) == 2
    out, err = capsys.readouterr()
    assert message in err and "usage:" in err
    assert '__results.status__="failure"' in out and "usage error" in out


def test_a_usage_error_fact_goes_to_the_log_file(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "x.log"
    assert benchmarks.main(["--batch_size", "-1", f"--log_file={log}"]) == 2
    assert '__results.status__="failure"' in log.read_text()
    assert "__results" not in capsys.readouterr().out


def test_help_shows_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert benchmarks.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "torchrun" in out and "--data_loader_only" in out


def test_every_flag_has_help_text() -> None:
    for action in build_parser()._actions:
        assert action.help, action.option_strings


def test_the_spec_is_frozen_and_split_by_concern() -> None:
    import dataclasses

    spec = parse_args(["--model", "deep_mnist", "--batch_size", "max", "--device", "cpu"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.run.batch_size = 4  # type: ignore[misc]
    assert spec.with_batch(4).run.batch == 4 and spec.run.batch_size == "max"
    assert spec.with_device("gpu").device.device == "gpu" and spec.device.device == "cpu"
    assert {f.name for f in dataclasses.fields(spec)} == {
        "model", "data", "device", "run", "max_batch", "measure", "output"}
