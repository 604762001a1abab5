"""``experimenter build --scripts DIR``: every launch script and batch script a run of the
plan would write and submit, for a centre's admin to read; nothing is submitted or run.

The scripts are rendered exactly as the runner renders them (the same launchers and paths:
a batch script names the launch script beside the log, as the run would write it), after the
plan passes ``validate``'s checks of the plan itself (Slurm and the container engines are not
asked: an admin may read the scripts elsewhere). They go into a private folder beside DIR,
which is then renamed to DIR (new or empty): a link, file or folder planted there meanwhile
makes the rename fail, and nothing is written through it. ``index.json`` lists, per
experiment, its id, model, log file and the files here. A bad experiment is a one-line error
naming it, and DIR stays as it was.
"""
from __future__ import annotations

import argparse
import errno
import json
import os
import re
import shlex
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from safeio import atomic_write_text

from dlbs.cli.planargs import load_experiments
from dlbs.errors import DLBSError, UsageError
from dlbs.experiment import Experiment


def _folder(path: str) -> Path:
    """``--scripts DIR`` if it may be written (absent, or an empty real folder); the final
    check is the rename into it (``publish``)."""
    folder = Path(path)
    if folder.is_symlink():
        raise UsageError(f"--scripts {path}: is a symbolic link; give a real folder")
    if folder.exists():
        if not folder.is_dir():
            raise UsageError(f"--scripts {path}: exists and is not a folder")
        if any(folder.iterdir()):
            raise UsageError(f"--scripts {path}: not empty; give a new or empty folder")
    return folder


def check_plan(experiments: list[dict[str, Any]]) -> None:
    """What ``validate`` checks of the plan itself, without asking Slurm, Docker or this host
    (an admin may review the scripts elsewhere): a bad plan writes no script."""
    from dlbs.cli.validate import print_warnings, raise_on_problems, validate_experiments
    from dlbs.dispatch.executors import check_slurm_plan, scheduler_of

    report = validate_experiments(experiments)
    raise_on_problems(report)
    print_warnings(report)
    views = [Experiment.of(exp) for exp in experiments]
    if scheduler_of(views) == "slurm":
        check_slurm_plan(views)


def publish(folder: Path, files: dict[str, str]) -> None:
    """Write ``files`` into a new private folder beside ``folder``, then rename it to
    ``folder``: the rename fails on anything planted there meanwhile (a link, a file, a
    folder with something in it), and a failure leaves ``folder`` as it was."""
    parent = folder.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=parent))
    except OSError as err:
        why = "a part of its path is not a folder" if err.errno in (errno.EEXIST, errno.ENOTDIR) \
            else err.strerror
        raise UsageError(f"--scripts {folder}: cannot create it ({why}); give a folder you can "
                         "write") from None
    try:
        for name, text in files.items():
            atomic_write_text(staging / name, text, mode=0o644)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)
        os.rename(staging, folder)
    except OSError as err:
        shutil.rmtree(staging, ignore_errors=True)
        what = {errno.ENOTEMPTY: "not empty", errno.EEXIST: "not empty",
                errno.ENOTDIR: "exists and is not a folder (or is a link)",
                errno.EBUSY: "in use (the current folder or a mount point) and cannot be "
                             "replaced"}.get(err.errno or 0, err.strerror or str(err))
        raise UsageError(f"--scripts {folder}: {what}; give a new or empty folder") from None


#: The names of the job arrays' scripts here (``array_N.sbatch``): no experiment takes them.
ARRAY_NAME = re.compile(r"array_\d+")


def render(experiments: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """``(index entry, {file name: text})`` of each experiment, as a run would write them."""
    from dlbs.launchers import build_script, script_file_for
    from dlbs.slurm.script import batch_file_for, build_batch_script, end_file_for

    out = []
    names: set[str] = set()
    views: list[Experiment] = []
    for number, exp in enumerate(experiments):
        log_file = str(exp.get("exp.log_file", f"experiment_{number}.log"))
        stem = os.path.basename(log_file).removesuffix(".log") or f"experiment_{number}"
        while stem in names or ARRAY_NAME.fullmatch(stem):  # array_N: the arrays' scripts
            stem = f"{stem}_{number}"
        names.add(stem)
        try:
            view = Experiment.of(exp)
            views.append(view)
            files = {f"{stem}.sh": build_script(view)}
            entry: dict[str, Any] = {
                "index": number, "exp.id": exp.get("exp.id"), "exp.model": exp.get("exp.model"),
                "exp.log_file": log_file, "launch_script": f"{stem}.sh",
                "runs_as": script_file_for(log_file)}
            if view.on_slurm:
                launch = os.path.abspath(script_file_for(log_file))
                files[f"{stem}.sbatch"] = build_batch_script(
                    view, launch, os.path.abspath(end_file_for(log_file)))
                entry["batch_script"] = f"{stem}.sbatch"
                entry["submitted_as"] = batch_file_for(log_file)
        except DLBSError as err:
            raise DLBSError(f"experiment {number} ({exp.get('exp.model')}): {err}") from None
        out.append((entry, files))
    return out + render_arrays(views, [entry for entry, _ in out])


def render_arrays(experiments: list[Experiment],
                  entries: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """The job arrays a run with ``slurm.array=true`` would submit, grouped and split as the
    runner does (``dlbs.slurm.executor.SlurmExecutor.flush``); each experiment's entry names
    its array and task."""
    from dlbs.slurm.ctl import sbatch_argv
    from dlbs.slurm.script import (
        MAX_ARRAY_TASKS,
        array,
        array_group,
        array_stem,
        batch_file_for,
        build_array_script,
        max_jobs,
    )

    groups: dict[tuple[str, ...], list[int]] = {}
    for number, exp in enumerate(experiments):
        if exp.on_slurm and array(exp):
            groups.setdefault(array_group(exp), []).append(number)
    out: list[tuple[dict[str, Any], dict[str, str]]] = []
    for group, numbers in groups.items():
        for first in range(0, len(numbers), MAX_ARRAY_TASKS):
            chunk = numbers[first:first + MAX_ARRAY_TASKS]
            stem = array_stem(str(entries[chunk[0]]["exp.log_file"]))
            name = f"array_{len(out)}.sbatch"
            tasks = [(os.path.abspath(batch_file_for(str(entries[n]["exp.log_file"]))),
                      os.path.abspath(str(entries[n]["exp.log_file"]) + ".part"))
                     for n in chunk]
            text = build_array_script(group, tasks, max_jobs(experiments[chunk[0]]))
            for task, number in enumerate(chunk):
                entries[number]["array"] = {"script": name, "task": task}
            # as the runner submits them: each array after the end of the one before it
            after = out[-1][0]["array_script"] if out else None
            out.append(({"array_script": name, "submitted_as": stem + ".sbatch",
                         "sbatch": shlex.join(sbatch_argv(
                             stem + ".sbatch", stem + ".out",
                             f"<job id of {after}>" if after else None,
                             requeue=group[0] == "--requeue")),
                         "after": after,
                         "tasks": [{"task": task, "index": number,
                                    "batch_script": entries[number]["batch_script"]}
                                   for task, number in enumerate(chunk)]}, {name: text}))
    return out


def write_scripts(args: argparse.Namespace) -> int:
    folder = _folder(args.scripts)
    experiments = [dict(e) for e in load_experiments(args)]
    check_plan(experiments)
    rendered = render(experiments)  # everything first: a bad experiment writes nothing
    files = {name: text for _, named in rendered for name, text in named.items()}
    files["index.json"] = json.dumps([entry for entry, _ in rendered], indent=1,
                                     default=str) + "\n"
    publish(folder, files)
    experiments_count = sum(1 for entry, _ in rendered if "array_script" not in entry)
    print(f"wrote {len(files) - 1} script(s) of {experiments_count} experiment(s) and "
          f"index.json into {folder} (nothing submitted or run)", file=sys.stderr)
    return 0
