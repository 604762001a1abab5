"""The benchmark's command line: DLBS's flags plus the modern ones, parsed and checked.

Responsibility: turn ``argv`` into a validated, frozen :class:`~pytorch_benchmarks.spec.Spec`,
checked once, every error one line (exit 2). It is the only module of the benchmark that sees
``argparse``: every other takes the part of the spec it needs. It does not import
torch (``--help``, ``--version`` and an unknown ``--model`` stay fast: the zoo's names come from
:mod:`pytorch_benchmarks.models.names`) and never touches devices or data; consistency rules that
need the device (e.g. float16 on a CPU) live in :mod:`pytorch_benchmarks.runtime.device`, and
``--device auto`` is resolved by the benchmark once torch is imported.
"""
from __future__ import annotations

import argparse
import functools
import math
import os
import platform
import re
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from pytorch_benchmarks import checks
from pytorch_benchmarks.facts import write_facts
from pytorch_benchmarks.output.stdout_guard import stdout_is_terminal
from pytorch_benchmarks.spec import (
    ACTIVATION_CHECKPOINTING,
    MAX_BATCH,
    OPTIMIZER_CHOICES,
    PARALLELISMS,
    DataSpec,
    DeviceSpec,
    MaxBatchSpec,
    MeasureSpec,
    ModelSpec,
    OutputSpec,
    RunSpec,
    Spec,
)

EXAMPLES = """\
examples:
  # train AlexNet on synthetic data, 16 images per device, on the CPU
  python python/pytorch_benchmarks/benchmarks.py --model alexnet --batch_size 16 \\
      --num_batches 10 --device cpu
  # inference of ResNet-50 with bfloat16 autocast and channels-last tensors
  python python/pytorch_benchmarks/benchmarks.py --model resnet50 --forward_only true \\
      --dtype bfloat16 --channels_last --device cpu
  # make a small real dataset, then time the input pipeline alone with 2 workers
  python -m pytorch_benchmarks.prepare imagefolder --out /tmp/imgs --num_images 256
  python python/pytorch_benchmarks/benchmarks.py --model resnet18 --data_dir /tmp/imgs \\
      --data_backend image_folder --num_loader_threads 2 --data_loader_only
  # iterate until the mean iteration time is known to +-1% (95% CI), 2 minutes at most
  python python/pytorch_benchmarks/benchmarks.py --model resnet18 --device cpu \\
      --target_precision 0.01 --max_time 120
  # two processes with DistributedDataParallel (gloo on CPU, nccl on GPUs)
  torchrun --standalone --nproc_per_node 2 python/pytorch_benchmarks/benchmarks.py \\
      --model resnet18 --device cpu
  # GPT-2 generation latency: a 128-token prompt, then 32 decode steps (TTFT, TPOT)
  python python/pytorch_benchmarks/benchmarks.py --model gpt2 --forward_only --seq_len 128 \\
      --generate 32 --batch_size 1 --device cpu
  # the largest batch that fits (doubling, then bisection; each probe a short real run),
  # on a CPU within a 2 GiB memory budget; then the timed run at that batch
  python python/pytorch_benchmarks/benchmarks.py --model resnet18 --batch_size max \\
      --memory_budget_mb 2048 --device cpu
  # list the model zoo
  python python/pytorch_benchmarks/benchmarks.py --list_models

Results are printed as __key__=json lines (docs/log-format.md); failures too. At a
terminal (stdout a terminal, no --log_file) a person sees what runs, one progress line and a
short result block instead; --facts stdout prints the facts there too.
"""

_TRUE = frozenset({"true", "1", "yes", "y", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "off"})
DEVICES = ("auto", "cpu", "gpu", "cuda")
DTYPES = ("float", "float32", "float16", "bfloat16")
BACKENDS = ("caffe_lmdb", "image_folder")
#: ``--facts``: where the facts go (see :func:`facts_destination`).
FACTS = ("auto", "stdout", "log", "none")
#: The largest batch ``--batch_size max`` tries unless ``--max_batch_limit`` says otherwise.
DEFAULT_MAX_BATCH_LIMIT = 4096
#: Seconds ``--batch_size max`` may search unless ``--max_batch_time`` says otherwise.
DEFAULT_MAX_BATCH_TIME = 600.0
#: Environment variables holding the defaults of ``--max_batch_limit`` and
#: ``--memory_budget_mb`` (how an experimenter run sets them: ``-Pruntime.env.NAME=VALUE``).
MAX_BATCH_LIMIT_ENV = "DLBS_MAX_BATCH_LIMIT"
MEMORY_BUDGET_ENV = "DLBS_MAX_BATCH_BUDGET_MB"
#: The most ``--num_threads`` accepts: ``exp.cpu_threads``'s ``max`` in config/base.json (the
#: same bound for ``validate`` and the benchmark), far above a node's cores (oversubscribing
#: is a legitimate experiment) and below what crashes torch's OpenMP runtime (100000 does;
#: 4096 runs, on 2 cores).
MAX_THREADS = 4096


def str2bool(text: str) -> bool:
    """Parse ``true/false/1/0/yes/no`` (any case) into a bool; argparse reports the error."""
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true/false/1/0/yes/no, got '{text}'")


def positive_int(text: str) -> int:
    """Parse an int > 0."""
    return _bounded_int(text, 1)


def batch_size(text: str) -> int | str:
    """Parse ``--batch_size``: an int > 0, or ``max`` (find the largest batch that fits)."""
    if text == MAX_BATCH:
        return MAX_BATCH
    try:
        return _bounded_int(text, 1)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1 or '{MAX_BATCH}', got "
                                         f"'{text}'") from None


def model_config(text: str) -> dict[str, Any]:
    """Parse ``--model_config``: a JSON object (:mod:`pytorch_benchmarks.models._zoo.config`)."""
    from pytorch_benchmarks.models._zoo.config import parse_model_config

    try:
        return parse_model_config(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def natural_int(text: str) -> int:
    """Parse an int >= 0."""
    return _bounded_int(text, 0)


def thread_count(text: str) -> int:
    """Parse ``--num_threads``: an int from 0 to :data:`MAX_THREADS` (torch.set_num_threads
    takes any int and its OpenMP runtime crashes with SIGSEGV on a huge one, e.g. 100000,
    before the run can write a status)."""
    value = _bounded_int(text, 0)
    if value > MAX_THREADS:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_THREADS} threads per replica "
                                         f"(config's exp.cpu_threads range), got {value}")
    return value


def fraction(text: str) -> float:
    """Parse a float in [0, 1)."""
    value = _float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0 and < 1, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """Parse a finite float >= 0."""
    value = _float(text)
    if value < 0.0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def writable_folder(text: str) -> str:
    """A folder the run can write in (``--profile``): made when missing, checked here so that
    a bad path fails before any work, in one line."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty; give a folder, or leave --profile out")
    if os.path.exists(text) and not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"'{text}' is not a folder; give a folder for the "
                                         "traces")
    try:
        os.makedirs(text, exist_ok=True)
    except OSError as err:
        raise argparse.ArgumentTypeError(f"cannot make the folder '{text}': "
                                         f"{err.strerror or err}") from None
    if not os.access(text, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"the folder '{text}' is not writable; give "
                                         "another")
    return text


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got '{text}'")
    return value


def _bounded_int(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got '{text}'") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
    return value


class FactArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are also written as failure facts (then exit 2)."""

    def error(self, message: str) -> NoReturn:
        """Print usage and the message to stderr, write a failure fact, exit with status 2."""
        argv = getattr(self, "raw_argv", None)
        _write_usage_failure(message, sys.argv[1:] if argv is None else argv)
        super().error(message)


def _write_usage_failure(message: str, argv: Sequence[str]) -> None:
    """Write ``results.status=failure`` for a usage error to the log file named in ``argv``."""
    facts = {"results.status": "failure", "results.error": f"usage error: {message}"}
    log_file = _scan_log_file(argv)
    where = facts_destination(_scan_flag(argv, "--facts") or "auto", log_file,
                              stdout_is_terminal())
    if where == "none":
        return
    if where == "stdout":
        log_file = None
    try:
        if log_file:  # never through a link planted at its name
            from safeio import open_text
            with open_text(log_file, append=True) as stream:
                write_facts(facts, stream)
        else:
            _facts_to_stdout(facts)
    except OSError as err:  # say why the facts are not in the log (a planted link...)
        why = err.strerror if err.filename == log_file else err
        print(f"benchmarks.py: cannot append to --log_file {log_file}: {why}", file=sys.stderr)
        _facts_to_stdout(facts)


def _facts_to_stdout(facts: dict[str, str]) -> None:
    """Write the usage failure to stdout; a stdout that cannot be written is left to
    :func:`~pytorch_benchmarks.output.stdout_guard.guard_stdout` (the usage message and exit 2
    come first)."""
    try:
        write_facts(facts, sys.stdout)
    except OSError:
        pass


def _scan_log_file(argv: Sequence[str]) -> str | None:
    """Find ``--log_file X`` / ``--log_file=X`` in raw argv (the parse itself failed)."""
    return _scan_flag(argv, "--log_file")


def _scan_flag(argv: Sequence[str], flag: str) -> str | None:
    """Find ``FLAG X`` / ``FLAG=X`` in raw argv (the parse itself failed)."""
    for i, arg in enumerate(argv):
        if arg.startswith(f"{flag}="):
            return arg.split("=", 1)[1]
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
    return None


def _add_bool(group: argparse._ArgumentGroup, flag: str, default: bool, text: str) -> None:
    """A boolean flag: ``--flag`` alone means true; ``--flag VALUE`` parses true/false/..."""
    group.add_argument(flag, type=str2bool, nargs="?", const=True, default=default,
                       metavar="BOOL", help=f"{text} (default: {str(default).lower()})")


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model and phase")
    group.add_argument("--model", default="alexnet", help="model name, see --list_models "
                       "(default: alexnet)")
    group.add_argument("--model_config", type=model_config, default=None, metavar="JSON",
                       help="a JSON object of settings overriding the model's: the config "
                            "of --model hf:<model_type> (a Hugging Face architecture, e.g. "
                            "hf:gpt2 with '{\"n_layer\": 2}'), or a zoo model's builder "
                            "keyword arguments (default: none)")
    group.add_argument("--list_models", action="store_true",
                       help="print the model names, one a line, and exit")
    _add_bool(group, "--forward_only", False, "benchmark inference instead of training")
    group.add_argument("--batch_size", type=batch_size, default=16,
                       help="batch size per device/replica, or 'max': the largest batch that "
                            "fits, found with short real runs (see --max_batch_limit, "
                            "--memory_budget_mb), then timed (default: 16)")
    group.add_argument("--num_batches", type=positive_int, default=10,
                       help="number of timed iterations (default: 10)")
    group.add_argument("--num_warmup_batches", type=natural_int, default=2,
                       help="untimed warm-up iterations, 0 allowed (default: 2)")
    group.add_argument("--target_precision", type=fraction, default=0.0,
                       help="keep iterating past --num_batches until a steady state is found "
                            "and the 95%% CI of the mean iteration time has this relative "
                            "half-width (e.g. 0.01), or --max_time is up; 0 = off (default: 0)")
    group.add_argument("--max_time", type=non_negative_float, default=0.0,
                       help="seconds of timed work at most (also caps --num_batches, with a "
                            "warning); 0 = no limit, or 600 s with --target_precision "
                            "(default: 0)")
    group.add_argument("--image_size", type=positive_int, default=None,
                       help="override an image model's input height and width "
                            "(default: the model's own)")
    group.add_argument("--seq_len", type=positive_int, default=None,
                       help="tokens per sample of a token model (gpt2, bert_base, llama3_1b...) "
                            "(default: the model's own; with --generate at most its positions "
                            "less the generated tokens)")
    group.add_argument("--generate", type=natural_int, default=0, metavar="N",
                       help="with --forward_only and a causal model: each iteration is a "
                            "prefill of --seq_len tokens then N decode steps with a KV cache "
                            "(greedy); logs TTFT and TPOT percentiles; 0 = off (default: 0)")


def _add_max_batch_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("the largest batch (--batch_size max)")
    group.add_argument("--max_batch_limit", type=positive_int, metavar="N",
                       default=os.environ.get(MAX_BATCH_LIMIT_ENV) or DEFAULT_MAX_BATCH_LIMIT,
                       help="the largest batch tried: when it still fits, results.max_batch "
                            "is N, a lower bound, with results.max_batch_capped true and a "
                            f"warning (default: ${MAX_BATCH_LIMIT_ENV}, else "
                            f"{DEFAULT_MAX_BATCH_LIMIT})")
    group.add_argument("--memory_budget_mb", type=non_negative_float, metavar="MB",
                       default=os.environ.get(MEMORY_BUDGET_ENV) or 0.0,
                       help="memory a probe may use, MiB: on a CPU each probe runs in a child "
                            "process whose data size may grow by this much (RLIMIT_DATA); on a "
                            "GPU, the share of the device's memory the probes may use; 0: half "
                            "of MemAvailable on a CPU, the whole device on a GPU (default: "
                            f"${MEMORY_BUDGET_ENV}, else 0)")
    group.add_argument("--max_batch_time", type=non_negative_float, metavar="S",
                       default=DEFAULT_MAX_BATCH_TIME,
                       help="seconds the search may take: past them no probe starts and a CPU "
                            "probe is stopped, and results.max_batch is the largest batch that "
                            "fit so far, a lower bound, with results.max_batch_timed_out true "
                            "and a warning (with --compile on a GPU, if no probe of the timed "
                            "run's own graph got in, the dynamic graph's edge, "
                            "results.max_batch_confirmed false); batch 1 always runs to its "
                            "end; 0 = no limit "
                            f"(default: {DEFAULT_MAX_BATCH_TIME:g})")


def _add_device_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("device and precision")
    group.add_argument("--device", type=str.lower, choices=DEVICES, default="auto",
                       help="compute device; gpu and cuda are the same; auto: a CUDA GPU when "
                            "torch sees one, else the CPU (default: auto)")
    group.add_argument("--num_gpus", type=natural_int, default=1,
                       help="GPUs used by one process (>1 without torchrun: DataParallel); "
                            "under torchrun each process uses one GPU (default: 1)")
    group.add_argument("--dtype", type=str.lower, choices=DTYPES, default="float32",
                       help="float|float32 full precision; float16 (with a gradient scaler in "
                            "training) or bfloat16 use autocast (default: float32)")
    _add_bool(group, "--channels_last", False, "use the channels-last memory format")
    _add_bool(group, "--compile", False, "torch.compile the model (slow to start)")
    _add_bool(group, "--cudnn_benchmark", True,
              "let cuDNN auto-tune convolution algorithms (GPUs only)")
    _add_bool(group, "--cudnn_fastest", False,
              "fastest math on GPUs: TF32 for float32 convolutions and matmuls (false: "
              "IEEE FP32 for both)")
    group.add_argument("--num_threads", type=thread_count, default=0,
                       help="CPU threads per replica (torch.set_num_threads, any device); 0: "
                            "on a CPU, OMP_NUM_THREADS if set, else the usable cores divided "
                            "evenly among the replicas on this node; on a GPU, torch's own; "
                            f"at most {MAX_THREADS} (default: 0)")
    group.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    group.add_argument("--optimizer", choices=OPTIMIZER_CHOICES, default="auto",
                       help="the optimizer of training: sgd (momentum 0.9, one state per "
                            "weight: DLBS's CNN benchmarks), adamw (torchtitan's settings, two "
                            "float32 states per weight); auto: adamw for transformers (Llama, "
                            "GPT-2, BERT, ViT, hf:), sgd for the rest (default: auto)")
    group.add_argument("--activation_checkpointing", choices=ACTIVATION_CHECKPOINTING,
                       default="none",
                       help="training: recompute a transformer block's activations in the "
                            "backward instead of keeping them: full (every block), selective "
                            "(every second block, torchtitan's default), none (default: none)")
    # DLBS's launch form (python -m torch.distributed.launch ... benchmarks.py --local-rank=N):
    # accepted; the rank comes from the launcher's environment (LOCAL_RANK, RANK, WORLD_SIZE).
    group.add_argument("--local_rank", "--local-rank", dest="local_rank", type=int, default=None,
                       help="set by torch.distributed.launch (DLBS's flag; the rank is read "
                            "from LOCAL_RANK)")
    group.add_argument("--parallelism", choices=PARALLELISMS, default="ddp",
                       help="how torchrun's ranks share the model: ddp (a replica each, "
                            "gradients all-reduced), fsdp (FSDP2: parameters, gradients and "
                            "optimizer state sharded over all ranks, one unit per transformer "
                            "block), hsdp (sharded within groups of --dp_shard ranks, "
                            "replicated across them), fsdp_tp (each block split by tensor "
                            "parallelism over groups of --tp_degree ranks, FSDP2 across the "
                            "groups: a 2-D mesh); bfloat16 keeps bfloat16 parameters and "
                            "float32 gradient reduction (default: ddp)")
    group.add_argument("--dp_shard", type=natural_int, default=0, metavar="N",
                       help="ranks in one HSDP shard group (a divisor of WORLD_SIZE); 0: the "
                            "ranks of one node, LOCAL_WORLD_SIZE (default: 0)")
    group.add_argument("--tp_degree", type=natural_int, default=0, metavar="N",
                       help="fsdp_tp: ranks in one tensor-parallel group, consecutive ranks "
                            "(a divisor of WORLD_SIZE, at least 2, dividing the model's "
                            "heads); they read one batch, so the data-parallel replicas are "
                            "WORLD_SIZE / N; 0: the ranks of one node, LOCAL_WORLD_SIZE "
                            "(default: 0)")
    group.add_argument("--device_memory_gb", type=non_negative_float, default=0.0,
                       metavar="GB",
                       help="the memory of one device (GB, 1e9 bytes): a Llama training plan "
                            "whose rank needs more (its memory plan: weights, gradients, "
                            "optimizer state, activations, buffers) is refused before it runs, "
                            "with the smallest change that fits; 0: the detected memory of the "
                            "device (a CUDA device's total, or a CPU rank's share of the "
                            "node's) (default: 0)")
    group.add_argument("--dist_backend", choices=("nccl", "gloo"), default=None,
                       help="DLBS's flag, accepted: the process group is nccl on GPUs and gloo "
                            "on CPUs, as DLBS recommended")


def _add_data_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--data", choices=("synthetic", "real", "synthetic/device"), default=None,
                       help="synthetic batch or real data (default: real when --data_dir is "
                            "given, else synthetic)")
    group.add_argument("--data_dir", default="", help="dataset folder for real data")
    group.add_argument("--data_backend", choices=BACKENDS, default=None,
                       help="real data storage: Caffe LMDB of Datum records or a class-per-"
                            "folder image tree (default: caffe_lmdb if DIR holds data.mdb, "
                            "else image_folder)")
    _add_bool(group, "--data_shuffle", False, "shuffle real data")
    group.add_argument("--num_loader_threads", type=natural_int, default=4,
                       help="data loader worker processes; 0 loads in the main process "
                            "(default: 4)")
    _add_bool(group, "--data_loader_only", False,
              "time the input pipeline alone (needs real data)")
    _add_bool(group, "--synthetic_on_host", False,
              "keep the synthetic batch in pinned host memory and copy it to the device each "
              "iteration (GPU only)")


def _add_measure_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("measurements besides time")
    group.add_argument("--peak_tflops", type=non_negative_float, default=0.0, metavar="X",
                       help="the device's dense peak TFLOPS for the precision used, for "
                            "results.mfu; 0: NVIDIA's datasheet figure for a known GPU, the "
                            "theoretical peak (cores x clock x FLOPs per cycle) on a CPU "
                            "(default: 0)")
    group.add_argument("--profile", type=writable_folder, default=None, metavar="DIR",
                       help="write a torch.profiler Chrome trace of a few extra, untimed "
                            "steady-state iterations to DIR (default: none)")
    _add_bool(group, "--check_numerics", False,
              "after timing, compare one forward pass of the run (its precision, memory "
              "format, compilation) with a float32 eager copy of its weights on the same "
              "batch: results.numerics ok|off|not_finite with the relative error")


def build_parser() -> argparse.ArgumentParser:
    """Return the benchmark's argument parser (``--help`` shows examples)."""
    parser = FactArgumentParser(
        prog="benchmarks.py", description="Benchmark one PyTorch model: training, inference "
        "or the input pipeline; prints __key__=json facts.", epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)
    _add_model_args(parser)
    _add_max_batch_args(parser)
    _add_device_args(parser)
    _add_data_args(parser)
    _add_measure_args(parser)
    parser.add_argument("--log_file", default=None,
                        help="append the facts to this file instead of stdout")
    parser.add_argument("--facts", choices=FACTS, default="auto",
                        help="where the __key__=json facts go: auto: --log_file when given, "
                             "else stdout unless stdout is a terminal (then a person reads "
                             "one progress line and a result block instead); stdout: stdout "
                             "(and not --log_file); log: --log_file; none: nowhere "
                             "(default: auto)")
    parser.add_argument("--version", action="version", version=version_line(),
                        help="print the version and exit")
    return parser


def version_line() -> str:
    """``pytorch_benchmarks 0.1.0 (python 3.11.7)``: what ``--version`` prints."""
    from pytorch_benchmarks import __version__

    return f"pytorch_benchmarks {__version__} (python {platform.python_version()})"


def parse_args(argv: Sequence[str] | None = None,
               parser: argparse.ArgumentParser | None = None) -> Spec:
    """Parse, normalise and check ``argv`` into a :class:`Spec`; usage errors exit 2 (with a
    failure fact)."""
    parser = parser or build_parser()
    parser.raw_argv = None if argv is None else list(argv)  # type: ignore[attr-defined]
    args = parser.parse_args(argv)
    _normalise(args)
    spec = to_spec(args)
    # The flags that cannot go together, an unknown model: the checks validate runs too
    found = checks.find_refusals(subject(spec), None, "flags")
    if found:
        parser.error(found[0].message)
    return spec


def subject(spec: Spec, world_size: int = 1, torchrun: bool = False) -> checks.Subject:
    """What :mod:`pytorch_benchmarks.checks` reads of a parsed command line."""
    return checks.subject_of(spec.model, spec.data, spec.run, world_size, torchrun,
                             spec.output.list_models, spec.output.facts, spec.output.log_file,
                             spec.device)


def facts_destination(facts: str, log_file: str | None, stdout_is_terminal: bool) -> str:
    """Where the facts go: ``log`` (``--log_file``), ``stdout`` or ``none``. ``--facts auto``:
    the log file when given, else stdout unless it is a terminal (a launcher captures stdout:
    a pipe or a file, never a terminal, so its runs write their facts as they always did)."""
    if facts != "auto":
        return facts
    if log_file:
        return "log"
    return "none" if stdout_is_terminal else "stdout"


class _Refused(Exception):
    """A usage error of :func:`parse_quietly` (argparse's message)."""


class _QuietParser(argparse.ArgumentParser):
    """The benchmark's parser, whose usage errors raise instead of exiting and writing a
    failure fact."""

    def error(self, message: str) -> NoReturn:
        raise _Refused(message)


@functools.lru_cache(maxsize=1)
def _quiet_parser() -> argparse.ArgumentParser:
    """The benchmark's parser, built once (a plan of thousands of experiments is parsed in
    milliseconds), whose errors raise and whose ``--profile`` makes no folder where the
    experiment may never run."""
    parser = build_parser()
    parser.__class__ = _QuietParser
    for action in parser._actions:
        if action.type is writable_folder:
            action.type = str
    return parser


_FLAG_IN_MESSAGE = re.compile(r"argument (--[\w-]+)")


def parse_quietly(argv: Sequence[str]) -> tuple[Spec | None, checks.Refusal | None]:
    """Parse ``argv`` as the benchmark would, without side effects (no failure fact, no
    ``--profile`` folder made, no exit): the spec, or the usage error as a refusal of check
    ``usage`` naming the flag argparse names. The flag checks are left to the caller."""
    try:
        args = _quiet_parser().parse_args(list(argv))
    except _Refused as err:
        found = _FLAG_IN_MESSAGE.search(str(err))
        return None, checks.Refusal("usage", (found.group(1),) if found else (), str(err))
    _normalise(args)
    return to_spec(args), None




def _normalise(args: argparse.Namespace) -> None:
    """DLBS's and the short spellings, and ``--data`` from ``--data_dir``."""
    if args.dtype == "float":
        args.dtype = "float32"
    if args.device == "cuda":
        args.device = "gpu"
    if args.data == "synthetic/device":  # DLBS's name: synthetic data in device memory
        args.data, args.synthetic_on_host = "synthetic", False
    if args.data is None:
        args.data = "real" if args.data_dir else "synthetic"


def to_spec(args: argparse.Namespace) -> Spec:
    """The parsed flags, part by part."""
    return Spec(
        model=ModelSpec(name=args.model, config=args.model_config, image_size=args.image_size,
                        seq_len=args.seq_len),
        data=DataSpec(source=args.data, dir=args.data_dir, backend=args.data_backend,
                      shuffle=args.data_shuffle, num_loader_threads=args.num_loader_threads,
                      loader_only=args.data_loader_only,
                      synthetic_on_host=args.synthetic_on_host),
        device=DeviceSpec(device=args.device, num_gpus=args.num_gpus, dtype=args.dtype,
                          channels_last=args.channels_last, compile=args.compile,
                          cudnn_benchmark=args.cudnn_benchmark,
                          cudnn_fastest=args.cudnn_fastest, num_threads=args.num_threads,
                          local_rank=args.local_rank, dist_backend=args.dist_backend,
                          parallelism=args.parallelism, dp_shard=args.dp_shard,
                          tp_degree=args.tp_degree, device_memory_gb=args.device_memory_gb),
        run=RunSpec(forward_only=args.forward_only, batch_size=args.batch_size,
                    generate=args.generate, num_batches=args.num_batches,
                    num_warmup_batches=args.num_warmup_batches,
                    target_precision=args.target_precision, max_time=args.max_time,
                    seed=args.seed, optimizer=args.optimizer,
                    activation_checkpointing=args.activation_checkpointing,
                    check_numerics=args.check_numerics),
        max_batch=MaxBatchSpec(limit=args.max_batch_limit,
                               memory_budget_mb=args.memory_budget_mb,
                               time=args.max_batch_time),
        measure=MeasureSpec(peak_tflops=args.peak_tflops, profile=args.profile),
        output=OutputSpec(log_file=args.log_file, list_models=args.list_models,
                          facts=args.facts))
