"""The installed console scripts and ``python -m dlbs.experimenter``, run as real processes."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=False, capture_output=True, text=True, cwd=cwd, timeout=60)


@pytest.mark.parametrize("command", [
    pytest.param([str(BIN / "experimenter")], id="experimenter"),
    pytest.param([str(BIN / "dlbs")], id="dlbs"),
    pytest.param([sys.executable, "-m", "dlbs.experimenter"], id="python-m"),
])
def test_entry_points_print_the_plan(command: list[str], tmp_path: Path) -> None:
    result = _run(command + ["print", "--count", "-Vexp.model=[\"a\", \"b\"]"], tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, "2\n", "")


def test_error_in_a_real_process_is_one_line_and_exit_code(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"parameters": }')
    result = _run([str(BIN / "experimenter"), "print", "--config", "bad.json"], tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == "error: bad.json:1:16: malformed JSON: Expecting value\n"


def test_print_streams_without_importing_heavy_libraries(tmp_path: Path) -> None:
    """print must not pay for torch, numpy or pandas (start-up time of every plan action)."""
    code = ("import sys; from dlbs.cli.main import main; "
            "main(['print', '--format', 'jsonl', '-Vexp.model=[\"a\", \"b\"]']); "
            "heavy = sorted({'torch', 'numpy', 'pandas', 'yaml', 'matplotlib'} & set(sys.modules)); "
            "print('HEAVY', heavy, file=sys.stderr)")
    result = _run([sys.executable, "-c", code], tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2
    assert "HEAVY []" in result.stderr


def test_logparser_script_is_the_parse_action(tmp_path: Path) -> None:
    result = _run([str(BIN / "logparser"), "--help"], tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("usage: logparser")


@pytest.mark.parametrize("name", ["experimenter", "dlbs"])
def test_usage_names_the_command_typed(name: str, tmp_path: Path) -> None:
    result = _run([str(BIN / name), "run", "--help"], tmp_path)
    assert result.returncode == 0 and result.stdout.startswith(f"usage: {name} run ")
