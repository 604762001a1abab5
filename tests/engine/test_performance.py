"""A plan of 10,000 experiments with ~120 parameters builds and expands exactly.

How fast is measured by ``benchmarks/bench_expansion.py`` (target: well under 2 s), never
asserted here: a test checks behaviour, whatever the machine's load."""
from __future__ import annotations

from typing import Any

from dlbs.engine import build_plan, expand_plan, merge_configs


def _grid_config() -> Any:
    parameters: dict[str, Any] = {
        "exp.id": "", "exp.framework": "pytorch", "exp.gpus": "0",
        "exp.num_local_gpus": {"val": "$(len(re.sub('[:,]', ' ', '${exp.gpus}').split()))$",
                               "type": "int"},
        "exp.num_gpus": {"val": "$(${exp.num_local_gpus} * ${exp.num_nodes})$", "type": "int"},
        "exp.num_nodes": 1, "exp.replica_batch": 16, "exp.model": "",
        "exp.device_type": "$('gpu' if ${exp.num_gpus} > 0 else 'cpu')$",
        "exp.effective_batch": {"val": "$(${exp.num_gpus} * ${exp.replica_batch})$", "type": "int"},
        "exp.data_dir": "${${exp.framework}.data_dir}", "pytorch.data_dir": "",
        "exp.log_dir": "${PWD}/logs/${sys.timestamp}", "sys.timestamp": "20260101-000000",
        "exp.log_file": "${exp.log_dir}/${exp.model}_b${exp.replica_batch}_${exp.id}.log",
        "runtime.visible_gpus": "$('${exp.gpus}'.replace(':', ','))$",
    }
    for i in range(50):
        parameters[f"bench.int{i}"] = {"val": i, "type": "int", "desc": "a constant"}
        parameters[f"bench.str{i}"] = f"value-{i}"
    for i in range(5):
        parameters[f"bench.ref{i}"] = f"${{exp.model}}_${{exp.replica_batch}}_{i}"
        parameters[f"bench.expr{i}"] = {"val": f"$(${{exp.replica_batch}} * {i})$", "type": "int"}
    variables = {"exp.model": [f"model{i}" for i in range(10)],
                 "exp.replica_batch": [2 ** i for i in range(10)],
                 "exp.gpus": ["0", "0,1", "0:1", "", "0,1,2,3", "1", "2", "3", "0,1,2", "0:1,2:3"],
                 "exp.num_warmup_batches": list(range(10))}
    extensions = [{"condition": {"exp.model": r"model(\d)"},
                   "parameters": {"bench.capture": "${__condition.exp.model_1}"}}]
    return merge_configs([("grid.json", {"parameters": parameters, "variables": variables,
                                         "extensions": extensions})])


def test_ten_thousand_experiment_grid_expands_exactly() -> None:
    config = _grid_config()
    plan = list(expand_plan(build_plan(config), config.specs, {"PWD": "/work"}))
    assert len(plan) == 10_000 and len(plan[0]) >= 120
    assert len({exp["exp.id"] for exp in plan}) == 10_000
    assert plan[-1]["exp.log_file"] == f"/work/logs/20260101-000000/model9_b512_{plan[-1]['exp.id']}.log"
