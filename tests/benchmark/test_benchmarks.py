"""benchmarks.py end to end, in-process, on tiny models and data: facts, flags, failures."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from pytorch_benchmarks import benchmarks
from pytorch_benchmarks.models import list_models

from .conftest import (
    FEW,
    TEST_CNN,
    TINY_CNN,
    TINY_MLP,
    RunBench,
    documented,
    own_warnings,
    read_facts,
)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "python" / "pytorch_benchmarks" / "benchmarks.py"
RESULT_KEYS = ("results.time", "results.throughput", "results.time_data", "results.time_std",
               "results.time_p50", "results.time_p90", "results.time_p99",
               "results.warmup_detected", "results.steady_state", "results.time_ci95",
               "results.precision", "results.num_batches_done")
#: Written only when --target_precision > 0 / when a time limit applied.
ADAPTIVE_KEYS = ("results.target_precision", "results.target_precision_met", "results.max_time")
ENV_KEYS = ("exp.model_title", "exp.num_threads", "exp.framework_version", "exp.effective_batch",
            "exp.num_replicas", "exp.start_time", "exp.end_time", "hw.cuda_version",
            "hw.cudnn_version", "hw.devices", "hw.cpu_model", "hw.num_threads", "hw.hostname")


def test_training_writes_every_result_and_environment_fact(run_bench: RunBench) -> None:
    code, facts = run_bench(*TINY_MLP, *FEW, "--num_batches", "3")
    assert code == 0 and facts["results.status"] == "ok"
    assert all(k in facts for k in RESULT_KEYS + ENV_KEYS)
    assert len(facts["results.time_data"]) == 3 == facts["results.num_batches_done"]
    assert not any(k in facts for k in ADAPTIVE_KEYS) and not own_warnings(facts)
    assert facts["results.throughput"] == pytest.approx(4000 / facts["results.time"])
    assert facts["exp.model_title"] == "DeepMNIST" and facts["exp.effective_batch"] == 4
    assert facts["hw.devices"] == [facts["hw.cpu_model"]]
    assert facts["exp.framework_version"] == torch.__version__


@pytest.mark.parametrize("extra", [
    pytest.param(["--forward_only", "true", "--num_warmup_batches", "0"], id="infer-no-warmup"),
    pytest.param(["--dtype", "bfloat16", "--channels_last"], id="train-bf16-channels-last"),
    pytest.param(["--forward_only", "--dtype", "bfloat16", "--channels_last", "yes"],
                 id="infer-bf16-channels-last"),
    pytest.param(["--seed", "3", "--cudnn_benchmark", "false"], id="seed"),
])
def test_phases_and_precisions_run_on_a_small_cnn(run_bench: RunBench, extra: list[str]) -> None:
    code, facts = run_bench(*TINY_CNN, *FEW, *extra)
    assert code == 0 and facts["results.status"] == "ok", facts.get("results.error")
    assert facts["exp.input_shape"] == [3, 32, 32] and not own_warnings(facts)


@pytest.mark.parametrize("extra,warning", [
    pytest.param(["--dtype", "float16"], "float16 on a CPU", id="float16-on-cpu"),
    pytest.param(["--channels_last"], "--channels_last ignored", id="channels-last-no-image"),
    pytest.param(["--cudnn_fastest", "true"], "--cudnn_fastest ignored", id="cudnn-fastest"),
    pytest.param(["--num_gpus", "2"], "--num_gpus 2 ignored", id="num-gpus-on-cpu"),
    pytest.param(["--synthetic_on_host"], "--synthetic_on_host ignored", id="on-host-cpu"),
    pytest.param(["--data_shuffle"], "--data_shuffle ignored", id="shuffle-synthetic"),
    pytest.param(["--data", "synthetic", "--data_dir", "/nowhere"], "--data_dir /nowhere",
                 id="data-dir-synthetic"),
    pytest.param(["--image_size", "64"], "--image_size ignored", id="image-size-mlp"),
])
def test_flags_that_cannot_apply_are_stated(run_bench: RunBench, capsys: pytest.CaptureFixture[str],
                                            extra: list[str],
                                            warning: str) -> None:
    code, facts = run_bench(*TINY_MLP, *FEW, *extra)
    assert code == 0 and facts["results.status"] == "ok"
    assert any(warning in w for w in facts["exp.warnings"])
    err = capsys.readouterr().err
    assert "WARNING: " in err and warning in err


@pytest.mark.parametrize("phase", ["false", "true"])
def test_real_data_trains_and_infers(run_bench: RunBench, test_cnn: str, dataset: tuple[str, str],
                                     phase: str) -> None:
    backend, data_dir = dataset
    code, facts = run_bench(*TEST_CNN, *FEW, "--data_dir", data_dir, "--data_backend", backend,
                            "--num_loader_threads", "2", "--data_shuffle", "--forward_only",
                            phase, "--num_batches", "5")  # 6 x 4 > 16 images: runs over
    assert code == 0 and facts["results.status"] == "ok", facts.get("results.error")
    assert facts["exp.data_backend"] == backend and facts["exp.input_shape"] == [3, 16, 16]


def test_real_data_through_a_zoo_model_in_channels_last(run_bench: RunBench,
                                                         image_folder: str) -> None:
    code, facts = run_bench(*TINY_CNN, *FEW, "--data_dir", image_folder, "--forward_only",
                            "--num_loader_threads", "1", "--channels_last", "--dtype", "bfloat16")
    assert code == 0 and facts["results.status"] == "ok", facts.get("results.error")


@pytest.mark.parametrize("threads", ["0", "2"])
def test_data_loader_only_times_the_pipeline(run_bench: RunBench, test_cnn: str,
                                           dataset: tuple[str, str], threads: str) -> None:
    backend, data_dir = dataset
    code, facts = run_bench(*TEST_CNN, *FEW, "--data_dir", data_dir, "--num_loader_threads",
                            threads, "--data_loader_only", "true", "--num_batches", "5")
    assert code == 0 and facts["results.status"] == "ok", facts.get("results.error")
    assert facts["exp.data_backend"] == backend and facts["results.throughput"] > 0


def test_real_data_needs_an_image_model(run_bench: RunBench, image_folder: str) -> None:
    code, facts = run_bench(*TINY_MLP, *FEW, "--data_dir", image_folder)
    assert code == 1 and "real data needs an image model" in facts["results.error"]


def test_out_of_memory_is_status_oom(run_bench: RunBench) -> None:
    code, facts = run_bench("--model", "deep_mnist", "--batch_size", str(10**9), *FEW)
    assert code == 1 and facts["results.status"] == "oom"
    assert "allocate" in facts["results.error"] and "\n" not in facts["results.error"]


@pytest.mark.parametrize("message", [
    "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
    "cuDNN error: CUDNN_STATUS_ALLOC_FAILED",
    "CUDA out of memory. Tried to allocate 2.00 GiB",
    "[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory",
])
def test_a_full_gpu_or_host_reported_by_any_library_is_status_oom(message: str) -> None:
    assert benchmarks.classify(RuntimeError(message)) == "oom"
    assert benchmarks.classify(RuntimeError("CUDA error: an illegal memory access")) == "failure"


def test_an_unwritable_log_file_is_a_failure_fact_on_stdout(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "no_such_dir" / "a.log"
    assert benchmarks.main([*TINY_MLP, *FEW, "--log_file", str(log)]) == 1
    out, err = capsys.readouterr()
    assert '__results.status__="failure"' in out and "cannot append to --log_file" in out
    assert "cannot append to --log_file" in err and not log.exists()


def test_a_missing_torch_is_a_failure_fact() -> None:
    code = ("import sys; sys.modules['torch'] = None; sys.path.insert(0, sys.argv[1]); "
            "from pytorch_benchmarks import benchmarks; "
            "sys.exit(benchmarks.main(['--device', 'cpu']))")
    proc = subprocess.run([sys.executable, "-c", code, str(ROOT / "python")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1, proc.stderr
    assert '__results.status__="failure"' in proc.stdout and "torch" in proc.stdout


def test_synthetic_on_host_with_real_data_is_stated(run_bench: RunBench, test_cnn: str,
                                                    image_folder: str) -> None:
    code, facts = run_bench(*TEST_CNN, *FEW, "--data_dir", image_folder,
                            "--num_loader_threads", "0", "--synthetic_on_host")
    assert code == 0 and facts["results.status"] == "ok", facts.get("results.error")
    assert any("--synthetic_on_host ignored" in w for w in facts["exp.warnings"])


def test_an_unknown_model_fails_with_did_you_mean(run_bench: RunBench,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, facts = run_bench("--model", "resnet5", *FEW)
    assert code == 2 and facts["results.status"] == "failure"
    assert "did you mean" in facts["results.error"] and "'resnet50'" in facts["results.error"]
    assert "did you mean" in capsys.readouterr().err


def test_gpu_without_cuda_is_a_clear_failure(run_bench: RunBench) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code, facts = run_bench(*TINY_MLP, "--device", "gpu", "--num_batches", "1")
    assert code == 1 and "CUDA is not available" in facts["results.error"]


def test_too_small_an_image_size_is_refused(run_bench: RunBench) -> None:
    code, facts = run_bench("--model", "alexnet", "--image_size", "16", *FEW)
    assert code == 1 and "at least 67" in facts["results.error"]


def test_log_file_is_appended_and_stdout_stays_clean(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "a.log"
    log.write_text("header line\n")
    for _ in range(2):
        assert benchmarks.main([*TINY_MLP, *FEW, "--log_file", str(log)]) == 0
    text = log.read_text()
    assert text.startswith("header line\n") and text.count("__results.status__") == 2
    assert "__" not in capsys.readouterr().out


def test_facts_go_to_stdout_without_log_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert benchmarks.main([*TINY_MLP, *FEW]) == 0
    assert '__results.status__="ok"' in capsys.readouterr().out


def test_list_models_prints_one_name_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert benchmarks.main(["--list_models"]) == 0
    assert capsys.readouterr().out.splitlines() == list_models()


LIST_IN_A_FRESH_PROCESS = ("import sys; sys.path.insert(0, sys.argv[1]); "
                           "from pytorch_benchmarks.models import list_models; "
                           "print(*list_models(), sep='\\n')")


@pytest.mark.parametrize("flag", ["--list_models", "--help"])
def test_list_models_and_help_answer_without_importing_torch(flag: str) -> None:
    # A fresh interpreter: this one has torch. The list must still be the registry's own.
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from pytorch_benchmarks import benchmarks; code = benchmarks.main([sys.argv[2]]); "
            "sys.stdout.flush(); "
            "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(code)")
    proc = subprocess.run([sys.executable, "-c", code, str(ROOT / "python"), flag],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    if flag == "--list_models":
        # the registry of a fresh process too (this one may hold models a fixture registered)
        registry = subprocess.run(
            [sys.executable, "-c", LIST_IN_A_FRESH_PROCESS, str(ROOT / "python")],
            capture_output=True, text=True, timeout=300, check=True)
        assert proc.stdout.splitlines() == registry.stdout.splitlines()
    else:
        assert "--list_models" in proc.stdout


@pytest.mark.parametrize("cmd", [
    pytest.param([str(SCRIPT), "--help"], id="script-no-site"),
    pytest.param(["-m", "pytorch_benchmarks.benchmarks", "--help"], id="module"),
])
def test_runs_as_a_script_and_as_a_module(cmd: list[str], tmp_path: Path) -> None:
    # -S: no site-packages, so the script must find its own package (--help needs no torch)
    flags = ["-S"] if cmd[0] == str(SCRIPT) else []
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "python")} if not flags else {}
    done = subprocess.run([sys.executable, *flags, *cmd], check=False, cwd=tmp_path,
                          env=env or None, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "examples:" in done.stdout


def test_script_runs_a_benchmark(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), *TINY_MLP, *FEW], check=False,
                          cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert '__results.status__="ok"' in done.stdout


@pytest.mark.slow
def test_compile_smoke(run_bench: RunBench) -> None:
    """torch.compile on the smallest model (tens of seconds here: compiling is slow)."""
    code, facts = run_bench(*TINY_MLP, *FEW, "--compile", "--forward_only")
    assert code == 0 and facts["results.status"] == "ok", facts.get("results.error")


def test_every_fact_written_is_documented(run_bench: RunBench, test_cnn: str,
                                          image_folder: str) -> None:
    doc = (ROOT / "docs" / "log-format.md").read_text()
    _, real = run_bench(*TEST_CNN, *FEW, "--data_dir", image_folder, "--num_loader_threads", "0")
    _, warned = run_bench(*TINY_MLP, *FEW, "--channels_last")
    _, failed = run_bench("--model", "nope", *FEW)
    for key in {**real, **warned, **failed}:
        assert documented(key, doc), f"{key} is not in docs/log-format.md"


def test_compile_without_warm_up_states_that_compilation_is_timed() -> None:
    from pytorch_benchmarks.options import parse_args
    from pytorch_benchmarks.run.workload import build_workload
    from pytorch_benchmarks.runtime.distributed import DistContext

    warnings: list[str] = []
    spec = parse_args([*TINY_MLP, "--device", "cpu", "--compile", "--num_warmup_batches", "0"])
    build_workload(spec.model, spec.data, spec.device, spec.run, DistContext(),
                   warnings.append).close()  # compiles lazily: cheap
    assert any("compilation falls in the first timed iteration" in w for w in warnings)


def test_an_adaptive_run_writes_how_its_count_was_decided(run_bench: RunBench) -> None:
    code, facts = run_bench(*TINY_MLP, *FEW, "--target_precision", "0.5", "--max_time", "20")
    assert code == 0 and facts["results.status"] == "ok"
    assert facts["results.num_batches_done"] == len(facts["results.time_data"]) >= 2
    assert facts["results.target_precision"] == 0.5 and facts["results.max_time"] == 20
    assert isinstance(facts["results.target_precision_met"], bool)
    assert isinstance(facts["results.steady_state"], bool)
    assert facts["results.warmup_detected"] >= 0
    assert "results.time_ci95" in facts and "results.precision" in facts
    if not facts["results.target_precision_met"]:
        assert any("precision" in w for w in facts["exp.warnings"])


@pytest.mark.parametrize("extra,warned", [
    pytest.param([], ["stopped after 1 of 50"], id="fixed"),
    pytest.param(["--target_precision", "0.01"], ["stopped after 1 of 50", "precision 0.01"],
                 id="target"),
])
def test_max_time_stops_a_real_run_early_and_says_so(run_bench: RunBench, extra: list[str],
                                                     warned: list[str]) -> None:
    """A limit shorter than any iteration: the first chunk (one iteration, to learn its time)
    is the whole run, and every reason it stopped short is a warning."""
    code, facts = run_bench(*TINY_MLP, *FEW, "--num_batches", "50", "--max_time", "1e-9",
                            *extra)
    assert code == 0 and facts["results.status"] == "ok"
    assert facts["results.num_batches_done"] == 1 == len(facts["results.time_data"])
    assert facts["results.max_time"] == 1e-9
    assert facts.get("results.target_precision_met", False) is False
    assert len(own_warnings(facts)) == len(warned)
    assert all(w in line for w, line in zip(warned, own_warnings(facts)))


@pytest.mark.parametrize("flag,value", [("--target_precision", "1"), ("--target_precision", "-0.1"),
                                        ("--max_time", "-1"), ("--max_time", "nan"),
                                        ("--num_threads", "-2")])
def test_bad_adaptive_and_thread_flags_are_usage_errors(run_bench: RunBench, flag: str,
                                                       value: str) -> None:
    code, facts = run_bench(*TINY_MLP, *FEW, flag, value)
    assert code == 2 and facts["results.status"] == "failure"
    assert flag in facts["results.error"]


def test_threads_per_replica_are_set_and_recorded(run_bench: RunBench,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    before = torch.get_num_threads()
    try:
        code, facts = run_bench(*TINY_MLP, *FEW, "--num_threads", "1")
        assert code == 0 and facts["exp.num_threads"] == 1 == facts["hw.num_threads"]
    finally:
        torch.set_num_threads(before)


def test_threads_above_the_usable_cores_are_a_fact_and_one_warning(run_bench: RunBench) -> None:
    """Issue 58, item 4: ranks x threads above the cores the process may use is logged
    (exp.ranks_above_cores, exp.usable_cores) and said once in exp.warnings."""
    from pytorch_benchmarks.runtime.device import cores_short, usable_cores

    assert cores_short(2, 1, 2) is None and cores_short(1, 4, 4) is None
    assert cores_short(4, 2, 2) == (
        "ranks above cores: 2 rank(s) x 4 thread(s) = 8 threads on 2 usable core(s); the "
        "threads wait for each other, so the figures are not the model's speed (lower "
        "--num_threads or the ranks per node)")
    before = torch.get_num_threads()
    try:
        many = usable_cores() + 1
        code, facts = run_bench(*TINY_MLP, *FEW, "--num_threads", str(many))
        assert code == 0 and facts["exp.ranks_above_cores"] is True
        assert facts["exp.usable_cores"] == usable_cores()
        said = [w for w in facts["exp.warnings"] if w.startswith("ranks above cores")]
        assert said == [cores_short(many, 1, usable_cores())]
        code, facts = run_bench(*TINY_MLP, *FEW, "--num_threads", "1")
        assert code == 0 and facts["exp.ranks_above_cores"] is False
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("omp,expected", [
    pytest.param("1", 1, id="OMP_NUM_THREADS-respected"),
    pytest.param(None, None, id="usable-cores"),
])
def test_the_default_threads_follow_the_environment(tmp_path: Path, omp: str | None,
                                                    expected: int | None) -> None:
    """A user who sets OMP_NUM_THREADS gets that many threads; without it, every usable core
    (one replica)."""
    import os

    from pytorch_benchmarks.runtime.device import usable_cores

    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if omp is not None:
        env["OMP_NUM_THREADS"] = omp
    log = tmp_path / "threads.log"
    done = subprocess.run([sys.executable, str(SCRIPT), *TINY_MLP, *FEW, "--log_file", str(log)],
                          check=False, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    facts = read_facts(log)
    want = usable_cores() if expected is None else expected
    assert facts["exp.num_threads"] == want == facts["hw.num_threads"]


@pytest.mark.parametrize("requested,env,replicas,cores,expected", [
    (3, {}, 1, 8, 3), (0, {"OMP_NUM_THREADS": "1"}, 1, 8, None), (0, {}, 2, 8, 4),
    (0, {}, 4, 2, 1), (0, {}, 1, 2, 2)])
def test_the_default_thread_count(monkeypatch: pytest.MonkeyPatch, requested: int,
                                  env: dict[str, str], replicas: int, cores: int,
                                  expected: int | None) -> None:
    from pytorch_benchmarks.runtime import device

    monkeypatch.setattr(device, "usable_cores", lambda: cores)
    assert device.cpu_threads(requested, replicas, env) == expected


@pytest.mark.parametrize("device,requested,applied", [("gpu", 1, True), ("gpu", 0, False),
                                                      ("cpu", 1, True)])
def test_threads_asked_for_apply_on_every_device(device: str, requested: int,
                                                 applied: bool) -> None:
    """A number of threads asked for is never silently ignored (a GPU's host work uses them)."""
    from pytorch_benchmarks.runtime.device import apply_cpu_threads

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        used = apply_cpu_threads(device, requested, 1)
        assert (used == 1) is applied
    finally:
        torch.set_num_threads(before)


class _HalfImportedTorch:
    """A finder that fails importing the model registry as a half-imported torch does after a
    Ctrl-C (``RuntimeError: Trying to override a python impl``)."""

    def find_spec(self, name: str, path: object, target: object = None) -> None:
        if name == "pytorch_benchmarks.models._zoo.registry":
            raise RuntimeError("Trying to override a python impl for DispatchKey.Autograd")


@pytest.mark.parametrize("exc, reason", [
    pytest.param(KeyboardInterrupt(), "KeyboardInterrupt", id="ctrl-c"),
    pytest.param(SystemExit(), "SystemExit", id="exit"),
])
def test_ctrl_c_while_torch_imports_is_one_reason_without_importing_torch_again(
        monkeypatch: pytest.MonkeyPatch, exc: BaseException, reason: str) -> None:
    # Ctrl-C in the first second of a run by hand lands in torch's import: the failure report
    # must not import the registry (torch) again, which raised a second traceback and exit 1.
    monkeypatch.delitem(sys.modules, "pytorch_benchmarks.models._zoo.registry", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_HalfImportedTorch(), *sys.meta_path])
    assert benchmarks.one_line(exc) == reason
    assert benchmarks.classify(KeyboardInterrupt()) == "interrupted"
