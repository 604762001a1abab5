"""``experimenter build --scripts DIR``: every launch script and batch script a run of the
plan would write and submit, for a centre's admin to read; nothing is submitted or run.

The scripts are rendered exactly as the runner renders them (the same launchers and paths:
a batch script names the launch script beside the log, as the run would write it), into a
folder that must be new or empty, each through ``safeio`` (a link planted at a name is
refused). ``index.json`` lists, per experiment, its id, model, log file and the files here.
Every experiment is rendered before anything is written: a bad one is a one-line error naming
it, and the folder stays as it was.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from safeio import atomic_write_text

from dlbs.cli.planargs import load_experiments
from dlbs.errors import DLBSError, UsageError


def _folder(path: str) -> Path:
    folder = Path(path)
    if folder.is_symlink():
        raise UsageError(f"--scripts {path}: is a symbolic link; give a real folder")
    if folder.exists():
        if not folder.is_dir():
            raise UsageError(f"--scripts {path}: exists and is not a folder")
        if any(folder.iterdir()):
            raise UsageError(f"--scripts {path}: not empty; give a new or empty folder")
    return folder


def render(experiments: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """``(index entry, {file name: text})`` of each experiment, as a run would write them."""
    from dlbs.launchers import build_script, script_file_for
    from dlbs.launchers.slurm import batch_file_for, build_batch_script, end_file_for

    out = []
    names: set[str] = set()
    for number, exp in enumerate(experiments):
        log_file = str(exp.get("exp.log_file", f"experiment_{number}.log"))
        stem = os.path.basename(log_file).removesuffix(".log") or f"experiment_{number}"
        while stem in names:
            stem = f"{stem}_{number}"
        names.add(stem)
        try:
            files = {f"{stem}.sh": build_script(exp)}
            entry: dict[str, Any] = {
                "index": number, "exp.id": exp.get("exp.id"), "exp.model": exp.get("exp.model"),
                "exp.log_file": log_file, "launch_script": f"{stem}.sh",
                "runs_as": script_file_for(log_file)}
            if str(exp.get("exp.scheduler", "local")) == "slurm":
                launch = os.path.abspath(script_file_for(log_file))
                files[f"{stem}.sbatch"] = build_batch_script(
                    exp, launch, os.path.abspath(end_file_for(log_file)))
                entry["batch_script"] = f"{stem}.sbatch"
                entry["submitted_as"] = batch_file_for(log_file)
        except DLBSError as err:
            raise DLBSError(f"experiment {number} ({exp.get('exp.model')}): {err}") from None
        out.append((entry, files))
    return out + render_arrays(experiments, [entry for entry, _ in out])


def render_arrays(experiments: list[dict[str, Any]],
                  entries: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """The job arrays a run with ``slurm.array=true`` would submit, grouped and split as the
    runner does (``dlbs.runner.slurm.SlurmExecutor.flush``); each experiment's entry names
    its array and task."""
    from dlbs.launchers.slurm import (
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
        if str(exp.get("exp.scheduler", "local")) == "slurm" and array(exp):
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
            out.append(({"array_script": name, "submitted_as": stem + ".sbatch",
                         "tasks": [{"task": task, "index": number,
                                    "batch_script": entries[number]["batch_script"]}
                                   for task, number in enumerate(chunk)]}, {name: text}))
    return out


def write_scripts(args: argparse.Namespace) -> int:
    folder = _folder(args.scripts)
    experiments = [dict(e) for e in load_experiments(args)]
    rendered = render(experiments)  # everything first: a bad experiment writes nothing
    folder.mkdir(parents=True, exist_ok=True)
    for _, files in rendered:
        for name, text in files.items():
            atomic_write_text(folder / name, text, mode=0o644)
    atomic_write_text(folder / "index.json",
                      json.dumps([entry for entry, _ in rendered], indent=1, default=str) + "\n")
    count = sum(len(files) for _, files in rendered)
    experiments_count = sum(1 for entry, _ in rendered if "array_script" not in entry)
    print(f"wrote {count} script(s) of {experiments_count} experiment(s) and index.json into "
          f"{folder} (nothing submitted or run)", file=sys.stderr)
    return 0
