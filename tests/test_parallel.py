"""The suite runs in parallel (``pytest -n auto``, pytest-xdist): what must not run at once is
kept together (``SERIAL_GROUPS`` in tests/conftest.py), and each worker has its own
PostgreSQL database."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _conftest():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("suite_conftest", ROOT / "tests" / "conftest.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_test_on_the_slurm_cluster_is_in_the_slurm_group(request: pytest.FixtureRequest
                                                               ) -> None:
    conftest = _conftest()
    on_cluster = {item.nodeid.split("::", 1)[0] for item in request.session.items
                  if {"slurm", "slurm_cluster"} & set(getattr(item, "fixturenames", ()))}
    if not on_cluster:
        pytest.skip("no Slurm test collected in this run (run the whole suite)")
    assert on_cluster <= set(conftest.SERIAL_GROUPS["slurm"]), (
        "add these files to SERIAL_GROUPS['slurm'] in tests/conftest.py: "
        f"{sorted(on_cluster - set(conftest.SERIAL_GROUPS['slurm']))}")


def test_every_serial_file_exists() -> None:
    conftest = _conftest()
    missing = [path for paths in conftest.SERIAL_GROUPS.values() for path in paths
               if not (ROOT / path).is_file()]
    assert not missing, f"SERIAL_GROUPS in tests/conftest.py names missing files: {missing}"


def test_every_heavy_file_exists_and_is_not_serial() -> None:
    conftest = _conftest()
    missing = [path for path in conftest.HEAVY_FIRST if not (ROOT / path).is_file()]
    assert not missing, f"HEAVY_FIRST in tests/conftest.py names missing files: {missing}"
    serial = {path for paths in conftest.SERIAL_GROUPS.values() for path in paths}
    assert not serial & set(conftest.HEAVY_FIRST)


def test_a_serial_group_is_one_unit_of_work_and_other_tests_go_by_file() -> None:
    conftest = _conftest()
    assert (conftest.work_unit("tests/runner/test_slurm.py::test_a[1]")
            == conftest.work_unit("tests/runner/test_slurm_arrays.py::test_b") == "serial:slurm")
    assert conftest.work_unit("tests/db/test_store.py::test_c[sqlite]") == "tests/db/test_store.py"


@pytest.mark.postgres
def test_each_worker_has_a_database_of_its_own() -> None:
    url = os.environ.get("DLBS_TEST_DB", "")
    if not url:
        pytest.skip("no PostgreSQL (DLBS_TEST_DB)")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    from sqlalchemy.engine import make_url
    database = make_url(url).database or ""
    if worker:
        assert database.endswith(f"_{worker}")
    else:
        assert not database.endswith(tuple(f"_gw{i}" for i in range(64)))
