"""The memory plan of a Llama training step, per rank, before anything runs (issue "Sharded LLM
training"): what ``validate``, ``print --format table`` and launch scripts show, and what
``--device_memory_gb`` judges (its :attr:`MemoryPlan.peak`, within 10% of measured peaks on
this CPU: ``benchmarks/bench_memory_plan.py``).

From the model's settings (``hidden``, ``layers``, ``heads``, ``kv_heads``, ``intermediate``,
``num_classes``, ``tied``: what the zoo's metadata reads without torch) and the layout (the
parallelism, the ranks, HSDP's shard group, the tensor-parallel group), each rank holds:

* **weights, gradients, optimizer state**: float32 (FSDP2 keeps float32 shards under a
  bfloat16 policy; DDP keeps float32 weights under autocast), the blocks' split over every rank
  that shards them (fsdp: all; hsdp: the shard group; fsdp_tp: all, tensor parallelism times
  FSDP), the embeddings, final norm and LM head over the FSDP ranks only (whole within a
  tensor-parallel group); AdamW two states a weight, SGD one;
* **activations** kept for the backward, per token of the rank's batch: in each block
  ``6h + 2h/tp + 4i/tp + 2 kv d/tp + heads/tp + 2`` values (h the width, i the MLP's, d a
  head's size, kv the key/value heads: the block's input, its two norms' intermediate and
  output, the residual, the rotated queries and attention output (split by tp), the MLP's four
  intermediates, the rotated keys and values, the attention's log-sum-exp and the norms'
  reciprocal roots), which is what this implementation saves, counted exactly in float32 on
  this CPU (``tests/benchmark/test_memory_plan.py`` sums the tensors autograd saves); a
  checkpointed block keeps its input only (``h``), and one block is recomputed whole at a time;
  outside the blocks the token ids, the final norm (``3h + 1``) and, at the loss, the logits,
  their log-softmax and its gradient (``3 V``); the rotary tables once (``2 s d``);
* **buffers**: DDP's gradient buckets (a copy of the gradients); FSDP2's gathered units (the
  root's parameters for the whole step, two blocks at a time: the one computing and the one
  prefetched) at the parameters' precision, and one block's unsharded float32 gradients before
  their reduce-scatter. The blocks' units are gathered only while a block computes: at the
  loss, where the step peaks, they are freed (measured on this CPU: the peak is the root's
  parameters above the unsharded step's, not the blocks').

Under ``--dtype bfloat16`` the activations are counted at 2 bytes a value (autocast's matrix
products; the norms' float32 values make it a floor): a figure to check on a GPU, where the
allocator's slack, the kernels' workspaces and NCCL's buffers come on top. Standard library
only: ``validate`` imports it without torch.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from pytorch_benchmarks.spec import MAX_BATCH

FLOAT32 = 4
#: Optimizer states per weight (SGD's momentum; AdamW's two moments), float32 each.
OPTIMIZER_STATES = {"sgd": 1, "adamw": 2}


def gb_text(size: float) -> str:
    """Bytes as GB (1e9) with one decimal, and two significant digits below 0.1 GB (a tiny
    model's plan is not shown as zeros)."""
    value = size / 1e9
    return f"{value:.1f}" if value >= 0.1 or value == 0 else f"{value:.2g}"


@dataclass(frozen=True)
class LlamaShape:
    """The settings of a Llama that its memory follows."""

    vocab: int
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    tied: bool

    @classmethod
    def of(cls, settings: Mapping[str, Any]) -> LlamaShape | None:
        """The shape in a model's settings; None when one is missing."""
        names = ("num_classes", "hidden", "layers", "heads", "kv_heads", "intermediate")
        values = [settings.get(name) for name in names]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
            return None
        vocab, hidden, layers, heads, kv_heads, intermediate = (int(v) for v in values)
        return cls(vocab, hidden, layers, heads, kv_heads, intermediate,
                   bool(settings.get("tied", True)))

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def block_parameters(self) -> int:
        """One decoder block's: two norms, the four attention projections, the three MLP ones."""
        h, kv = self.hidden, self.kv_heads * self.head_dim
        return 2 * h + 2 * h * h + 2 * h * kv + 3 * h * self.intermediate

    @property
    def outside_parameters(self) -> int:
        """The embeddings, the final norm and the LM head (none when tied)."""
        head = 0 if self.tied else self.vocab * self.hidden
        return self.vocab * self.hidden + self.hidden + head

    @property
    def parameters(self) -> int:
        return self.layers * self.block_parameters + self.outside_parameters

    def block_values_per_token(self, tp: int = 1) -> float:
        """The values a block saves for its backward, per token (see the module's notes)."""
        h, i, kv = self.hidden, self.intermediate, self.kv_heads * self.head_dim
        return 6 * h + (2 * h + 4 * i + 2 * kv + self.heads) / tp + 2


@dataclass(frozen=True)
class Layout:
    """How the ranks share the model: the parallelism, the ranks, the group FSDP shards a
    copy over (hsdp: ``--dp_shard``), the tensor-parallel group (fsdp_tp: ``--tp_degree``)."""

    parallelism: str = "ddp"
    world: int = 1
    shard_group: int = 0
    tp: int = 1

    @property
    def block_shards(self) -> int:
        if self.parallelism == "ddp":
            return 1
        if self.parallelism == "hsdp":
            return max(1, self.shard_group)
        return max(1, self.world)  # fsdp; fsdp_tp: tensor parallelism x FSDP

    @property
    def outside_shards(self) -> int:
        if self.parallelism == "fsdp_tp":
            return max(1, self.world // max(1, self.tp))
        return self.block_shards

    @property
    def tp_size(self) -> int:
        return max(1, self.tp) if self.parallelism == "fsdp_tp" else 1


@dataclass(frozen=True)
class MemoryPlan:
    """One rank's bytes, by part."""

    parameters: int
    weights: int
    gradients: int
    optimizer: int
    activations: int
    buffers: int
    #: The gradient computed first in the backward, while every activation is still kept:
    #: the LM head's (whole on each rank, float32).
    first_gradient: int = 0
    #: The part of ``buffers`` held for the whole step (DDP's buckets; FSDP2's root
    #: parameters, gathered): the rest (FSDP2's units of blocks) is held only while a block
    #: computes, when the loss's values (``loss_activations``) are gone. None: all of it.
    held_buffers: int | None = None
    loss_activations: int = 0
    #: What the optimizer's step allocates besides its state: AdamW's foreach implementation
    #: (CUDA's default) makes a weights-sized ``sqrt`` of the second moments.
    optimizer_temp: int = 0
    #: FSDP2's reduce-scatter of the root's gradients at the end of the backward: the root's
    #: unsharded float32 gradients and the flat copy the collective reads (0: not sharded)
    root_reduce: int = 0

    @property
    def total(self) -> int:
        """Every part held at once: the bound a device must hold."""
        return self.weights + self.gradients + self.optimizer + self.activations + self.buffers

    @property
    def peak(self) -> int:
        """The step's high-water mark as it happens: the gradients (set to none after each
        step) grow as the backward frees the activations, so they are never all held with
        them; at the backward's start the activations are held with the LM head's gradient;
        FSDP2's gathered blocks come later, in the last block's backward, when the loss's
        values are freed; at the backward's end FSDP2 reduce-scatters the root's gradients
        (unsharded, and a flat copy); then the optimizer steps with every gradient, its state
        and its temporaries. The largest of these moments. Checked against measured peaks on
        this CPU, sharded too (``benchmarks/bench_memory_plan.py``)."""
        held = self.buffers if self.held_buffers is None else self.held_buffers
        in_block = (self.activations - self.loss_activations + self.first_gradient
                    + self.buffers - held)
        backward = (self.weights + self.optimizer + held
                    + max(self.gradients, self.activations + self.first_gradient, in_block))
        # the optimizer's step: every gradient held with the state and its temporary (DDP's
        # buckets too; FSDP2's gathered root is resharded after the backward)
        step = (self.weights + self.optimizer + self.gradients + self.optimizer_temp
                + (held if self.buffers == held else 0))
        reduce = self.weights + self.optimizer + held + self.gradients + self.root_reduce
        return max(backward, step, reduce if self.root_reduce else 0)

    def parts(self) -> dict[str, int]:
        """The parts by name, in the order a table shows them, and the peak."""
        return {"weights": self.weights, "gradients": self.gradients,
                "optimizer": self.optimizer, "activations": self.activations,
                "buffers": self.buffers, "peak": self.peak}


def _split(count: int, shards: int) -> int:
    return -(-count // shards)


def activation_bytes(shape: LlamaShape, batch: int, seq: int, tp: int = 1,
                     checkpointing: str = "none", value_bytes: int = FLOAT32) -> int:
    """What a rank's forward keeps for its backward, with the loss's peak (see the notes):
    ``batch`` sequences of ``seq`` tokens."""
    tokens = batch * seq
    whole = shape.block_values_per_token(tp)
    kept = {"none": 0, "selective": shape.layers // 2, "full": shape.layers}[checkpointing]
    blocks = (shape.layers - kept) * whole + kept * shape.hidden + (whole if kept else 0)
    outside = 3 * shape.hidden + 1 + 3 * shape.vocab
    values = tokens * (blocks + outside)
    ids = tokens * 8  # int64 token ids
    rope = 2 * seq * shape.head_dim * FLOAT32  # float32 tables, once a step
    return int(values * value_bytes) + ids + rope


def plan(shape: LlamaShape, layout: Layout, batch: int, seq: int, optimizer: str = "adamw",
         checkpointing: str = "none", param_bytes: int = FLOAT32,
         value_bytes: int = FLOAT32, foreach: bool = True) -> MemoryPlan:
    """The memory plan of one rank of a training step (``batch``: the rank's sequences;
    ``param_bytes``: what FSDP2 gathers at, 2 under a bfloat16 policy; ``value_bytes``: the
    activations', 2 under bfloat16 autocast)."""
    tp = layout.tp_size
    block = shape.layers * shape.block_parameters
    own = _split(block, layout.block_shards) + _split(shape.outside_parameters,
                                                      layout.outside_shards)
    weights = own * FLOAT32
    optimizer_bytes = weights * OPTIMIZER_STATES[optimizer]
    if layout.parallelism == "ddp":
        buffers = held = weights if layout.world > 1 else 0
    else:
        unit = _split(shape.block_parameters, tp)
        held = shape.outside_parameters * param_bytes
        buffers = held + 2 * unit * param_bytes + unit * FLOAT32
    return MemoryPlan(parameters=shape.parameters, weights=weights, gradients=weights,
                      optimizer=optimizer_bytes,
                      activations=activation_bytes(shape, batch, seq, tp, checkpointing,
                                                   value_bytes),
                      buffers=buffers, first_gradient=shape.vocab * shape.hidden * FLOAT32,
                      held_buffers=held,
                      loss_activations=int(batch * seq * 3 * shape.vocab * value_bytes),
                      optimizer_temp=_adamw_temp(shape, layout, weights, foreach)
                      if optimizer == "adamw" else 0,
                      root_reduce=2 * shape.outside_parameters * FLOAT32
                      if layout.parallelism != "ddp" and layout.outside_shards > 1 else 0)


def _adamw_temp(shape: LlamaShape, layout: Layout, weights: int, foreach: bool) -> int:
    """AdamW's temporaries in its step: the ``sqrt`` of every second moment at once (the
    foreach implementation, torch's default for CUDA tensors: the weights' size), else one
    parameter at a time (a CPU's: its ``sqrt`` and the quotient by the bias correction, of
    the largest parameter, the embedding's shard)."""
    if foreach:
        return weights
    return 2 * _split(shape.vocab * shape.hidden, layout.outside_shards) * FLOAT32


@dataclass(frozen=True)
class Case:
    """One experiment's step as the plan sees it: the model's shape, the layout, a rank's
    batch and sequence length, the optimizer, the checkpointing and the precision."""

    shape: LlamaShape
    layout: Layout
    batch: int
    seq: int
    optimizer: str = "adamw"
    checkpointing: str = "none"
    half: bool = False  # bfloat16 or float16: 2-byte activations (and FSDP2's gathers)
    foreach: bool = True  # the optimizer steps all tensors at once (CUDA's default; a CPU's: not)

    @classmethod
    def of(cls, subject: Any, meta: Any, shape: LlamaShape) -> Case:
        """The case of a checks subject (``checks.Subject``) and its model's metadata; an
        unknown group (0: a node's ranks) is the subject's ranks of a node (``validate``
        knows them; a run reads ``LOCAL_WORLD_SIZE``), else every rank."""
        local = getattr(subject, "node_ranks", 0) or subject.world_size
        layout = Layout(subject.parallelism, subject.world_size,
                        subject.dp_shard or local, subject.tp_degree or local)
        seq = subject.seq_len or (meta.input_shape[0] if meta.input_shape else 1)
        optimizer = subject.optimizer if subject.optimizer != "auto" else \
            getattr(meta, "optimizer", "sgd")
        return cls(shape, layout, int(subject.batch_size), int(seq), optimizer,
                   subject.activation_checkpointing, subject.dtype in ("bfloat16", "float16"),
                   foreach=getattr(subject, "device", "auto") != "cpu")

    def plan(self) -> MemoryPlan:
        two = 2 if self.half else FLOAT32
        return plan(self.shape, self.layout, self.batch, self.seq, self.optimizer,
                    self.checkpointing,
                    param_bytes=two if self.layout.parallelism != "ddp" else FLOAT32,
                    value_bytes=two, foreach=self.foreach)

    def smallest_change(self, limit: float) -> str | None:
        """The first single change, least disruptive first, whose plan's peak fits ``limit``
        bytes: checkpointing every second block, sharding (ddp or hsdp to fsdp), checkpointing
        every block, then the largest smaller batch; when none fits alone, the sharding and
        checkpointing together, then with the largest smaller batch that fits."""
        tries: list[tuple[str, Case]] = []
        if self.checkpointing == "none":
            tries.append(("--activation_checkpointing selective",
                          replace(self, checkpointing="selective")))
        shard = self.layout.parallelism in ("ddp", "hsdp") and self.layout.world > 1
        if shard:
            tries.append(("--parallelism fsdp",
                          replace(self, layout=replace(self.layout, parallelism="fsdp"))))
        if self.checkpointing != "full":
            tries.append(("--activation_checkpointing full",
                          replace(self, checkpointing="full")))
        for name, case in tries:
            if case.plan().peak <= limit:
                return f"{name} ({gb_text(case.plan().peak)} GB)"
        found = self._largest_batch(limit)
        if found is not None:
            return found
        names = ["--parallelism fsdp"] if shard else []
        names += ["--activation_checkpointing full"] if self.checkpointing != "full" else []
        if not names:
            return None
        both = replace(self, checkpointing="full", layout=replace(
            self.layout, parallelism="fsdp" if shard else self.layout.parallelism))
        if len(names) == 2 and both.plan().peak <= limit:
            return f"{' with '.join(names)} ({gb_text(both.plan().peak)} GB)"
        found = both._largest_batch(limit)
        return None if found is None else f"{' with '.join(names)} with {found}"

    def _largest_batch(self, limit: float) -> str | None:
        """The largest batch below this case's whose plan's peak fits ``limit``, None when
        not even one sequence fits. A bisection: the peak never falls as the batch grows (the
        activations grow with the tokens, nothing else depends on them), so a batch of
        2**31 costs some 31 plans, not 2**31 (a linear search hung ``validate``)."""
        if self.batch <= 1 or not self._fits(1, limit):
            return None
        low, high = 1, self.batch - 1  # low fits; every batch above high does not
        while low < high:
            middle = (low + high + 1) // 2
            if self._fits(middle, limit):
                low = middle
            else:
                high = middle - 1
        return f"--batch_size {low} ({gb_text(replace(self, batch=low).plan().peak)} GB)"

    def _fits(self, batch: int, limit: float) -> bool:
        """Whether this case's plan at ``batch`` sequences a rank peaks within ``limit``."""
        return replace(self, batch=batch).plan().peak <= limit


def case_of(subject: Any, meta: Any) -> Case | None:
    """The planned case of a checks subject's rank (``checks.Subject``) with its model's
    metadata: a Llama's training step (its settings give the shape); None for anything else
    (inference, another model, ``--batch_size max``)."""
    if subject.forward_only or meta is None or subject.batch_size == MAX_BATCH:
        return None
    shape = LlamaShape.of(getattr(meta, "settings", {}))
    if shape is None or not getattr(meta, "tensor_parallel", False):
        return None
    return Case.of(subject, meta, shape)


def plan_of(subject: Any, meta: Any) -> MemoryPlan | None:
    """The plan of :func:`case_of`'s case; None where there is none."""
    case = case_of(subject, meta)
    return None if case is None else case.plan()
