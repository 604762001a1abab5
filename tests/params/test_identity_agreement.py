"""For the same runs, ``dlbs report`` and the database group alike (issue 57): runs the report
keeps apart get two comparability keys, and runs the database keys alike are one experiment
of the report, once the series axis (``exp.code_version``) is left out of both. Each case is
the base run with one fact changed (``identity_cases.RUN_CASES``)."""
from __future__ import annotations

from typing import Any

import identity_cases as cases
import pytest

from dlbs.db import records
from dlbs.params import identity
from dlbs.reports.frame import to_frame

AXIS = identity.CODE_VERSION
#: What the report keeps apart and a history runs along: the one difference allowed.
SERIES_AXIS_CASES = {"code v2"}
#: The runs the one definition keeps apart (the rest are one experiment).
APART = {"other model", "batch 16", "float16", "training", "torch 2.14", "4 threads",
         "another cpu", "in docker", "compiled", "generate 16", "seq_len 128", "fsdp",
         "cuda 12.4", "model config"}


def _report_apart(one: dict[str, Any], two: dict[str, Any]) -> bool:
    return bool(to_frame([one, two])["identity"].nunique() == 2)


def _database_apart(one: dict[str, Any], two: dict[str, Any]) -> bool:
    return records.comparability_key(one, AXIS) != records.comparability_key(two, AXIS)


@pytest.mark.parametrize("case", sorted(set(cases.RUN_CASES) - {"base"} - SERIES_AXIS_CASES))
def test_report_and_database_group_alike(case: str) -> None:
    runs = cases.run_cases()
    base, other = runs["base"], runs[case]
    assert _report_apart(base, other) == _database_apart(base, other) == (case in APART)


def test_the_code_version_is_the_series_axis_only() -> None:
    runs = cases.run_cases()
    base, other = runs["base"], runs["code v2"]
    assert _report_apart(base, other) and not _database_apart(base, other)
    assert records.comparability_key(base) == records.comparability_key(other)


@pytest.mark.parametrize("found", [48, 52])
def test_max_batch_runs_that_found_other_batches_are_apart_in_both(found: int) -> None:
    def run(batch: int) -> dict[str, Any]:
        return cases._base(**{"exp.replica_batch": "max", "exp.effective_batch": batch})
    assert _report_apart(run(50), run(found)) and _database_apart(run(50), run(found))
    assert not _report_apart(run(found), run(found))
    assert not _database_apart(run(found), run(found))


def test_every_name_has_one_role() -> None:
    keyed = {*identity.IDENTITY_FIELDS, *identity.ADDED_WHEN_NOT, *identity.SERVE_CONFIG_FACTS}
    roles = [keyed, set(identity.NOT_IDENTITY), set(identity.BOOKKEEPING),
             {identity.CODE_VERSION}]
    names = [name for role in roles for name in role]
    assert len(names) == len(set(names)), "a name in two roles"


def test_exp_id_leaves_out_the_bookkeeping_and_hashes_the_identity() -> None:
    from dlbs.engine.expand import ID_EXCLUDED

    assert not ID_EXCLUDED & {*identity.IDENTITY_FIELDS, *identity.ADDED_WHEN_NOT}
    planned = {"exp.repeat_index", "exp.round_position", "exp.order_seed", "exp.id",
               "exp.log_file", "exp.log_dir", "exp.repeat_suffix", "exp.status",
               "exp.status_msg", "pytorch.args", "pytorch.env", "pytorch.launcher",
               "pytorch.docker_args", "pytorch.distributed_rendezvous"}
    assert planned <= identity.BOOKKEEPING - identity.HASHED_IN_ID <= ID_EXCLUDED | (
        identity.BOOKKEEPING - planned)


@pytest.mark.parametrize("case", sorted(set(cases.REAL_DATA_CASES) - {"real base"}))
def test_real_data_runs_read_another_way_are_apart_in_both(case: str) -> None:
    """Loader processes, shuffling and the storage format change what a real-data run
    measures (a review found 1,816 and 1,339 samples/s pooled into one cell); the folder it
    lies in does not."""
    runs = cases.real_data_cases()
    apart = case != "real, other folder"
    assert _report_apart(runs["real base"], runs[case]) == apart
    assert _database_apart(runs["real base"], runs[case]) == apart


def _dlbs_log(gpus: str, throughput: float, effective: int | None = None) -> dict[str, Any]:
    """A run as DLBS's own logs give it: no exp.num_replicas (nor exp.num_devices)."""
    facts: dict[str, Any] = {
        "exp.framework": "pytorch", "exp.model": "resnet50", "exp.phase": "training",
        "exp.dtype": "float32", "exp.device_type": "gpu", "exp.gpus": gpus,
        "exp.replica_batch": 64, "exp.num_nodes": 1, "results.throughput": throughput,
        "results.time": 64 * 1000.0 / throughput, "exp.code_version": "v1"}
    if effective is not None:
        facts["exp.effective_batch"] = effective
    return facts


def test_dlbs_logs_of_1_2_4_gpus_are_three_series_in_both() -> None:
    """The review's case (2026-11-29): DLBS logs of 1, 2 and 4 GPUs were one history point of
    518 samples/s in the database while the report showed 319, 610 and 1,164: the database
    now derives the replicas as the report does (``identity.replicas``)."""
    runs = [_dlbs_log("0", 319.0), _dlbs_log("0,1", 610.0), _dlbs_log("0,1,2,3", 1164.0)]
    keys = {records.comparability_key(run, AXIS) for run in runs}
    assert len(keys) == 3
    assert to_frame(runs)["identity"].nunique() == 3
    assert [identity.field_value(run, "exp.num_replicas") for run in runs] == [1, 2, 4]
    # DLBS's replica groups: 0:1,2:3 is two replicas of two GPUs each
    assert identity.field_value(_dlbs_log("0:1,2:3", 600.0), "exp.num_replicas") == 2
    # without exp.gpus, the batches say it; a log that names its replicas keeps its own count
    cpu = {**_dlbs_log("", 10.0, effective=128), "exp.device_type": "cpu"}
    assert identity.field_value(cpu, "exp.num_replicas") == 2
    assert identity.field_value({**runs[2], "exp.num_replicas": 4}, "exp.num_replicas") == 4
    same = records.comparability_key({**runs[2], "exp.num_replicas": 4}, AXIS)
    assert same in keys  # a dlbs log of the same run is in the same series


def test_a_dlbs_log_without_its_replica_batch_is_keyed_by_the_one_it_implies() -> None:
    run = _dlbs_log("0,1", 610.0, effective=128)
    del run["exp.replica_batch"]
    assert identity.field_value(run, "exp.replica_batch") == 64
    assert records.comparability_key(run, AXIS) == \
        records.comparability_key(_dlbs_log("0,1", 610.0, effective=128), AXIS)
