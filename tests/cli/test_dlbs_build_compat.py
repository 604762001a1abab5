"""DLBS's own material through the command line: a plan its ``build`` wrote, its ``base.json``
and ``pytorch.json`` as ``--config``, its parameter names, its ``help --frameworks``; and the
messages that used to give the wrong advice (docs/dlbs-compat.md)."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import dlbs
from dlbs.cli.planargs import INSTEAD_OF_DLBS
from dlbs.config import load_default_configs
from dlbs.engine import merge_configs
from dlbs.engine.expand import ID_EXCLUDED, ID_WHEN_NOT, UNUSED_DLBS_PARAMETERS

FIXTURES = Path(__file__).parent / "fixtures" / "dlbs_build"
DLBS_PLAN = FIXTURES / "plan.json"
DLBS_BASE = FIXTURES / "base.json"
DLBS_PYTORCH = FIXTURES / "pytorch.json"
ADVANCED = dlbs.PROJECT_ROOT / "tests" / "fixtures" / "dlbs_tutorials" / "advanced.json"
PYTHON = "/opt/py/bin/python3"
CPU = ['-Pexp.gpus=""', "-Pexp.model=deep_mnist"]
#: DLBS's parameters of base.json and pytorch.json that dlbs does not declare, and why.
NOT_DECLARED = {
    "exp.model_title": "the benchmark logs the model's own title under this name",
    "pytorch.__master_addr": "DLBS's pytorch.args read it; dlbs passes the rendezvous itself",
    "pytorch.__master_port": "as pytorch.__master_addr",
}
#: DLBS's parameters declared for compatibility (labels, and launch plumbing dlbs does not use).
DLBS_DECLARED = (
    "exp.framework_title", "exp.framework_family", "exp.framework_ver", "exp.framework_commit",
    "exp.proj", "exp.status_msg", "exp.node_id", "exp.node_nic", "exp.device_title",
    "exp.cuda", "exp.cudnn", "exp.data_store", *sorted(UNUSED_DLBS_PARAMETERS))


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """DLBS's plan writes its logs under ``${BENCH_ROOT}``; no proxies, a fixed DLBS_PYTHON."""
    monkeypatch.setenv("BENCH_ROOT", str(tmp_path / "bench"))
    monkeypatch.setenv("DLBS_PYTHON", PYTHON)
    monkeypatch.delenv("DLBS_ROOT", raising=False)
    for name in ("http_proxy", "https_proxy", "CUDA_CACHE_PATH"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning: ")]


# --- 1. a plan written by DLBS's own build -----------------------------------------------------

def test_a_plan_written_by_dlbs_build_validates(cli: Any, env: Path) -> None:
    result = cli("validate", "--plan", DLBS_PLAN)
    assert result.code == 0, result.err
    assert result.err.splitlines()[-1] == "validate: OK, 1 experiment: 1 to run"
    # DLBS's plumbing is named once, with what to use instead; nothing is "forbidden"
    [plumbing] = [w for w in _warnings(result.err) if "DLBS parameters are set but" in w]
    assert "pytorch.env (use -Pruntime.env.NAME=VALUE)" in plumbing
    assert "pytorch.launcher (use runtime.launcher" in plumbing


def test_a_dlbs_plan_gets_the_deterministic_id_and_this_python(cli: Any, env: Path) -> None:
    first = cli("print", "--plan", DLBS_PLAN, "--format", "jsonl")
    assert first.code == 0, first.err
    [experiment] = first.jsonl()
    assert re.fullmatch(r"[0-9a-f]{12}", experiment["exp.id"])  # not DLBS's random uuid
    assert cli("print", "--plan", DLBS_PLAN, "--format", "jsonl").jsonl() == [experiment]
    assert experiment["runtime.python"] == PYTHON  # DLBS: sys.executable on bare metal
    assert experiment["exp.log_file"] == f"{env}/bench/deep_mnist_2.log"
    # DLBS's OpenVINO docker arguments refer to ${http_proxy}: empty when unset, as in DLBS
    assert "http_proxy" not in " ".join(experiment["openvino.docker_args"])


def test_a_dlbs_plan_sees_the_proxies_that_are_set(cli: Any, env: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", "http://proxy:3128")
    [experiment] = cli("print", "--plan", DLBS_PLAN, "--format", "jsonl").jsonl()
    assert "-e http_proxy=http://proxy:3128" in experiment["openvino.docker_args"]


def test_a_dlbs_plan_builds_its_launch_script(cli: Any, env: Path) -> None:
    """``exp.status=simulate`` (set in the plan: it cannot take -P) prints what would run."""
    plan = json.loads(DLBS_PLAN.read_text())
    plan[0]["exp.status"] = "simulate"
    path = env / "simulate.json"
    path.write_text(json.dumps(plan))
    result = cli("run", "--plan", path, "--progress-bar", "off")
    assert result.code == 0, result.err
    assert "pytorch_benchmarks" in result.out + result.err
    assert "--model deep_mnist" in result.out + result.err or \
        "--model=deep_mnist" in result.out + result.err


def test_dlbs_base_and_pytorch_configs_load_unchanged(cli: Any, env: Path) -> None:
    result = cli("validate", "--config", DLBS_BASE, "--config", DLBS_PYTORCH, *CPU,
                 "-Pexp.framework=pytorch", "-Pexp.docker=false")
    assert result.code == 0, result.err
    assert "unknown key" not in result.err and "forbidden" not in result.err


def test_dlbs_base_config_alone_needs_only_a_framework(cli: Any, env: Path) -> None:
    """DLBS's base.json has exp.framework "" (its backends' configs set it); saying so."""
    result = cli("print", "--config", DLBS_BASE, *CPU, "--format", "jsonl")
    assert result.code == 1
    assert result.err.strip().splitlines()[-1] == (
        "error: parameter 'exp.framework': value '' is not allowed; allowed values: pytorch")
    result = cli("print", "--config", DLBS_BASE, *CPU, "-Pexp.framework=pytorch",
                 "--format", "jsonl")
    assert result.code == 0, result.err
    assert result.jsonl()[0]["exp.framework_family"] == "pytorch"


# --- 2. DLBS's parameter names -----------------------------------------------------------------

def _declared() -> dict[str, Any]:
    return merge_configs([], defaults=load_default_configs()).specs


def test_every_parameter_of_dlbs_pytorch_experiments_is_declared() -> None:
    specs = _declared()
    dlbs_names = {name for path in (DLBS_BASE, DLBS_PYTORCH)
                  for name in json.loads(path.read_text())["parameters"]}
    missing = sorted(dlbs_names - set(specs) - set(NOT_DECLARED))
    assert missing == []
    assert all(specs[name].desc for name in DLBS_DECLARED)


def test_dlbs_names_resolve_with_dlbs_values(cli: Any, write: Any) -> None:
    names = ("exp.framework_title", "exp.framework_family", "exp.proj", "exp.status_msg",
             "exp.use_tensor_core", "exp.node_id", "pytorch.env", "pytorch.args",
             "pytorch.launcher", "pytorch.docker_args", "runtime.EXPORT_CUDA_VISIBLE_DEVICES",
             "runtime.EXPORT_CUDA_CACHE_PATH")
    config = write("refs.json", {"parameters": {
        "my.refs": "|".join(f"${{{name}}}" for name in names)}})
    result = cli("print", "--config", config, *CPU, "--format", "jsonl")
    assert result.code == 0, result.err
    assert result.jsonl()[0]["my.refs"] == "PyTorch|pytorch|||True||||||CUDA_VISIBLE_DEVICES=|"


def test_dlbs_labels_are_in_the_log_header_params(cli: Any) -> None:
    [experiment] = cli("print", *CPU, "--format", "jsonl").jsonl()
    assert experiment["exp.framework_title"] == "PyTorch"
    assert experiment["exp.framework_family"] == "pytorch"


@pytest.mark.parametrize("name", DLBS_DECLARED)
def test_dlbs_parameters_stay_out_of_the_id_at_their_default(cli: Any, name: str) -> None:
    """Each is excluded, or enters the hash only when it is not its default (ordinary plans
    keep their ids: tests/cli/test_id_stability.py pins one)."""
    assert name in ID_EXCLUDED or name in ID_WHEN_NOT
    if name in ID_WHEN_NOT:
        [experiment] = cli("print", *CPU, "--format", "jsonl").jsonl()
        assert experiment[name] == ID_WHEN_NOT[name]


@pytest.mark.parametrize("param,same", [
    pytest.param("-Pexp.framework_title=PyTorch", True, id="label-at-default"),
    pytest.param("-Pexp.proj=sweep1", False, id="label-set"),
    pytest.param("-Pexp.node_id=DL380", False, id="node-label-set"),
    pytest.param("-Pexp.status_msg=why", True, id="status-note"),
    pytest.param("-Ppytorch.args=--x", True, id="unused-plumbing"),
    pytest.param("-Pexp.use_tensor_core=false", True, id="unused-switch"),
])
def test_which_dlbs_parameters_change_the_id(cli: Any, param: str, same: bool) -> None:
    base = ["print", *CPU, "-Pexp.log_dir=/x", "--format", "jsonl"]
    before = cli(*base).jsonl()[0]["exp.id"]
    assert (cli(*base, param).jsonl()[0]["exp.id"] == before) is same


def test_unused_plumbing_table_matches_the_engine() -> None:
    assert INSTEAD_OF_DLBS.keys() == UNUSED_DLBS_PARAMETERS


def test_setting_dlbs_plumbing_warns_once_with_what_to_use(cli: Any) -> None:
    result = cli("validate", *CPU, "-Ppytorch.env=FOO=1", "-Ppytorch.launcher=numactl",
                 "-Ppytorch.docker_args=[\"--a\", \"--b\"]")
    assert result.code == 0, result.err
    assert "did you mean" not in result.err
    [warning] = _warnings(result.err)
    assert warning == (
        "warning: dlbs builds the benchmark's launch itself; these DLBS parameters are set but "
        "not used: pytorch.env (use -Pruntime.env.NAME=VALUE); pytorch.launcher (use "
        "runtime.launcher for a command in front of the benchmark); pytorch.docker_args (use "
        "exp.docker_args)")


@pytest.mark.parametrize("params", [
    pytest.param([], id="defaults"),
    pytest.param(["-Pexp.use_tensor_core=true", "-Ppytorch.env=", "-Pexp.model_opts={}"],
                 id="set-to-their-defaults"),
    pytest.param(["-Pruntime.env.FOO=1", "-Pexp.proj=p"], id="what-to-use-instead"),
])
def test_plumbing_at_its_default_is_not_named(cli: Any, params: list[str]) -> None:
    result = cli("validate", *CPU, *params)
    assert result.code == 0, result.err
    assert _warnings(result.err) == []


def test_a_plan_written_by_print_names_no_plumbing(cli: Any, tmp_path: Path) -> None:
    """In a plan every value is expanded: CUDA_VISIBLE_DEVICES=${runtime.visible_gpus} is there
    CUDA_VISIBLE_DEVICES=0,1, still the default; a value set by hand is still named."""
    printed = cli("print", "-Pexp.model=deep_mnist", "-Pexp.gpus=0,1", "--no-validation")
    assert printed.code == 0, printed.err
    (tmp_path / "plan.json").write_text(printed.out)
    result = cli("build", "--plan", tmp_path / "plan.json", "--scripts", tmp_path / "review")
    assert result.code == 0, result.err
    assert _warnings(result.err) == []
    changed = json.loads(printed.out)
    changed[0]["runtime.EXPORT_CUDA_VISIBLE_DEVICES"] = "CUDA_VISIBLE_DEVICES=3"
    (tmp_path / "changed.json").write_text(json.dumps(changed))
    named = cli("build", "--plan", tmp_path / "changed.json", "--scripts", tmp_path / "r2")
    assert "runtime.EXPORT_CUDA_VISIBLE_DEVICES (dlbs sets" in named.err


def test_plumbing_set_in_a_config_extension_is_named(cli: Any, write: Any) -> None:
    config = write("ext.json", {"extensions": [{"condition": {"exp.model": "deep_mnist"},
                                                 "parameters": {"monitor.pid_folder": "/dev/shm/m"}}]})
    result = cli("validate", "--config", config, *CPU)
    assert "monitor.pid_folder (the monitor is built in: use monitor.frequency)" in result.err


# --- 3. messages that gave the wrong advice ------------------------------------------------

def test_gpu_device_type_from_a_config_without_gpus_names_device_type(cli: Any,
                                                                      write: Any) -> None:
    """DLBS's inference recipe sets "exp.device_type": "gpu"; -Vexp.gpus='[""]' alone keeps it."""
    config = write("inference.json", {"parameters": {"exp.device_type": "gpu",
                                                     "exp.phase": "inference"}})
    result = cli("validate", "--config", config, "-Pexp.model=resnet50", '-Vexp.gpus=[""]')
    line = result.error_line()
    assert "exp.device_type is 'gpu' but exp.gpus is empty" in line
    assert "-Pexp.device_type=cpu" in line
    assert "-Pexp.gpus='\"\"' runs it on this CPU" not in line
    fixed = cli("validate", "--config", config, "-Pexp.model=resnet50", '-Vexp.gpus=[""]',
                "-Pexp.device_type=cpu")
    assert fixed.code == 0, fixed.err


def test_p_beaten_by_a_config_variable_says_so_and_suggests_v(cli: Any, env: Path) -> None:
    result = cli("validate", "--config", ADVANCED, "-Pexp.framework=pytorch")
    assert result.code == 1
    hint = (f"-Pexp.framework is not used: {ADVANCED} makes exp.framework a variable, and a "
            "variable beats a parameter of the same name (as in DLBS); give "
            "-Vexp.framework='[\"pytorch\"]' to replace its values")
    warning, error = result.err.strip().splitlines()
    assert warning == f"warning: {hint}"
    assert error == ("error: parameter 'exp.framework': value 'nvidia_caffe' is not allowed; "
                     f"allowed values: pytorch ({hint})")


def test_the_suggested_v_works(cli: Any, env: Path) -> None:
    result = cli("validate", "--config", ADVANCED, '-Vexp.framework=["pytorch"]',
                 '-Vexp.gpus=[""]', "-Pexp.docker=false")
    assert result.code == 0, result.err
    assert "is not used" not in result.err


def test_p_and_v_of_the_same_name_do_not_warn(cli: Any, env: Path) -> None:
    result = cli("validate", "--config", ADVANCED, "-Pexp.framework=pytorch",
                 '-Vexp.framework=["pytorch"]', '-Vexp.gpus=[""]', "-Pexp.docker=false")
    assert result.code == 0, result.err
    assert "is not used" not in result.err


# --- 5. simulate is counted apart --------------------------------------------------------------

def test_validate_counts_simulated_experiments_apart(cli: Any) -> None:
    result = cli("validate", *CPU, "-Vexp.replica_batch=[1, 2, 3]",
                 '-E{"condition": {"exp.replica_batch": 2}, "parameters": {"exp.status": '
                 '"simulate"}}',
                 '-E{"condition": {"exp.replica_batch": 3}, "parameters": {"exp.status": '
                 '"disabled"}}')
    assert result.code == 0, result.err
    assert result.err == "validate: OK, 3 experiments: 1 to run, 1 to simulate, 1 disabled\n"


# --- 6. help --frameworks ------------------------------------------------------------------

def test_help_frameworks_lists_pytorch_and_names_dlbs_others(cli: Any) -> None:
    result = cli("help", "--frameworks")
    assert result.code == 0, result.err
    assert result.out.startswith("pytorch    PyTorch: python/pytorch_benchmarks/benchmarks.py")
    assert "Not supported (DLBS's other benchmark backends): tensorflow, nvtfcnn" in result.out
    assert "validate and run refuse them" in result.out


def test_help_frameworks_pytorch_shows_its_parameters(cli: Any) -> None:
    result = cli("help", "--frameworks", "pytorch")
    assert result.code == 0, result.err
    assert result.out.startswith("--- pytorch ---\nexp.framework  [str]")
    assert "\npytorch.cudnn_benchmark  [bool]  default: true" in result.out
    assert "\nexp.replica_batch  [int]" in result.out


@pytest.mark.parametrize("argv,message", [
    pytest.param(["--frameworks", "tensorflow"],
                 "error: framework 'tensorflow' is not supported (a DLBS backend that dlbs does "
                 "not run); dlbs runs pytorch ('experimenter help --frameworks' lists them)",
                 id="dlbs-backend"),
    pytest.param(["--frameworks", "--params", "exp"],
                 "error: help: --frameworks cannot be combined with --params, --text or "
                 "--markdown", id="with-params"),
])
def test_help_frameworks_errors(cli: Any, argv: list[str], message: str) -> None:
    assert cli("help", *argv).error_line() == message
