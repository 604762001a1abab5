"""The git side of a bisection: the revisions between good and bad, their names, and
temporary worktrees to measure them in.

Each revision is checked out with ``git worktree add --detach`` into a temporary folder of our
own: the user's working tree, index and HEAD are never touched. ``Worktrees`` removes every
worktree it added (``git worktree remove --force``, then ``git worktree prune``) and its
folder when it is closed, also after an error or Ctrl-C (use it as a context manager).
Every failure of git is a ``BisectError`` of one line that names the repository and the
revision.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from dlbs.bisect.errors import BisectError

#: Characters of an abbreviated hash: what ``exp.code_version`` and the worktree folder carry.
SHORT = 12


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``git -C repo ARGS`` (an argument list: nothing goes through a shell)."""
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                              check=False)
    except FileNotFoundError:
        raise BisectError("git is not installed (no 'git' on PATH): dlbs bisect needs it") \
            from None
    if check and done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise BisectError(f"git {' '.join(args[:2])} in {repo} failed: {reason}")
    return done


def check_repository(repo: Path) -> Path:
    """``repo`` as an absolute path; ``BisectError`` when it is not a git repository."""
    if not repo.is_dir():
        raise BisectError(f"--repo {repo}: no such folder")
    if git(repo, "rev-parse", "--git-dir", check=False).returncode != 0:
        raise BisectError(f"--repo {repo} is not a git repository (git rev-parse found no .git "
                          "folder): give the checkout of the code to bisect")
    return repo.resolve()


def resolve(repo: Path, revision: str, option: str) -> str:
    """The full hash of the commit ``revision`` names; ``BisectError`` when none."""
    if not revision or revision.startswith("-"):
        raise BisectError(f"{option} {revision!r}: not a revision")
    done = git(repo, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", check=False)
    if done.returncode != 0:
        raise BisectError(f"{option} {revision}: unknown revision in {repo} (git rev-parse "
                          "found no such commit)")
    return done.stdout.strip()


def revisions_between(repo: Path, good: str, bad: str) -> list[str]:
    """The commits after ``good`` up to ``bad`` on bad's first-parent line, oldest first (the
    last is ``bad``); ``BisectError`` when good is not an ancestor of bad or is bad."""
    if good == bad:
        raise BisectError(f"--good and --bad are the same commit ({good[:SHORT]}): nothing to "
                          "bisect")
    if git(repo, "merge-base", "--is-ancestor", good, bad, check=False).returncode != 0:
        raise BisectError(f"--good {good[:SHORT]} is not an ancestor of --bad {bad[:SHORT]} "
                          f"in {repo}: give a good revision older than the bad one")
    listed = git(repo, "rev-list", "--reverse", "--first-parent", f"{good}..{bad}").stdout
    revisions = listed.split()
    if not revisions or revisions[-1] != bad:
        raise BisectError(f"--good {good[:SHORT]} is not on the first-parent line of --bad "
                          f"{bad[:SHORT]}: give a good revision on that line")
    return revisions


def describe(repo: Path, revision: str) -> str:
    """``<short hash> <subject>``, as ``git log --oneline`` shows a commit."""
    return git(repo, "log", "-1", f"--abbrev={SHORT}", "--format=%h %s", revision).stdout.strip()


class Worktrees:
    """Temporary detached worktrees of ``repo``, one folder per revision (named by its short
    hash) under one temporary root; ``close`` removes them all."""

    def __init__(self, repo: Path, parent: Path | None = None) -> None:
        self.repo = repo
        self.root = Path(tempfile.mkdtemp(prefix="dlbs-bisect-", dir=parent))
        self._added: dict[str, Path] = {}

    def path(self, revision: str) -> Path:
        """Where ``revision``'s worktree is (or would be)."""
        return self.root / revision[:SHORT]

    def add(self, revision: str) -> Path:
        """Check ``revision`` out into its own worktree; return its folder."""
        if revision in self._added:
            return self._added[revision]
        path = self.path(revision)
        self._added[revision] = path  # removed on close even if the add fails halfway
        git(self.repo, "worktree", "add", "--detach", "--quiet", str(path), revision)
        return path

    def remove(self, revision: str) -> None:
        """Remove ``revision``'s worktree (nothing when it has none)."""
        path = self._added.pop(revision, None)
        if path is not None:
            git(self.repo, "worktree", "remove", "--force", str(path), check=False)
            shutil.rmtree(path, ignore_errors=True)

    def close(self) -> None:
        """Remove every worktree added, prune git's records of them, and the root folder."""
        for revision in list(self._added):
            self.remove(revision)
        git(self.repo, "worktree", "prune", check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Worktrees:  # noqa: PYI034 - typing.Self needs Python 3.11
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
