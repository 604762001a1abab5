"""Stored ``exp.id`` values and database keys stay what the rules gave before issue 57's one
definition of identity (``dlbs.params.identity``), except the disagreements it fixed on
purpose (docs/database.md, "Changelog"). ``tests/params/golden/identity.json`` holds the
values before; ``DLBS_UPDATE_GOLDEN=1`` rewrites it (then empty ``CHANGED_ON_PURPOSE``)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import identity_cases as cases
import pytest

from dlbs.db import records

GOLDEN = Path(__file__).parent / "golden" / "identity.json"
#: Runs whose comparability key changed on purpose (issue 57): the report kept them apart
#: from the base run, the database merged them.
CHANGED_ON_PURPOSE = {"compiled", "generate 16"}


def _current() -> dict[str, Any]:
    def keys(facts: dict[str, Any]) -> dict[str, str]:
        return {"identity": records.identity(facts),
                "comparability_key": records.comparability_key(facts)}
    return {"plans": {name: cases.plan_ids(name) for name in cases.PLANS},
            "runs": {name: keys(facts) for name, facts in cases.run_cases().items()},
            "logs": {name: keys(facts) for name, facts in cases.fixture_logs().items()}}


@pytest.fixture(scope="module")
def current() -> dict[str, Any]:
    found = _current()
    if os.environ.get("DLBS_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return found


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


def test_example_plans_keep_their_experiment_ids(current: dict[str, Any],
                                                 golden: dict[str, Any]) -> None:
    assert current["plans"] == golden["plans"]
    assert all(golden["plans"].values())


def test_log_fixtures_keep_their_identity_and_key(current: dict[str, Any],
                                                  golden: dict[str, Any]) -> None:
    assert current["logs"] == golden["logs"]
    assert len(golden["logs"]) >= 5


@pytest.mark.parametrize("case", sorted(cases.RUN_CASES))
def test_a_run_keeps_its_key_unless_fixed_on_purpose(case: str, current: dict[str, Any],
                                                      golden: dict[str, Any]) -> None:
    now, before = current["runs"][case], golden["runs"][case]
    assert now["identity"] == before["identity"]
    if case in CHANGED_ON_PURPOSE:
        assert now["comparability_key"] != before["comparability_key"]
    else:
        assert now["comparability_key"] == before["comparability_key"]
