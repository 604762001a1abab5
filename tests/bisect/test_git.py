"""The git side (``dlbs.bisect.git``): bad input is one line, worktrees never outlive the
bisection, the user's checkout is never touched."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from dlbs.bisect.errors import BisectError
from dlbs.bisect.git import (
    Worktrees,
    check_repository,
    describe,
    resolve,
    revisions_between,
)


def worktrees_of(repo: Path) -> list[str]:
    listed = subprocess.run(["git", "-C", str(repo), "worktree", "list", "--porcelain"],
                            capture_output=True, text=True, check=True).stdout
    return [line.split(" ", 1)[1] for line in listed.splitlines() if line.startswith("worktree ")]


def test_revisions_between_are_after_good_up_to_bad(repo8: tuple[Path, list[str]]) -> None:
    repo, hashes = repo8
    assert revisions_between(repo, hashes[0], hashes[-1]) == hashes[1:]
    assert revisions_between(repo, hashes[2], hashes[4]) == hashes[3:5]


def test_describe_is_short_hash_and_subject(repo8: tuple[Path, list[str]]) -> None:
    repo, hashes = repo8
    assert describe(repo, hashes[5]) == f"{hashes[5][:12]} change 5: 5% slower"


@pytest.mark.parametrize("good,bad,message", [
    pytest.param(7, 0, "is not an ancestor of --bad", id="good after bad"),
    pytest.param(3, 3, "are the same commit", id="same commit"),
])
def test_bad_ends_are_refused(repo8: tuple[Path, list[str]], good: int, bad: int,
                              message: str) -> None:
    repo, hashes = repo8
    with pytest.raises(BisectError, match=message):
        revisions_between(repo, hashes[good], hashes[bad])


def test_an_unknown_revision_is_named(repo8: tuple[Path, list[str]]) -> None:
    repo, _ = repo8
    with pytest.raises(BisectError, match="--good nosuchrev: unknown revision in"):
        resolve(repo, "nosuchrev", "--good")


def test_a_folder_that_is_no_repository_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BisectError, match="is not a git repository"):
        check_repository(tmp_path)
    with pytest.raises(BisectError, match="no such folder"):
        check_repository(tmp_path / "missing")


def test_worktrees_are_removed_after_an_interrupt(repo8: tuple[Path, list[str]]) -> None:
    repo, hashes = repo8
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    with pytest.raises(KeyboardInterrupt), Worktrees(repo) as trees:
        path = trees.add(hashes[2])
        assert (path / "slowdown.txt").read_text().strip() == "1.0"
        assert (trees.add(hashes[6]) / "slowdown.txt").read_text().strip() == "1.05"
        root = trees.root
        raise KeyboardInterrupt
    assert not root.exists()
    assert worktrees_of(repo) == [str(repo.resolve())]
    after = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                           text=True, check=True).stdout.strip()
    status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain"],
                            capture_output=True, text=True, check=True).stdout
    assert after == head == hashes[-1] and status == ""
