"""Token models' tokens/s, efficiency (FLOPs, MFU, memory, energy) and generation latency in
reports, from hand-written log files in the documented format (``__key__=json`` lines, see
docs/log-format.md), parsed by the real parser.

What is checked: the numbers shown (means of repeats, MFU as a percentage), that a mixed sweep
of image and token models never shows a samples/s figure under a tokens/s heading, that
``exp.seq_len``/``exp.generate`` tell experiments apart, and that logs without any of the new
facts give exactly the reports they gave before (``golden/old_style_logs.txt`` was written by
the report code as it was before these figures, on the logs ``old_style_outputs`` writes). Issue 19 changed two things on purpose: throughput intervals are samples / the time interval
(never negative), and comparison verdicts and columns (inconclusive, CI at the table's level).
"""
from __future__ import annotations

import json
import math
import statistics
import subprocess
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from dlbs.cli.main import main
from dlbs.logs.sources import load_records
from dlbs.reports.build import build_report, compare_records
from dlbs.reports.html import to_html
from dlbs.reports.model import Report, Table
from dlbs.reports.plots import charts
from dlbs.reports.render import RENDERERS, table_text

RUNNER_START = "2026-11-01T10:00:00+00:00"


def fact_lines(facts: Mapping[str, Any]) -> str:
    """Facts as the benchmark and the runner write them: ``__key__=<JSON>`` lines."""
    return "".join(f"__{key}__={json.dumps(value)}\n" for key, value in facts.items())


def header(model: str, title: str, batch: int = 8, devices: int = 1, phase: str = "training",
           **extra: Any) -> dict[str, Any]:
    """The runner's header: the experiment's input parameters (``extra`` added as given,
    ``seq_len=0`` -> ``exp.seq_len: 0``)."""
    facts: dict[str, Any] = {
        "exp.framework": "pytorch", "exp.model": model, "exp.model_title": title,
        "exp.phase": phase, "exp.dtype": "float32", "exp.device_type": "gpu",
        "exp.gpus": ",".join(str(g) for g in range(devices)), "exp.num_gpus": devices,
        "exp.num_replicas": devices, "exp.replica_batch": batch,
        "exp.effective_batch": batch * devices, "exp.num_nodes": 1, "exp.docker": False,
        "exp.num_batches": 100, "exp.num_warmup_batches": 5, "pytorch.cudnn_benchmark": True,
        "exp.runner_start_time": RUNNER_START}
    facts.update({f"exp.{key}": value for key, value in extra.items()})
    facts["exp.id"] = "-".join(str(v) for v in (model, batch, devices, phase, *extra.values()))
    return facts


def write_log(path: Path, head: Mapping[str, Any], results: Mapping[str, Any],
              status: str = "ok") -> Path:
    """One complete log: header, the benchmark's output with its facts, the runner's trailer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    trailer = {"results.exit_code": 0 if status == "ok" else 1, "results.duration": 12.5,
               "results.status": status}
    if status != "ok":
        trailer["results.error"] = "RuntimeError: worker crashed"
    path.write_text(fact_lines(head) + "loading model ...\nwarm-up 5 iterations\n"
                    + fact_lines(results) + fact_lines(trailer), encoding="utf-8")
    return path


def timing(throughput: float, batch: int) -> dict[str, Any]:
    """The timing facts of a run of ``throughput`` samples/s."""
    time = batch * 1000.0 / throughput
    return {"results.time": time, "results.throughput": throughput,
            "results.time_std": time * 0.01, "results.steady_state": True}


def records_of(folder: Path) -> list[dict[str, Any]]:
    """The folder's logs, parsed as ``dlbs report`` parses them."""
    return load_records([str(folder)], recursive=True)


def table(report: Report, name: str) -> Table:
    found = [t for t in report.tables if t.name == name]
    assert found, f"no table {name!r} in {[t.name for t in report.tables]}"
    return found[0]


def row(data: Any, **key: Any) -> Any:
    """The row of a table whose index levels (by label) have the given values."""
    names = list(data.index.names)
    matches = [i for i, k in enumerate(data.index)
               if all(str((k if isinstance(k, tuple) else (k,))[names.index(level)]) == str(v)
                      for level, v in key.items())]
    assert len(matches) == 1, f"{len(matches)} rows match {key}: {list(data.index)}"
    return data.iloc[matches[0]]


# --- a mixed sweep: AlexNet (image), GPT-2 training at two lengths, GPT-2 generating -------

#: Tokens/s of the three GPT-2 repeats at each length; samples/s = tokens/s / length.
GPT2_TOKENS = {128: [5000.0, 5100.0, 5300.0], 256: [5600.0, 5500.0, 5750.0]}
ALEXNET_SAMPLES = [1600.0, 1650.0, 1580.0]
MFU = [0.123, 0.125, 0.121]
LATENCY = {"results.ttft_p50": [12.5, 13.0], "results.ttft_p99": [15.0, 16.5],
           "results.tpot_p50": [9.75, 9.25], "results.tpot_p99": [11.0, 12.0],
           "results.output_tokens_per_second": [99.0, 101.0]}


def write_mixed_sweep(folder: Path) -> Path:
    for repeat, samples in enumerate(ALEXNET_SAMPLES):
        # a new runner's image model: header exp.seq_len 0 and exp.generate 0 ("off")
        write_log(folder / f"alexnet_{repeat}.log",
                  header("alexnet", "AlexNet", seq_len=0, generate=0),
                  {**timing(samples, 8), "results.peak_memory_mb": 1800.0,
                   "results.flops_per_sample": 2.1e9, "results.tflops": 2.1e9 * samples / 1e12})
    for length, tokens in GPT2_TOKENS.items():
        for repeat, per_second in enumerate(tokens):
            samples = per_second / length
            flops = 2.0e11 * length / 128
            write_log(folder / f"gpt2_{length}_{repeat}.log",
                      header("gpt2", "GPT-2", seq_len=length, generate=0),
                      {**timing(samples, 8), "exp.seq_len": length,
                       "results.tokens_per_second": per_second,
                       "results.flops_per_sample": flops, "results.tflops": flops * samples / 1e12,
                       "results.mfu": MFU[repeat], "results.peak_memory_mb": 5000.0 + length,
                       "results.energy_j": 900.0 + repeat, "results.samples_per_joule": 0.35})
    for repeat in range(2):
        results = {key: values[repeat] for key, values in LATENCY.items()}
        write_log(folder / f"gpt2_generate_{repeat}.log",
                  header("gpt2", "GPT-2", batch=1, phase="inference", seq_len=0, generate=32),
                  {**timing(3.0, 1), "exp.seq_len": 1024, "exp.generate": 32,
                   "results.peak_memory_mb": 900.0, **results})
    return folder


@pytest.fixture
def mixed(tmp_path: Path) -> list[dict[str, Any]]:
    return records_of(write_mixed_sweep(tmp_path / "mixed"))


def test_tokens_per_second_is_the_mean_of_the_repeats(mixed: list[dict[str, Any]]) -> None:
    report = build_report(mixed, "regular")
    tokens = table(report, "tokens")
    assert tokens.title == "Throughput (tokens/s)"
    for length, values in GPT2_TOKENS.items():
        cell = row(tokens.data, Model="GPT-2", **{"Seq len": length, "Generate": "-"})[8]
        assert cell == pytest.approx(statistics.geometric_mean(values))
        assert f"{statistics.geometric_mean(values):.2f}" in table_text(tokens)
    # the samples/s table keeps its samples/s: tokens/s / length
    throughput = table(report, "throughput")
    cell = row(throughput.data, Model="GPT-2", **{"Seq len": 128, "Generate": "-"})[8]
    # the one estimator (issue 56): the geometric mean of the runs' samples/s
    assert cell == pytest.approx(statistics.geometric_mean([t / 128 for t in GPT2_TOKENS[128]]))


def test_mixed_sweep_shows_no_samples_per_second_under_tokens(
        mixed: list[dict[str, Any]]) -> None:
    report = build_report(mixed, "regular")
    tokens = table(report, "tokens")
    alexnet = row(tokens.data, Model="AlexNet")
    assert alexnet.isna().all(), f"AlexNet logged no tokens/s, shown: {alexnet.tolist()}"
    generating = row(tokens.data, Model="GPT-2", Generate=32)
    assert generating.isna().all(), "a generation run logs no results.tokens_per_second"
    text = RENDERERS["text"](report)
    tokens_text = text.split("Throughput (tokens/s)")[1].split("\n\n")[0]
    alexnet_line = next(line for line in tokens_text.splitlines() if line.startswith("AlexNet"))
    assert alexnet_line.split()[-2:] == ["-", "-"]
    shown = f"{statistics.geometric_mean(ALEXNET_SAMPLES):.2f}"  # the one estimator
    assert shown in text.split("Throughput (tokens/s)")[0]  # in the samples/s table ...
    assert shown not in tokens_text  # ... never under tokens/s
    as_json = json.loads(RENDERERS["json"](report))
    rows = next(t for t in as_json["tables"] if t["name"] == "tokens")["rows"]
    cells = next(r for r in rows if r["key"][0] == "AlexNet")
    assert cells["cells"] == [None, None] and cells["marks"] == ["", ""]
    csv_block = RENDERERS["csv"](report).split("# Throughput (tokens/s)\n")[1].split("\n\n")[0]
    assert next(line for line in csv_block.splitlines() if line.startswith("AlexNet")) \
        .endswith(",,")
    assert "tokens/s: token models only" in " ".join(report.notes)


def test_mfu_is_shown_as_a_percentage(mixed: list[dict[str, Any]]) -> None:
    report = build_report(mixed, "regular")
    resources = table(report, "resources")
    assert "MFU (%)" in resources.data.columns
    gpt2 = row(resources.data, Model="GPT-2", **{"Seq len": 128, "Generate": "-"})
    assert gpt2["MFU (%)"] == pytest.approx(100 * statistics.mean(MFU))
    shown = f"{100 * statistics.mean(MFU):.1f}"
    line = next(x for x in table_text(resources).splitlines() if x.startswith("GPT-2"))
    assert shown in line.split()
    assert gpt2["Peak memory (MiB)"] == pytest.approx(5000.0 + 128)
    assert gpt2["GFLOP/sample"] == pytest.approx(2.0e11 / 1e9)
    # AlexNet logged memory, FLOPs and TFLOP/s but no MFU nor energy: '-', not 0
    alexnet = row(resources.data, Model="AlexNet")
    assert alexnet["Peak memory (MiB)"] == pytest.approx(1800.0)
    assert alexnet["MFU (%)"] is None and alexnet["Energy (J)"] is None
    assert "MFU: model FLOPs utilisation" in " ".join(report.notes)


def test_a_max_batch_row_says_which_batch_it_found(tmp_path: Path) -> None:
    """exp.replica_batch=max: the row says 'max' and the batch found is shown beside its
    figures, never left for the reader to guess; runs that found different batches are not
    averaged together (their effective batches differ)."""
    folder = tmp_path / "max"
    write_log(folder / "fixed.log", header("alexnet", "AlexNet", batch=4), timing(50.0, 4))
    for repeat, found in enumerate((48, 52)):
        head = {**header("alexnet", "AlexNet", batch=4), "exp.replica_batch": "max",
                "exp.effective_batch": "max", "exp.id": "alexnet-max"}
        write_log(folder / f"max_{repeat}.log", head,
                  {**timing(60.0, found), "exp.effective_batch": found,
                   "results.max_batch": found})
    resources = table(build_report(records_of(folder), "regular"), "resources")
    for found in (48, 52):
        shown = row(resources.data, **{"Replica batch": "max", "Effective batch": found})
        assert shown["Max batch found"] == found
    assert row(resources.data, **{"Replica batch": 4})["Max batch found"] is None


def test_generation_latency_table(mixed: list[dict[str, Any]]) -> None:
    report = build_report(mixed, "summary")
    latency = table(report, "latency")
    assert len(latency.data) == 1, "only the generating experiment has latencies"
    generating = row(latency.data, Model="GPT-2", Generate=32, **{"Seq len": 1024})
    for figure, heading in (("results.ttft_p50", "TTFT p50 (ms)"),
                            ("results.tpot_p99", "TPOT p99 (ms)"),
                            ("results.output_tokens_per_second", "Output tokens/s")):
        assert generating[heading] == pytest.approx(statistics.mean(LATENCY[figure]))
    # the summary's first table is as it was; tokens/s statistics follow in a table of their own
    assert [t.name for t in report.tables] == ["experiments", "tokens", "resources", "latency"]
    tokens = table(report, "tokens")
    mean = row(tokens.data, Model="GPT-2", **{"Seq len": 256})["Tokens/s mean"]
    assert mean == pytest.approx(statistics.geometric_mean(GPT2_TOKENS[256]))


def test_seq_len_and_generate_tell_experiments_apart(mixed: list[dict[str, Any]]) -> None:
    summary = build_report(mixed, "summary")
    experiments = table(summary, "experiments").data
    assert len(experiments) == 4  # AlexNet, GPT-2 at 128 and 256, GPT-2 generating
    for length in GPT2_TOKENS:
        assert row(experiments, Model="GPT-2", **{"Seq len": length,
                                                  "Phase": "training"})["Runs"] == 3
    regular = build_report(mixed, "regular")
    # generating is inference: the phase varies with it, and is named too
    assert "rows also split by: Generate, Phase, Seq len" in regular.notes
    assert table(regular, "throughput").data.index.names == ["Model", "Device", "Generate",
                                                             "Phase", "Seq len"]


def test_only_seq_len_differs_two_rows(tmp_path: Path) -> None:
    """Two experiments that differ only in exp.seq_len are two rows, never one mean."""
    for length, per_second in ((128, 4000.0), (512, 3000.0)):
        for repeat in range(2):
            write_log(tmp_path / f"bert_{length}_{repeat}.log",
                      header("bert_base", "BERT-Base", seq_len=length),
                      {**timing(per_second / length, 8), "exp.seq_len": length,
                       "results.tokens_per_second": per_second})
    report = build_report(records_of(tmp_path), "regular")
    tokens = table(report, "tokens").data
    assert list(tokens.index.get_level_values("Seq len")) == [128, 512]
    assert tokens[8].tolist() == pytest.approx([4000.0, 3000.0])
    assert "rows also split by: Seq len" in report.notes


def test_a_repeat_failed_before_the_length_was_resolved_stays_in_its_experiment(
        tmp_path: Path) -> None:
    """The header says exp.seq_len 0 (the model's own length); a run that crashed before the
    benchmark wrote the length it used is still a repeat of that experiment (marked '!')."""
    for repeat, per_second in enumerate((6000.0, 6200.0)):
        write_log(tmp_path / f"gpt2_{repeat}.log", header("gpt2", "GPT-2", seq_len=0),
                  {**timing(per_second / 1024, 8), "exp.seq_len": 1024,
                   "results.tokens_per_second": per_second})
    write_log(tmp_path / "gpt2_2.log", header("gpt2", "GPT-2", seq_len=0), {}, status="failure")
    report = build_report(records_of(tmp_path), "summary")
    experiments = table(report, "experiments").data
    assert len(experiments) == 1
    assert experiments.iloc[0][["Runs", "OK"]].tolist() == [3, 2]
    regular = build_report(records_of(tmp_path), "regular")
    tokens = table(regular, "tokens")
    assert tokens.data.iat[0, 0] == pytest.approx(math.sqrt(6000.0 * 6200.0))  # geometric
    assert tokens.mark(0, 0) == "!"


def test_columns_only_for_the_figures_logged(tmp_path: Path) -> None:
    """An image-model sweep with peak memory alone: no tokens/s table, no MFU column."""
    for repeat, samples in enumerate(ALEXNET_SAMPLES):
        write_log(tmp_path / f"alexnet_{repeat}.log", header("alexnet", "AlexNet"),
                  {**timing(samples, 8), "results.peak_memory_mb": 1700.0 + repeat})
    report = build_report(records_of(tmp_path), "regular")
    # throughput_ci: the intervals as text (issue 20's "a table with intervals")
    assert [t.name for t in report.tables] == ["time", "throughput", "throughput_ci",
                                               "resources"]
    resources = table(report, "resources").data
    assert list(resources.columns) == ["Peak memory (MiB)"]
    assert resources.iat[0, 0] == pytest.approx(1701.0)
    assert "tokens/s" not in RENDERERS["text"](report)


def test_a_sharded_runs_largest_rank_is_shown_beside_the_log_writers_peak(
        tmp_path: Path) -> None:
    """Under torchrun the log's peak memory is its writer's (rank 0); what must fit a device
    is the largest rank's, shown in its own column (only for runs that logged it)."""
    for repeat, samples in enumerate(ALEXNET_SAMPLES):
        write_log(tmp_path / f"alexnet_{repeat}.log", header("alexnet", "AlexNet"),
                  {**timing(samples, 8), "results.peak_memory_mb": 1700.0,
                   "results.peak_memory_mb_ranks": [1700.0, 1900.0 + repeat],
                   "results.peak_memory_mb_max": 1900.0 + repeat})
    resources = table(build_report(records_of(tmp_path), "regular"), "resources").data
    assert list(resources.columns) == ["Peak memory (MiB)", "Peak memory, largest rank (MiB)"]
    assert resources.iat[0, 0] == pytest.approx(1700.0)
    assert resources.iat[0, 1] == pytest.approx(1901.0)


def test_compare_lists_tokens_per_second_and_efficiency(tmp_path: Path) -> None:
    base, new = tmp_path / "base", tmp_path / "new"
    write_mixed_sweep(base)
    write_mixed_sweep(new)
    report = compare_records(records_of(base), records_of(new))
    comparison = table(report, "comparison").data
    assert list(comparison.columns[-2:]) == ["Base (tokens/s)", "New (tokens/s)"]
    assert list(comparison.columns[:9]) == [
        "Base (samples/s)", "New (samples/s)", "Speedup", "CI low", "CI high", "Runs base",
        "Runs new", "Runs needed (planning)", "Verdict"]
    gpt2 = row(comparison, Model="GPT-2", **{"Seq len": 256})
    assert gpt2["Base (tokens/s)"] == pytest.approx(statistics.geometric_mean(GPT2_TOKENS[256]))
    alexnet = row(comparison, Model="AlexNet")
    assert alexnet["Base (tokens/s)"] is None and alexnet["New (tokens/s)"] is None
    resources = table(report, "resources").data
    assert row(resources, Model="GPT-2", **{"Seq len": 128})["New MFU (%)"] == \
        pytest.approx(100 * statistics.mean(MFU))
    latency = table(report, "latency").data
    assert len(latency) == 1
    assert latency.iloc[0]["Base TTFT p99 (ms)"] == \
        pytest.approx(statistics.mean(LATENCY["results.ttft_p99"]))


def test_html_page_and_tokens_chart(mixed: list[dict[str, Any]], tmp_path: Path) -> None:
    report = build_report(mixed, "regular")
    made = charts(report)
    names = [c.name for c in made]
    assert "tokens_gpt2.png" in names and "tokens_alexnet.png" not in names  # by exp.model
    page = to_html(report, made)
    for title in ("Throughput (tokens/s)", "Generation latency (mean of successful runs)"):
        assert f"<h2>{title}</h2>" in page
    for heading in ("MFU (%)", "Peak memory (MiB)", "TTFT p50 (ms)"):
        assert f"<th>{heading}</th>" in page
    tokens_section = page.split("<h2>Throughput (tokens/s)</h2>")[1].split("</table>")[0]
    alexnet = tokens_section.split("AlexNet")[1].split("</tr>")[0]
    assert alexnet.count('class="missing">-<') == 2


@pytest.mark.browser
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(),
                    reason="needs headless Chromium at /usr/bin/chromium")
def test_html_page_with_figures_renders_in_chromium(mixed: list[dict[str, Any]],
                                                    tmp_path: Path) -> None:
    import matplotlib.image

    report = build_report(mixed, "regular")
    page = tmp_path / "report.html"
    page.write_text(to_html(report, charts(report)), encoding="utf-8")
    shot = tmp_path / "shot.png"
    (tmp_path / "profile").mkdir()
    subprocess.run(["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", "--window-size=1400,1000",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
                    page.as_uri()], capture_output=True, timeout=120, check=False)
    assert shot.exists()
    image = matplotlib.image.imread(shot)
    assert image.shape[1] >= 1400 and image[..., :3].std() > 0.05


def test_cli_report_shows_the_figures(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    write_mixed_sweep(tmp_path / "logs")
    assert main(["report", str(tmp_path / "logs"), "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert "# Throughput (tokens/s)" in out and "MFU (%)" in out and "TPOT p99 (ms)" in out


# --- logs without the new facts: the reports they gave before --------------------------------

OLD_MODELS = {"alexnet": ("AlexNet", 1500.0), "resnet50": ("ResNet-50", 300.0)}


def write_old_style(folder: Path, speedup: float = 1.0, new_header: bool = False) -> Path:
    """A small weak-scaling sweep as older benchmarks logged it (no token, FLOP, memory or
    latency facts); ``new_header``: as today's runner writes an image model's header
    (``exp.seq_len`` 0, ``exp.generate`` 0)."""
    extra = {"seq_len": 0, "generate": 0} if new_header else {}
    for model, (title, speed) in OLD_MODELS.items():
        for devices in (1, 2):
            for batch in (16, 32):
                for repeat, factor in enumerate((1.0, 1.03)):
                    name = f"{model}_{devices}_{batch}_{repeat}.log"
                    head = header(model, title, batch=batch, devices=devices, **extra)
                    head["exp.log_file"] = f"/logs/{name}"
                    if model == "resnet50" and devices == 1 and batch == 32:
                        write_log(folder / name, head, {}, status="oom")
                        continue
                    samples = speed * devices * 0.9 ** (devices - 1) * factor * speedup
                    results = timing(samples * batch / (batch + 8), batch * devices)
                    results["results.steady_state"] = not (model == "alexnet" and repeat == 1
                                                           and devices == 2 and batch == 16)
                    write_log(folder / name, head, results)
    return folder


def old_style_outputs(folder: Path, new_header: bool = False) -> str:
    """Every report kind in every format (HTML without charts) of the old-style sweep."""
    base = records_of(write_old_style(folder / "base", new_header=new_header))
    new = records_of(write_old_style(folder / "new", speedup=1.08, new_header=new_header))
    reports = {kind: build_report(base, kind) for kind in ("regular", "weak", "summary")}
    reports["pivot"] = build_report(base, pivot=(["model"], ["devices"], "time"))
    reports["compare"] = compare_records(base, new)
    parts = []
    for kind, report in reports.items():
        for fmt, render in [*RENDERERS.items(), ("html", to_html)]:
            parts += [f"==== {kind}.{fmt} ====", render(report)]
    return "\n".join(parts)


def test_logs_without_the_new_facts_give_the_reports_they_gave_before(
        tmp_path: Path, golden: Callable[[str, str], None]) -> None:
    golden("old_style_logs.txt", old_style_outputs(tmp_path))


def test_todays_runner_header_changes_nothing_for_image_models(tmp_path: Path) -> None:
    """exp.seq_len 0 and exp.generate 0 in the header are "off": same rows, same numbers,
    and a comparison of old logs with new ones matches them (no 'compared: exp.seq_len')."""
    old = old_style_outputs(tmp_path / "old")
    new = old_style_outputs(tmp_path / "new", new_header=True)
    assert new == old
    report = compare_records(records_of(write_old_style(tmp_path / "a")),
                             records_of(write_old_style(tmp_path / "b", new_header=True)))
    assert not [note for note in report.notes if note.startswith("compared:")]
    # two runs a configuration: no verdict (issue 56: a verdict takes three runs a side)
    assert all(v in ("inconclusive", "no verdict: 2 runs on a side") or v.startswith("failed")
               for v in table(report, "comparison").data["Verdict"])


def _names(reports: Iterable[Report]) -> list[list[str]]:
    return [[t.name for t in r.tables] for r in reports]


def test_old_style_reports_have_only_their_tables(tmp_path: Path) -> None:
    base = records_of(write_old_style(tmp_path / "base"))
    reports = [build_report(base, kind) for kind in ("regular", "weak", "summary")]
    # throughput_ci, the throughput intervals as text, needs a configuration of three runs or
    # more: these logs have two each (two runs keep no interval: benchstats.estimate)
    assert _names(reports) == [["time", "throughput"],
                               ["time", "throughput", "speedup", "efficiency"],
                               ["experiments"]]


@pytest.mark.parametrize(("search", "marked"), [
    pytest.param({}, False, id="the-edge"),
    pytest.param({"results.max_batch_capped": True}, True, id="capped"),
    pytest.param({"results.max_batch_timed_out": True}, True, id="timed-out"),
    pytest.param({"results.max_batch_confirmed": False, "results.max_batch_timed_out": True,
                  "results.max_batch_dynamic": 52}, True, id="compiled-unconfirmed"),
    pytest.param({"results.max_batch_confirmed": True, "results.max_batch_dynamic": 50},
                 False, id="compiled-confirmed"),
])
def test_a_max_batch_that_is_not_the_edge_is_marked(tmp_path: Path, search: dict[str, Any],
                                                    marked: bool) -> None:
    """A search capped at --max_batch_limit, cut by --max_batch_time or (--compile on a GPU)
    not probed with the timed run's own graph found a lower bound, not the largest batch that
    fits: the table marks it and says why, in text and HTML, where it used to show it alone."""
    folder = tmp_path / "max"
    head = {**header("alexnet", "AlexNet", batch=4), "exp.replica_batch": "max",
            "exp.effective_batch": "max", "exp.id": "alexnet-max"}
    write_log(folder / "max.log", head, {**timing(60.0, 52), "exp.effective_batch": 52,
                                         "results.max_batch": 52,
                                         "results.max_batch_capped": False,
                                         "results.max_batch_timed_out": False, **search})
    write_log(folder / "fixed.log", header("alexnet", "AlexNet", batch=4), timing(50.0, 4))
    report = build_report(records_of(folder), "regular")
    resources = table(report, "resources")
    cell = row(resources.data, **{"Replica batch": "max"})
    assert cell["Max batch found"] == 52  # the number itself is what the run found
    assert resources.marks is not None
    marks = resources.marks[resources.data["Max batch found"].notna()]["Max batch found"]
    assert list(marks) == (["+"] if marked else [""])
    text = RENDERERS["text"](report)
    assert ("+ max batch found is not the largest batch that fits" in text) == marked
    assert ("52+" in text.replace(" ", "")) == marked
    assert ("max batch found is not the largest batch" in to_html(report)) == marked
