"""What the benchmark refuses before it runs: one registry of checks, used by the run and by
``experimenter validate``.

Responsibility: each refusal that depends only on the flags, the model's metadata and the
number of processes is a small function registered here with :func:`register_check`, naming
the flags it concerns. The benchmark calls them where it used to decide (``options`` for
the flags, the workload for the model's, the batch search for the processes'), and
``dlbs`` calls them, through :mod:`pytorch_benchmarks.preflight`, on the flags each
experiment's launch script would pass, so ``validate`` refuses what the run would refuse
minutes later, from the same code. Refusals that need the device or the data's contents
(torch, CUDA, a data set's records) stay where they are and are listed in
:data:`RUN_TIME_REFUSALS` with the reason (a test keeps that list complete). Standard
library only: no torch, no argparse, never ``dlbs``.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pytorch_benchmarks.errors import BenchmarkError
from pytorch_benchmarks.spec import MAX_BATCH, DataSpec, DeviceSpec, ModelSpec, RunSpec


class Meta(Protocol):
    """What the model checks read of a model (``ModelInfo`` or
    ``models._zoo.metadata.ModelMeta``)."""

    name: str
    input_shape: tuple[int, ...]
    min_input_shape: tuple[int, ...]
    inputs: str
    causal: bool
    max_seq_len: int


@dataclass(frozen=True)
class Subject:
    """The values the checks read: the flags as parsed, and the processes (``world_size``:
    ``WORLD_SIZE`` under torchrun, 1 otherwise)."""

    model: str = "alexnet"
    model_config: Mapping[str, Any] | None = None
    image_size: int | None = None
    seq_len: int | None = None
    forward_only: bool = False
    generate: int = 0
    batch_size: int | str = 16
    data_source: str = "synthetic"
    data_dir: str = ""
    loader_only: bool = False
    list_models: bool = False
    world_size: int = 1
    torchrun: bool = False
    facts: str = "auto"
    log_file: str | None = None
    parallelism: str = "ddp"
    dp_shard: int = 0
    tp_degree: int = 0
    dtype: str = "float32"
    activation_checkpointing: str = "none"
    optimizer: str = "auto"
    device_memory_gb: float = 0.0
    #: the memory of the device that runs it, judged when ``device_memory_gb`` is 0 (GB; 0:
    #: not known) and what it is (``runtime/device_memory.py``)
    detected_memory_gb: float = 0.0
    detected_memory: str = ""
    #: the ranks of one node (what --dp_shard 0 and --tp_degree 0 mean); 0: not known here,
    #: then torchrun's LOCAL_WORLD_SIZE when set
    local_ranks: int = 0
    device: str = "auto"    # --device: auto | cpu | gpu | cuda

    @property
    def node_ranks(self) -> int:
        """The ranks of one node: :attr:`local_ranks`, else ``LOCAL_WORLD_SIZE``, else 0."""
        return self.local_ranks or int(os.environ.get("LOCAL_WORLD_SIZE", "0") or 0)


def subject_of(model: ModelSpec, data: DataSpec, run: RunSpec, world_size: int = 1,
               torchrun: bool = False, list_models: bool = False, facts: str = "auto",
               log_file: str | None = None, device: DeviceSpec | None = None) -> Subject:
    """The subject of a run's spec parts (``world_size``: its processes; ``torchrun``:
    started by torchrun, even alone)."""
    device = device or DeviceSpec()
    return Subject(model=model.name, model_config=model.config, image_size=model.image_size,
                   seq_len=model.seq_len, forward_only=run.forward_only, generate=run.generate,
                   batch_size=run.batch_size, data_source=data.source, data_dir=data.dir,
                   loader_only=data.loader_only, list_models=list_models,
                   world_size=world_size, torchrun=torchrun, facts=facts, log_file=log_file,
                   parallelism=device.parallelism, dp_shard=device.dp_shard,
                   tp_degree=device.tp_degree,
                   dtype=device.dtype, activation_checkpointing=run.activation_checkpointing,
                   optimizer=run.optimizer, device_memory_gb=device.device_memory_gb,
                   device=device.device)


@dataclass(frozen=True)
class Refusal:
    """One refusal: the check's name, the flags it concerns, and the one-line message."""

    check: str
    flags: tuple[str, ...]
    message: str


class RefusedError(BenchmarkError):
    """A check refused the run (the message is the refusal's)."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


Test = Callable[[Subject, "Meta | None"], "str | None"]


@dataclass(frozen=True)
class Check:
    """A registered check: ``stage`` ``flags`` needs nothing but the subject, ``model`` the
    model's metadata (skipped when it is unknown), ``host`` the files of the host that runs
    the experiment (``validate`` runs it only for a local, bare-metal experiment)."""

    name: str
    flags: tuple[str, ...]
    stage: str
    test: Test = field(compare=False)


CHECKS: dict[str, Check] = {}
STAGES = ("flags", "model", "host")


def register_check(name: str, flags: tuple[str, ...], stage: str) -> Callable[[Test], Test]:
    """Register ``test`` (subject, meta) -> message or ``None``; a duplicate name raises."""
    if stage not in STAGES:
        raise ValueError(f"check '{name}': stage must be one of {STAGES}, got {stage!r}")

    def decorate(test: Test) -> Test:
        if name in CHECKS:
            raise ValueError(f"check '{name}' is already registered")
        CHECKS[name] = Check(name, flags, stage, test)
        return test
    return decorate


def list_checks(stage: str | None = None) -> list[Check]:
    """The registered checks (of one stage), in the order the run applies them."""
    return [c for c in CHECKS.values() if stage is None or c.stage == stage]


def find_refusals(subject: Subject, meta: Meta | None, stage: str | None = None
                  ) -> list[Refusal]:
    """Every refusal of ``subject``; model checks only with ``meta`` (``None``: unknown)."""
    found = []
    for check in list_checks(stage):
        if check.stage == "model" and meta is None:
            continue
        message = check.test(subject, meta)
        if message is not None:
            found.append(Refusal(check.name, check.flags, message))
    return found


def enforce(subject: Subject, meta: Meta | None, stage: str) -> None:
    """Raise :class:`RefusedError` for the first refusal of ``stage`` (what the run does)."""
    found = find_refusals(subject, meta, stage)
    if found:
        raise RefusedError(found[0])


# --- the flags ----------------------------------------------------------------------------

@register_check("real_data_needs_dir", ("--data", "--data_dir"), "flags")
def _real_needs_dir(s: Subject, meta: Meta | None) -> str | None:
    if s.data_source == "real" and not s.data_dir:
        return "--data real needs --data_dir (make one with python -m pytorch_benchmarks.prepare)"
    return None


@register_check("loader_only_needs_real_data", ("--data_loader_only", "--data"), "flags")
def _loader_only(s: Subject, meta: Meta | None) -> str | None:
    if s.loader_only and s.data_source != "real":
        return ("--data_loader_only times the real-data pipeline: give --data_dir "
                "(and not --data synthetic)")
    return None


@register_check("max_batch_needs_a_model", ("--batch_size", "--data_loader_only"), "flags")
def _max_batch_loader_only(s: Subject, meta: Meta | None) -> str | None:
    if s.batch_size == MAX_BATCH and s.loader_only:
        return ("--batch_size max finds the largest batch a model fits in memory: not "
                "with --data_loader_only (no model); give a batch size")
    return None


@register_check("generate_needs_inference", ("--generate", "--forward_only"), "flags")
def _generate_inference(s: Subject, meta: Meta | None) -> str | None:
    if s.generate and not s.forward_only:
        return (f"--generate {s.generate} times inference: add --forward_only (there "
                "is no generation in training)")
    return None


@register_check("unknown_model", ("--model",), "flags")
def _unknown(s: Subject, meta: Meta | None) -> str | None:
    return None if s.list_models else unknown_model(s.model)


@register_check("max_batch_one_process", ("--batch_size", "WORLD_SIZE"), "flags")
def _max_batch_one_process(s: Subject, meta: Meta | None) -> str | None:
    if s.batch_size == MAX_BATCH and (s.torchrun or s.world_size > 1):
        return (f"--batch_size max searches the largest batch with one replica in one "
                f"process, not under torchrun (WORLD_SIZE={s.world_size}): run it without "
                "torchrun, then give the batch found as --batch_size")
    return None


@register_check("facts_log_needs_log_file", ("--facts", "--log_file"), "flags")
def _facts_log(s: Subject, meta: Meta | None) -> str | None:
    if s.facts == "log" and not s.log_file:
        return "--facts log needs --log_file (the file the facts are appended to)"
    return None


def unknown_model(name: str) -> str | None:
    """``None`` when ``name`` is a model of the zoo (or one registered in this process, as
    tests do); else the "did you mean" message. Imports no torch. Without the zoo's sources
    (an install of compiled files only) nothing is refused here: the registry will say."""
    from pytorch_benchmarks.models.names import model_names, unknown_model_message

    if not model_names():
        return None
    message = unknown_model_message(name)
    registry = sys.modules.get("pytorch_benchmarks.models._zoo.registry")
    if message is not None and registry is not None:  # the live registry, already imported
        try:
            registry.get_model_info(name)
            return None
        except LookupError:
            pass
    return message


# --- the model's metadata (the order is the run's) ----------------------------------------

@register_check("image_size_too_small", ("--image_size", "--model"), "model")
def _image_size(s: Subject, meta: Meta | None) -> str | None:
    assert meta is not None
    shape = tuple(meta.input_shape)
    if s.image_size is None or len(shape) != 3:
        return None
    smallest = max(tuple(meta.min_input_shape or shape)[1:])
    if s.image_size < smallest:
        return (f"--image_size {s.image_size} is too small for '{meta.name}': it needs at "
                f"least {smallest}")
    return None


@register_check("generate_needs_causal_model", ("--generate", "--model"), "model")
def _generate_causal(s: Subject, meta: Meta | None) -> str | None:
    assert meta is not None
    if s.generate and not meta.causal:
        return (f"--generate needs a causal (decoder) model; '{meta.name}' is not one: use "
                "gpt2 or llama3_1b, or drop --generate")
    return None


@register_check("token_model_real_data", ("--data", "--data_dir", "--model"), "model")
def _token_real(s: Subject, meta: Meta | None) -> str | None:
    assert meta is not None
    if meta.inputs == "tokens" and s.data_source == "real":
        return (f"--data real: '{meta.name}' is a token model and the benchmark reads no "
                "token data sets; use --data synthetic (the default without --data_dir)")
    return None


def seq_len_of(meta: Meta, asked: int | None, generate: int) -> int:
    """A token model's sequence length: ``asked``, else its own, shortened with learned
    positions so that the prompt and the ``generate`` tokens fit."""
    limit = meta.max_seq_len
    seq_len = asked or meta.input_shape[0]
    if asked is None and limit:
        seq_len = min(seq_len, limit - generate)
    return seq_len


@register_check("seq_len_beyond_positions", ("--seq_len", "--generate", "--model"), "model")
def _seq_len_positions(s: Subject, meta: Meta | None) -> str | None:
    assert meta is not None
    if meta.inputs != "tokens":
        return None
    seq_len, limit = seq_len_of(meta, s.seq_len, s.generate), meta.max_seq_len
    if limit and seq_len + s.generate > limit:
        told = f"--seq_len {seq_len}" + (f" + --generate {s.generate}" if s.generate else "")
        return f"{told} exceeds the {limit} positions of '{meta.name}'; ask for fewer tokens"
    return None


@register_check("generate_leaves_no_prompt", ("--generate", "--model"), "model")
def _no_prompt(s: Subject, meta: Meta | None) -> str | None:
    assert meta is not None
    if meta.inputs != "tokens" or seq_len_of(meta, s.seq_len, s.generate) >= 1:
        return None
    return (f"--generate {s.generate} leaves no room for a prompt in the {meta.max_seq_len} "
            f"positions of '{meta.name}'; generate fewer tokens")


@register_check("real_data_needs_image_model", ("--data", "--data_dir", "--model"), "model")
def _real_needs_image(s: Subject, meta: Meta | None) -> str | None:
    assert meta is not None
    if s.data_source != "real" or meta.inputs == "tokens" or len(meta.input_shape) == 3:
        return None  # a token model has its own refusal
    return (f"real data needs an image model (C, H, W input); '{meta.name}' takes "
            f"{tuple(meta.input_shape)}")


# --- the host's files ----------------------------------------------------------------------

@register_check("data_dir_missing", ("--data_dir",), "host")
def _data_dir_missing(s: Subject, meta: Meta | None) -> str | None:
    if s.data_source != "real" or not s.data_dir or os.path.exists(s.data_dir):
        return None
    return (f"--data_dir '{s.data_dir}' does not exist; make a data set with python -m "
            "pytorch_benchmarks.prepare, or give the folder that holds one")


#: Where the benchmark raises the refusals that ``validate`` finds through this module:
#: ``module:function`` -> how.
CHECKED_SITES: dict[str, str] = {
    "checks.py:enforce": "every registered check (the run raises the first of a stage)",
    "options.py:parse_args": "the flag checks, as a usage error (exit 2)",
    "options.py:FactArgumentParser.error": "argparse's types, choices and bounds: preflight "
                                           "parses the same flags (options.parse_quietly)",
    "models/_zoo/config.py:parse_model_config": "--model_config's JSON, through argparse's type",
    "models/_zoo/registry.py:_resolve": "an unknown name: the unknown_model check (the zoo's "
                                   "names, read from its sources)",
}

_CUDA = "CUDA and the visible GPUs are known only to torch on the host that runs it"
_DATA = "the data set's contents (records, images) on the host that runs it"
_SETTINGS = ("--model_config's keys and values: a model's settings are its builder's "
             "signature and check, in its family's module, which imports torch (validate "
             "checks that the value is a JSON object)")
_HF = "an hf: model's config: Hugging Face transformers on the host that runs it"
_SEARCH = "the host's memory and limits while --batch_size max searches"

#: The benchmark's refusals that only the run can make: ``module:function`` -> why (what it
#: needs that validate does not have). A test keeps this list and :data:`CHECKED_SITES`
#: complete: a new refusal anywhere in the benchmark fails it until it is placed here or made
#: a check.
RUN_TIME_REFUSALS: dict[str, str] = {
    "runtime/device.py:_gpu_setup": _CUDA,
    "runtime/device.py:_check_dtype": "bfloat16 support is the GPU's compute capability, "
                                      "known only to torch on that host",
    "run/workload.py:build_model": "the class count a built model outputs against its "
                                   "registry entry: needs the model",
    "run/footprint.py:check_fits": "the memory free on the device (a GPU's, the host's "
                                   "MemAvailable), known only on the host that runs it",
    "runtime/distributed.py:apply_tp": "a built model's block list against its tensor-parallel "
                                   "plan (validate judges the registration's flag and "
                                   "settings: sharding_under_torchrun)",
    "run/checkpointing.py:checkpoint_blocks": "whether a built model has a list of "
                                              "transformer blocks: needs the model",
    "run/generate.py:GenerateRunner.__init__": "whether a built model keeps a KV cache "
                                               "(hf: and plugin models): needs the model",
    "run/maxbatch/probers.py:ForkProber._outcome": _SEARCH,
    "run/maxbatch/finder.py:find_max_batch": _SEARCH + " (batch 1 does not fit)",
    "run/maxbatch/limits.py:proc_status_bytes": _SEARCH,
    "run/maxbatch/limits.py:limit_memory": _SEARCH,
    "run/maxbatch/limits.py:cpu_budget": _SEARCH,
    "benchmarks.py:_benchmark": "a --log_file that cannot be appended to, on that host",
    "runtime/versions.py:check_torch": "the torch installed where the run runs (the host's "
                                       "or the container's)",
    "data/image_folder.py:find_images": _DATA,
    "data/image_folder.py:ImageFolderDataset.__getitem__": _DATA,
    "data/lmdb_dataset.py:_open": _DATA,
    "data/lmdb_dataset.py:_read_keys": _DATA,
    "data/lmdb_dataset.py:list_keys": _DATA,
    "data/lmdb_dataset.py:LMDBDataset.__init__": _DATA,
    "data/lmdb_dataset.py:LMDBDataset.__getitem__": _DATA,
    "models/_zoo/registry.py:_builder_config": _SETTINGS,
    "models/_zoo/registry.py:_check_types": _SETTINGS,
    "models/_zoo/registry.py:_configured": _SETTINGS,
    "models/hf.py:import_transformers": _HF,
    "models/hf.py:resolve_hf": _HF,
    "models/hf.py:resolve_hf.make": _HF,
    "models/hf.py:_default_config": _HF,
    "models/hf.py:_head_class": _HF,
    "models/hf.py:_check_heads": _HF,
    "models/hf.py:_check_overrides": _HF,
    "models/hf.py:_check_sizes": _HF,
    "models/hf.py:HFLogits.forward": _HF,
}


@register_check("checkpointing_in_training", ("--activation_checkpointing",), "flags")
def _checkpointing_in_training(s: Subject, meta: Meta | None) -> str | None:
    """Activation checkpointing trades a recomputation in the backward for the memory of the
    activations: it has a meaning in training only."""
    if s.activation_checkpointing == "none" or not (s.forward_only or s.loader_only):
        return None
    what = "--forward_only" if s.forward_only else "--data_loader_only"
    return (f"--activation_checkpointing {s.activation_checkpointing} recomputes activations "
            f"in the backward of training: {what} has none; use it without "
            "--activation_checkpointing")


@register_check("sharding_under_torchrun", ("--parallelism", "WORLD_SIZE"), "model")
def _sharding_under_torchrun(s: Subject, meta: Meta | None) -> str | None:
    """fsdp and hsdp shard over torchrun's ranks: fsdp under torchrun (one rank is allowed:
    FSDP2's own cost with nothing to shard against, as torchtitan runs on one GPU), hsdp over
    at least two, float32 or bfloat16 (float16 would need a sharded gradient scaler),
    training (inference has nothing to shard but the weights, which ddp's replicas hold
    whole), and HSDP groups that divide the ranks."""
    if s.parallelism == "ddp":
        return None
    if s.parallelism == "fsdp" and s.world_size < 2 and not s.torchrun:
        return ("--parallelism fsdp shards the model over torchrun's ranks: run it under "
                f"torchrun (one process or more; WORLD_SIZE={s.world_size} without torchrun)")
    if s.parallelism in ("hsdp", "fsdp_tp") and s.world_size < 2:
        return (f"--parallelism {s.parallelism} shards over torchrun's ranks: run it under "
                f"torchrun with at least 2 processes (WORLD_SIZE={s.world_size})")
    if s.forward_only:
        return (f"--parallelism {s.parallelism} shards training state: use it without "
                "--forward_only (inference runs with ddp)")
    if s.dtype == "float16":
        return (f"--parallelism {s.parallelism} runs in float32 or bfloat16, not float16 (its "
                "gradient scaler is not sharded): use --dtype bfloat16")
    if s.parallelism == "hsdp":
        # 0: the ranks of one node, known only under torchrun (validate cannot judge it)
        group = s.dp_shard or s.node_ranks
        if group and (s.world_size % group or group == s.world_size):
            return (f"--parallelism hsdp shards within groups of --dp_shard ranks that divide "
                    f"WORLD_SIZE={s.world_size} and are fewer than it (--dp_shard {group}; "
                    "0: LOCAL_WORLD_SIZE); with one group use --parallelism fsdp")
    if s.parallelism == "fsdp_tp":
        return _tensor_parallel_problem(s, meta)
    return None


def _tensor_parallel_problem(s: Subject, meta: Meta | None) -> str | None:
    """fsdp_tp's groups: at least 2 ranks that divide the processes (0: one node's ranks,
    known only under torchrun), and a model whose blocks can be split over them: one with a
    tensor-parallel plan (``tensor_parallel`` in its registration) whose query and key/value
    heads and MLP width the group divides (its settings, read without torch: validate judges
    an 8B or 70B plan here)."""
    group = s.tp_degree or s.node_ranks
    if not group:
        return None
    if group < 2 or s.world_size % group:
        return (f"--parallelism fsdp_tp splits each block over groups of --tp_degree ranks "
                f"that divide WORLD_SIZE={s.world_size} and hold at least 2 (--tp_degree "
                f"{group}; 0: LOCAL_WORLD_SIZE); without tensor parallelism use "
                "--parallelism fsdp")
    if meta is None:
        return None
    cannot = f"--parallelism fsdp_tp cannot split model '{s.model}': "
    if not getattr(meta, "tensor_parallel", False):
        return cannot + ("it has no tensor-parallel plan (the Llama 3 models have one: "
                         "llama3_1b, llama3_3b, llama3_8b, llama3_70b)")
    settings = getattr(meta, "settings", {})
    heads, kv_heads = settings.get("heads"), settings.get("kv_heads")
    if isinstance(heads, int) and isinstance(kv_heads, int) and (heads % group or
                                                                  kv_heads % group):
        return cannot + (f"its {heads} query and {kv_heads} key/value heads cannot be split "
                         f"over {group} ranks (--tp_degree must divide both)")
    width = settings.get("intermediate")
    if isinstance(width, int) and width % group:
        return cannot + f"its MLP width {width} is not a multiple of {group} (--tp_degree)"
    return None


@register_check("memory_plan_fits", ("--device_memory_gb", "--batch_size", "--parallelism",
                                     "--activation_checkpointing", "WORLD_SIZE"), "model")
def _memory_plan_fits(s: Subject, meta: Meta | None) -> str | None:
    """A Llama's training step whose rank's memory plan (``plan/memory_plan.py``) peaks above
    ``--device_memory_gb``, else above the detected memory of the device that runs it (the
    run's, or this host's for ``validate`` of a local experiment; none known: not judged),
    with the smallest change that fits."""
    from pytorch_benchmarks.plan import memory_plan

    gb = s.device_memory_gb or s.detected_memory_gb
    case = memory_plan.case_of(s, meta) if gb else None
    need = None if case is None else case.plan()
    limit = gb * 1e9
    if case is None or need is None or need.peak <= limit:
        return None
    parts = ", ".join(f"{name} {memory_plan.gb_text(size)}"
                      for name, size in need.parts().items() if name != "peak")
    fits = case.smallest_change(limit)
    advice = (f"the smallest change that fits: {fits}" if fits else
              "no change fits (checkpointing, sharding further, a smaller batch, alone or "
              "together): more ranks, a smaller model or a device with more memory")
    against = (f"--device_memory_gb {s.device_memory_gb:g}" if s.device_memory_gb else
               f"the {memory_plan.gb_text(limit)} GB of "
               f"{s.detected_memory or 'the detected device'} "
               "(--device_memory_gb sets another limit)")
    return (f"the memory plan of one rank peaks at {memory_plan.gb_text(need.peak)} GB ({parts} "
            "GB), more "
            f"than {against}; {advice}")
