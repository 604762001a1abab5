"""``exp.status`` as in DLBS: any value but disabled, inactive and simulate runs the experiment.

DLBS's advanced tutorial disables every experiment, then re-enables some with an extension
setting ``"exp.status": ""``; that plan must run them.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ADVANCED = {  # DLBS's tutorials/dlcookbook/configs/advanced.json, pointed at PyTorch on a CPU
    "parameters": {"exp.num_warmup_batches": 1, "exp.num_batches": 1, "exp.status": "disabled",
                   "exp.framework": "pytorch", "exp.gpus": ""},
    "variables": {"exp.model": ["alexnet", "resnet50"], "exp.replica_batch": [8, 16, 32, 64]},
    "extensions": [
        {"condition": {"exp.model": "alexnet", "exp.replica_batch": [16, 32]},
         "parameters": {"exp.status": ""}},
        {"condition": {"exp.model": "resnet50", "exp.replica_batch": [8]},
         "parameters": {"exp.status": ""}},
    ],
}


def test_status_empty_string_re_enables(tmp_path: Path) -> None:
    config = tmp_path / "advanced.json"
    config.write_text(json.dumps(ADVANCED))
    result = subprocess.run([sys.executable, "-m", "dlbs", "validate", "--config", str(config)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "8 experiments: 3 to run, 5 disabled" in result.stderr
    plan = subprocess.run([sys.executable, "-m", "dlbs", "print", "--config", str(config),
                           "-Pexp.log_dir=/x", "--format", "jsonl"], capture_output=True,
                          text=True, check=True).stdout.splitlines()
    statuses = sorted(json.loads(line)["exp.status"] for line in plan)
    assert statuses == ["", "", "", "disabled", "disabled", "disabled", "disabled", "disabled"]
