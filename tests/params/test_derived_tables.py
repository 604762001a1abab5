"""The tables of parameter names that left ALLOWED_TABLES (tests/params/test_tables.py, issue 57
item 1): each is now computed from what config/*.json declares (``dlbs.params.catalogue``) and
equals, here, the table it replaced (written out as it was)."""
from __future__ import annotations

from dlbs.bisect import session
from dlbs.cli import help_params
from dlbs.params import catalogue
from dlbs.reports import compare
from dlbs.slurm import script


def test_slurm_value_forms_are_the_declared_forms() -> None:
    before = {"slurm.licenses": (script.LICENSES_WORD, script.LICENSES_FORM),
              "slurm.mem": (script.SIZE_WORD, script.SIZE_FORM),
              "slurm.mem_per_gpu": (script.SIZE_WORD, script.SIZE_FORM),
              "slurm.time": (script.TIME_WORD, script.TIME_FORM)}
    assert script.FORMATS == before
    assert set(script.FORMS) == set(catalogue.VALUE_FORMS)
    assert all(name.startswith("slurm.") for name in catalogue.forms())


def test_what_the_bisection_sets_is_the_declared_role() -> None:
    # read as a set only (``name in OWN``): the catalogue's order is config/base.json's
    assert set(session.OWN) == {"exp.code_version", "exp.repeat", "exp.log_dir",
                                "exp.order_seed", "exp.bisect_checkout"}
    assert session.CHECKOUT not in catalogue.parameters()


def test_what_a_comparison_always_matches_on_is_the_declared_role() -> None:
    assert compare.ALWAYS_MATCHED == {"exp.model", "exp.phase", "exp.replica_batch",
                                      "exp.effective_batch", "exp.num_replicas"}


def test_the_most_used_parameters_help_shows_are_the_declared_role() -> None:
    assert help_params.COMMON_PARAMETERS == (
        "exp.framework", "exp.model", "exp.docker", "exp.num_warmup_batches", "exp.num_batches",
        "exp.phase", "exp.replica_batch", "exp.gpus", "exp.log_file")
