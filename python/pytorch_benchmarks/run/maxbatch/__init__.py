"""``--batch_size max``: the largest batch that fits in memory, found with short real runs.

Responsibility: search the batch and say how (``results.max_batch``, ``results.max_batch_probes``
and the ``exp.max_batch_*`` facts, ``docs/log-format.md``); the benchmark then times the batch
found as it times any other. It never decides what a failure means: the benchmark's
``classify`` says which errors are out-of-memory.

Modules, each standing on those after it: :mod:`.finder` (``find_max_batch``: the probers
chosen, the search run, the facts and warnings), :mod:`.probers` (a probe: the workload run
at one batch, in this process or in a forked child), :mod:`.limits` (the memory a probe may
use: ``/proc``, resource limits, a GPU's share) and :mod:`.searches` (which batch to probe
next: pure, no torch, no ``/proc``, no process). This file holds no code: a test that
replaces something replaces it in the module that reads it.

The search (:func:`.searches.search`) probes batches 1, 2, 4, ... until one does not fit or
``--max_batch_limit`` is reached (the limit itself is probed when the doubling would pass it),
then bisects between the largest batch that fit and the smallest that did not, so the result
``B`` fits and ``B + 1`` was seen not to (memory is taken to grow with the batch). When the limit
itself fits, ``B`` is the limit, a lower bound: ``results.max_batch_capped`` is true and a
warning says so. When batch 1 does not fit, nothing does: the run ends with status ``oom``.

The search has an overall time limit (``--max_batch_time``, seconds from its start; 0: none).
Batch 1 is always probed to its end (without it there is no answer, and the timed run would
take as long per step); past the limit no further probe starts, and a probe running in a
forked child (a CPU) is killed at the limit and logged with ``"fits": null``. ``B`` is then
the largest batch that fit so far, a lower bound: ``results.max_batch_timed_out`` is true and
a warning says so (a compiled search on a GPU that got no probe of the timed run's own graph
in keeps its dynamic graph's edge instead, not a lower bound: ``results.max_batch_confirmed``
is false, and its warning says so). A probe in this process (a GPU) cannot be stopped: it
ends first.

A probe is the real thing at that batch: the workload is built as for a run (model, optimizer,
data, the phase's step, on the run's device and dtype) and :data:`.probers.PROBE_WARMUP` +
:data:`.probers.PROBE_STEPS` steps run (training reaches its high-water mark in the second
step, once the optimizer holds its state). "Does not fit" means:

- on a GPU, the step raised CUDA's out-of-memory error, or above batch 1 an error that memory
  running out usually causes near the edge without saying so (``CUBLAS_STATUS_EXECUTION_FAILED``,
  ``CUDNN_STATUS_INTERNAL_ERROR``: the probe's reason says "probably out of memory"; the
  benchmark's ``near_oom`` says which). Probes run in this process and
  everything is freed between them (``gc.collect``, ``torch.cuda.empty_cache``); a
  ``--memory_budget_mb`` caps the probes' share of the device
  (``torch.cuda.set_per_process_memory_fraction``). With ``--compile`` the search has two
  parts (:func:`.searches.compiled_search`): one graph with a dynamic batch dimension for the
  doubling and the bisection, then the static graph the timed run compiles, probed at the edge
  found and beside it (the compiler's graphs forgotten, ``torch._dynamo.reset()``, after
  each): a few compiles in all, not one a probe.
- on a CPU, where running a 128 GB host out of memory is no test, the probe ran out of its
  memory budget for real: each probe runs in a forked child process whose ``RLIMIT_DATA`` is its
  data size at the fork plus the budget (the growth of its private writable memory: tensors,
  allocator caches, thread stacks), so an allocation beyond it fails (torch: "can't allocate
  memory"). Garbage is collected before each fork and again in the child before its limit is
  set: memory freed after that would be room beyond the budget (how much, and whether a
  collection falls inside the probe, depends on the parent's history, not on the batch). A
  child killed by a signal, or that exits before reporting (a thread that could not be
  created), does not fit either, with the reason. Where the kernel does not enforce
  ``RLIMIT_DATA`` on mappings (Linux before 4.7) ``RLIMIT_AS`` (the address space) is used.

The children are forked from the benchmark process before it has run any torch computation:
GNU OpenMP's thread pool does not survive a fork (a child of a process that has used it hangs
in its first parallel region), so the benchmark searches before it builds its own workload.
"""
