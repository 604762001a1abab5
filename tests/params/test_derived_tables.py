"""The tables of parameter names that left ALLOWED_TABLES (tests/params/test_tables.py, issue 57
item 1): each is now computed from what config/*.json declares (``dlbs.params.catalogue``) and
equals, here, the table it replaced (written out as it was)."""
from __future__ import annotations

from dlbs.accept import suite
from dlbs.bisect import session
from dlbs.cli import db as cli_db
from dlbs.cli import help_params
from dlbs.db import schema, series
from dlbs.params import catalogue, identity
from dlbs.reports import compare, frame, pivot, provenance, serving
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


def test_the_indexed_columns_are_the_declared_ones_and_the_schema_s() -> None:
    assert schema.INDEXED == {
        "exp.model": "model", "exp.phase": "phase", "exp.dtype": "precision",
        "exp.replica_batch": "batch", "exp.device_type": "device",
        "exp.num_replicas": "device_count", "hw.hostname": "host", "exp.framework": "framework",
        "exp.framework_version": "framework_version", "exp.code_version": "code_version",
        "exp.repeat_index": "repeat", "results.status": "status"}
    # a column declared in config/*.json is one the migrations made (no config edit adds one)
    assert set(catalogue.db_columns().values()) <= set(schema.runs.c.keys())
    assert not set(schema.LOGGED_COLUMNS) & set(catalogue.parameters())


def test_the_facts_db_query_shows_in_columns_are_the_indexed_ones_shown() -> None:
    before = {"exp.model", "exp.phase", "exp.dtype", "exp.replica_batch", "exp.device_type",
              "exp.num_replicas", "hw.hostname", "exp.framework_version", "exp.docker",
              "exp.docker_image", "exp.code_version", "exp.repeat_index"}
    # the one more, results.status, is an outcome: settings leave out every results.* first
    assert cli_db.shown_facts() == before | {"results.status"}
    facts = {name: 1 for name in (*before, "results.status", "exp.num_threads", "hw.cpu_model")}
    assert cli_db._parameters(facts) == {"exp.num_threads": 1}


def test_what_names_a_series_is_the_declared_role_and_the_logged_fields() -> None:
    assert series.NAMING == (
        "exp.model", "exp.phase", "exp.dtype", "exp.replica_batch", "exp.device_type",
        "device_model", "exp.num_replicas", "host_class", "exp.framework",
        "exp.framework_version", "container_image", "exp.num_threads")
    assert series.NAME_FIELDS == ("exp.model", "exp.phase", "exp.dtype", "exp.replica_batch",
                                  "exp.device_type", "exp.num_replicas")


def test_what_tells_serving_rows_apart_is_the_declared_role() -> None:
    assert serving.ROW_FACTS == ("serve.endpoint", *(
        name for name in serving.SERVE_CONFIG_FACTS if name not in ("serve.model", "serve.api")),
        "serve.ignore_eos")


def test_the_core_keys_of_a_report_are_the_declared_role_in_order() -> None:
    assert list(frame.CORE_KEYS.items()) == [
        ("exp.model", "model"), ("exp.phase", "phase"), ("exp.dtype", "dtype"),
        ("exp.device_type", "device_type"), ("exp.replica_batch", "replica_batch")]


def test_what_a_report_fills_a_core_key_from_is_the_declared_role() -> None:
    # each key's sources are read as a set (identity_keys: present & sources)
    assert {core: set(sources) for core, sources in frame.FILLED_FROM.items()} == {
        "exp.model": {"exp.model_title"},
        "exp.device_type": {"exp.device", "exp.num_gpus", "exp.gpus"},
        "exp.replica_batch": {"exp.effective_batch"}}
    assert set(catalogue.fills()) <= set(frame.CORE_KEYS)


def test_the_layout_columns_are_the_declared_role_and_the_logged_facts() -> None:
    assert pivot.LAYOUT_COLUMNS == {
        "replica_batch", "effective_batch", "devices", "gpus", "exp.num_nodes", "exp.num_gpus",
        "exp.num_local_gpus", "exp.num_local_replicas", "exp.cpu_replicas", "exp.world_size",
        "exp.num_threads", frame.SOURCE}
    assert not set(pivot.LOGGED_LAYOUT) & set(catalogue.parameters())


def test_what_the_provenance_collects_is_the_declared_role_and_the_logged_facts() -> None:
    # entries are shown in LABELS' order; within one, the first key a record has counts
    assert provenance.DISTINCT == {
        "models": ("exp.model",), "phases": ("exp.phase",),
        "precisions": ("exp.dtype_used", "exp.dtype"), "device_types": ("exp.device_type",),
        "hosts": ("hw.hostname",), "cpu_models": ("hw.cpu_model",),
        "torch": ("exp.framework_version",), "cuda": ("hw.cuda_version",),
        "measured_with_dlbs": ("exp.dlbs_commit",), "num_batches": ("exp.num_batches",),
        "num_warmup_batches": ("exp.num_warmup_batches",),
        "target_precision": ("exp.target_precision",),
        "threads_per_replica": ("exp.num_threads", "hw.num_threads"),
        "cpu_governor": ("hw.cpu_governor",)}
    assert set(provenance.DISTINCT) <= set(provenance.LABELS)


def test_the_short_names_of_a_report_are_the_declared_ones_and_the_logged_facts() -> None:
    # read by name (column_of, known_columns, to_frame's columns): the frame's column order,
    # now the catalogue's, reaches no output (tests/reports, golden tables included, pass)
    assert frame.ALIASES == {
        "framework": "exp.framework", "model": "exp.model", "model_title": "exp.model_title",
        "device_type": "exp.device_type", "gpus": "exp.gpus", "devices": "exp.num_replicas",
        "replica_batch": "exp.replica_batch", "effective_batch": "exp.effective_batch",
        "phase": "exp.phase", "dtype": "exp.dtype", "id": "exp.id",
        "time": "results.time", "throughput": "results.throughput", "status": "results.status",
        "error": "results.error", "time_std": "results.time_std",
        "time_data": "results.time_data", "steady_state": "results.steady_state",
        "other_cpu_share": "results.other_cpu_share", "loss_finite": "results.loss_finite",
        "output_finite": "results.output_finite", "numerics": "results.numerics",
        "seq_len": "exp.seq_len", "generate": "exp.generate"}
    assert not set(frame.LOGGED_ALIASES.values()) & set(catalogue.parameters())


def test_what_a_reference_training_figure_depends_on_is_the_declared_role_in_order() -> None:
    assert suite.TRAINING_SETTINGS == (
        "exp.model", "exp.replica_batch", "exp.dtype", "exp.device_type",
        "exp.num_warmup_batches", "exp.num_batches", "pytorch.model_config")


def test_what_a_serving_run_never_uses_is_the_declared_role_and_the_logged_facts() -> None:
    # read as a set (field_value: name in NOT_SERVED)
    assert set(identity.NOT_SERVED) == {"exp.replica_batch", "exp.dtype", "exp.seq_len",
                                        "exp.input_shape", "exp.model_config", "exp.data",
                                        "exp.num_threads"}
    assert not set(identity.LOGGED_NOT_SERVED) & set(catalogue.parameters())
