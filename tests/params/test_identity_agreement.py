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
