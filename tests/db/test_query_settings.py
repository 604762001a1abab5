"""``dlbs db query`` names every parameter that varies among the rows it shows (its
``settings`` column, as the progress lines do): threads 1 and 2 of one model looked
identical, the model being the only setting shown."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dlbs.cli.main import main


def _query(db_url: str, *extra: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["db", "query", "--db", db_url, *extra]) == 0
    return capsys.readouterr().out


def test_query_names_the_parameters_that_vary_among_its_rows(
        logs: Any, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for threads in (1, 2):  # one model, two thread counts, each its own sweep (other times)
        logs.write(tmp_path / f"t{threads}.log",
                   logs.facts(day=threads, **{"exp.cpu_threads": threads,
                                              "exp.log_file": f"/logs/t{threads}.log",
                                              "exp.id": f"r-{threads}"}))
    assert main(["db", "ingest", "--db", db_url, str(tmp_path)]) == 0
    rows = json.loads(_query(db_url, "--format", "json", capsys=capsys))
    assert [r["settings"] for r in rows] == ["exp.cpu_threads=1", "exp.cpu_threads=2"]
    table = _query(db_url, capsys=capsys).splitlines()
    assert table[0].split()[-1] == "settings"
    assert table[1].endswith("exp.cpu_threads=1") and table[2].endswith("exp.cpu_threads=2")
    # the rows shown decide: one of them alone has nothing that varies
    one = json.loads(_query(db_url, "-Pexp.cpu_threads=2", "--format", "json", capsys=capsys))
    assert [r["settings"] for r in one] == [""]


def test_query_leaves_out_outcomes_bookkeeping_and_what_has_a_column(
        logs: Any, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Results, host facts, run times and ids differ between any two runs, and the model, batch
    or code version have columns of their own: none of them is a setting named again."""
    for n, (model, code) in enumerate((("resnet18", "v1"), ("alexnet", "v2"))):
        logs.write(tmp_path / f"r{n}.log",
                   logs.facts(model=model, code=code, throughput=100.0 + n, repeat=n, day=n + 1,
                              **{"hw.cpu_model": f"cpu{n}", "exp.id": f"r-{n}",
                                 "exp.replica_batch": 8 * (n + 1), "pytorch.compile": n == 1}))
    assert main(["db", "ingest", "--db", db_url, str(tmp_path)]) == 0
    rows = json.loads(_query(db_url, "--format", "json", capsys=capsys))
    assert [r["settings"] for r in rows] == ["pytorch.compile=false", "pytorch.compile=true"]
