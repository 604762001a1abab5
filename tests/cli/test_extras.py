"""The install's extras (issue 58 item 7): the default install has neither the database
(SQLAlchemy, Alembic, psycopg) nor the serving client (aiohttp, uvloop). A command that needs
a missing one says so in one line naming the extra to install, exit 1, no traceback; the
README's first command (run, report) needs neither. The missing packages are simulated in a
subprocess: an import finder first on ``sys.meta_path`` that finds them nowhere, as Python
does where they are not installed."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from dlbs.extras import MODULES, NAMES, extra_of, install_command, missing_line

ROOT = Path(__file__).resolve().parents[2]
DB = ("sqlalchemy", "alembic", "psycopg", "psycopg_binary")
CLIENT = ("aiohttp", "uvloop")

BLOCK = """
import sys
BLOCKED = set(sys.argv.pop(1).split(","))
class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Absent())
"""
CLI = BLOCK + """
sys.argv[0] = "dlbs"
from dlbs.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def dlbs(blocked: tuple[str, ...], *args: str) -> subprocess.CompletedProcess[str]:
    """``dlbs ARGS`` from the clone's root with the ``blocked`` packages not installed."""
    return subprocess.run([sys.executable, "-c", CLI, ",".join(blocked), *args],
                          check=False, cwd=ROOT, capture_output=True, text=True, timeout=120)


def one_line(done: subprocess.CompletedProcess[str], command: str, extra: str) -> None:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: {command}: needs {NAMES[extra]} ("), lines
    assert "is not installed): " in lines[0], lines
    assert lines[0].endswith(f"pip install -e '.[{extra}]'"), lines


@pytest.mark.parametrize("args", [
    ("db", "ingest", "--db", "sqlite:///{tmp}/r.db", "{tmp}"),
    ("db", "query", "--db", "sqlite:///{tmp}/r.db"),
    ("history", "--db", "sqlite:///{tmp}/r.db", "-Pexp.model=resnet18"),
    ("regressions", "--db", "sqlite:///{tmp}/r.db", "--latest"),
    ("report", "--db", "sqlite:///{tmp}/r.db"),
    ("run", "--config", "examples/first_sweep.json", "-Pexp.status=simulate",
     "-Pexp.log_dir={tmp}/logs", "--db", "sqlite:///{tmp}/r.db"),
], ids=lambda a: " ".join(a[:2]))
def test_a_database_command_without_the_db_extra_names_it_in_one_line(
        tmp_path: Path, args: tuple[str, ...]) -> None:
    done = dlbs(DB, *(a.format(tmp=tmp_path) for a in args))
    one_line(done, f"dlbs {args[0]}", "db")
    assert "sqlalchemy is not installed" in done.stderr
    assert not (tmp_path / "r.db").exists() and not (tmp_path / "logs").exists()


@pytest.mark.parametrize("action", ["validate", "run"])
def test_a_serving_plan_without_the_client_extra_names_it_in_one_line(
        tmp_path: Path, action: str) -> None:
    done = dlbs(CLIENT, action, '-Pexp.phase="serve"', '-Pexp.model="null"',
                '-Pserve.endpoint="http://127.0.0.1:9"', f"-Pexp.log_dir={tmp_path}/logs")
    one_line(done, f"dlbs {action}", "client")
    assert "aiohttp is not installed" in done.stderr
    assert not (tmp_path / "logs").exists()


def test_the_load_client_run_alone_without_aiohttp_says_so_in_one_line() -> None:
    script = BLOCK + "import runpy\nrunpy.run_path(sys.argv[1], run_name='__main__')\n"
    done = subprocess.run([sys.executable, "-c", script, ",".join(CLIENT),
                           str(ROOT / "python" / "serving" / "loadgen.py"),
                           "--endpoint", "http://127.0.0.1:9", "--model", "m"],
                          check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines() == [
        ("loadgen.py: needs the serving-client extra (aiohttp is not installed): pip install -e "
         "'.[client]' in the dlbs clone (in a container image: pip install aiohttp uvloop)")]


def test_the_first_command_needs_no_extra(tmp_path: Path) -> None:
    """The README's command 1 (plan, run, report) and the help of every action, with neither
    extra: a simulated run of first_sweep.json, then a report of a finished log."""
    absent = DB + CLIENT
    assert dlbs(absent, "--help").returncode == 0
    usage = dlbs(absent, "--help").stdout
    assert "results database" in usage      # dlbs db's help, read without SQLAlchemy
    for action in ("print", "run", "report", "db", "history", "bisect", "accept", "validate"):
        done = dlbs(absent, action, "--help")
        assert done.returncode == 0 and not done.stderr, (action, done.stderr)
    count = dlbs(absent, "print", "--config", "examples/first_sweep.json", "--count")
    assert count.returncode == 0 and int(count.stdout) > 0, count.stderr
    done = dlbs(absent, "run", "--config", "examples/first_sweep.json", "-Pexp.status=simulate",
                f"-Pexp.log_dir={tmp_path}/logs")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    logs = tmp_path / "one"
    logs.mkdir()
    shutil.copy(ROOT / "tests" / "logs" / "fixtures" / "ok_resnet50_b16.log", logs)
    report = dlbs(absent, "report", str(logs), "--plot", str(tmp_path / "charts"))
    assert report.returncode == 0 and "Traceback" not in report.stderr, report.stderr
    assert "ResNet-50" in report.stdout and list((tmp_path / "charts").glob("*.png"))


def test_every_module_an_extra_installs_is_named_and_the_extras_exist() -> None:
    """dlbs.extras names the modules of pyproject's db and client extras, and the test extra
    (the README's command 2, .ci/run) installs both."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    for extra in ("db", "client"):
        assert extra in extras and extra in NAMES
    assert set(MODULES) == set(DB + CLIENT)
    assert {MODULES[m] for m in DB} == {"db"} and {MODULES[m] for m in CLIENT} == {"client"}
    assert "dlbs[db,client]" in extras["test"]
    assert any(r.startswith("dlbs[") and "db" in r and "client" in r for r in extras["all"])


def test_only_a_missing_module_of_an_extra_is_turned_into_the_line() -> None:
    assert extra_of(ModuleNotFoundError("x", name="sqlalchemy.engine")) == "db"
    assert extra_of(ModuleNotFoundError("x", name="uvloop")) == "client"
    assert extra_of(ModuleNotFoundError("x", name="numpy")) is None
    assert extra_of(ImportError("cannot import name X", name="sqlalchemy")) is None
    assert missing_line(ModuleNotFoundError("x", name="torch")) is None
    assert install_command("db").endswith(("pip install -e '.[db]'", f"pip install -e '{ROOT}[db]'"))


def test_the_line_names_the_pip_of_the_venv_dlbs_runs_from(tmp_path: Path) -> None:
    """Run as .venv/bin/dlbs with no venv active, a bare 'pip' would install into another
    Python: the line names this venv's pip, relative to the clone when it lies there."""
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    code = "from dlbs.extras import install_command; print(install_command('db'))"
    done = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    pip = Path(sys.prefix) / "bin" / "pip"
    if sys.prefix == sys.base_prefix or not pip.is_file():
        assert done.stdout.strip() == "pip install -e '.[db]'"
    else:
        shown = pip.relative_to(ROOT) if pip.is_relative_to(ROOT) else pip
        assert done.stdout.strip() == f"{shown} install -e '.[db]'"
    env["VIRTUAL_ENV"] = sys.prefix
    active = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert active.stdout.strip() == "pip install -e '.[db]'"
