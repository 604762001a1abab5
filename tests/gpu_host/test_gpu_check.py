"""``scripts/gpu-check``: the dry run end to end on the CPU (its folder: tables of measured
figures, logs, every stage's status), and the pieces that judge GPU runs, on made-up facts."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import ClassVar

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from gpu_check import cli, defects, llm, matrix, timm_stage
from gpu_check.bench import NO_GPU, Context, Run
from gpu_check.facts import fmt, parse_facts, read_facts
from gpu_check.smi import first_visible_gpu, summarise
from pytorch_benchmarks.models.names import model_names

MATRIX_STAGES = [s for s in cli.ORDER if s.startswith("matrix-")]
GPU_ONLY_ROWS = ("resnet50-train-tf32", "gpt2-infer-fp16", "resnet50-train-bf16-cl-compile",
                 "resnet50-train-bf16-cl-max")



@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("gpu-check")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu-check"), "--dry-run",
                           "--out", str(out)], capture_output=True, text=True, timeout=600,
                          check=False)
    return out, done


def _rows(markdown: str) -> dict[str, list[str]]:
    rows = {}
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells:
            rows[cells[0]] = cells
    return rows


def test_dry_run_exits_0_and_says_what_the_host_has(dry_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, done = dry_run
    assert done.returncode == 0, done.stderr
    assert re.search(r"needs torch, numpy \(present\); optional, missing here:", done.stderr)
    assert f"gpu-check: {out / 'summary.md'}" in done.stderr


def test_summary_lists_every_stage_with_its_status(dry_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, _ = dry_run
    rows = _rows((out / "summary.md").read_text())
    for stage in cli.ORDER:
        assert stage in rows, stage
        assert (out / f"stage_{stage}.md").is_file()
        assert json.loads((out / f"stage_{stage}.json").read_text())["stage"] == stage
    # ceilings: 'ok', or 'ok; noisy: ...' where a loaded host spread its repeats
    assert rows["env"][1] == "ok" and rows["ceilings"][1].startswith("ok")
    for stage in MATRIX_STAGES:
        assert rows[stage][1].startswith("ok: 1 of 1 runs ok"), stage
    assert rows["energy"][1] == NO_GPU and rows["maxbatch-eager"][1] == NO_GPU
    assert rows["maxbatch-compile"][1] == NO_GPU
    assert rows["timm"][1].startswith("skipped: timm is") or rows["timm"][1] == NO_GPU


def test_matrix_rows_carry_the_figures_the_cpu_runs_logged(dry_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, _ = dry_run
    checked = 0
    for stage in MATRIX_STAGES:
        for name, cells in _rows((out / f"stage_{stage}.md").read_text()).items():
            if cells[1] != "ok":
                continue
            facts = read_facts(out / "logs" / f"{name}.facts")
            assert facts["results.status"] == "ok"
            assert cells[2] == fmt(facts["results.throughput"]) != "-"
            assert cells[3] == fmt(facts["results.time"]) != "-"
            assert cells[5] == fmt(facts["results.flops_per_sample"] / 1e9)
            log = (out / "logs" / f"{name}.log").read_text()
            assert log.startswith("$ ") and "benchmarks.py" in log.splitlines()[0]
            checked += 1
    assert checked == 5  # one cell per model and channels_last inference


def test_gpu_only_cells_and_checks_say_not_run_never_passed(dry_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, _ = dry_run
    rows = {}
    for stage in MATRIX_STAGES:
        rows.update(_rows((out / f"stage_{stage}.md").read_text()))
    for name in GPU_ONLY_ROWS:
        assert rows[name][1] == NO_GPU
        assert set(rows[name][2:]) == {"-"}  # no figure that was not measured
    checks = _rows((out / "stage_defects.md").read_text())
    assert checks["D1"][2] == "passed" and checks["D3"][2] == "passed"
    for defect in ("D2", "D4", "D5", "D8", "D9/D10", "D11", "D12"):
        assert checks[defect][2] == NO_GPU
    ceilings = _rows((out / "stage_ceilings.md").read_text())
    assert fmt(json.loads((out / "logs" / "ceilings.json").read_text())["matmul"]["fp32"]["tflops"]) \
        == ceilings["matmul fp32 256^3"][2]


def test_every_model_the_check_runs_is_in_the_zoo() -> None:
    zoo = set(model_names())
    used = set(matrix.MODELS) | {"alexnet"} | {p.dlbs[1] for p in timm_stage.PAIRS}
    assert used <= zoo


def test_an_unknown_stage_is_refused_naming_the_stages() -> None:
    with pytest.raises(SystemExit, match="unknown stage 'matrx'.*matrix-resnet50"):
        cli.stage_names(["matrx"])
    assert cli.stage_names(["matrix", "env"]) == ["env", *MATRIX_STAGES]


def test_a_stage_without_gpu_refuses_to_run_without_dry_run(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "count_gpus", lambda: 0)
    assert cli.main(["--stage", "env", "--out", str(tmp_path)]) == 1
    assert not (tmp_path / "summary.md").exists()


def test_runs_and_samples_follow_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-8f2e,3")
    assert cli.count_gpus() == 2 and first_visible_gpu() == "GPU-8f2e"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert cli.count_gpus() == 0


def test_a_relative_out_folder_is_made_absolute_for_the_runs(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Path] = []
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "run_stage", lambda name, args, out, gpus, line: seen.append(out) or "ok")
    assert cli.main(["--dry-run", "--stage", "env", "--out", "rel"]) == 0
    assert seen == [tmp_path / "rel"] and (tmp_path / "rel" / "logs").is_dir()


def _run(name: str, **facts: object) -> Run:
    return Run(name=name, args=[], facts={"results.status": "ok", **facts}, returncode=0)


GPU = Context(out=Path("."), dry_run=False, budget_s=1)
H100 = "table: NVIDIA H100 80GB HBM3 float32 ({}) dense (H100 datasheet)"


@pytest.mark.parametrize(("default_flags", "source", "verdict"), [
    pytest.param({"cudnn.allow_tf32": False}, H100.format("fp32"), "passed", id="fp32-column"),
    pytest.param({"cudnn.allow_tf32": True}, H100.format("fp32"), "FAILED", id="conv-tf32-on"),
    pytest.param({"cudnn.allow_tf32": False}, H100.format("tf32"), "FAILED", id="wrong-column"),
    pytest.param({"cudnn.allow_tf32": False, "float32_matmul_precision": "high"},
                 H100.format("fp32"), "FAILED", id="matmul-tf32-on"),
])
def test_d2_fails_when_float32_takes_a_column_its_math_does_not_use(
        default_flags: dict[str, bool], source: str, verdict: str) -> None:
    runs = {"d2-r50-fp32": _run("d2-r50-fp32", **{
                "exp.backend_flags": {"float32_matmul_precision": "highest", **default_flags},
                "results.peak_source": source}),
            "d2-r50-fp32-fastest": _run("d2-r50-fp32-fastest", **{
                "exp.backend_flags": {"cudnn.allow_tf32": True, "float32_matmul_precision": "high"},
                "results.peak_source": H100.format("tf32")})}
    assert defects.judge_d2(runs, GPU)[0].startswith(verdict)


def test_d1_fails_on_a_gpu_when_mfu_is_null_or_the_count_differs() -> None:
    good = {"results.flops_per_sample": 1193.464e9, "results.mfu": 0.2}
    assert defects.judge_d1({"d1-llama-bf16-train": _run("d1-llama-bf16-train", **good)},
                            GPU)[0] == "passed"
    no_mfu = {**good, "results.mfu": None, "results.mfu_note": "could not be counted"}
    assert defects.judge_d1({"d1-llama-bf16-train": _run("d1-llama-bf16-train", **no_mfu)},
                            GPU)[0].startswith("FAILED")
    other = {**good, "results.flops_per_sample": 1000e9}
    assert "CPU count is 1193.464" in defects.judge_d1(
        {"d1-llama-bf16-train": _run("d1-llama-bf16-train", **other)}, GPU)[0]


@pytest.mark.parametrize(("facts", "verdict"), [
    pytest.param({"results.energy_window_s": 0.4, "results.energy_unavailable": "short"},
                 "passed", id="withheld"),
    pytest.param({"results.energy_window_s": 0.4, "results.energy_j": 120.0}, "FAILED",
                 id="logged-short"),
    pytest.param({"results.energy_unavailable": "pynvml is not installed"}, "inconclusive",
                 id="no-nvml"),
])
def test_d4_fails_when_a_short_window_logs_energy(facts: dict[str, object], verdict: str) -> None:
    assert defects.judge_d4({"d4": _run("d4", **facts)}, GPU)[0].startswith(verdict)


def test_a_failed_run_fails_its_check_with_the_runs_error() -> None:
    run = Run(name="d5-r50-bf16", args=[], facts={"results.status": "failure",
                                                 "results.error": "AssertionError: sdpa"})
    verdict, _ = defects.judge_d5({"d5-r50-bf16": run}, GPU)
    assert verdict == "FAILED: d5-r50-bf16: failure (AssertionError: sdpa)"


def test_a_run_the_stages_budget_stopped_is_inconclusive_not_failed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first H100 run's D6 (a compiled max-batch search) had 72 s of the stage left and
    was called FAILED; stopped at its own limit it still fails."""
    from gpu_check import bench
    monkeypatch.setattr(bench, "_execute", lambda *a, **k: (-15, True))
    short = Context(out=tmp_path, dry_run=True, budget_s=60)
    stopped = bench.run_benchmark(short, "d6-r50-compile-max", [], limit=330)
    assert stopped.budget_stop and stopped.status.startswith("stopped when the stage's budget")
    verdict, _ = defects.judge_maxbatch({stopped.name: stopped}, short)
    assert verdict.startswith("inconclusive: d6-r50-compile-max: stopped when")
    own = bench.run_benchmark(Context(out=tmp_path, dry_run=True, budget_s=600), "d6", [],
                              limit=330)
    assert not own.budget_stop
    assert defects.judge_maxbatch({own.name: own}, short)[0].startswith(
        "FAILED: d6: stopped at its time limit")


def test_a_compiled_search_is_judged_on_the_static_graph_the_timed_run_compiles() -> None:
    """D6: a compiled search that had no time to probe the static graph at its batch shows
    nothing about the timed run's memory (inconclusive); its evidence says both edges."""
    probes = [{"batch": 1, "fits": True, "graph": "static"},
              {"batch": 2, "fits": True, "graph": "dynamic"},
              {"batch": 4, "fits": False, "graph": "dynamic"},
              {"batch": 2, "fits": True, "graph": "static"},
              {"batch": 3, "fits": False, "graph": "static"}]
    done = _run("d6", **{"results.max_batch": 2, "results.max_batch_dynamic": 3,
                         "results.max_batch_confirmed": True, "results.max_batch_probes": probes,
                         "results.max_batch_seconds": 201.5, "results.throughput": 812.0})
    verdict, evidence = defects.judge_maxbatch({"d6": done}, GPU)
    assert verdict == "passed"
    assert ("d6: max_batch 2, search timed out False, dynamic graph's edge 3, confirmed static "
            "True, 5 probes (3 static), 201.5 s, 812 samples/s") in evidence
    cut = _run("d6", **{"results.max_batch": 3, "results.max_batch_dynamic": 3,
                        "results.max_batch_confirmed": False,
                        "results.max_batch_timed_out": True})
    assert defects.judge_maxbatch({"d6": cut}, GPU)[0] == (
        "inconclusive: the static graph was not probed at results.max_batch in d6 "
        "(--max_batch_time)")
    lower = _run("d6", **{"results.max_batch": 1, "results.max_batch_confirmed": True,
                          "results.max_batch_timed_out": True})
    assert defects.judge_maxbatch({"d6": lower}, GPU)[0].startswith(
        "inconclusive: --max_batch_time ended the search before the memory edge in d6")


def test_the_max_batch_stage_is_both_searches_each_a_stage_of_its_own() -> None:
    """D6 needs a call of its own (about 420 s): ``maxbatch-compile``; ``maxbatch`` (the name
    the earlier runs used) still runs both."""
    assert cli.stage_names(["maxbatch"]) == ["maxbatch-eager", "maxbatch-compile"]
    assert cli.stage_names(["maxbatch-compile"]) == ["maxbatch-compile"]


def test_a_matrix_the_budget_cut_short_is_incomplete_not_failed() -> None:
    """The third H100 run's matrix-llama3_1b: 5 cells ok, one stopped by the stage's budget, two
    not run; its status said "failed" though no cell failed."""
    ok = Run(name="a", args=[], facts={"results.status": "ok"}, returncode=0)
    cut = Run(name="b", args=[], timed_out=True, budget_stop=True)
    left = Run(name="c", args=[], skipped="not run (stage budget of 190 s spent)")
    broken = Run(name="d", args=[], facts={"results.status": "failure"}, returncode=1)
    own_limit = Run(name="e", args=[], timed_out=True)
    assert matrix.matrix_result([ok, cut, left], []).status == (
        "incomplete: 1 of 2 runs ok, 1 stopped by the stage's budget, "
        "1 not run (stage budget of 190 s spent)")
    assert matrix.matrix_result([ok, left], []).status.startswith("incomplete: 1 of 1 runs ok")
    assert matrix.matrix_result([ok, cut, broken], []).status.startswith("failed: 1 of 3")
    assert matrix.matrix_result([ok, own_limit], []).status.startswith("failed: 1 of 2")
    dry = Run(name="f", args=[], skipped=NO_GPU)
    assert matrix.matrix_result([ok, dry], []).status.startswith("ok: 1 of 1 runs ok")
    assert matrix.matrix_result([left], []).status.startswith("incomplete: 0 of 0")
    assert matrix.matrix_result([dry], []).status.startswith("failed: 0 of 0")


def test_facts_parse_like_the_logs_and_missing_figures_are_dashes() -> None:
    facts = parse_facts(['__results.throughput__=12.5', 'WARNING: x', '__results.mfu__=null',
                         '__bad__=not json'])
    assert facts == {"results.throughput": 12.5, "results.mfu": None}
    assert fmt(None) == fmt(float("nan")) == fmt("12") == fmt(True) == "-"
    assert fmt(1234.5678) == "1235" and fmt(0.000123456) == "0.0001235"


def test_smi_power_is_averaged_over_the_last_seconds_only() -> None:
    lines = ["2026/11/25 12:00:00.000, 100.0, 90.0, 1000, 1980, 40",
             "2026/11/25 12:00:08.000, 600.0, 650.0, 30000, 1755, 60",
             "2026/11/25 12:00:09.000, 700.0, 690.0, 31000, 1740, 61",
             "2026/11/25 12:00:09.500, [N/A], [N/A], 31000, 1740, 61"]
    ended = datetime(2026, 11, 25, 12, 0, 10)
    summary = summarise(lines, ended, 5.0, "power.draw.average")
    assert summary.power_w == 650.0 and summary.memory_mib == 31000.0 and summary.samples == 4
    assert summary.sm_clock_mhz == 1740.0  # the window's clock, not the idle start's
    whole = summarise(lines, ended, None, "power.draw.average")
    assert whole.power_w == pytest.approx(1400 / 3) and whole.sm_clock_mhz == 1747.5


class _StubSampler:
    """An nvidia-smi sampler that records the window it is asked to summarise."""
    asked: ClassVar[list[tuple[float | None, float | None]]] = []

    def __init__(self, *_: object, **__: object) -> None:
        pass

    def __enter__(self) -> _StubSampler:  # noqa: PYI034 - Self needs Python 3.11
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def summary(self, last_s: float | None = None, window_end: float | None = None) -> None:
        _StubSampler.asked.append((last_s, window_end))


def test_smi_reads_the_window_that_ended_when_the_run_says_not_the_process_end() -> None:
    # the first GPU run: the power fell from 583 W to 167 W as the process tore down, and the
    # last 20 s of the process held that second; the window's own end excludes it
    lines = [f"2026/11/25 12:00:{s:02d}.000, {600.0 if s < 20 else 150.0}, 0, 1000, 1980, 40"
             for s in range(22)]
    end = datetime(2026, 11, 25, 12, 0, 19, 500000)
    summary = summarise(lines, end, 10.0, "power.draw.average")
    assert summary.power_w == 600.0
    late = summarise(lines, datetime(2026, 11, 25, 12, 0, 21, 500000), 10.0, "power.draw.average")
    assert late.power_w is not None and late.power_w < 600.0  # the teardown pulled it down


def test_every_runs_smi_power_covers_its_timed_window(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # The first GPU run's matrix showed smi 380 W (the whole process, start-up included)
    # beside NVML's 612 W (the timed window): both must cover the window.
    from gpu_check import bench

    def execute(command: list[str], log: Path, *_: object) -> tuple[int, bool]:
        facts = Path(command[command.index("--log_file") + 1])
        facts.write_text('__results.status__="ok"\n__results.energy_window_s__=6.5\n'
                         '__results.energy_window_end__=1764124441.5\n')
        return 0, False
    monkeypatch.setattr(bench, "_execute", execute)
    monkeypatch.setattr(bench, "SmiSampler", _StubSampler)
    _StubSampler.asked.clear()
    ctx = Context(out=tmp_path, dry_run=False, budget_s=100, num_gpus=1)
    matrix.cell_run(ctx, "resnet50-train-bf16", "resnet50", "train", "bf16", [], True)
    assert _StubSampler.asked == [(6.5, 1764124441.5)]


def test_a_matrix_cell_times_a_window_long_enough_for_nvml_energy() -> None:
    ctx = Context(out=Path("."), dry_run=False, budget_s=0, num_gpus=1)
    run = matrix.cell_run(ctx, "m", "resnet50", "train", "bf16", [], True)
    assert float(run.args[run.args.index("--max_time") + 1]) > 5  # NVML needs 5 s


TIMM_288 = """Running train benchmark on resnet50 for 40 steps w/ input size (3, 288, 288) and batch size 256.
Train benchmark of resnet50 done. 2850.36 samples/sec, 88.72 ms/sample
--result
{
    "model": "resnet50",
    "train_samples_per_sec": 2850.36,
    "train_step_time": 88.721,
    "train_batch_size": 256,
    "train_img_size": 288,
    "param_count": 25.56
}
"""


def test_timm_and_dlbs_pairs_run_at_the_same_image_size() -> None:
    for pair in timm_stage.PAIRS:
        ours = pair.dlbs[pair.dlbs.index("--image_size") + 1]
        theirs = pair.timm[pair.timm.index("--img-size") + 1]
        assert ours == theirs == "224", pair.name


def test_timm_and_dlbs_training_pairs_both_train_with_sgd() -> None:
    """The H100 run's ViT pair trained with AdamW in dlbs (``--optimizer auto`` picks it for
    a transformer) against timm's SGD; both sides now name SGD (timm's default ``--opt``)."""
    for pair in timm_stage.PAIRS:
        train = pair.timm[pair.timm.index("--bench") + 1] == "train"
        assert ("--optimizer" in pair.dlbs) == train, pair.name
        if train:
            assert pair.dlbs[pair.dlbs.index("--optimizer") + 1] == "sgd", pair.name
            assert "--opt" not in pair.timm   # timm's default: sgd


def test_a_timm_ratio_is_refused_when_timm_ran_another_image_size() -> None:
    # The first GPU run: timm's resnet50 ran at its pretrained test size, 288 px, and the
    # ratio read 1.63; it is no comparison.
    result = timm_stage.read_timm(TIMM_288, 0, False)
    assert (result.status, result.rate, result.image_size) == ("ok", 2850.36, 288)
    assert timm_stage.ratio_cell(4638.5, result, 224, 256).startswith(
        "not like for like: timm ran 288 px, dlbs 224 px")
    same = timm_stage.read_timm(TIMM_288.replace("288", "224"), 0, False)
    assert (same.batch, timm_stage.ratio_cell(2850.36, same, 224, 256)) == (256, "1")
    assert timm_stage.ratio_cell(None, same, 224, 256) == "-"
    # timm retried at a smaller batch (it halves the batch on out-of-memory without --no-retry)
    assert timm_stage.ratio_cell(2850.36, same, 224, 512) == (
        "not like for like: timm ran batch 256, dlbs 512")
    failed = timm_stage.read_timm(TIMM_288.replace("288", "224"), 1, False)
    assert failed.status == "failed (exit 1)" and timm_stage.ratio_cell(
        2850.36, failed, 224, 256) == "-"  # a failed run's figure is no comparison
    odd = timm_stage.read_timm('"train_samples_per_sec": -, "train_img_size": 224', 0, False)
    assert odd.rate is None and odd.status == "failed (exit 0)"
    assert all("--no-retry" in pair.timm for pair in timm_stage.PAIRS)


def test_a_timm_run_stopped_after_its_result_keeps_it_and_says_so() -> None:
    kept = timm_stage.read_timm(TIMM_288, -15, True)
    assert kept.rate == 2850.36 and kept.status.startswith("ok (its result printed, then stopped")
    lost = timm_stage.read_timm(TIMM_288.split("--result")[0], -15, True)
    assert (lost.status, lost.rate) == ("stopped at its time limit", None)
    assert timm_stage.read_timm("Traceback ...", 1, False).status == "failed (exit 1)"


def test_a_run_row_shows_energy_per_sample_clock_and_throttle_reasons() -> None:
    from gpu_check.runtable import HEADER, run_row
    facts = {"results.status": "ok", "results.samples_per_joule": 7.626,
             "results.throttle_reasons": ["hw_slowdown"], "results.power_capped": True}
    row = dict(zip(HEADER, run_row(Run(name="r", args=[], facts=facts, returncode=0))))
    assert row["J/sample"] == "0.131" and row["throttle"] == "hw_slowdown; power cap"
    quiet = dict(zip(HEADER, run_row(Run(name="r", args=[], facts={
        "results.throttle_reasons": [], "results.power_capped": False}, returncode=0))))
    assert quiet["throttle"] == "none" and quiet["J/sample"] == quiet["SM MHz"] == "-"


def _fake_gpu_run(ctx: Context, name: str, args: list[str], **_: object) -> Run:
    """What a good H100 run would log, by its flags (no GPU here: the judges and tables)."""
    fastest = "--cudnn_fastest" in args
    dtype = args[args.index("--dtype") + 1] if "--dtype" in args else "float32"
    column = {"bfloat16": "bf16", "float16": "fp16"}.get(dtype, "tf32" if fastest else "fp32")
    short = "--max_time" not in args
    facts = {"results.status": "ok", "results.throughput": 1000.0, "results.time": 256.0,
             "results.flops_per_sample": 1193.464e9, "results.tflops": 300.0, "results.mfu": 0.3,
             "results.peak_tflops": 989.5, "exp.dtype_used": dtype, "exp.num_replicas": 1,
             "results.peak_source": H100.replace("float32", dtype).format(column),
             "exp.backend_flags": {"cudnn.allow_tf32": fastest,
                                   "float32_matmul_precision": "high" if fastest else "highest"},
             "exp.framework_version": "2.11.0+cu130", "hw.devices": ["NVIDIA H100 80GB HBM3"],
             "results.peak_memory_mb": 9000.0, "results.peak_memory_reserved_mb": 9500.0,
             "results.num_alloc_retries": 0, "results.power_capped": True,
             "results.throttle_reasons": [], "results.max_batch": 512,
             "results.energy_window_s": 0.8 if short else 20.0}
    if short:
        facts["results.energy_unavailable"] = "the timed window lasted 0.8 s"
    else:
        facts.update({"results.energy_j": 13000.0, "results.power_w": 650.0})
    return Run(name=name, args=args, facts=facts, returncode=0, seconds=1.0)


def test_every_stage_judges_good_gpu_runs_without_a_failure(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from gpu_check import energy, stages
    for module in (defects, matrix, energy, timm_stage, llm):
        monkeypatch.setattr(module, "run_benchmark", _fake_gpu_run)
    monkeypatch.setattr(stages, "run_probe", lambda ctx, what, name, limit=0: {"torch": "2.11.0"} if what == "env" else {
        "device": "cuda", "matmul": {"bf16": {"size": 8192, "seconds": 0.0014, "tflops": 785.0, "how": "events"}},
        "copy": {"bytes": 4 << 30, "seconds": 0.0029, "read_plus_write_gb_s": 2960.0, "how": "events"}})
    monkeypatch.setattr(stages, "smi_available", lambda: False)
    for name in cli.ORDER:
        ctx = Context(out=tmp_path, dry_run=False, budget_s=480, num_gpus=1)
        result = cli.STAGES[name][0](ctx)
        assert not result.status.startswith("failed"), (name, result.status, result.lines)
        assert "FAILED" not in "\n".join(result.lines), name
    checks = _rows("\n".join(defects.run_checks(ctx, defects.checks(ctx), []).lines))
    assert checks["D1"][2] == checks["D2"][2] == checks["D4"][2] == checks["D12"][2] == "passed"
    assert checks["D8"][2] == "not run (1 GPU(s) seen, it needs 2)"
    options = _rows("\n".join(matrix.options_stage(ctx).lines))
    assert options["resnet50-train-bf16-cl-max"][1] == "ok (max batch 512)"


class _FakeNvml:
    """NVML with one device whose UUID is ``GPU-abc``."""
    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> str:
        if uuid != "GPU-abc":
            raise RuntimeError("NVML_ERROR_NOT_FOUND")
        return "h0"

    def nvmlDeviceGetHandleByIndex(self, index: int) -> str:
        return f"h{index}"

    def nvmlDeviceGetUUID(self, handle: str) -> str:
        return "GPU-abc"

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: str) -> int:
        return 123456

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: str) -> int:
        return 700000

    def nvmlDeviceGetMaxClockInfo(self, handle: str, kind: int) -> int:
        return 1980

    def nvmlDeviceGetMigMode(self, handle: str) -> list[int]:
        raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")


def test_env_matches_cuda_devices_to_nvml_by_uuid_as_the_benchmark_does() -> None:
    from gpu_check.probe import _nvml_device
    found = _nvml_device(_FakeNvml(), {"index": 0, "uuid": "abc"})
    assert found["uuid_match"] is True and found["power limit W"] == 700
    assert found["MIG mode"] == {"error": "RuntimeError: NVML_ERROR_NOT_SUPPORTED"}
    other = _nvml_device(_FakeNvml(), {"index": 1, "uuid": "xyz"})
    assert other["uuid_match"].startswith("false (CUDA uuid GPU-xyz: RuntimeError")


def test_the_max_batch_cell_replaces_the_models_batch() -> None:
    ctx = Context(out=Path("."), dry_run=True, budget_s=1)
    run = matrix.cell_run(ctx, "m", "resnet50", "train", "bf16", matrix.MAX_BATCH, True)
    assert run.args.count("--batch_size") == 1 and "max" in run.args and run.status == NO_GPU


def _session(out: Path, pack: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(ROOT / "scripts" / "gpu-session"), str(out), *args],
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "PACK": str(pack), "GPU_CHECK_FLAGS": "--dry-run",
                               "PYTHON": sys.executable})


def test_gpu_session_runs_its_stages_and_packs_the_folder_after_each(tmp_path: Path) -> None:
    out, pack = tmp_path / "gc", tmp_path / "gc.tgz"
    # 120 s: the env probe imports torch, which took more than 30 s on a loaded 2-core machine
    done = _session(out, pack, "300", "env:120")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "gpu-session: env with 120 s" in done.stdout
    listed = subprocess.run(["tar", "tzf", str(pack)], capture_output=True, text=True,
                            check=True).stdout.split()
    assert "gc/stage_env.md" in listed and "gc/session.log" in listed
    assert (tmp_path / "gc.summary.md").is_file()  # copied beside the pack


def test_gpu_session_lists_a_stage_past_its_deadline_as_not_run(tmp_path: Path) -> None:
    done = _session(tmp_path / "gc", tmp_path / "gc.tgz", "40", "env:30", "ceilings:30")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"gpu-session: env not run \(-?\d+ s left of 40\)", done.stdout)
    assert re.search(r"gpu-session: ceilings not run", done.stdout)
    assert not (tmp_path / "gc" / "stage_env.md").exists()
    assert _session(tmp_path / "gc", tmp_path / "gc.tgz").returncode == 2  # usage
    for bad in (["40", "env"], ["40", "env:x"], ["40", ":5"], ["4O", "env:5"]):
        done = _session(tmp_path / "gc", tmp_path / "gc.tgz", *bad)
        assert done.returncode == 2 and "gpu-session: '" in done.stderr + done.stdout or \
            "TOTAL_SECONDS" in done.stderr, bad


def _serving(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON": sys.executable, "DEVICE": "cpu"}
    return subprocess.run(["bash", str(ROOT / "scripts" / "gpu-serving"), str(out), *args],
                          capture_output=True, text=True, timeout=120, env=env, check=False)


def test_gpu_serving_says_what_it_did_not_run_and_refuses_bad_arguments(tmp_path: Path) -> None:
    """scripts/gpu-serving (the serving load on a GPU host) keeps to its total: with no time
    left each step is listed as not run, the server never starts, and the exit says so."""
    done = _serving(tmp_path / "gs", "12")
    assert done.returncode == 1, done.stdout + done.stderr
    log = (tmp_path / "gs" / "serving.log").read_text()
    assert "aiohttp " in log and "transformers " in log  # the versions it ran with
    for step in ("overhead-uvloop", "overhead-asyncio", "model"):
        assert f"gpu-serving: {step} not run (no time left)" in log
    assert "transformers serve on" not in log
    assert _serving(tmp_path / "gs").returncode == 2
    done = _serving(tmp_path / "gs", "1O")
    assert done.returncode == 2 and "TOTAL_SECONDS must be whole seconds" in done.stderr
    planted = tmp_path / "planted"
    (planted / "logs").mkdir(parents=True)
    (planted / "serving.log").symlink_to(tmp_path / "elsewhere")
    done = _serving(planted, "12")
    assert done.returncode == 2 and "holds a symbolic link" in done.stderr
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("budget", ["-5", "0", "1e-320", "0.5", "nan", "inf", "1e400", "86401",
                                    "soon"])
def test_a_stage_budget_that_is_not_positive_finite_seconds_is_a_usage_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], budget: str) -> None:
    """-5 read as a failed probe, nan ran without a deadline: refused while parsing."""
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--dry-run", "--stage", "env", "--out", str(tmp_path / "gc"),
                  f"--stage-budget={budget}"])
    assert exit_.value.code == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith("gpu-check: error: argument --stage-budget: expected seconds")
    assert last.endswith(f"got '{budget}'")
    assert not (tmp_path / "gc").exists()
    assert cli.parse_args(["--stage-budget", "86400"]).stage_budget == 86400.0
    assert cli.parse_args(["--stage-budget", "1"]).stage_budget == 1.0


@pytest.mark.parametrize("kind", ["file", "link-to-file", "link-to-folder", "holds-a-link",
                                  "under-a-file"])
def test_an_out_folder_the_stages_cannot_write_in_is_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """An existing file or a link to one ended in a traceback (FileExistsError); a link
    (or a folder holding one) would be written through, as gpu-serving refuses."""
    monkeypatch.setattr(cli, "count_gpus", lambda: 1)
    monkeypatch.setattr(cli, "run_stage", lambda *a: pytest.fail("a stage ran"))
    target = tmp_path / "a-file"
    target.write_text("kept\n")
    out = tmp_path / "out"
    if kind == "file":
        out = target
    elif kind == "link-to-file":
        out.symlink_to(target)
    elif kind == "link-to-folder":
        (tmp_path / "folder").mkdir()
        out.symlink_to(tmp_path / "folder")
    elif kind == "holds-a-link":
        (out / "logs").mkdir(parents=True)
        (out / "summary.md").symlink_to(target)
    else:
        out = target / "below"
    says = {"file": f"--out {out} is not a folder; name a new folder",
            "link-to-file": f"--out {out} is a symbolic link; name a new folder",
            "link-to-folder": f"--out {out} is a symbolic link; name a new folder",
            "holds-a-link": f"--out {out} holds a symbolic link (the stages would write "
                            "through it); name a new folder",
            "under-a-file": f"cannot make the folder {out}/logs (Not a directory); name "
                            "another folder with --out"}[kind]
    with pytest.raises(SystemExit, match=re.escape(f"gpu-check: {says}")):
        cli.main(["--stage", "env", "--out", str(out)])
    assert target.read_text() == "kept\n"


@pytest.mark.parametrize("args", [["08", "env:5"], ["0", "env:5"],
                                  ["99999999999999999999", "env:5"], ["100", "env:0"],
                                  ["100", "env:09"], ["100", "env:86401"],
                                  ["100", "env:99999999999999999999"]],
                         ids=["octal-total", "zero-total", "huge-total", "zero-budget",
                              "octal-budget", "budget-past-a-day", "huge-budget"])
def test_gpu_session_refuses_seconds_bash_would_misread(tmp_path: Path,
                                                        args: list[str]) -> None:
    """08 ended in 'value too great for base' mid-session, 10^20 wrapped around."""
    done = _session(tmp_path / "gc", tmp_path / "gc.tgz", *args)
    assert done.returncode == 2
    what = "TOTAL_SECONDS must be a whole number of seconds from 1 to 86400, not " \
        f"'{args[0]}'" if args[1] == "env:5" else f"'{args[1]}' is not STAGE:BUDGET (a " \
        "stage and whole seconds from 1 to 86400, e.g. env:60)"
    assert done.stderr == f"gpu-session: {what}\n"
    assert not (tmp_path / "gc").exists()


def test_gpu_session_refuses_an_out_dir_it_would_write_through(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("kept\n")
    (tmp_path / "link").symlink_to(tmp_path / "a-file")
    for out in (tmp_path / "a-file", tmp_path / "link"):
        done = _session(out, tmp_path / "gc.tgz", "100", "env:5")
        assert done.returncode == 2 and done.stderr == (
            f"gpu-session: {out} is not a folder, or is or holds a symbolic link: name a new "
            "folder\n")
    assert (tmp_path / "a-file").read_text() == "kept\n"


@pytest.mark.parametrize("total", ["08", "0", "99999999999999999999", "86401"])
def test_gpu_serving_refuses_seconds_bash_would_misread(tmp_path: Path, total: str) -> None:
    done = _serving(tmp_path / "gs", total)
    assert done.returncode == 2 and done.stderr == (
        f"gpu-serving: TOTAL_SECONDS must be whole seconds from 1 to 86400, not '{total}'\n")
    (tmp_path / "a-file").write_text("kept\n")
    done = _serving(tmp_path / "a-file", "12")
    assert done.returncode == 2
    assert done.stderr == f"gpu-serving: {tmp_path / 'a-file'} is not a folder: name a new folder\n"


def test_a_python_without_torch_is_told_the_venvs_command(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 58: ``python3 scripts/gpu-check --dry-run`` on a CPU host whose system Python has
    no torch said what was missing, not what to do: it names the project's venv command
    (where there is one and this Python is not it), else only the install."""
    venv = tmp_path / ".venv" / "bin" / "python"
    venv.parent.mkdir(parents=True)
    venv.write_text("")
    monkeypatch.chdir(tmp_path)
    argv = ["scripts/gpu-check", "--dry-run", "--out", "/tmp/gpu-check"]
    assert cli.missing_said(["torch"], argv, venv) == (
        "gpu-check: install torch into this Python (on a GPU host: its CUDA build of torch), "
        "or run it with the project's venv: .venv/bin/python scripts/gpu-check --dry-run "
        "--out /tmp/gpu-check")
    monkeypatch.setattr(sys, "executable", str(venv))  # the venv itself lacks it: install
    assert cli.missing_said(["torch"], argv, venv) == (
        "gpu-check: install torch into this Python (on a GPU host: its CUDA build of torch)")
    assert "venv" not in cli.missing_said(["numpy"], argv, tmp_path / "none" / "python")


def test_ceilings_whose_repeats_spread_are_said_noisy() -> None:
    """Issue 58: a dry run under load called fp32 and bf16 matmuls 474x apart 'ok'. Each
    ceiling now shows its repeats' spread (slowest / fastest), and one above 1.5x is named in
    the stage's status: a busy host, not the device's ceiling."""
    from gpu_check import stages

    result = {"device": "cpu", "matmul": {
        "fp32": {"size": 256, "seconds": 0.0359, "spread": 3.1, "tflops": 0.00093,
                 "how": "perf_counter, median of 5 after 2"},
        "bf16": {"size": 256, "seconds": 0.000128, "spread": 1.2, "tflops": 0.26,
                 "how": "perf_counter, median of 5 after 2"}},
        "copy": {"bytes": 64 * 2**20, "seconds": 0.032, "spread": 1.05,
                 "read_plus_write_gb_s": 4.2, "how": "perf_counter, median of 5 after 2"}}
    rows = {r[0]: r for r in stages._ceiling_rows(result)}
    assert [rows[k][4] for k in ("matmul fp32 256^3", "matmul bf16 256^3", "copy 64 MiB")] \
        == ["3.10x", "1.20x", "1.05x"]
    assert stages.noisy_ceilings(result) == ["matmul fp32 (3.10x)"]
    assert stages.ceiling_warnings(result, False) == [
        "noisy: repeats more than 1.5x apart in matmul fp32 (3.10x)"]
    result["matmul"]["fp32"]["spread"] = 1.4
    assert stages.noisy_ceilings(result) == []
    # steady repeats on an oversubscribed host: the load says it (the review's 474x case)
    result.update(cpus=2, load_before=1.5, load_after=15.1)
    assert stages.ceiling_warnings(result, True) == [
        ("host busy: load 15.1 on 2 CPUs while measured (a dry run runs other stages beside "
         "this one)")]
    result.update(load_before=0.4, load_after=1.9)
    assert stages.ceiling_warnings(result, False) == []
