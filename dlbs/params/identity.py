"""What identifies a run: the one definition the database, the reports, the progress lines and
``exp.id`` read (issue 57).

Every fact of a run is one of:

- **identity** (:data:`IDENTITY_FIELDS`, :data:`ADDED_WHEN_NOT`, a serving run's
  :data:`SERVE_CONFIG_FACTS`): it changes the figure measured (model, batch, precision, device
  and its model, host class, framework and its version, the CUDA stack, the container image,
  parallelism, sequence length, decode steps, compile...). Two runs that differ in one are
  never one experiment: ``dlbs report`` keeps them in two cells, the database gives them two
  comparability keys (two histories).
- a **series axis** (:data:`SERIES_AXES`): the code version and the date. A history runs along
  them, so the database's key leaves them out; a report keys the code version (two versions in
  one folder are two rows). For the same runs, report cells and history points then agree.
- **not identity** (:data:`NOT_IDENTITY`, with why): a setting that does not change what is
  measured (how long it is measured, which GPU indices, what was asked when what ran is
  logged, a value another field already holds). ``report --compare`` still lists it when the
  sides differ in it.
- **bookkeeping** (:data:`BOOKKEEPING`): where and when a run was, its place in the sweep, its
  plumbing: different between any two runs by design, never listed nor named.

Anything else (``hw.*``, a setting named nowhere here) is neither identity nor bookkeeping: a
comparison lists it, no grouping reads it. The roles of parameters are declared once, in
config/*.json (``dlbs.params.catalogue``); the facts that are no parameter are declared here.
Pure: facts in, values out; the standard library, ``dlbs.experiment.values`` and the
catalogue only.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dlbs.experiment.values import as_bool
from dlbs.params import catalogue

#: The identity facts a run logs that are no parameter, with their places in the key (the
#: parameters' places are their ``roles.identity`` in config/*.json: ``dlbs.params.catalogue``).
LOGGED_IDENTITY: dict[str, int] = {
    "device_model": 6, "exp.world_size": 8, "host_class": 10, "exp.framework_version": 12,
    "hw.nvidia_driver": 13, "hw.cuda_version": 14, "hw.cudnn_version": 15,
    "container_image": 16, "exp.model_config": 17, "exp.num_threads": 19,
    "exp.input_shape": 21}
#: Identity fields every run's key holds (a run without one has None for it). Three are derived
#: from facts (:data:`DERIVED`). This is the database's original comparability key: its order
#: and content are what stored keys were made of.
IDENTITY_FIELDS: tuple[str, ...] = catalogue.ordered(
    {**catalogue.identity_places(), **LOGGED_IDENTITY}, "the identity fields")
#: Identity fields added after runs were stored (``roles.key_when_not``): in a run's key only
#: when the run logged a value other than the ones every earlier run had (so the keys of runs
#: stored before stay as they were; a report reads those values as not logged). ``auto`` is
#: the plan's exp.optimizer, which the benchmark replaces in training by the one it ran.
#: ``exp.generate`` and the ``pytorch.*`` switches joined in issue 57: the reports kept them
#: apart, the database merged them.
ADDED_WHEN_NOT: dict[str, tuple[Any, ...]] = catalogue.added_when_not()
#: Fields of :data:`ADDED_WHEN_NOT` keyed only when another fact has a value (or one of a
#: tuple): the effective batch says more than the replica batch and the replicas only when the
#: batch was searched; a serving run's lead-in means something only in a capacity search.
ONLY_WHEN: dict[str, tuple[str, Any]] = catalogue.only_when()
#: Those that mean something in training only: an inference run's log carries the plan's
#: value, which changed nothing it measured.
TRAINING_ONLY: tuple[str, ...] = catalogue.training_only()
#: Those that mean something under one parallelism only (a sweep over exp.parallelism logs
#: the plan's tensor-parallel group in its ddp runs too, where the benchmark ignores it).
UNDER_PARALLELISM: dict[str, str] = catalogue.under_parallelism()
#: Identity values a report reads as not logged besides :data:`ADDED_WHEN_NOT`'s: an image
#: model's ``exp.seq_len`` 0 is no sequence length. (The database keeps 0 apart from a log
#: without the fact: the one disagreement left, see docs/database.md, "Changelog".)
REPORT_OFF_VALUES: dict[str, tuple[Any, ...]] = catalogue.report_off_values()

#: A serving run's configuration (``exp.phase=serve``): the served model and the load offered.
#: Runs that differ in one of these are different experiments (the database keys them apart,
#: reports never average them). Not where the server listened, nor the arrivals' seed, nor how
#: closely a capacity search was asked to look.
SERVE_CONFIG_FACTS: tuple[str, ...] = catalogue.serving_config()
#: Configuration switches a run logs (a plan may give one as true, 1 or "true"): read as
#: booleans wherever they key or name a run, absent as off (a run logged before it existed).
SWITCH_FACTS = frozenset({"serve.ignore_eos"})
#: The load a capacity search (``serve.search``) starts from: not its configuration (the
#: search moves it), so left out of the key of a search.
SEARCH_START: dict[str, str] = {"rate": "serve.request_rate", "concurrency": "serve.concurrency"}
#: Plan parameters a serving run carries and never used (the load client has no batch, no
#: precision, no input shape): none in its key, its name or its row. The parameters' are their
#: ``roles.not_served``; these logged facts are no parameter.
LOGGED_NOT_SERVED: tuple[str, ...] = ("exp.input_shape", "exp.model_config", "exp.num_threads")
NOT_SERVED: tuple[str, ...] = (*catalogue.not_served(), *LOGGED_NOT_SERVED)

#: Identity fields a run logs that are no parameter and name a history's series (shown as
#: ``name=value`` where the series shown differ in one; the parameters' are their
#: ``roles.series_name``).
LOGGED_SERIES_NAME: frozenset[str] = frozenset({
    "device_model", "host_class", "exp.framework_version", "container_image", "exp.num_threads"})
#: The identity fields that name a series, in the key's order: field -> how (``value``: every
#: name shows its value; ``named``: ``name=value`` where the series differ in it).
SERIES_NAMING: dict[str, str] = {
    name: catalogue.series_name().get(name, "named") for name in IDENTITY_FIELDS
    if name in catalogue.series_name() or name in LOGGED_SERIES_NAME}

#: Derived identity fields -> the facts each is read from.
DERIVED: dict[str, tuple[str, ...]] = {
    "device_model": ("hw.devices", "hw.cpu_model"),
    "host_class": ("hw.cpu_model", "hw.num_cpus"),
    "container_image": ("exp.docker_image", "exp.docker"),
    # logged by every dlbs run; a DLBS log without them has them from these (``replicas``)
    "exp.num_replicas": ("exp.num_replicas", "exp.gpus", "exp.num_gpus", "exp.effective_batch"),
    "exp.replica_batch": ("exp.replica_batch", "exp.effective_batch"),
}
#: A history's axis -> the derived field it takes out of the key with it.
AXIS_IMPLIES: dict[str, str] = {"exp.docker_image": "container_image",
                                "hw.cpu_model": "host_class", "hw.num_cpus": "host_class",
                                "hw.devices": "device_model"}
#: What a history runs along: never in the database's key; a report keys the code version.
SERIES_AXES: tuple[str, ...] = ("exp.code_version", "date")
CODE_VERSION = "exp.code_version"

#: Settings that are not identity, and why (``roles.not_identity``; a report used to key these,
#: issue 57).
NOT_IDENTITY: dict[str, str] = catalogue.not_identity()
#: Keys that differ between runs by design, whatever they measure: a run's place in the sweep
#: (repeat index, round position, the sweep's random-order seed), its names and paths (id, log
#: file, log folder), its clock (start/end times), its status and messages, the plumbing of a
#: launch (a rank, a rendezvous, the environment and argument lists, which hold the run's own
#: paths), the raw outputs of ``exp.sys_info``'s tools (live state: free memory,
#: temperatures; the facts drawn from them, ``hw.cpu_model``..., stay), and the model's title
#: (it follows exp.model). Never listed by ``report --compare``, never named on a progress line.
#: The parameters among them say so (``roles.bookkeeping``); these are the facts a run logs.
LOGGED_BOOKKEEPING: frozenset[str] = frozenset({
    "exp.log_file_written", "exp.start_time", "exp.end_time", "exp.runner_start_time",
    "exp.runner_end_time", "exp.warnings", "exp.runner_warnings", "exp.model_title",
    "pytorch.__master_addr", "pytorch.__master_port",
    "hw.inxi", "hw.cpuinfo", "hw.meminfo", "hw.lscpu", "hw.nvidiasmi", "hw.dmi",
})
BOOKKEEPING: frozenset[str] = catalogue.bookkeeping() | LOGGED_BOOKKEEPING
#: Bookkeeping that ``exp.id`` hashes all the same, as it did before this module (ids stay):
#: a node's rank names its log when it is not 0; a plan's own model title is hashed as given.
HASHED_IN_ID: frozenset[str] = frozenset({"pytorch.distributed_rank", "exp.model_title"})


def config_value(name: str, value: Any) -> Any:
    """``value`` of the configuration fact ``name`` as runs are compared: a switch of
    :data:`SWITCH_FACTS` as a bool (absent: False), any other as it is."""
    return as_bool(value) if name in SWITCH_FACTS else value


def is_serving(facts: Mapping[str, Any]) -> bool:
    return facts.get("exp.phase") == "serve"


def device_model(facts: Mapping[str, Any]) -> str | None:
    """The model of the devices the run computed on (the first of ``hw.devices``, else the
    CPU model)."""
    devices = facts.get("hw.devices")
    if isinstance(devices, list) and devices:
        return str(devices[0])
    model = facts.get("hw.cpu_model")
    return None if model is None else str(model)


def host_class(facts: Mapping[str, Any]) -> str | None:
    """The class of the host (CPU model and count), not its name."""
    cpu, count = facts.get("hw.cpu_model"), facts.get("hw.num_cpus")
    if cpu is None and count is None:
        return None
    return f"{cpu} x{count}"


def container_image(facts: Mapping[str, Any]) -> str | None:
    """The container image the run ran in (``exp.docker_image`` only when ``exp.docker`` was
    on: the parameter has a default that bare-metal runs carry too)."""
    image = facts.get("exp.docker_image")
    if facts.get("exp.docker") not in (True, "true", "True", 1) or not image:
        return None
    return str(image)


def _positive(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def gpu_groups(gpus: Any, nodes: Any) -> int | None:
    """Replicas DLBS's ``exp.gpus`` names: its comma-separated groups (``0,1`` 2, ``0:1,2:3``
    2: DLBS's ``exp.num_local_replicas``), times ``exp.num_nodes``; None for no GPUs."""
    if not isinstance(gpus, str):
        return None
    groups = len(gpus.replace(",", " ").split())
    return groups * (nodes if _positive(nodes) else 1) if groups else None


def batch_ratio(effective: Any, replica: Any) -> int | None:
    """Replicas implied by the batches (DLBS: effective = replica batch x replicas); None
    unless both are positive integers and it divides exactly."""
    if not (_positive(effective) and _positive(replica)) or effective % replica:
        return None
    return effective // replica


def replicas(facts: Mapping[str, Any]) -> Any:
    """``exp.num_replicas`` as logged; a log without it (DLBS's own format) has the count its
    other facts give, as DLBS derives it: the groups of ``exp.gpus`` (times the nodes), else
    ``exp.num_gpus``, else the effective over the replica batch; None when none does. (Before
    2026-11-29 the database keyed such logs by None: 1-, 2- and 4-GPU runs were one series.)"""
    if "exp.num_replicas" in facts:
        return facts["exp.num_replicas"]
    for count in (gpu_groups(facts.get("exp.gpus"), facts.get("exp.num_nodes")),
                  facts.get("exp.num_gpus"),
                  batch_ratio(facts.get("exp.effective_batch"), facts.get("exp.replica_batch"))):
        if _positive(count):
            return count
    return None


def replica_batch(facts: Mapping[str, Any]) -> Any:
    """``exp.replica_batch`` as logged; a log without it has the effective batch over the
    replicas where that divides exactly (DLBS logged the effective batch alone at times)."""
    if "exp.replica_batch" in facts:
        return facts["exp.replica_batch"]
    effective, count = facts.get("exp.effective_batch"), replicas(facts)
    if _positive(effective) and _positive(count) and effective % count == 0:
        return effective // count
    return None


_DERIVE = {"device_model": device_model, "host_class": host_class,
           "container_image": container_image, "exp.num_replicas": replicas,
           "exp.replica_batch": replica_batch}


def field_value(facts: Mapping[str, Any], name: str) -> Any:
    """The value of one field of :data:`IDENTITY_FIELDS` (derived ones computed; a serving run
    has none of :data:`NOT_SERVED`)."""
    if name in NOT_SERVED and is_serving(facts):
        return None
    derive = _DERIVE.get(name)
    return derive(facts) if derive else facts.get(name)


def added_value(facts: Mapping[str, Any], name: str) -> Any:
    """A field of :data:`ADDED_WHEN_NOT` as the run is keyed by it: None where it is not
    (not logged, a usual value, a training-only field of another phase, a field of another
    parallelism)."""
    value = config_value(name, facts.get(name))
    if value is None or is_usual(value, ADDED_WHEN_NOT[name]):
        return None
    if name in TRAINING_ONLY and facts.get("exp.phase") != "training":
        return None
    if name in ONLY_WHEN and not meant(facts.get(ONLY_WHEN[name][0]), ONLY_WHEN[name][1]):
        return None
    parallelism = facts.get("exp.parallelism")
    return value if UNDER_PARALLELISM.get(name, parallelism) == parallelism else None


def meant(value: Any, when: Any) -> bool:
    """Whether a fact's ``value`` is the one (or one of the tuple) ``when`` that an
    :data:`ONLY_WHEN` field means something under."""
    return value in when if isinstance(when, tuple) else value == when


def key_fields(axis: str | None = None) -> tuple[str, ...]:
    """The fields of :data:`IDENTITY_FIELDS`, without ``axis`` (and what the axis implies)."""
    drop = {axis, AXIS_IMPLIES.get(str(axis))}
    return tuple(name for name in IDENTITY_FIELDS if name not in drop)


def added_fields(facts: Mapping[str, Any], axis: str | None = None) -> dict[str, Any]:
    """The fields of :data:`ADDED_WHEN_NOT` this run is keyed by, and a serving run's
    configuration, :data:`SERVE_CONFIG_FACTS` (``axis`` left out)."""
    added = {name: value for name in ADDED_WHEN_NOT
             if name != axis and (value := added_value(facts, name)) is not None}
    if is_serving(facts):
        start = SEARCH_START.get(str(facts.get("serve.search")))
        added.update({name: value for name in SERVE_CONFIG_FACTS
                      if name not in (axis, start) and (value := facts.get(name)) is not None})
    return added


def identity_of(facts: Mapping[str, Any], axis: str | None = None) -> dict[str, Any]:
    """Every identity field of a run with its value, ``axis`` left out: what the database's
    comparability key hashes (the series axes are never in it)."""
    values = {name: field_value(facts, name) for name in key_fields(axis)}
    values.update(added_fields(facts, axis))
    return values


def report_fields(present: set[str]) -> list[str]:
    """The fields a report tells experiments apart by, for records holding the facts
    ``present``: every identity field read from a present fact, serving configuration
    included, and the code version (sorted)."""
    fields = {name for name in IDENTITY_FIELDS
              if name in present or set(DERIVED.get(name, ())) & present}
    fields |= {name for name in (*ADDED_WHEN_NOT, *SERVE_CONFIG_FACTS, CODE_VERSION)
               if name in present}
    return sorted(fields)


def report_value(facts: Mapping[str, Any], name: str) -> Any:
    """One field of a record as a report tells experiments apart by it: as the database keys
    it, with :data:`REPORT_OFF_VALUES` read as not logged."""
    if name in ADDED_WHEN_NOT:
        return added_value(facts, name)
    if name in SERVE_CONFIG_FACTS:
        start = SEARCH_START.get(str(facts.get("serve.search")))
        return facts.get(name) if is_serving(facts) and name != start else None
    value = field_value(facts, name) if name in IDENTITY_FIELDS else facts.get(name)
    return None if is_usual(value, REPORT_OFF_VALUES.get(name, ())) else value


def is_usual(value: Any, usual: tuple[Any, ...]) -> bool:
    """Whether ``value`` is one of ``usual`` (a bool only among bools: ``True`` is no 1)."""
    if isinstance(value, bool) and not any(isinstance(u, bool) for u in usual):
        return False
    return value in usual
