"""A database URL that cannot be used, or that is given where a path was expected, is one
line on stderr with its password hidden, never a traceback (issue 30). The password is
planted in every form a user may type: the user information, a query option (``pwd``, a
percent-encoded ``options=-c password=``), a ``;password=`` in the query or the database
name, a fragment, and the URL is given to ``--db``, to ``$DLBS_DB`` or as an input path. No
server runs: port 1 of this host is closed."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SECRET = "Pl4nted-s3cret"
CLOSED = "127.0.0.1:1"


def _run(module: str, *args: str, env_db: str = "") -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", module, *args], capture_output=True,
                          text=True, check=False, timeout=300,
                          env={**os.environ, "DLBS_DB": env_db})
    return done.returncode, done.stdout + done.stderr


def _one_clean_line(out: str) -> str:
    assert SECRET not in out and "Traceback" not in out and "***" in out
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    return lines[0]


@pytest.mark.parametrize("url", [
    pytest.param(f"postgresql://u:{SECRET}@{CLOSED}/db?options=-c%20password%3D{SECRET}",
                 id="options-percent-encoded"),
    pytest.param(f"postgresql://u@{CLOSED}/db?passwd=x&pwd={SECRET}", id="pwd-option"),
    pytest.param(f"postgresql://u:{SECRET}@{CLOSED}/db#frag{SECRET}", id="fragment"),
    pytest.param(f"postgresql://u:{SECRET}@{CLOSED}/db;password={SECRET}", id="database-name"),
    pytest.param(f"postgresql://u@{CLOSED}/db?x=1;password={SECRET}", id="semicolon-in-query"),
])
def test_a_database_that_cannot_be_opened_hides_every_form_of_its_password(url: str) -> None:
    code, out = _run("dlbs", "history", "--db", url)
    line = _one_clean_line(out)
    assert code == 2 and line.startswith("error: --db postgresql") and ": cannot open" in line


@pytest.mark.parametrize("url", [
    f"postgresql://u:{SECRET}@{CLOSED}/db",
    f"postgresql://u:{SECRET}@{CLOSED}/db?x=1;password={SECRET}",
    f"postgresql://u@{CLOSED}/db;password={SECRET}",
])
@pytest.mark.parametrize("command", ["report", "ingest"])
def test_a_url_given_as_an_input_is_shown_without_its_password(
        url: str, command: str, tmp_path: Path) -> None:
    """The user forgot ``--db``: the URL is taken for a path that does not exist."""
    args = ["report", url] if command == "report" else \
        ["db", "ingest", "--db", f"sqlite:///{tmp_path / 'r.db'}", url]
    code, out = _run("dlbs", *args)
    line = _one_clean_line(out)
    assert code != 0 and line.startswith("error: input 'postgresql://u") \
        and line.endswith("' does not exist")


def test_an_unknown_action_that_is_a_url_is_shown_without_its_password() -> None:
    code, out = _run("dlbs", f"postgresql://u:{SECRET}@h/db")
    assert code == 2 and _one_clean_line(out).startswith("error: unknown action")


@pytest.mark.parametrize("url, reason", [
    pytest.param(f"postgresql://u:{SECRET}@{CLOSED}/db?port=x", "non-integer port",
                 id="port-not-a-number"),
    pytest.param(f"postgresql://u:{SECRET}@/db?host=a&host=b&port=1&port=2&port=3", "multihost",
                 id="hosts-and-ports-do-not-pair"),
])
@pytest.mark.parametrize("where", ["option", "environment"])
def test_a_url_the_driver_refuses_is_one_line_not_a_traceback(
        url: str, reason: str, where: str) -> None:
    if where == "option":
        code, out = _run("dlbs", "db", "query", "--db", url)
    else:
        code, out = _run("dlbs", "history", env_db=url)
    line = _one_clean_line(out)
    assert code == 2 and line.startswith("error: --db postgresql") and reason in line


def test_experimenter_run_refuses_such_a_url_in_one_line(tmp_path: Path) -> None:
    code, out = _run("dlbs.experimenter", "run", "-Pexp.model=deep_mnist",
                     f"-Pexp.log_dir={tmp_path / 'logs'}", "--db",
                     f"postgresql://u:{SECRET}@{CLOSED}/db?port=x")
    assert code == 2 and SECRET not in out and "Traceback" not in out
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "non-integer port" in errors[0] and "u:***@" in errors[0]


def test_a_query_option_sqlite_ignores_is_one_warning_line(tmp_path: Path) -> None:
    # a database to read (a read of a missing file is an error and creates none: issue 58)
    from dlbs.db import open_store
    open_store(f"sqlite:///{tmp_path / 'r.db'}").close()
    code, out = _run("dlbs", "db", "query", "--db",
                     f"sqlite:///{tmp_path / 'r.db'}?password={SECRET}", "--format", "json")
    assert code == 0 and SECRET not in out and "SAWarning" not in out
    warnings = [line for line in out.splitlines() if "warning" in line.lower()]
    assert len(warnings) == 1 and warnings[0].startswith("warning: --db sqlite:")
    assert "password=***" in warnings[0] and "ignored" in warnings[0]
