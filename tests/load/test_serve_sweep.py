"""A serving sweep through dlbs, as a user runs it: ``dlbs validate``, ``dlbs run`` of
``exp.phase=serve`` over two request rates against the null server, then ``dlbs report`` with
its chart: the launcher runs the load client, the log holds its facts, every request's record
lies beside the log, and the serving report has a column per rate."""
from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from dlbs.experiment import Experiment


def _dlbs(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dlbs", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, check=False)


def test_a_rate_sweep_runs_reports_and_draws(null_server: Callable[..., str],
                                             tmp_path: Path) -> None:
    url = null_server("--token_delay_ms", "1")
    plan = ['-Pexp.phase="serve"', '-Pexp.model="null"', f'-Pserve.endpoint="{url}"',
            "-Vserve.request_rate=[20, 40]", "-Pserve.num_requests=30",
            "-Pserve.output_len=8", "-Pserve.slo_ttft_ms=1000", "-Pexp.log_dir=logs"]
    done = _dlbs("validate", *plan, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = _dlbs("run", *plan, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    logs = sorted((tmp_path / "logs").glob("*.log"))
    assert len(logs) == 2
    for log in logs:
        facts = {line[2:].partition("__=")[0]: json.loads(line.partition("__=")[2])
                 for line in log.read_text().splitlines() if line.startswith("__")}
        assert facts["exp.phase"] == "serve" and facts["results.status"] == "ok"
        assert facts["results.completed_requests"] == 30
        records = Path(facts["results.requests_file"])
        assert records.parent == log.parent and records.name.endswith(".requests.jsonl")
        assert len(records.read_text().splitlines()) == 30
    done = _dlbs("report", "logs", "--plot", "charts", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Serving report" in done.stdout and "TTFT p50 (ms)" in done.stdout
    header = next(line for line in done.stdout.splitlines() if line.startswith("Model"))
    assert header.split()[1:] == ["20", "40"]
    assert (tmp_path / "charts" / "serving.png").stat().st_size > 10_000


def test_validate_refuses_a_serving_plan_without_an_endpoint(tmp_path: Path) -> None:
    done = _dlbs("validate", '-Pexp.phase="serve"', '-Pexp.model="m"', "-Pserve.request_rate=1",
                 "-Pexp.log_dir=logs", cwd=tmp_path)
    assert done.returncode != 0
    assert "serve.endpoint: '' is not a URL" in done.stderr


def test_ignore_eos_reaches_the_client_only_when_on() -> None:
    """``serve.ignore_eos`` becomes ``--ignore_eos true``; off (the default), the launch script
    is the one written before the parameter existed."""
    from dlbs.launchers.benchmark import serve_flags
    plan = {"exp.phase": "serve", "serve.endpoint": "http://h:1", "exp.model": "m"}
    assert serve_flags(Experiment.of(plan)) == serve_flags(Experiment.of({**plan, "serve.ignore_eos": False})) == [
        "--endpoint", "http://h:1", "--model", "m"]
    assert serve_flags(Experiment.of({**plan, "serve.ignore_eos": True}))[-2:] == ["--ignore_eos", "true"]


def test_metrics_interval_reaches_the_client_only_when_not_its_default() -> None:
    """Plans that leave it at 1 s keep their launch scripts as they were before it existed."""
    from dlbs.launchers.benchmark import serve_flags
    plan = {"serve.endpoint": "http://h:1", "exp.model": "m", "serve.metrics_interval": 1.0}
    assert "--metrics_interval" not in serve_flags(Experiment.of(plan))
    assert serve_flags(Experiment.of({**plan, "serve.metrics_interval": 0}))[-2:] == [
        "--metrics_interval", "0"]
