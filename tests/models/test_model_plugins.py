"""Models from other packages (``dlbs.models`` entry points): loaded once with the zoo, a broken
one is a warning naming it, and their names are known to ``--model`` and ``dlbs validate``
without importing them. The plugin is a tiny distribution written into a folder put on the
path (a ``.dist-info`` with ``entry_points.txt``, as ``pip install --target`` leaves it)."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytorch_benchmarks.models import create_model, get_model_info, list_models
from pytorch_benchmarks.models import names as model_names
from pytorch_benchmarks.models._zoo import plugins, registry

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "python" / "pytorch_benchmarks" / "benchmarks.py"

MODELS_PY = '''\
"""A plugin module: its decorators register when the zoo imports it."""
from pytorch_benchmarks.models import register_model
from torch import nn


@register_model(title="Plugin MLP", input_shape=(8,), num_classes=3,
                aliases=("plugin_mlp_alias",))
def plugin_mlp(*, num_classes: int = 3, width: int = 16) -> nn.Module:
    return nn.Sequential(nn.Linear(8, width), nn.ReLU(), nn.Linear(width, num_classes))
'''

CALLABLE_PY = '''\
"""A callable plugin: registers a model named after its entry point when called."""
from torch import nn


def register() -> None:
    from pytorch_benchmarks.models import register_model

    def build(*, num_classes: int = 2) -> nn.Module:
        return nn.Linear(4, num_classes)

    register_model(title="Plugin linear", input_shape=(4,), num_classes=2,
                   name="plugin_linear")(build)
'''

ENTRY_POINTS = """\
[dlbs.models]
tiny = dlbs_tiny_plugin.models
plugin_linear = dlbs_tiny_plugin.more:register
broken = dlbs_no_such_module
"""


def write_plugin(site: Path) -> Path:
    """The tiny distribution ``dlbs-tiny-plugin`` installed into ``site``."""
    package = site / "dlbs_tiny_plugin"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "models.py").write_text(MODELS_PY, encoding="utf-8")
    (package / "more.py").write_text(CALLABLE_PY, encoding="utf-8")
    info = site / "dlbs_tiny_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dlbs-tiny-plugin\n"
                                   "Version: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(ENTRY_POINTS, encoding="utf-8")
    return site


@pytest.fixture
def plugin_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The plugin on this process's path; its models unregistered afterwards."""
    site = write_plugin(tmp_path / "site")
    monkeypatch.syspath_prepend(str(site))
    model_names.plugin_names.cache_clear()
    yield site
    model_names.plugin_names.cache_clear()
    for name in ("plugin_mlp", "plugin_linear"):
        if name in registry._MODELS:
            registry.unregister_model(name)
    plugins._LOADED.difference_update(k for k in list(plugins._LOADED) if "dlbs_" in k)
    for key in [k for k in plugins._FAILED if "dlbs_" in k]:
        del plugins._FAILED[key]
    for module in [m for m in sys.modules if m.startswith("dlbs_tiny_plugin")]:
        del sys.modules[module]


def test_plugins_register_their_models_and_a_broken_one_is_a_warning(
        plugin_site: Path) -> None:
    with pytest.warns(plugins.PluginWarning, match=r"model plugin 'broken = dlbs_no_such_"
                      r"module' \(entry point group dlbs.models\) is skipped, it failed to "
                      r"load: ModuleNotFoundError"):
        loaded = plugins.load_plugins()
    assert loaded == ["plugin_linear = dlbs_tiny_plugin.more:register",
                      "tiny = dlbs_tiny_plugin.models"]
    assert {"plugin_mlp", "plugin_linear"} <= set(list_models("plugin_*"))
    assert get_model_info("plugin_mlp_alias").name == "plugin_mlp"
    assert create_model("plugin_linear").out_features == 2
    assert plugins.load_plugins() == []  # once


def test_plugin_names_are_read_without_importing_the_plugin(plugin_site: Path) -> None:
    assert model_names.plugin_names() == ("broken", "plugin_linear", "plugin_mlp",
                                          "plugin_mlp_alias")
    assert "dlbs_tiny_plugin" not in sys.modules
    assert model_names.unknown_model_message("plugin_mlp_alias") is None
    message = model_names.unknown_model_message("plugin_mlpx")
    assert message is not None and "did you mean 'plugin_mlp'" in message


def _run(site: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join([str(site), str(ROOT / "python"), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env,
                          cwd=site, timeout=300, check=False)


@pytest.mark.slow
def test_an_installed_plugin_is_listed_run_and_validated(tmp_path: Path) -> None:
    site = write_plugin(tmp_path / "site")
    listed = _run(site, str(SCRIPT), "--list_models")
    assert listed.returncode == 0, listed.stderr
    assert {"plugin_mlp", "plugin_linear", "resnet50"} <= set(listed.stdout.split())
    assert "model plugin 'broken = dlbs_no_such_module'" in listed.stderr

    ran = _run(site, str(SCRIPT), "--model", "plugin_mlp_alias", "--model_config",
               '{"width": 4}', "--batch_size", "2", "--num_batches", "1",
               "--num_warmup_batches", "0", "--device", "cpu")
    assert ran.returncode == 0, ran.stderr
    assert '__results.status__="ok"' in ran.stdout
    assert '__exp.model_title__="Plugin MLP (width=4)"' in ran.stdout  # a modified model
    assert '__exp.model_config__={"width":4}' in ran.stdout

    for model in ("plugin_mlp", "plugin_linear"):
        valid = _run(site, "-m", "dlbs", "validate", f"-Pexp.model={model}",
                     "-Pexp.gpus=\"\"")
        assert valid.returncode == 0 and "validate: OK" in valid.stderr, valid.stderr
    wrong = _run(site, "-m", "dlbs", "validate", "-Pexp.model=plugin_mlpx", "-Pexp.gpus=\"\"")
    assert wrong.returncode == 1
    assert "unknown model 'plugin_mlpx'; did you mean 'plugin_mlp'" in wrong.stderr


def test_documented_plugin_declaration_matches_the_group() -> None:
    doc = (ROOT / "docs" / "adding-a-model.md").read_text(encoding="utf-8")
    assert f'[project.entry-points."{plugins.GROUP}"]' in doc


PYPROJECT = f'''\
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "dlbs-tiny-plugin"
version = "0.1"

[project.entry-points."{plugins.GROUP}"]
tiny = "dlbs_tiny_plugin.models"
'''


@pytest.mark.slow
def test_a_plugin_installed_by_pip_runs(tmp_path: Path) -> None:
    """A real source distribution, installed by pip (no index, no build isolation: offline),
    declares its model in pyproject.toml exactly as docs/adding-a-model.md shows."""
    source = tmp_path / "src"
    (source / "dlbs_tiny_plugin").mkdir(parents=True)
    (source / "dlbs_tiny_plugin" / "__init__.py").write_text("", encoding="utf-8")
    (source / "dlbs_tiny_plugin" / "models.py").write_text(MODELS_PY, encoding="utf-8")
    (source / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    site = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                          "--no-index", "--no-build-isolation", "--target", str(site),
                          str(source)], capture_output=True, text=True, timeout=300,
                         check=False)
    assert pip.returncode == 0, pip.stderr
    assert (next(site.glob("dlbs_tiny_plugin-0.1.dist-info")) / "entry_points.txt").is_file()
    ran = _run(site, str(SCRIPT), "--model", "plugin_mlp", "--batch_size", "2",
               "--num_batches", "1", "--num_warmup_batches", "0", "--device", "cpu")
    assert ran.returncode == 0, ran.stderr
    assert '__results.status__="ok"' in ran.stdout and "model plugin" not in ran.stderr
    assert '__exp.model_title__="Plugin MLP"' in ran.stdout
