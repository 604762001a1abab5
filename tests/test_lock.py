"""The lock CI installs from (requirements/test.lock, issue 33): it pins every dependency the
project and its extras name, at a version their ranges allow, and the README's test command
and .ci/run install with it."""
from __future__ import annotations

import re
from pathlib import Path

import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "test.lock"
INSTALL = "pip install -q -e '.[test]' -c requirements/test.lock"


def locked() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in LOCK.read_text().splitlines():
        found = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$", line.strip())
        if found:
            pins[canonicalize_name(found[1])] = Version(found[2])
    return pins


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # every extra: the test one CI installs, and those the README installs with the lock (serve)
    names = project["dependencies"] + [text for extra in project["optional-dependencies"].values()
                                       for text in extra]
    # an extra that names others of this project (test: dlbs[db,client]) pins nothing itself
    return [r for r in map(Requirement, names) if canonicalize_name(r.name) != project["name"]]


def test_every_declared_dependency_is_pinned_within_its_range() -> None:
    pins = locked()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in {LOCK.name}: run scripts/update-lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{LOCK.name} pins {name}=={pins[name]} outside pyproject's {requirement}")


def test_torch_is_pinned_to_the_local_cpu_release() -> None:
    torch = next(r for r in declared() if r.name == "torch")
    assert str(torch.specifier) == f"=={locked()['torch']}"


def test_ci_and_the_readme_install_from_the_lock() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert INSTALL in readme
    assert INSTALL in ci
