"""A rate sweep stops at its first saturated rate (``serve.stop_at_saturation``, issue 55,
item 5): the higher rates of the series are skipped with the reason, and the sweep says so."""
from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path


def _dlbs(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dlbs", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, check=False)


def test_a_sweep_stops_at_the_first_saturated_rate_and_says_why(
        null_server: Callable[..., str], tmp_path: Path) -> None:
    """One request at a time, 0.2 s each (5 requests/s at most): 2 keeps up, 20 saturates,
    40 and 80 are not run."""
    url = null_server("--max_inflight", "1", "--first_delay_ms", "200")
    plan = ['-Pexp.phase="serve"', '-Pexp.model="null"', f'-Pserve.endpoint="{url}"',
            "-Vserve.request_rate=[2, 20, 40, 80]", "-Pserve.num_requests=24",
            "-Pserve.output_len=2", "-Pserve.stop_at_saturation=true", "-Pexp.log_dir=logs"]
    done = _dlbs("run", *plan, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    logs = sorted((tmp_path / "logs").glob("*.log"))
    facts = [{line[2:].partition("__=")[0]: json.loads(line.partition("__=")[2])
              for line in log.read_text().splitlines() if line.startswith("__")}
             for log in logs]
    assert sorted(f["serve.request_rate"] for f in facts) == [2, 20]
    assert [f["results.saturated"] for f in sorted(facts, key=lambda f: f["serve.request_rate"])
            ] == [False, True]
    out = done.stdout + done.stderr
    assert "2 ok, 0 failed, 2 skipped" in out, out
    skips = [line for line in out.splitlines() if "saturated at 20 requests/s" in line]
    assert len(skips) == 2, out
    assert all(line.strip().startswith("skipped: logs/") and line.endswith(
        "not run: serve.stop_at_saturation") for line in skips), skips


def test_without_the_switch_every_rate_runs(null_server: Callable[..., str],
                                            tmp_path: Path) -> None:
    url = null_server("--max_inflight", "1", "--first_delay_ms", "200")
    plan = ['-Pexp.phase="serve"', '-Pexp.model="null"', f'-Pserve.endpoint="{url}"',
            "-Vserve.request_rate=[20, 40]", "-Pserve.num_requests=12",
            "-Pserve.output_len=2", "-Pexp.log_dir=logs"]
    done = _dlbs("run", *plan, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "logs").glob("*.log"))) == 2
