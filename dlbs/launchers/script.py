"""Render the bash launch script of one experiment from ``scripts/launchers/*.sh.j2``.

Every ``{{ value }}`` in a template is shell-quoted by the Jinja2 environment itself
(``finalize=shlex.quote``), so a template cannot forget to quote: a parameter such as
``x; touch /tmp/owned`` stays one inert word. The only ways around it are the ``raw`` filter,
used for names already checked to be identifiers, and the ``comment`` filter, which JSON-escapes
a value (no newline can leave the comment line).
"""
from __future__ import annotations

import json
import shlex
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from dlbs.errors import RunError
from dlbs.experiment import Experiment
from dlbs.experiment.values import as_arg
from dlbs.launchers.command import ENV_NAME_RE, RUNTIME_VALUES, Command

#: Folder of the launcher templates (``scripts/launchers`` at the project root).
TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "scripts" / "launchers"
DEFAULT_TEMPLATE = "launcher.sh.j2"


class Raw(str):
    """A string the template environment must not quote (already safe)."""


def _finalize(value: Any) -> str:
    if isinstance(value, Raw):
        return value
    return shlex.quote(as_arg(value))


def _raw(value: Any) -> Raw:
    text = as_arg(value)
    if not ENV_NAME_RE.match(text):
        raise RunError(f"refusing to write {text!r} unquoted into a launch script")
    return Raw(text)


def _runtime(key: Any) -> Raw:
    """The fixed shell text of a run-time value (``RUNTIME_VALUES``), unquoted."""
    return Raw(RUNTIME_VALUES[str(key)])


def _keep_rest(name: Any) -> Raw:
    """``"${NAME:+:$NAME}"``: the rest of a search path after prepended folders (name checked)."""
    text = _raw(name)
    return Raw(f'"${{{text}:+:${text}}}"')


def _comment(value: Any) -> Raw:
    return Raw(json.dumps(as_arg(value), ensure_ascii=True))


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Jinja2's per-user cache of compiled templates (saves ~20 ms a run); None if unusable."""
    try:
        return jinja2.FileSystemBytecodeCache()
    except (OSError, RuntimeError):
        return None


@lru_cache(maxsize=8)
def _template(name: str) -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), autoescape=False,
        finalize=_finalize, trim_blocks=True, lstrip_blocks=False, keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined, bytecode_cache=_bytecode_cache(),
    )
    env.filters["raw"] = _raw
    env.filters["comment"] = _comment
    env.filters["keep_rest"] = _keep_rest
    env.filters["runtime"] = _runtime
    try:
        return env.get_template(name)
    except jinja2.TemplateNotFound:
        raise RunError(f"launcher template '{name}' not found in {TEMPLATE_DIR}") from None


def group_words(argv: Iterable[str]) -> list[list[str]]:
    """Split an argument list into display lines (cosmetic only).

    A line starts at each option (``-x``, ``--x``) and after an option that already has a value.
    """
    groups: list[list[str]] = []
    for word in argv:
        is_option = word.startswith("-") and word != "-"
        after_value = bool(groups) and groups[-1][0].startswith("-") and len(groups[-1]) >= 2
        if not groups or is_option or after_value:
            groups.append([word])
        else:
            groups[-1].append(word)
    return groups


def render_script(exp: Experiment, cmd: Command, layers: Iterable[str],
                  template: str = DEFAULT_TEMPLATE, memory_plan: str = "") -> str:
    """Return the complete bash script that runs ``cmd`` for ``exp`` (``memory_plan``: a
    rank's, in a comment of its header, when the benchmark plans one)."""
    return _template(template).render(
        exp_id=exp.id, model=exp.model, log_file=exp.log_file, layers=" -> ".join(layers),
        memory_plan=memory_plan,
        env=list(cmd.env), runtime_env=list(cmd.runtime_env),
        prepend_env=list(cmd.prepend_env), groups=group_words(cmd.argv),
    )


def script_file_for(log_file: str) -> str:
    """Where the script of the experiment logged in ``log_file`` is kept: beside it, ``.sh``."""
    return (log_file.removesuffix(".log")) + ".sh"


BATCH_TEMPLATE = "slurm.sbatch.j2"


def render_batch_script(exp: Experiment, options: Iterable[str], launch_script: str,
                        end_file: str, nodes: int, cpus_per_task: int, port: int,
                        container: Iterable[str] = (), warn_signal: str | None = None) -> str:
    """Return the Slurm batch script of ``exp``; ``options`` are already checked words;
    ``container`` are the ``srun`` words of a pyxis container (quoted like every value);
    ``warn_signal`` the checked name of the signal Slurm warns the script with
    (``slurm.signal``), which it notes in the log and passes on to the job's tasks."""
    return _template(BATCH_TEMPLATE).render(
        exp_id=exp.id, model=exp.model, log_file=exp.log_file, options=[Raw(o) for o in options],
        launch_script=launch_script, end_file=end_file,
        nodes=str(nodes),
        cpus=str(cpus_per_task) if cpus_per_task > 0 else None,
        port=str(port) if port > 0 else None, container=list(container),
        warn_signal=Raw(warn_signal) if warn_signal else None,
    )


ARRAY_TEMPLATE = "slurm-array.sbatch.j2"


def render_array_script(options: Iterable[str], tasks: list[tuple[str, str]],
                        requeue: bool) -> str:
    """Return the batch script of a Slurm job array: task i runs the batch script
    ``tasks[i][0]`` with its output appended to ``tasks[i][1]`` (each path quoted)."""
    return _template(ARRAY_TEMPLATE).render(
        options=[Raw(o) for o in options], tasks=tasks, count=str(len(tasks)),
        requeue="--requeue" if requeue else "--no-requeue")
