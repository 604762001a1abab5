"""``.ci/llm-server.sh``, the README's way to start ``transformers serve``, refuses at once and in
one line where the server is not installed (the README's first install has no serving extra)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "llm-server.sh"


def test_start_without_transformers_serve_says_what_to_install_and_builds_nothing(
        tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)  # an interpreter with no `transformers` beside
    done = subprocess.run(["bash", str(SCRIPT), "start", str(tmp_path / "llm")],
                          env={"PATH": "/usr/bin:/bin", "PYTHON": str(bin_dir / "python")},
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stdout == ""  # nothing for the caller's eval to export
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("FAILED: transformers serve is not installed")
    assert "pip install -e '.[serve]'" in lines[0]
    assert not (tmp_path / "llm" / "model").exists() and not (tmp_path / "llm" / "pid").exists()
