"""``experimenter serve``: the progress page's server in-process, and the page in a real
headless Chromium while a real sweep runs.

The browser tests skip, with the reason, only when ``/usr/bin/chromium`` is absent (CI
installs it). ``DLBS_UPDATE_SCREENSHOT=1`` copies the screenshot taken during the sweep to
``docs/images/progress_page.png``.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import psutil
import pytest

from dlbs.cli.main import main
from dlbs.errors import DLBSError
from dlbs.web.server import ProgressServer, is_loopback, make_server

from .conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs headless Chromium at "
                                    "/usr/bin/chromium (apt-get install -y chromium)")
SCREENSHOT = ROOT / "docs" / "images" / "progress_page.png"
EVIL = ("<script>document.body.setAttribute('data-pwned', '1')</script>"
        "<img src=x onerror=\"document.body.setAttribute('data-pwned', '2')\">")


def progress(state: str = "running", **changes: Any) -> dict[str, Any]:
    """A progress file's content (the keys of dlbs/runner/progress.py)."""
    data: dict[str, Any] = {
        "state": state, "total": 4, "done": 1, "failed": 1, "skipped": 0, "simulated": 0,
        "submitted": 0, "left": 2,
        "current": {"index": 2, "model": "sensor_net", "log_file": "/logs/sensor_net_b2.log"},
        "history": [
            {"index": 0, "model": "deep_mnist", "log_file": "/logs/deep_mnist_b2.log",
             "status": "ok", "duration_s": 3.9, "ended_at": "2026-01-02T10:00:04.000+00:00"},
            {"index": 1, "model": EVIL, "log_file": "/logs/<b>bold</b>.log",
             "status": "failure", "duration_s": 2.0, "ended_at": "2026-01-02T10:00:06.000+00:00"},
        ],
        "elapsed_s": 6.5, "eta_s": 6.0, "started_at": "2026-01-02T10:00:00.000+00:00",
        "updated_at": "2026-01-02T10:00:06.500+00:00"}
    return {**data, **changes}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ProgressServer]:
    """A server for ``tmp_path/progress.json`` (not written yet) on a free port."""
    srv = make_server(tmp_path / "progress.json", port=0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=10)


def get(url: str) -> tuple[int, Message, bytes]:
    """Status, headers and body of a GET (an HTTP error status is returned, not raised)."""
    try:
        with urllib.request.urlopen(url, timeout=120) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.headers, err.read()


# -- the server in-process ---------------------------------------------------------------------
def test_progress_json_is_404_json_until_the_file_exists(server: ProgressServer) -> None:
    code, headers, body = get(server.url + "progress.json")
    assert code == 404 and headers["Content-Type"] == "application/json"
    message = json.loads(body)
    assert "waiting for the sweep to start" in message["error"]
    assert message["progress_file"] == str(server.progress_file)
    server.progress_file.write_text(json.dumps(progress()))
    code, headers, body = get(server.url + "progress.json?t=1")
    assert code == 200 and headers["Content-Type"] == "application/json"
    assert body == server.progress_file.read_bytes()  # the file as it is
    assert 0 <= float(headers["X-Progress-Age"]) < 60
    assert headers["Cache-Control"] == "no-store"


def test_a_file_that_is_not_a_progress_object_is_a_500_with_a_message(
        server: ProgressServer) -> None:
    server.progress_file.write_text("[1, 2")
    code, _, body = get(server.url + "progress.json")
    assert code == 500 and "is not a progress file" in json.loads(body)["error"]


def test_root_is_the_self_contained_page_and_nothing_else_is_served(
        server: ProgressServer) -> None:
    code, headers, body = get(server.url)
    assert code == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    page = body.decode()
    assert "fetch(\"progress.json\"" in page and "textContent" in page
    assert "innerHTML" not in page and "http://" not in page and "https://" not in page
    assert "script-src 'sha256-" in headers["Content-Security-Policy"]
    for path in ("index.html", "favicon.ico", "progress.json/x", "../progress.json", "logs"):
        code, headers, body = get(server.url + path)
        assert code == 404 and "error" in json.loads(body), path


def test_bind_problems_are_one_line_errors(tmp_path: Path, server: ProgressServer) -> None:
    with pytest.raises(DLBSError, match="is a folder"):
        make_server(tmp_path, port=0)
    with pytest.raises(DLBSError, match="cannot serve on 127.0.0.1:.*choose another --port"):
        make_server(tmp_path / "p.json", port=server.server_address[1])


def test_loopback_addresses() -> None:
    assert all(map(is_loopback, ["127.0.0.1", "127.0.1.1", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "10.1.2.3", "example.org"]))


def test_a_port_out_of_range_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve", "--progress-file", "p.json", "--port", "70000"])
    assert info.value.code == 2 and "not a port" in capsys.readouterr().err


def start_serve(progress_file: Path, *options: str) -> tuple[subprocess.Popen[str], str, str]:
    """``python -m dlbs serve`` in the background: the process, its URL and stderr so far."""
    proc = subprocess.Popen([sys.executable, "-m", "dlbs", "serve", "--progress-file",
                             str(progress_file), "--port", "0", *options],
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stderr is not None
    seen = ""
    while proc.poll() is None:
        seen += proc.stderr.readline()
        found = re.search(r"serving (http://\S+) \(Ctrl-C to stop\)", seen)
        if found:
            return proc, found.group(1), seen
    raise AssertionError(f"serve exited {proc.returncode}: {seen}{proc.stderr.read()}")


def stop(proc: subprocess.Popen[str]) -> str:
    """Ctrl-C the server: it must end with exit code 0; return the rest of its stderr."""
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return err


def test_cli_listens_on_loopback_and_ctrl_c_exits_0(tmp_path: Path) -> None:
    proc, url, err = start_serve(tmp_path / "progress.json")
    try:
        assert url.startswith("http://127.0.0.1:") and "warning" not in err
        assert get(url)[0] == 200
    finally:
        err = stop(proc)
    assert "stopped" in err and "Traceback" not in err


def test_cli_warns_when_the_page_is_visible_to_the_network(tmp_path: Path) -> None:
    proc, url, err = start_serve(tmp_path / "progress.json", "--host", "0.0.0.0")
    try:
        warning = [line for line in err.splitlines() if line.startswith("warning:")]
        assert len(warning) == 1 and "visible to the network" in warning[0]
        assert url.startswith("http://0.0.0.0:")
        port = url.rsplit(":", 1)[1].rstrip("/")
        assert get(f"http://127.0.0.1:{port}/progress.json")[0] == 404
    finally:
        stop(proc)


# -- the page in headless Chromium -------------------------------------------------------------
def chromium(url: str, profile: Path, *options: str) -> subprocess.Popen[str]:
    """Start headless Chromium on ``url`` with a new empty profile, in its own session (so a
    hung one is killed with all its helper processes); the page's script runs for 2.5 s of
    virtual time before the DOM dump or the screenshot."""
    profile.mkdir()
    return subprocess.Popen([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}",
                             "--virtual-time-budget=2500", *options, url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def run_chromium(url: str, profile: Path, *options: str, attempts: int = 3) -> tuple[str, str]:
    """(stdout, stderr) of one headless Chromium run. A loaded machine once left one hung past
    300 s (CI): a run gets 120 s, then it and its helpers are killed and a fresh one (a new
    profile) tries again."""
    err = ""
    for attempt in range(attempts):
        browser = chromium(url, profile.with_name(f"{profile.name}-{attempt}"), *options)
        try:
            return browser.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(browser.pid, signal.SIGKILL)
            _, err = browser.communicate()
    raise AssertionError(f"chromium hung {attempts} times past 120 s: {err[-2000:]}")


def dump_dom(url: str, profile: Path) -> str:
    out, err = run_chromium(url, profile, "--dump-dom")
    assert "<body" in out, f"chromium dumped no DOM: {err}"
    return out


def by_id(dom: str, element_id: str) -> str:
    """The text of the element with ``id`` (elements without children only)."""
    found = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', dom)
    assert found, f"no element #{element_id} in the DOM"
    return found.group(1)


def history(dom: str) -> list[tuple[str, str]]:
    """(model cell, status) of each history row, top to bottom."""
    rows = re.findall(r'<tr data-status="([^"]*)"><td[^>]*>[^<]*</td><td>([^<]*)</td>', dom)
    return [(model, status) for status, model in rows]


def models(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The rows with each model cell's settings (``deep_mnist [exp.replica_batch=4, ...]``)
    left out."""
    return [(model.split(" [", 1)[0], status) for model, status in rows]


@pytest.mark.browser
@needs_chromium
def test_page_waits_then_shows_user_text_as_text(tmp_path: Path,
                                                 server: ProgressServer) -> None:
    dom = dump_dom(server.url, tmp_path / "profile0")
    assert by_id(dom, "state") == "waiting for the sweep to start"
    assert str(server.progress_file) in by_id(dom, "note")
    server.progress_file.write_text(json.dumps(progress()))
    dom = dump_dom(server.url, tmp_path / "profile1")
    assert by_id(dom, "state") == "running"
    assert not re.search(r"<body[^>]*data-pwned", dom), "the model name ran as HTML"
    assert dom.count("<script") == 1 and "<img" not in dom  # only the page's own script
    shown = EVIL.replace("<", "&lt;").replace(">", "&gt;")  # as text, escaped by the DOM dump
    assert history(dom) == [(shown, "failure"), ("deep_mnist", "ok")]
    assert 'title="/logs/&lt;b&gt;bold&lt;/b&gt;.log"' in dom
    assert by_id(dom, "cur-model") == "sensor_net"
    for state, note in (("interrupted", "was interrupted"), ("refused", "was refused")):
        server.progress_file.write_text(json.dumps(progress(state, current=None)))
        dom = dump_dom(server.url, tmp_path / f"profile-{state}")
        assert by_id(dom, "state") == state and note in by_id(dom, "note")
        assert by_id(dom, "cur-model") == "nothing is running"


#: 4 experiments: deep_mnist ok; deep_mnist times out after 2 s; sensor_net runs until the test
#: has looked at the page and kills it (its exp.timeout is a hang guard: a busy machine may take
#: long to start Chromium, so no fixed window); the last is disabled (skipped).
SWEEP = ['-Vexp.model=["deep_mnist", "sensor_net"]', "-Vexp.replica_batch=[2, 4]",
         "-Pexp.num_batches=2", "-Pexp.num_warmup_batches=1", '-Pexp.gpus=""',
         "-Pruntime.kill_grace=1", "-Pexp.log_dir=./logs",
         "-E", json.dumps({"condition": {"exp.model": "deep_mnist", "exp.replica_batch": 4},
                           "parameters": {"exp.num_batches": 1000000, "exp.timeout": 2}}),
         "-E", json.dumps({"condition": {"exp.model": "sensor_net", "exp.replica_batch": 2},
                           "parameters": {"exp.num_batches": 1000000, "exp.timeout": 600}}),
         "-E", json.dumps({"condition": {"exp.model": "sensor_net", "exp.replica_batch": 4},
                           "parameters": {"exp.status": "disabled"}})]


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not (ROOT / "python" / "pytorch_benchmarks" / "benchmarks.py").exists(),
                    reason="benchmarks.py is not there yet")
@needs_chromium
def test_page_follows_a_real_sweep_in_chromium(tmp_path: Path) -> None:
    progress_file = tmp_path / "progress.json"
    server, url, _ = start_serve(progress_file)
    sweep = subprocess.Popen([sys.executable, "-m", "dlbs", "run", *SWEEP, "--progress-file",
                              str(progress_file)], cwd=tmp_path, stderr=subprocess.PIPE,
                             text=True)
    try:
        deadline = time.monotonic() + 600  # a hang guard
        seen: dict[str, Any] = {}
        while time.monotonic() < deadline and sweep.poll() is None:
            if progress_file.exists():
                seen = json.loads(progress_file.read_text())
                if (seen.get("current") or {}).get("index") == 2:
                    break  # sensor_net runs until it is killed below
            time.sleep(0.1)
        assert (seen.get("current") or {}).get("index") == 2, f"the sweep never got to " \
            f"sensor_net: {seen}"
        shot = tmp_path / "progress_page.png"
        dom = dump_dom(url, tmp_path / "profile-running")
        _, camera_err = run_chromium(url, tmp_path / "profile-shot", "--window-size=1000,700",
                                     f"--screenshot={shot}")
        assert by_id(dom, "state") == "running"
        # the model and what varies over the sweep (the batch, the -E's batch count)
        assert by_id(dom, "cur-model").startswith("sensor_net [")
        assert "exp.replica_batch=2" in by_id(dom, "cur-model")
        assert by_id(dom, "cur-index") == "#3 of 4"
        assert by_id(dom, "cur-log").startswith("./logs/pytorch_cpu_sensor_net_b2_")
        assert [by_id(dom, f"n-{n}") for n in ("done", "failed", "skipped", "left")] == \
            ["1", "1", "1", "1"]
        assert re.fullmatch(r"\d+:\d\d:\d\d", by_id(dom, "elapsed"))  # h:mm:ss, any duration
        assert models(history(dom)) == [("-", "skipped"), ("deep_mnist", "timeout"),
                                        ("deep_mnist", "ok")]
        # every parameter that varies over the sweep is named beside the model (issue 30)
        assert "exp.replica_batch=4" in history(dom)[1][0]
        assert shot.exists(), f"chromium made no screenshot: {camera_err}"
        check_screenshot(shot)
        if os.environ.get("DLBS_UPDATE_SCREENSHOT") == "1":
            shutil.copy(shot, SCREENSHOT)
        benchmark_of(sweep, "sensor_net").kill()  # the page has been seen: end it now
        _, err = sweep.communicate(timeout=300)
        assert sweep.returncode == 1, err  # one experiment timed out, one was killed
        dom = dump_dom(url, tmp_path / "profile-finished")
        assert by_id(dom, "state") == "finished"
        assert "has finished" in by_id(dom, "note")
        assert by_id(dom, "cur-model") == "nothing is running"
        assert [by_id(dom, f"n-{n}") for n in ("done", "failed", "skipped", "left")] == \
            ["1", "2", "1", "0"]
        assert models(history(dom)) == [("sensor_net", "failure"), ("-", "skipped"),
                                        ("deep_mnist", "timeout"), ("deep_mnist", "ok")]
        assert re.findall(r'class="status" data-kind="(\w+)"', dom) == ["bad", "skip", "bad",
                                                                       "ok"]
        assert "4 of 4 experiments dealt with (100%)" in dom
    finally:
        if sweep.poll() is None:
            sweep.send_signal(signal.SIGINT)
            sweep.communicate(timeout=300)
        err = stop(server)
    assert "Traceback" not in err


def benchmark_of(sweep: subprocess.Popen[str], model: str) -> psutil.Process:
    """The benchmark process of ``model`` that ``sweep`` started."""
    for child in psutil.Process(sweep.pid).children(recursive=True):
        try:
            cmdline = child.cmdline()
        except psutil.Error:
            continue
        if any(part.endswith("benchmarks.py") for part in cmdline) and model in cmdline:
            return child
    raise AssertionError(f"no benchmark of {model} runs")


def check_screenshot(shot: Path) -> None:
    """1000x700, not blank: the dark text and the coloured bar are drawn."""
    import matplotlib.image
    image = matplotlib.image.imread(shot)
    assert image.shape[:2] == (700, 1000)
    assert image[..., :3].std() > 0.05, "the screenshot is blank"
    assert (image[..., :3].mean(axis=2) < 0.3).mean() > 0.002
