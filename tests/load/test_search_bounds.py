"""Progress and bounds (issue 55, items 5 and 7): a capacity search prints each step as it
ends and stops at serve.search_max_seconds saying so; a run on a server that keeps up with a
small share of the offered load says it is saturated."""
from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from serving import capacity

from dlbs.experiment import Experiment

from .test_client import _load

ROOT = Path(__file__).resolve().parents[2]


def test_a_search_out_of_time_runs_no_more_steps_and_says_what_it_had() -> None:
    ran: list[float] = []

    def step(trial: int, load: float) -> capacity.StepResult:
        ran.append(load)  # each trial's limit a little apart: trials that agree exactly
        return capacity.StepResult(1.0 if load < 3 + 0.05 * trial else 0.0, {})  # get a note

    goal = capacity.Goal("rate", 90.0, 0.03, 8, 3, 0.01, 100)
    lines: list[str] = []
    _, facts = capacity.search(step, 1.0, goal, lines.append, lambda: len(ran) >= 2)
    assert ran == [1.0, 0.5]  # the second step across the start
    assert facts["results.capacity_steps"] == 2
    assert facts["results.capacity_note"].startswith(
        "stopped at serve.search_max_seconds after 1 of 3 trials and 2 steps")
    assert facts["results.capacity_note"].startswith(lines[-1].removeprefix("serve: "))
    assert facts["results.capacity"] is None  # 1 and 0.5 both met: nothing bracketed yet
    _, free = capacity.search(step, 1.0, goal)
    assert "results.capacity_note" not in free and free["results.capacity_steps"] > 2


def test_a_search_that_ends_as_its_time_runs_out_is_not_called_stopped() -> None:
    """The cap passes during the last step of the last trial: nothing was kept from running,
    so the note does not say the search stopped at the cap."""
    ran: list[float] = []

    def step(trial: int, load: float) -> capacity.StepResult:
        ran.append(load)
        return capacity.StepResult(1.0 if load < 3 else 0.0, {})

    goal = capacity.Goal("rate", 90.0, 0.03, 8, 3, 0.01, 100)
    _, free = capacity.search(step, 1.0, goal)
    steps = len(ran)
    ran.clear()
    _, facts = capacity.search(step, 1.0, goal, None, lambda: len(ran) >= steps)
    assert len(ran) == steps
    assert "stopped at serve.search_max_seconds" not in (facts.get("results.capacity_note")
                                                         or "")
    assert facts["results.capacity"] == free["results.capacity"]


def test_a_trial_the_cap_cuts_before_it_brackets_does_not_void_the_finished_ones() -> None:
    """An independent review (2026-11-29): the cap cut trial 2 after one step, and the
    search logged no capacity at all, with a note telling the user to move the start,
    though trial 1 had bracketed it. The cut trial is now listed and left out."""
    ran: list[float] = []

    def step(trial: int, load: float) -> capacity.StepResult:
        ran.append(load)
        return capacity.StepResult(1.0 if load < 3 + 0.05 * trial else 0.0, {})

    goal = capacity.Goal("rate", 90.0, 0.03, 4, 3, 0.01, 100)
    whole, _ = capacity.search(step, 1.0, goal)
    first = len(whole[0].steps)
    ran.clear()
    trials, facts = capacity.search(step, 1.0, goal, None, lambda: len(ran) >= first + 1)
    assert len(trials) == 2 and trials[1].capacity is None and len(trials[1].steps) == 1
    assert facts["results.capacity_trials"] == [whole[0].capacity, None]
    assert facts["results.capacity"] == whole[0].capacity
    assert facts["results.capacity_ci95"] is None
    assert facts["results.capacity_trials_left_out"] == 1
    note = facts["results.capacity_note"]
    assert note.startswith("stopped at serve.search_max_seconds after 2 of 3 trials")
    assert "1 trial(s) cut by serve.search_max_seconds before bracketing" in note
    assert "higher start" not in note  # not the advice for a capacity that is not bracketed


def test_a_trial_left_unbracketed_by_its_load_still_voids_the_capacity() -> None:
    """Only the cap's cut is forgiven: a trial that ran all its steps without bracketing
    still leaves the capacity null with the reason."""
    goal = capacity.Goal("rate", 90.0, 0.03, 3, 2, 0.01, 100)
    _, facts = capacity.search(lambda trial, load: capacity.StepResult(
        1.0 if trial or load < 1.5 else 0.0, {}), 1.0, goal)
    assert facts["results.capacity"] is None
    assert "every step met the SLO" in facts["results.capacity_note"]
    assert "results.capacity_trials_left_out" not in facts


def test_each_search_step_is_printed_as_it_ends_and_the_cap_stops_it(
        null_server: Callable[..., str]) -> None:
    url = null_server("--max_inflight", "1", "--first_delay_ms", "300")
    code, facts, err = _load("--endpoint", url, "--model", "m", "--concurrency", "1",
                             "--num_requests", "4", "--output_len", "2", "--prompt_len", "3",
                             "--slo_ttft_ms", "5000", "--search", "concurrency",
                             "--search_trials", "3", "--search_max_seconds", "0.5", "--search_lead_in", "0",
                             "--progress", timeout=120)
    assert code == 0, err
    assert facts["results.capacity_steps"] == 1
    assert "stopped at serve.search_max_seconds after 1 of 3 trials" in \
        facts["results.capacity_note"]
    assert "serve: trial 1/3 step 1 load 1 requests in flight: SLO attainment 100.0% met " \
        "(goal 90%)," in err


def test_each_trials_steps_are_numbered_from_one_in_the_progress_lines(
        null_server: Callable[..., str]) -> None:
    """The review saw 'trial 2/2 step 4' for trial 2's first step (the search's count)."""
    url = null_server()
    code, _facts, err = _load("--endpoint", url, "--model", "m", "--request_rate", "50",
                              "--num_requests", "3", "--output_len", "2", "--prompt_len", "3",
                              "--slo_ttft_ms", "5000", "--search", "rate",
                              "--search_trials", "2", "--search_max_steps", "2",
                              "--search_lead_in", "0", "--progress", timeout=120)
    assert code == 0, err
    steps = re.findall(r"serve: trial (\d)/2 step (\d) ", err)
    assert steps == [("1", "1"), ("1", "2"), ("2", "1"), ("2", "2")], err


def test_a_server_that_keeps_up_with_a_small_share_says_it_is_saturated(
        null_server: Callable[..., str]) -> None:
    """The issue's new user: offered 20 requests/s, a server answering one at a time in 0.2 s
    keeps up with a quarter of it."""
    url = null_server("--max_inflight", "1", "--first_delay_ms", "200")
    code, facts, err = _load("--endpoint", url, "--model", "m", "--request_rate", "20",
                             "--num_requests", "24", "--output_len", "2", "--prompt_len", "3",
                             "--seed", "1", timeout=120)
    assert code == 0, err
    assert facts["results.saturated"] is True
    assert facts["results.achieved_share"] < 0.5
    assert "serve: saturated: answered" in err
    assert facts["results.other_cpu_share"] is not None
    assert len(facts["results.load_avg_before"]) == 3


def test_the_time_cap_reaches_the_client_only_for_a_search() -> None:
    from dlbs.launchers.benchmark import serve_flags
    plan = {"exp.phase": "serve", "serve.endpoint": "http://h:1", "exp.model": "m",
            "serve.search_max_seconds": 60}
    assert "--search_max_seconds" not in serve_flags(Experiment.of(plan))
    flags = serve_flags(Experiment.of({**plan, "serve.search": "rate"}))
    assert flags[flags.index("--search_max_seconds") + 1] == "60"


def test_a_run_shows_its_progress_with_pace_and_time(null_server: Callable[..., str]) -> None:
    url = null_server("--token_delay_ms", "1")
    code, _facts, err = _load("--endpoint", url, "--model", "m", "--request_rate", "50",
                              "--num_requests", "10", "--output_len", "2", "--prompt_len", "3",
                              "--progress", timeout=120)
    assert code == 0, err
    lines = [line for line in err.splitlines() if "requests answered" in line]
    assert len(lines) == 10
    assert re.fullmatch(r"serve: 10/10 requests answered, [0-9.e+]+ requests/s, "
                        r"[0-9.]+ s elapsed", lines[-1]), lines[-1]


def test_dlbs_run_shows_each_search_step_on_the_console_as_it_ends(
        null_server: Callable[..., str], tmp_path: Path) -> None:
    """Through ``dlbs run`` (the launch script passes ``--progress`` to a search; the runner
    follows the log): the first step's line reaches the console while the search still runs,
    seconds before the run's own line."""
    url = null_server("--max_inflight", "1", "--first_delay_ms", "300")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dlbs", "run", '-Pexp.phase="serve"', '-Pexp.model="m"',
         f'-Pserve.endpoint="{url}"', '-Pserve.search="concurrency"', "-Pserve.concurrency=1",
         "-Pserve.num_requests=4", "-Pserve.output_len=2", "-Pserve.prompt_len=3",
         "-Pserve.slo_ttft_ms=5000", "-Pserve.search_max_seconds=4", "-Pserve.search_lead_in=0",
         f"-Pexp.log_dir={tmp_path}", "--progress-bar", "off"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen: list[tuple[float, str]] = []
    for line in proc.stderr:
        seen.append((time.monotonic(), line.rstrip("\n")))
    assert proc.wait(timeout=300) == 0, seen
    steps = [(t, line) for t, line in seen if line.startswith("serve: trial 1/3 step ")]
    ended = [t for t, line in seen if line.startswith("[1/1] ok")]
    assert steps and ended, seen
    assert steps[0][1].startswith("serve: trial 1/3 step 1 load 1 requests in flight: SLO "
                                  "attainment 100.0% met (goal 90%)"), seen
    assert ended[0] - steps[0][0] > 1.0, seen  # shown as it ended, not read after the run
    assert any("stopped at serve.search_max_seconds" in line for _, line in seen), seen
    assert not any("none requests" in line for _, line in seen), seen  # "no capacity"


def test_a_search_asked_to_scrape_says_it_does_not(null_server: Callable[..., str]) -> None:
    """serve.metrics_interval given to a capacity search is not silently dropped."""
    url = null_server()
    code, facts, err = _load("--endpoint", url, "--model", "m", "--concurrency", "1",
                             "--num_requests", "4", "--output_len", "2", "--prompt_len", "3",
                             "--slo_ttft_ms", "5000", "--search", "concurrency",
                             "--search_trials", "1", "--search_max_seconds", "0.1", "--search_lead_in", "0",
                             "--metrics_interval", "0.5", timeout=120)
    assert code == 0, err
    assert "does not scrape" in facts["results.server_metrics_unavailable"]
    assert "serve: warning: serve.metrics_interval 0.5: a capacity search does not scrape" in err
    _, quiet, err = _load("--endpoint", url, "--model", "m", "--concurrency", "1",
                          "--num_requests", "4", "--output_len", "2", "--prompt_len", "3",
                          "--slo_ttft_ms", "5000", "--search", "concurrency",
                          "--search_trials", "1", "--search_max_seconds", "0.1", "--search_lead_in", "0", timeout=120)
    assert "results.server_metrics_unavailable" not in quiet and "metrics_interval" not in err


def test_a_time_cap_that_cannot_fit_the_trials_is_said_before_the_search_starts() -> None:
    """At the start's rate (requests a step / rate) 3 trials x 8 steps x 400 requests at 2
    requests/s take 4,800 s: a cap of 3,600 s will cut trials, so the search says so before
    its first step (with the setting that fits) and in results.capacity_note; 4,800 s fits.
    A concurrency search (no rate before it runs) and no cap (0) give no warning."""
    goal = capacity.Goal("rate", 90.0, 0.03, 8, 3, 0.01, 200, 200, max_seconds=3600)
    lines: list[str] = []

    def step(trial: int, load: float) -> capacity.StepResult:
        lines.append(f"step {load:g}")
        return capacity.StepResult(1.0 if load < 3 + 0.05 * trial else 0.0, {})

    _, facts = capacity.search(step, 2.0, goal, lines.append)
    assert lines[0].startswith("serve: warning: serve.search_max_seconds 3600 cannot fit the "
                               "search: 3 trials x 8 steps x 400 requests at 2 requests/s (the "
                               "start) take at least 4800 s"), lines[0]
    assert "set serve.search_max_seconds to 4800 or more" in lines[0]
    assert lines[1].startswith("step ")
    assert facts["results.capacity_note"].startswith(lines[0].removeprefix("serve: warning: "))
    assert capacity.time_cap_warning(replace(goal, max_seconds=4800), 2.0) is None
    assert capacity.time_cap_warning(replace(goal, max_seconds=0), 2.0) is None
    assert capacity.time_cap_warning(replace(goal, unit="concurrency"), 2.0) is None


def test_loadgen_warns_of_a_short_time_cap_on_stderr_without_progress(
        null_server: Callable[..., str]) -> None:
    url = null_server()
    code, facts, err = _load("--endpoint", url, "--model", "m", "--request_rate", "20",
                             "--num_requests", "4", "--output_len", "2", "--prompt_len", "3",
                             "--slo_ttft_ms", "5000", "--search", "rate", "--search_trials", "2",
                             "--search_max_steps", "2", "--search_lead_in", "0",
                             "--search_max_seconds", "0.1", timeout=120)
    assert code == 0, err
    warned = [line for line in err.splitlines()
              if line.startswith("serve: warning: serve.search_max_seconds 0.1 cannot fit")]
    assert len(warned) == 1, err
    assert "set serve.search_max_seconds to 60 or more" in warned[0]
    assert "serve.search_max_seconds 0.1 cannot fit" in facts["results.capacity_note"]
