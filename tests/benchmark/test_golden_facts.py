"""Golden facts of ``benchmarks.py``: what a handful of command lines write, timings aside.

Each case runs the benchmark as a user runs it (its own process) and is compared with
``tests/fixtures/golden_facts.json``: the exit code, the set of fact keys (less the few that
depend on the host: energy counters, an MFU over 1 is dropped), the values that are not
timings (status, error, model, phase, batch, dtype, device, shapes...), the run's own warnings,
the summary line with its measured numbers masked, and what ``--list_models`` prints. A
restructure of the benchmark must leave all of it unchanged; a change of behaviour rewrites
the file on purpose: ``DLBS_REGENERATE=1 pytest tests/benchmark/test_golden_facts.py``.

The processes start together (they mostly wait on imports), so the whole check costs about
the slowest case.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pytorch_benchmarks.facts import iter_facts

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "python" / "pytorch_benchmarks" / "benchmarks.py"
GOLDEN = ROOT / "tests" / "fixtures" / "golden_facts.json"

MLP = ["--model", "deep_mnist", "--batch_size", "4", "--device", "cpu"]
ONE = ["--num_batches", "2", "--num_warmup_batches", "1"]
TINY_GPT2 = ["--model", "gpt2", "--model_config",
             '{"layers": 1, "hidden": 32, "heads": 2, "num_classes": 64, "positions": 64}',
             "--batch_size", "2", "--device", "cpu"]

CASES: dict[str, list[str]] = {
    "train-mlp": [*MLP, *ONE],
    "infer-bf16-target": [*MLP, "--forward_only", "--dtype", "bfloat16", "--num_batches", "1",
                          "--num_warmup_batches", "0", "--target_precision", "0.0001",
                          "--max_time", "0.5", "--peak_tflops", "1"],
    "train-tokens": [*TINY_GPT2, *ONE, "--seq_len", "8"],
    "generate": [*TINY_GPT2, *ONE, "--forward_only", "--seq_len", "6", "--generate", "2"],
    "max-batch": [*MLP[:2], "--batch_size", "max", "--device", "cpu", "--max_batch_limit", "2",
                  "--memory_budget_mb", "512", "--num_batches", "1", "--num_warmup_batches", "0"],
    "flag-warnings": [*MLP, *ONE, "--image_size", "64", "--data_shuffle", "--num_gpus", "2"],
    "real-data-loader": ["--model", "resnet18", "--image_size", "32", "--batch_size", "2",
                         "--device", "cpu", *ONE, "--data_dir", "{images}",
                         "--num_loader_threads", "1", "--data_loader_only"],
    "real-data-infer": ["--model", "resnet18", "--image_size", "32", "--batch_size", "2",
                        "--device", "cpu", *ONE, "--data_dir", "{images}",
                        "--num_loader_threads", "0", "--forward_only"],
    "run-error": ["--model", "alexnet", "--image_size", "8", "--device", "cpu"],
    "usage-error": [*MLP, "--num_batches", "0"],
    "usage-unknown-model": ["--model", "resnet5"],
    "usage-generate-training": [*MLP, "--generate", "2"],
    "list-models": ["--list_models"],
}

#: Keys whose presence depends on the host, not on the flags: energy counters (RAPL, NVML),
#: GPU clocks, an MFU and its note (null where the CPU's peak cannot be read or is beaten), and
#: the note on a machine-state figure the host does not give (or a window under 1 s).
HOST_KEYS = frozenset({"results.energy_j", "results.energy_source", "results.energy_unavailable",
                       "results.power_w", "results.samples_per_joule", "results.mfu",
                       "results.mfu_note", "results.throttle_reasons",
                       "results.machine_state_note"})
#: Facts whose values are not timings nor host descriptions: the golden file holds them.
VALUE_KEYS = ("results.status", "results.error", "exp.framework", "exp.model", "exp.phase",
              "exp.replica_batch", "exp.dtype", "exp.device_type", "exp.world_size",
              "exp.model_config", "exp.model_title", "exp.input_shape", "exp.num_classes",
              "exp.num_replicas", "exp.effective_batch", "exp.device", "exp.dtype_used",
              "exp.seq_len", "exp.generate", "exp.data_backend", "exp.dataset_size",
              "results.target_precision", "results.max_time", "results.flops_per_sample",
              "results.peak_memory_scope",
              "exp.max_batch_limit", "exp.max_batch_budget_mb", "exp.max_batch_memory_limit",
              "exp.max_batch_time", "results.max_batch", "results.max_batch_capped",
              "results.max_batch_timed_out")
#: Warnings about the host (no energy counters, no usable CPU peak), not about the flags.
HOST_WARNINGS = ("no energy figures:", "no MFU:", "no GPU clock")
#: A measured number in the summary line and warnings (times, rates, percentages, the
#: batches a time limit allowed): masked. A measured number under 10 is printed with 3
#: significant digits, so a slow (busy) machine prints a whole one ("2 samples/s").
MEASURED = re.compile(r"\d+\.\d+(e[-+]?\d+)?|\d+(?= batches)|(?<=achieved )(unknown|none: [a-z ]+)|"
                      r"(?<=CI95 )[^)]*|\d+(?= (samples|tokens)/s| ms/iteration)|"
                      r"(?<=p[59]0 )\d+")


#: The summary line's flags of the host's state while it ran (a busy machine; a window that
#: was not steady): the host's, not the flags'.
HOST_FLAGS = re.compile(r"(; busy machine: [^;]*|; not steady)+$")


def _outcome(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """What the golden file keeps of one run."""
    facts = dict(iter_facts(done.stdout.splitlines()))
    lines = done.stderr.strip().splitlines()
    outcome: dict[str, Any] = {"exit": done.returncode}
    if not facts:  # --list_models: its output is the list
        outcome["stdout"] = done.stdout.splitlines()
        return outcome
    # hw.nodes.<node>.*: the node's name is the host's; the keys under it are the flags'
    outcome["keys"] = sorted({re.sub(r"^hw\.nodes\.[^.]+\.", "hw.nodes.NODE.", key)
                              for key in set(facts) - HOST_KEYS})
    outcome["values"] = {k: facts[k] for k in VALUE_KEYS if k in facts}
    outcome["warnings"] = [MEASURED.sub("#", w) for w in facts.get("exp.warnings", [])
                           if not w.startswith(HOST_WARNINGS)]
    source = str(facts.get("results.peak_source", ""))
    if source:  # a measured CPU peak is the host's; a --peak_tflops is the command line's
        outcome["values"]["results.peak_source"] = source.split(":")[0]
        if source == "--peak_tflops":
            outcome["values"]["results.peak_tflops"] = facts["results.peak_tflops"]
    if "results.max_batch_probes" in facts:
        outcome["probes"] = [[p["batch"], p["fits"]] for p in facts["results.max_batch_probes"]]
    last = lines[-1] if lines else ""
    if facts.get("results.status") == "ok" or done.returncode:
        outcome["last_stderr_line"] = MEASURED.sub("#", HOST_FLAGS.sub("", last))
    return outcome



@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every case run at once, each in its own process; what each wrote."""
    images = tmp_path_factory.mktemp("golden") / "images"
    subprocess.run([sys.executable, "-m", "pytorch_benchmarks.prepare", "imagefolder", "--out",
                    str(images), "--num_images", "8", "--num_classes", "2", "--size", "40"],
                   cwd=ROOT, check=True, capture_output=True, timeout=300)
    running = {name: subprocess.Popen([sys.executable, str(SCRIPT),
                                       *(a.replace("{images}", str(images)) for a in argv)], cwd=ROOT,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True)
               for name, argv in CASES.items()}
    found = {}
    for name, proc in running.items():
        out, err = proc.communicate(timeout=600)
        found[name] = _outcome(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    if os.environ.get("DLBS_REGENERATE") == "1":
        GOLDEN.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return found


@pytest.mark.parametrize("case", list(CASES))
def test_benchmark_facts_match_the_golden_file(outcomes: dict[str, dict[str, Any]],
                                               case: str) -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert outcomes[case] == golden[case], f"{case}: {' '.join(CASES[case])}"
