"""The Slurm batch script of one experiment (``exp.scheduler=slurm``); built, never submitted.

The script asks for the nodes with ``#SBATCH`` lines (from ``slurm.*`` and ``exp.num_nodes``),
finds the first node's address, and starts one copy of the experiment's launch script per node
with ``srun``: the launch script runs torchrun, which takes its rendezvous from the
``PET_MASTER_ADDR``/``PET_MASTER_PORT`` variables exported here and its node rank from
``SLURM_NODEID`` (see ``dlbs.launchers.torchrun``). Docker inside the job composes as on bare
metal, since the launch script is the same.

``#SBATCH`` lines are read by ``sbatch`` itself, not by a shell, so their values cannot be
shell-quoted: every value must be one plain word of a small safe alphabet, and anything else
is refused with the parameter named. Paths (the log, the launch script) never go into them:
the runner passes ``--output`` on sbatch's command line, and the ``srun`` line is quoted.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dlbs.errors import ValidationError
from dlbs.experiment import Experiment
from dlbs.experiment.groups import SlurmSettings
from dlbs.experiment.values import as_arg
from dlbs.launchers.pyxis import srun_options
from dlbs.launchers.script import render_array_script, render_batch_script
from dlbs.params import catalogue

#: What a value in an ``#SBATCH`` line may contain (no space, quote, ``$``, ``#`` or ``\``).
SAFE_WORD = re.compile(r"^[A-Za-z0-9_.:,=@%+/\-\[\]]+$")
#: (``SlurmSettings`` text field, sbatch option) pairs written when the parameter
#: ``slurm.<field>`` is not empty.
OPTION_PARAMS: tuple[tuple[str, str], ...] = (
    ("partition", "--partition"),
    ("account", "--account"),
    ("qos", "--qos"),
    ("time", "--time"),
    ("mem", "--mem"),
    # GPU centres (docs/slurm.md, "GPU centre"): generic resources, node features, reserved
    # nodes, licenses, memory per GPU
    ("gres", "--gres"),
    ("mem_per_gpu", "--mem-per-gpu"),
    ("constraint", "--constraint"),
    ("reservation", "--reservation"),
    ("licenses", "--licenses"),
)
#: A GPU entry of a GRES list: gpu, gpu:N, gpu:TYPE or gpu:TYPE:N (Slurm's gres syntax). A
#: TYPE may start with a digit (MIG profiles such as 1g.10gb) but is never a bare number.
GRES_GPU = re.compile(r"^gpu(?::(?P<type>(?!\d+(?::|$))[A-Za-z0-9_.\-]+))?(?::(?P<count>\d+))?$")
BATCH_SUFFIX = ".sbatch"
#: sbatch options the runner gives on the command line, where they override any #SBATCH line:
#: in ``slurm.extra_args`` they would be ignored, so they are refused (with what to use).
RUNNER_OPTIONS: dict[str, str] = {
    "--output": "the runner reads the job's output from <log>.part",
    "-o": "the runner reads the job's output from <log>.part",
    "--error": "the runner reads the job's errors from <log>.part",
    "-e": "the runner reads the job's errors from <log>.part",
    "--open-mode": "the runner appends the job's output to the log's header",
    "--requeue": "use -Pslurm.requeue=true",
    "--no-requeue": "it is the default (slurm.requeue=false)",
    "--signal": "use -Pslurm.signal=B:SIG@SECONDS",
    "--parsable": "the runner asks for it",
    "--array": "use -Pslurm.array=true (the runner keeps track of the tasks)",
    "-a": "use -Pslurm.array=true (the runner keeps track of the tasks)",
}


#: sbatch options that a slurm.* parameter or exp.* value owns, checked there (GPU counts
#: against exp.gpus, exclusive nodes for slurm.max_jobs, one task per node for torchrun, the
#: runner's own chaining): in ``slurm.extra_args`` they would get around those checks (a later
#: #SBATCH line wins), so they are refused with what to use instead.
OWNED_OPTIONS: dict[str, str] = {
    "--nodes": "use -Pexp.num_nodes", "-N": "use -Pexp.num_nodes",
    "--ntasks": "dlbs runs one task per node (torchrun starts that node's ranks)",
    "-n": "dlbs runs one task per node (torchrun starts that node's ranks)",
    "--ntasks-per-node": "dlbs runs one task per node (torchrun starts that node's ranks)",
    "--gpus-per-node": "use -Pslurm.gpus_per_node (checked against exp.gpus)",
    "--gpus": "use -Pslurm.gpus_per_node or -Pslurm.gres (checked against exp.gpus)",
    "-G": "use -Pslurm.gpus_per_node or -Pslurm.gres (checked against exp.gpus)",
    "--gres": "use -Pslurm.gres (checked against exp.gpus)",
    "--gpus-per-task": "use -Pslurm.gpus_per_task (checked against exp.gpus)",
    "--cpus-per-task": "use -Pslurm.cpus_per_task", "-c": "use -Pslurm.cpus_per_task",
    "--cpus-per-gpu": "use -Pslurm.cpus_per_gpu",
    "--mem": "use -Pslurm.mem", "--mem-per-gpu": "use -Pslurm.mem_per_gpu",
    "--exclusive": "use -Pslurm.exclusive (true by default)",
    "--oversubscribe": "dlbs keeps its jobs on whole nodes (slurm.exclusive; slurm.max_jobs > 1 "
                       "relies on it)",
    "-s": "dlbs keeps its jobs on whole nodes (slurm.exclusive; slurm.max_jobs > 1 relies on it)",
    "--dependency": "the runner chains its jobs itself (slurm.max_jobs, arrays) and would "
                    "replace it; submit what must come first before the sweep",
    "-d": "the runner chains its jobs itself (slurm.max_jobs, arrays) and would replace it; "
          "submit what must come first before the sweep",
    "--test-only": "nothing would be submitted; use experimenter build --scripts DIR to read "
                   "the scripts",
    "--wrap": "the batch script is dlbs's own",
}
#: sbatch's long options (22.05: those of ``sbatch --help`` and its hidden ones), to read an
#: abbreviation as getopt_long does: the one option it starts, else none (ambiguous).
SBATCH_LONG_OPTIONS: tuple[str, ...] = (
    "--account", "--acctg-freq", "--array", "--batch", "--bb", "--bbf", "--begin", "--chdir",
    "--cluster-constraint", "--clusters", "--comment", "--constraint", "--container",
    "--contiguous", "--core-spec", "--cores-per-socket", "--cpu-freq", "--cpus-per-gpu",
    "--cpus-per-task", "--deadline", "--delay-boot", "--dependency", "--distribution", "--error",
    "--exclude", "--exclusive", "--export", "--export-file", "--extra-node-info", "--get-user-env",
    "--gid", "--gpu-bind", "--gpu-freq", "--gpus", "--gpus-per-node", "--gpus-per-socket",
    "--gpus-per-task", "--gres", "--gres-flags", "--help", "--hint", "--hold", "--ignore-pbs",
    "--input", "--job-name", "--kill-on-invalid-dep", "--licenses", "--mail-type", "--mail-user",
    "--mcs-label", "--mem", "--mem-bind", "--mem-per-cpu", "--mem-per-gpu", "--mincpus",
    "--network", "--nice", "--no-kill", "--no-requeue", "--nodefile", "--nodelist", "--nodes",
    "--ntasks", "--ntasks-per-core", "--ntasks-per-gpu", "--ntasks-per-node",
    "--ntasks-per-socket", "--open-mode", "--output", "--overcommit", "--oversubscribe",
    "--parsable", "--partition", "--power", "--priority", "--profile", "--propagate", "--qos",
    "--quiet", "--reboot", "--requeue", "--reservation", "--signal", "--sockets-per-node",
    "--spread-job", "--switches", "--test-only", "--thread-spec", "--threads-per-core", "--time",
    "--time-min", "--tmp", "--tres-per-task", "--uid", "--usage", "--use-min-nodes", "--verbose",
    "--version", "--wait", "--wait-all-nodes", "--wckey", "--wrap",
)

#: Those of RUNNER_OPTIONS that dlbs writes as #SBATCH lines rather than on the command line.
SCRIPT_OPTIONS = frozenset({"--signal", "--array", "-a"})


def batch_file_for(log_file: str) -> str:
    """Where the batch script of the experiment logged in ``log_file`` is kept: beside it."""
    return log_file.removesuffix(".log") + BATCH_SUFFIX


#: ``slurm.constraint`` may also hold Slurm's operators (a100&ib, a100|h100, [rack1*2&rack2*4]):
#: sbatch reads #SBATCH lines itself, no shell sees them.
CONSTRAINT_WORD = re.compile(r"^[A-Za-z0-9_.:,=@%+/\-\[\]&|*()]+$")


#: Sizes sbatch takes for --mem and --mem-per-gpu (a count of MiB, or with K/M/G/T[B]) and
#: time limits it takes for --time (minutes, M:S, H:M:S, D-H, D-H:M, D-H:M:S, or no limit):
#: a value of another form is refused by ``validate`` rather than by sbatch at submission.
SIZE_WORD = re.compile(r"^\d+(?:[KMGTkmgt][Bb]?)?$")
TIME_WORD = re.compile(r"^(?:\d+|\d+:\d+|\d+:\d+:\d+|\d+-\d+|\d+-\d+:\d+|\d+-\d+:\d+:\d+"
                       r"|(?i:infinite|unlimited))$")
SIZE_FORM = "a size such as 64G (a number of MiB, or with K, M, G or T)"
TIME_FORM = "a time limit such as 02:00:00, 1-00:00:00, 90 (minutes) or UNLIMITED"
LICENSES_WORD = re.compile(r"^[A-Za-z0-9_.\-]+(?:@[A-Za-z0-9_.\-]+)?(?::\d+)?"
                           r"(?:[,|][A-Za-z0-9_.\-]+(?:@[A-Za-z0-9_.\-]+)?(?::\d+)?)*$")
LICENSES_FORM = "licenses such as fs_lustre:1 or a:2,b@db:1 (NAME[@DB][:COUNT], joined by , or |)"
#: A declared ``form`` (``dlbs.params.catalogue.VALUE_FORMS``) -> its pattern and its words.
FORMS: dict[str, tuple[re.Pattern[str], str]] = {
    "licenses": (LICENSES_WORD, LICENSES_FORM), "size": (SIZE_WORD, SIZE_FORM),
    "time": (TIME_WORD, TIME_FORM)}
#: Parameter -> the pattern and words of its form (each parameter's ``form`` in
#: config/slurm.json).
FORMATS: dict[str, tuple[re.Pattern[str], str]] = {
    name: FORMS[form] for name, form in catalogue.forms().items()}


#: The parameters whose words ``safe_word`` reads in their own forms.
CONSTRAINT, LICENSES, EXTRA_ARGS = (SlurmSettings.parameter(field) for field in (
    "constraint", "licenses", "extra_args"))


def safe_word(name: str, value: Any) -> str:
    """``value`` as text if it may stand in an ``#SBATCH`` line; else a ValidationError."""
    text = as_arg(value).strip()
    if name == CONSTRAINT and CONSTRAINT_WORD.match(text):
        return text
    if name in FORMATS and not FORMATS[name][0].match(text):
        raise ValidationError(f"parameter '{name}' = {text!r} is not what sbatch takes: give "
                              f"{FORMATS[name][1]}")
    if name == LICENSES:  # its form holds no space, quote, '$' or '#'; '|' is Slurm's
        return text
    if not SAFE_WORD.match(text):
        extra = "&|*()" if name == CONSTRAINT else ""
        raise ValidationError(f"parameter '{name}' = {text!r} cannot go into an #SBATCH line: "
                              f"use one word of letters, digits and _.:,=@%+/-[]{extra} (no "
                              "spaces, quotes, '$', '#')")
    return text


def extra_args(exp: Experiment) -> list[str]:
    """``slurm.extra_args`` as sbatch options (a list, or words separated by spaces)."""
    options = []
    for word in exp.slurm.extra_args:
        text = safe_word(EXTRA_ARGS, word)
        if not text.startswith("-"):
            raise ValidationError(f"parameter 'slurm.extra_args': {text!r} is not an sbatch "
                                  "option; give options such as --constraint=a100")
        ambiguous = abbreviation_problem(text)
        if ambiguous:
            raise ValidationError(f"parameter 'slurm.extra_args': {ambiguous}")
        owned = runner_option(text, OWNED_OPTIONS)
        if owned is not None:
            raise ValidationError(f"parameter 'slurm.extra_args': {as_given(text, owned)} is "
                                  f"not taken here (dlbs sets or checks it): "
                                  f"{OWNED_OPTIONS[owned]}")
        name = runner_option(text)
        if name is not None:
            shown = as_given(text, name)
            where = "in the batch script" if name in SCRIPT_OPTIONS else \
                "on sbatch's command line, which overrides it"
            raise ValidationError(f"parameter 'slurm.extra_args': {shown} is set by dlbs "
                                  f"{where}; {RUNNER_OPTIONS[name]}")
        options.append(text)
    return options


def as_given(word: str, option: str) -> str:
    """The option ``word`` names, as written, and what sbatch reads it as when abbreviated
    (``--sig (sbatch reads it as --signal)``)."""
    given = word.split("=", 1)[0] if word.startswith("--") else word[:2]
    return given if given == option else f"{given} (sbatch reads it as {option})"


def abbreviation_problem(word: str) -> str | None:
    """Why sbatch cannot read the long option ``word`` stands for, or None."""
    name = word.split("=", 1)[0]
    if not name.startswith("--") or name in SBATCH_LONG_OPTIONS or len(name) <= 2:
        return None
    longer = [option for option in SBATCH_LONG_OPTIONS if option.startswith(name)]
    if len(longer) > 1:
        return (f"{name} is an abbreviation of several sbatch options ({', '.join(longer[:4])}"
                f"{', ...' if len(longer) > 4 else ''}); write the option in full")
    return None


def runner_option(word: str, options: Mapping[str, str] = RUNNER_OPTIONS) -> str | None:
    """The option of ``options`` (RUNNER_OPTIONS) that ``word`` gives to sbatch, or None: short
    options by their letter, long ones also by an abbreviation that only they start with
    (sbatch takes ``--sig`` for ``--signal``, as getopt_long does)."""
    if not word.startswith("--"):
        return word[:2] if word[:2] in options else None
    name = word.split("=", 1)[0]
    if name in options:
        return name
    if name in SBATCH_LONG_OPTIONS or len(name) <= 2:
        return None  # another option of sbatch's, named in full
    longer = [option for option in SBATCH_LONG_OPTIONS if option.startswith(name)]
    return longer[0] if len(longer) == 1 and longer[0] in options else None


def max_jobs(exp: Experiment) -> int:
    """``slurm.max_jobs`` (at least 1)."""
    return max(1, exp.slurm.max_jobs)


def requeue(exp: Experiment) -> bool:
    """``slurm.requeue``: whether Slurm may requeue the job (``sbatch --requeue``)."""
    return exp.slurm.requeue


def queue_timeout(exp: Experiment) -> int:
    """``slurm.queue_timeout`` in seconds (0: no limit); a ValidationError when negative."""
    seconds = exp.slurm.queue_timeout
    if seconds < 0:
        raise ValidationError(f"slurm.queue_timeout is {seconds}; give the seconds a job may "
                              "wait in the queue, or 0 to wait as long as it takes")
    return seconds


#: ``slurm.signal``: ``[B:|R:]SIG[@SECONDS]`` as sbatch's ``--signal`` takes it (Slurm's own
#: names or numbers; dlbs traps only a named signal the batch shell is given, ``B:``).
SIGNAL_SPEC = re.compile(r"^(?:(?P<where>[BR]):)?(?:SIG)?(?P<sig>[A-Z0-9]+)(?:@(?P<secs>\d+))?$")
#: Signals the batch script may trap and pass on to the benchmark (it stops timing on them).
WARN_SIGNALS = ("USR1", "USR2", "TERM", "INT", "HUP", "URG")


def warn_signal(exp: Experiment) -> tuple[str, int] | None:
    """``slurm.signal`` as (signal name, seconds before the limit), or None when empty; a
    ValidationError when sbatch would not take it. Default ``B:USR1@120``."""
    slurm = exp.slurm
    text = slurm.signal
    if not text:
        return None
    match = SIGNAL_SPEC.match(text.upper())
    if match is None or (not match.group("sig").isdigit()
                         and match.group("sig") not in WARN_SIGNALS + ("KILL", "STOP", "CONT",
                                                                       "QUIT", "ALRM")):
        raise ValidationError(f"slurm.signal = {text!r} is not sbatch's --signal=[B:]SIG[@SECONDS]"
                              " (e.g. B:USR1@120: the batch script is warned 120 s before the "
                              "time limit); give that, or '' for none")
    name, seconds = match.group("sig"), int(match.group("secs") or 60)
    if seconds > 65535:
        raise ValidationError(f"slurm.signal = {text!r}: sbatch takes at most 65535 seconds "
                              "before the time limit; give fewer, e.g. B:USR1@120")
    if seconds == 0:
        raise ValidationError(f"slurm.signal = {text!r} warns 0 s before the time limit, when "
                              "nothing can be saved any more; give the seconds the benchmark "
                              "needs to stop, e.g. B:USR1@120")
    limit = limit_seconds(slurm.time)
    if limit is not None and seconds >= limit:
        raise ValidationError(f"slurm.signal = {text!r} warns {seconds} s before the time limit, "
                              f"but slurm.time ({slurm.time}) is {limit:.0f} s: "
                              "the warning would come at the start; give fewer seconds (e.g. "
                              f"B:{name}@{max(1, int(limit) // 4)}) or -Pslurm.signal=''")
    if match.group("where") != "B" or name not in WARN_SIGNALS:
        raise ValidationError(f"slurm.signal = {text!r}: dlbs needs the warning sent to the batch "
                              "script (B:) as one of " + ", ".join(WARN_SIGNALS) + ", to note it "
                              "in the log and pass it on to the benchmark (e.g. B:USR1@120)")
    return name, seconds


def limit_seconds(text: str) -> float | None:
    """Slurm's time limit text (``1-02:03:04``, ``02:03:04``, ``03:04``, ``5``: minutes) in
    seconds; None for ``UNLIMITED``, ``Partition_Limit``, ``0`` (sbatch: no limit) or anything
    else."""
    match = re.match(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$", text.strip())
    if match is None:
        return None
    days, first, second, third = (int(g) if g else None for g in match.groups())
    if third is not None:
        seconds = (first or 0) * 3600 + (second or 0) * 60 + third
    elif second is not None:
        seconds = (first or 0) * 3600 + second * 60 if days is not None else \
            (first or 0) * 60 + second
    else:
        seconds = (first or 0) * 3600 if days is not None else (first or 0) * 60
    total = float(seconds + (days or 0) * 86400)
    return total if total > 0 else None


def sbatch_options(exp: Experiment) -> list[str]:
    """The ``#SBATCH`` options of ``exp``, each one checked word."""
    nodes = max(1, exp.num_nodes)
    options = [f"--job-name={job_name(exp)}", f"--nodes={nodes}", "--ntasks-per-node=1"]
    for name, option in OPTION_PARAMS:
        if exp.slurm.text(name):
            options.append(f"{option}={safe_word(f'slurm.{name}', exp.slurm.text(name))}")
    extras = extra_args(exp)
    check_exclusive_options(exp, extras)
    check_gpu_ids(exp)
    gpus = exp.slurm.gpus_per_node
    if gpus < 0:
        raise ValidationError(f"slurm.gpus_per_node is {gpus}; give the GPUs per node, or 0 "
                              "to ask for none")
    elsewhere = gpu_request_elsewhere(exp, max(gpus, exp.gpus_per_node))
    if not elsewhere and 0 < gpus < exp.gpus_per_node:
        raise ValidationError(f"slurm.gpus_per_node is {gpus} but the experiment uses "
                              f"{exp.gpus_per_node} GPU(s) per node (exp.gpus): Slurm would "
                              f"hand it {gpus}; give -Pslurm.gpus_per_node={exp.gpus_per_node}, "
                              "or 0 to ask Slurm for no GPU (nodes whose GPUs Slurm does not "
                              "manage)")
    if not elsewhere and gpus > 0:
        options.append(f"--gpus-per-node={gpus}")
    check_per_gpu_options(exp, asks_for_gpus=elsewhere or gpus > 0)
    if exp.slurm.cpus_per_task > 0:
        options.append(f"--cpus-per-task={exp.slurm.cpus_per_task}")
    for (name, count), option in zip(exp.slurm.named("gpus_per_task", "cpus_per_gpu"),
                                     ("--gpus-per-task", "--cpus-per-gpu")):
        if count < 0:
            raise ValidationError(f"{name} is {count}; give a count, or 0 to leave it out")
        if count > 0:
            options.append(f"{option}={count}")
    exclusive = exp.slurm.exclusive
    if max_jobs(exp) > 1 and not exclusive:
        raise ValidationError("slurm.max_jobs > 1 needs slurm.exclusive=true: it is how jobs in "
                              "flight together are kept on disjoint nodes")
    if exclusive:
        options.append("--exclusive")
    warning = warn_signal(exp)
    if warning is not None:
        options.append(f"--signal=B:{warning[0]}@{warning[1]}")
    return options + extras


def gres_gpus(exp: Experiment) -> int | None:
    """The GPUs per node ``slurm.gres`` asks for (``gpu:a100:8`` -> 8, ``gpu:a100`` -> 1),
    or None when it names no GPU."""
    text = exp.slurm.gres
    if not text:
        return None
    total: int | None = None
    for entry in text.split(","):
        if entry.split(":")[0].lower() == "gpu" and not entry.startswith("gpu"):
            raise ValidationError(f"slurm.gres: {entry!r}: Slurm's GPU resource is named 'gpu' "
                                  f"(lower case), e.g. {'gpu' + entry[3:]}")
        if entry == "gpu" or entry.startswith("gpu:"):
            match = GRES_GPU.match(entry)
            if match is None:
                raise ValidationError(f"slurm.gres: {entry!r} is not a GPU request of Slurm's "
                                      "form gpu[:TYPE][:COUNT], e.g. gpu:a100:8")
            total = (total or 0) + int(match.group("count") or 1)
    return total


def check_exclusive_options(exp: Experiment, extras: list[str]) -> None:
    """A ValidationError when options sbatch refuses together are given (``extras``: the
    checked ``slurm.extra_args``)."""
    slurm = exp.slurm
    memory = [name for name, value in slurm.named("mem", "mem_per_gpu") if value]
    per_cpu = [word for word in extras if runner_option(word, {"--mem-per-cpu": ""})]
    if memory and per_cpu:
        raise ValidationError(f"{memory[0]} and --mem-per-cpu (slurm.extra_args) are both set: "
                              "sbatch takes one of --mem, --mem-per-cpu and --mem-per-gpu; "
                              "keep one")
    if slurm.mem_per_gpu and slurm.mem:
        raise ValidationError("slurm.mem and slurm.mem_per_gpu are both set: sbatch takes one "
                              "of --mem and --mem-per-gpu; keep one")
    if slurm.cpus_per_gpu > 0 and slurm.cpus_per_task > 0:
        raise ValidationError("slurm.cpus_per_task and slurm.cpus_per_gpu are both set: sbatch "
                              "takes one of --cpus-per-task and --cpus-per-gpu; keep one")


def check_gpu_ids(exp: Experiment) -> None:
    """In a Slurm job the GPUs are those Slurm hands the job, seen as 0..N-1 (Slurm's binding
    for bare metal, Apptainer and Pyxis; docker/podman would pick host GPUs by number, another
    set): ``exp.gpus`` names N GPUs as 0..N-1, else a ValidationError."""
    if exp.gpus_per_node == 0:
        return
    text = exp.gpus.strip()
    ids = [word for word in re.split("[:,]", text) if word.strip()]
    if not all(word.strip().isdigit() for word in ids):
        return  # validate names the malformed value
    if sorted(int(word) for word in ids) != list(range(len(ids))):
        first = ",".join(str(i) for i in range(len(ids)))
        raise ValidationError(f"exp.gpus is {text!r}, but in a Slurm job the GPUs are those "
                              "Slurm hands the job, numbered from 0 (each runtime would pick "
                              f"others by these numbers): give {len(ids)} GPU(s) as "
                              f"0..{len(ids) - 1}, e.g. -Pexp.gpus={first}")


def check_per_gpu_options(exp: Experiment, asks_for_gpus: bool) -> None:
    """A ValidationError when per-GPU options are given to a job that asks for no GPU (sbatch
    refuses them: "did not request any GPU")."""
    if asks_for_gpus:
        return
    for name, given in exp.slurm.named("mem_per_gpu", "cpus_per_gpu"):
        value = str(given)
        if value and value != "0":
            raise ValidationError(f"{name} is {value} but the job asks Slurm for no GPU "
                                  "(exp.gpus is empty, or slurm.gpus_per_node is 0): sbatch "
                                  f"refuses it; give GPUs, or leave {name} out (slurm.mem, "
                                  "slurm.cpus_per_task)")


def gpu_request_elsewhere(exp: Experiment, gpus: int) -> bool:
    """Whether the experiment's ``gpus`` GPUs per node are asked for by ``slurm.gres`` or
    ``slurm.gpus_per_task`` instead of ``--gpus-per-node`` (one task per node: the two are
    the same count); a ValidationError when they ask for fewer than the experiment uses."""
    gres, per_task = gres_gpus(exp), exp.slurm.gpus_per_task
    gres_name, per_task_name = exp.slurm.parameter("gres"), exp.slurm.parameter("gpus_per_task")
    for name, count in ((gres_name, gres), (per_task_name, per_task or None)):
        if count is not None and count < gpus:
            raise ValidationError(
                f"{name} asks for {count} GPU(s) per node but the experiment uses {gpus} per "
                f"node (exp.gpus, slurm.gpus_per_node); ask for {gpus}, e.g. "
                f"-P{name}={'gpu:TYPE:' + str(gpus) if name == gres_name else gpus}")
    return gres is not None or per_task > 0


def job_name(exp: Experiment) -> str:
    """``dlbs-<exp.id>`` when the id is a plain word, else ``dlbs``."""
    exp_id = exp.id.strip()
    return f"dlbs-{exp_id}" if exp_id and SAFE_WORD.match(exp_id) else "dlbs"


def end_file_for(log_file: str) -> str:
    """The file the batch script writes its exit code to when ``srun`` returns."""
    return f"{log_file}.end"


def build_batch_script(exp: Experiment, launch_script: str, end_file: str) -> str:
    """Return the batch script that runs ``launch_script`` once per node of ``exp`` and then
    writes its exit code to ``end_file``."""
    nodes = max(1, exp.num_nodes)
    queue_timeout(exp)
    port = exp.slurm.master_port
    if not 0 <= port <= 65535:
        raise ValidationError(f"slurm.master_port is {port}; use 1..65535, or 0 to derive "
                              "it from the job id")
    warning = warn_signal(exp)
    return render_batch_script(exp, sbatch_options(exp), launch_script, end_file, nodes,
                               exp.slurm.cpus_per_task, port,
                               container=srun_options(exp, launch_script),
                               warn_signal=warning[0] if warning else None)


# -- job arrays (slurm.array=true) -------------------------------------------------------------
#: Tasks of one array at most: Slurm's default MaxArraySize (1001) admits indexes 0..1000, so
#: a larger group is split into several arrays of this many tasks.
MAX_ARRAY_TASKS = 1000


def array(exp: Experiment) -> bool:
    """``slurm.array``: whether the experiment is submitted as a task of a job array."""
    return exp.slurm.array


def array_group(exp: Experiment) -> tuple[str, ...]:
    """What an array shares: the sbatch options of ``exp`` but its job name, and its requeue
    policy. Experiments with the same group go into one array; others into their own."""
    options = [option for option in sbatch_options(exp)
               if not option.startswith("--job-name=")]
    return ("--requeue" if requeue(exp) else "--no-requeue", *options)


def array_stem(log_file: str) -> str:
    """Where an array's files go, from the log of its first task: ``<log>.array`` +
    ``.sbatch`` (its batch script, which lists its tasks) and ``.out`` (Slurm's own messages
    about the tasks: the tasks' output goes to their logs)."""
    return log_file.removesuffix(".log") + ".array"


def build_array_script(group: tuple[str, ...], tasks: list[tuple[str, str]], limit: int) -> str:
    """The batch script of an array whose task i runs the batch script ``tasks[i][0]`` into
    ``tasks[i][1]``, at most ``limit`` tasks at once (``--array=0-N%K``, K = ``slurm.max_jobs``);
    ``group`` from :func:`array_group`. The task list is in the script itself: Slurm keeps the
    script as submitted, so no later file can change what a queued task runs."""
    count = len(tasks)
    if not 1 <= count <= MAX_ARRAY_TASKS:
        raise ValidationError(f"an array holds 1 to {MAX_ARRAY_TASKS} tasks, not {count}")
    options = ["--job-name=dlbs-array", f"--array=0-{count - 1}%{max(1, limit)}",
               *group[1:]]
    return render_array_script(options, tasks, group[0] == "--requeue")
