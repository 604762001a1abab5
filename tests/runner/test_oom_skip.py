"""OOM-aware batch sweeps: after a batch runs out of memory, larger ones of its kind are skipped
(and the knowledge survives a resume); exp.ignore_past_errors=true turns it off."""
from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dlbs.runner import Runner

from .test_runner import facts_of


def sweep(make_exp: Callable[..., dict[str, Any]], batches: list[int],
          **params: Any) -> list[dict[str, Any]]:
    return [make_exp("mem", {"exp.replica_batch": b, "exp.id": f"b{b}", **params})
            for b in batches]


def run(exps: list[dict[str, Any]], err: io.StringIO | None = None) -> Any:
    return Runner(out=io.StringIO(), err=err or io.StringIO(), bar=False).run(exps)


def test_larger_batches_are_skipped_after_an_oom(make_exp: Callable[..., dict[str, Any]]) -> None:
    exps = sweep(make_exp, [8, 16, 32, 12])
    err = io.StringIO()
    summary = run(exps, err)
    assert [o.status for o in summary.outcomes] == ["ok", "oom", "skipped", "ok"]
    assert "replica batch 32 >= 16, which ran out of memory" in summary.outcomes[2].error
    assert not Path(exps[2]["exp.log_file"]).exists()  # never ran
    assert "skipped: " in summary.text() and "b32.log: replica batch 32 >= 16" in summary.text()


def test_other_kinds_are_not_skipped(make_exp: Callable[..., dict[str, Any]]) -> None:
    exps = sweep(make_exp, [16]) + sweep(make_exp, [32], **{"exp.dtype": "float16"})
    exps[1]["exp.model"] = "ok"
    assert [o.status for o in run(exps).outcomes] == ["oom", "ok"]


def test_the_knowledge_survives_a_resume(make_exp: Callable[..., dict[str, Any]]) -> None:
    first = sweep(make_exp, [16])
    assert [o.status for o in run(first).outcomes] == ["oom"]
    later = sweep(make_exp, [32])
    later[0]["exp.log_file"] = str(Path(first[0]["exp.log_file"]).with_name("mem_b32.log"))
    summary = run(first + later)  # the plan again, with a larger batch added
    assert [o.status for o in summary.outcomes] == ["skipped", "skipped"]
    assert "ran out of memory" in summary.outcomes[1].error


def test_ignore_past_errors_runs_them(make_exp: Callable[..., dict[str, Any]]) -> None:
    exps = sweep(make_exp, [16, 32], **{"exp.ignore_past_errors": True})
    assert [o.status for o in run(exps).outcomes] == ["oom", "oom"]
    assert facts_of(exps[1]["exp.log_file"])["results.status"] == "oom"
