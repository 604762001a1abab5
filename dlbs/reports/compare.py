"""``report --compare BASE NEW``: per experiment, the speedup of NEW over BASE with a verdict.

Experiments are matched on their identity keys, less those that differ wholesale between the
two sides (one value in BASE, another in NEW: that is what is being compared, e.g. the docker
image or the precision); the model, phase, batch and number of devices always match.
The evidence is the run: each run is a separate process, and its ``results.time`` (mean batch
time over its steady window) is one sample. Iterations of one process are not independent
samples of the code's speed: the run-to-run spread (placement, frequency, neighbours) is
usually far larger than the spread inside a run, so with one run a side there is a ratio and
no verdict. Speedup = geometric mean of BASE's run times / that of NEW's (> 1: NEW is faster).
The verdicts of all cells are judged together (``verdicts``: Welch's t on log run times, or
paired by round, a band the whole interval must clear, Benjamini-Hochberg or Holm over the
table, the between-session variance when the sides were measured apart: estimated from a
side's two or more sessions, assumed for a side of one); a cell whose interval
reaches into the band is ``inconclusive``. ``--compare-by PARAM BASE NEW`` compares two values
of one parameter within one session (``compare_by_report``). Validated by simulation
(tests/reports/test_compare_simulation.py, scripts/sim_compare.py) and real runs
(benchmarks/bench_aa_compare.py, benchmarks/bench_interleaved_session.py).Where runs logged them, token models' tokens/s
of both sides follow the existing columns, and efficiency (TFLOP/s, MFU, peak memory,
samples/J) and generation latency of both sides get tables of their own.
Pure: records in, ``Report`` out.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from benchstats import ESTIMATOR_LEGEND

from dlbs.params import catalogue
from dlbs.reports.aggregate import NOISE_THRESHOLD, aggregate
from dlbs.reports.differences import differences
from dlbs.reports.figure_tables import (
    device_kinds,
    figure_notes,
    generation,
    present,
    significant_digits,
)
from dlbs.reports.figures import GROUP_TITLES, TOKENS, of_group
from dlbs.reports.frame import (
    column_of,
    identity_keys,
    is_number,
    label_of,
    left_out,
    record_value,
    to_frame,
    unidentified_note,
)
from dlbs.reports.model import (
    MARK_ABOVE_CORES,
    MARK_BUSY,
    MARK_NOT_FINITE,
    MARK_NOT_JUDGED,
    MARK_NUMERICS_OFF,
    MARK_UNSTEADY,
    Report,
    Table,
    legend,
)
from dlbs.reports.pivot import cell_marks, extra_dims, sortable
from dlbs.reports.verdicts import (
    MIN_CHANGE,
    MIN_RUNS,
    Policy,
    Runs,
    judge_table,
    policy_notes,
    runs_needed_note,
    session_note,
    session_title,
)

Records = Sequence[Mapping[str, Any]]
#: Frame column of each run's round (``exp.repeat_index``).
ROUND = "_round"
#: Frame column of each run's session (``sys.timestamp``: one ``dlbs run`` of a plan; a side
#: of two or more sessions has its session shift estimated, ``verdicts.session_log_diff``).
SESSION, SESSION_KEY = "_session", "sys.timestamp"
#: Keys that always take part in matching, even when they differ wholesale (their
#: ``roles.always_matched`` in config/*.json).
ALWAYS_MATCHED: frozenset[str] = catalogue.always_matched()
ROWS: list[str] = ["model_title", "device", "replica_batch", "phase", "dtype"]
COLUMNS: list[str] = ["Base (samples/s)", "New (samples/s)", "Speedup", "CI low", "CI high",
                      "Runs base", "Runs new", "Runs needed (planning)", "Verdict"]
#: Columns of token models' tokens/s, after ``COLUMNS``.
TOKEN_COLUMNS: list[str] = ["Base (tokens/s)", "New (tokens/s)"]
#: Figures compared side by side where logged (group -> log keys): what a change of version
#: moves (a model's FLOPs per sample and the energy of a window of any length are left out).
PAIRED: dict[str, tuple[str, ...]] = {
    "resources": ("results.tflops", "results.mfu", "results.peak_memory_mb",
                  "results.samples_per_joule"),
    "latency": ("results.ttft_p50", "results.ttft_p99", "results.tpot_p50", "results.tpot_p99"),
}
#: What the seeded simulation of whole tables under the default policy measured
#: (``scripts/sim_compare.py``, its table in docs/measurements/report-statistics.md; a test
#: keeps the two equal).
POWER_NOTE = ("in simulated 20-cell tables from two folders (the default policy), a 10% change "
              "in every cell was found in 84.1% of cells with 5 runs a side at run CV 3%")


def _values(records: Records, key: str) -> set[str]:
    """A key's distinct values (an "off" value such as ``exp.seq_len`` 0 as missing, so that
    logs older than the key match newer ones)."""
    return {json.dumps(record_value(r, key), sort_keys=True, default=str)
            for r in records}


def match_keys(base: Records, new: Records) -> tuple[list[str], list[str]]:
    """Identity keys to match on, and notes naming the keys that differ wholesale."""
    keys, notes = [], []
    for key in identity_keys([*base, *new]):
        in_base, in_new = _values(base, key), _values(new, key)
        wholesale = len(in_base) == 1 and len(in_new) == 1 and in_base != in_new
        if wholesale and key not in ALWAYS_MATCHED:
            notes.append(f"compared: {key}: {in_base.pop()} -> {in_new.pop()}")
        else:
            keys.append(key)
    return keys, notes


def _run_times(frame: pd.DataFrame) -> dict[int, dict[int, tuple[float, str]]]:
    """Mean batch time (ms) and session of every successful run, by experiment and round
    (``exp.repeat_index``; a run without one, or a round seen already in another session,
    gets a round of its own)."""
    ok = frame[(frame["status"] == "ok") & frame["time"].notna() & (frame["time"] > 0)]
    out: dict[int, dict[int, tuple[float, str]]] = {}
    for position, (key, time, index, session) in enumerate(zip(
            ok["identity"], ok["time"], ok[ROUND], ok[SESSION])):
        rounds = out.setdefault(int(key), {})
        label = int(index) if is_number(index) and int(index) not in rounds else -1 - position
        rounds[label] = (float(time), "" if session is None else str(session))
    return out


def _status_verdict(base: Any, new: Any) -> str | None:
    if pd.isna(base) or pd.isna(new):
        return "only in new" if pd.isna(base) else "only in base"
    if base != "ok" or new != "ok":
        side = "both" if base != "ok" and new != "ok" else ("base" if base != "ok" else "new")
        return f"failed in {side}"
    return None


def _evidence(row: pd.Series, base: dict[int, dict[int, tuple[float, str]]],
              new: dict[int, dict[int, tuple[float, str]]]) -> Runs | None:
    if _status_verdict(row["status_b"], row["status_n"]) is not None:
        return None
    b, n = base.get(int(row.name), {}), new.get(int(row.name), {})
    return Runs({k: t for k, (t, _) in b.items()}, {k: t for k, (t, _) in n.items()},
                {k: s for k, (_, s) in b.items()}, {k: s for k, (_, s) in n.items()})


def _compare_row(row: pd.Series, judged: list[object]) -> list[Any]:
    b_thr = row["throughput_mean_b"] if row["status_b"] == "ok" else row["status_b"]
    n_thr = row["throughput_mean_n"] if row["status_n"] == "ok" else row["status_n"]
    # the successful runs: the evidence (a failed repeat is no sample of the code's speed)
    runs = [None if pd.isna(row[f"runs_{s}"]) else int(row[f"runs_ok_{s}"]) for s in "bn"]
    verdict = _status_verdict(row["status_b"], row["status_n"])
    if verdict is not None:
        return [b_thr, n_thr, None, None, None, *runs, None, verdict]
    speedup, low, high, needed, word = judged
    return [b_thr, n_thr, speedup, low, high, *runs, needed, word]


def _sides(base: Records, new: Records, keys: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The frames of both sides, built together so that their identities are comparable."""
    frame = to_frame([*base, *new], extra=keys, identity=keys, split_unidentified=False)
    frame[ROUND] = [r.get("exp.repeat_index") for r in [*base, *new]]
    frame[SESSION] = [r.get(SESSION_KEY) for r in [*base, *new]]
    return frame.iloc[:len(base)], frame.iloc[len(base):]


def compare_report(base: Records, new: Records, threshold: float = NOISE_THRESHOLD,
                   min_change: float = MIN_CHANGE, policy: Policy | None = None,
                   compared: str | None = None) -> Report:
    """The comparison table of ``new`` against ``base``, its verdicts judged together under
    ``policy`` (default: the sides measured apart, ``min_change`` as the band)."""
    policy = policy or Policy(min_change=min_change)
    keys, notes = match_keys(base, new)
    param = compared.split(": ")[1] if compared else None
    if compared:  # --compare-by: the parameter compared, not as a wholesale difference
        notes = [compared, *(n for n in notes if not n.startswith(f"compared: {param}:"))]
    frame_b, frame_n = _sides(base, new, keys)
    agg_b, agg_n = aggregate(frame_b, threshold), aggregate(frame_n, threshold)
    both = agg_b.add_suffix("_b").join(agg_n.add_suffix("_n"), how="outer")
    runs_b, runs_n = _run_times(frame_b), _run_times(frame_n)
    evidence = [_evidence(row, runs_b, runs_n) for _, row in both.iterrows()]
    judged, confidence = judge_table(evidence, policy)
    cells = [_compare_row(row, cell) for (_, row), cell in zip(both.iterrows(), judged)]
    columns = list(COLUMNS)
    tokens = present(agg_b, TOKENS) or present(agg_n, TOKENS)
    if tokens:  # token models: their tokens/s after the existing columns
        columns += TOKEN_COLUMNS
        cells = [[*c, _side(row, TOKENS, "b"), _side(row, TOKENS, "n")]
                 for c, (_, row) in zip(cells, both.iterrows())]
    dims_frame = _dims(both, agg_b, agg_n, [column_of(k) for k in keys])
    index = pd.MultiIndex.from_frame(dims_frame)
    # dtype=object: a column with an empty cell keeps its ints (runs 3, not 3.00)
    data = pd.DataFrame(cells, index=index, columns=columns, dtype=object)
    data = data.astype(object).where(data.notna(), None).sort_index(kind="stable")
    count = sum(e is not None and min(len(e.base), len(e.new)) >= MIN_RUNS for e in evidence)
    compared_notes = list(notes)  # what is compared first, then the legend, then the method
    sessions = [e.sessions() for e in evidence
                if e is not None and min(len(e.base), len(e.new)) >= MIN_RUNS]
    none_why = (f"no cell has {MIN_RUNS} successful runs a side" if any(
        e is not None for e in evidence) else "no cell was measured on both sides")
    notes = _method_notes(data, policy, confidence, count, sessions, none_why)
    cell_count = "1 cell" if count == 1 else f"{count} cells"
    title = (f"Speedup (intervals at {confidence:.2%} confidence, adjusted for {cell_count}"
             if count else f"Speedup (no interval nor verdict: {none_why}")
    title += session_title(policy, sessions) + ")"
    marks = _marks(both, agg_b, agg_n, columns, index).sort_index(kind="stable")  # as data
    # a verdict's marks say what it rests on: a cell without one ('only in base', 'no
    # verdict: 2 runs on a side') keeps its marks on the sides' throughput alone
    marks.loc[~data["Verdict"].isin(JUDGED_WORDS).to_numpy(), "Verdict"] = ""
    comparison = Table("comparison", title, data, marks=marks, confidence=confidence,
                       csv_marks=CSV_MARKS, exact=tuple(COLUMNS[:2]))
    tables = [comparison, *_pair_tables(both, agg_b, agg_n, index)]
    notes = compared_notes + legend([comparison]) + notes + _verdict_notes(marks)
    # the pair tables' headings are 'Base <figure>' and 'New <figure>': the legend explains
    # the figures shown, for the devices of both sides
    headings = [str(c).split(" ", 1)[-1] for t in tables[1:] for c in t.data.columns]
    notes += figure_notes([*(t.name for t in tables[1:]), *(["tokens"] if tokens else [])],
                          headings, [*device_kinds(agg_b), *device_kinds(agg_n)])
    unidentified = unidentified_note(pd.concat([frame_b, frame_n]), split=False)
    dropped, warnings = left_out(pd.concat([frame_b, frame_n]))
    return Report("compare", "Comparison: new vs base", tables,
                  notes + [n for n in (unidentified, dropped) if n],
                  differences=differences(base, new, axis=param), warnings=warnings)


#: Marks a verdict takes from either side: the biases its interval does not cover (a warm-up
#: left in a mean, a machine shared with other work). Noise and failed repeats are in the
#: interval and the runs counted, so they stay on the side's throughput.
VERDICT_MARKS: tuple[str, ...] = (MARK_UNSTEADY, MARK_BUSY, MARK_NOT_JUDGED, MARK_ABOVE_CORES,
                                  MARK_NOT_FINITE, MARK_NUMERICS_OFF)
#: Columns whose marks the CSV writes as columns of their own (CSV cells stay plain data).
CSV_MARKS: dict[str, str] = {"Base (samples/s)": "Base marks", "New (samples/s)": "New marks",
                             "Verdict": "Verdict marks"}


def _marks(both: pd.DataFrame, agg_b: pd.DataFrame, agg_n: pd.DataFrame, columns: list[str],
           index: pd.MultiIndex) -> pd.DataFrame:
    """Each side's throughput marked as the regular report marks a cell (``cell_marks``), and
    the verdict with the marks of ``VERDICT_MARKS`` either side has (it rests on both)."""
    base = cell_marks(agg_b).reindex(both.index).fillna("")
    new = cell_marks(agg_n).reindex(both.index).fillna("")
    marks = pd.DataFrame("", index=index, columns=columns, dtype=object)
    marks["Base (samples/s)"], marks["New (samples/s)"] = base.to_numpy(), new.to_numpy()
    marks["Verdict"] = ["".join(m for m in VERDICT_MARKS if m in b + n)
                        for b, n in zip(base, new)]
    return marks


#: What a verdict's mark means, after "N verdicts marked M rest on runs".
VERDICT_MARK_NOTES: dict[str, str] = {
    MARK_UNSTEADY: "that found no steady state (the side marked on its throughput): a warm-up "
                   "left in a side's mean moves the speedup, which its interval does not "
                   "cover; raise exp.num_batches or set exp.target_precision and measure that "
                   "side again",
    MARK_BUSY: "made on a busy machine (the side marked on its throughput): the machine, not "
               "the code, may have made the difference; measure that side again on a quiet "
               "machine",
    MARK_NOT_JUDGED: "whose machine state was not judged (the side marked on its throughput: "
                     "a timed window under 1 s, or /proc not readable): a busy machine cannot "
                     "be ruled out; give that side more iterations (exp.num_batches)",
    MARK_ABOVE_CORES: "whose ranks x threads exceeded their node's usable cores (the side "
                      "marked on its throughput): the threads took turns, so the difference "
                      "may be the scheduler's; lower exp.cpu_threads or the ranks per node and "
                      "measure that side again",
    MARK_NOT_FINITE: "whose training loss or inference outputs were not finite (the side "
                     "marked on its throughput): a speed of a broken computation, faster or "
                     "slower for that reason alone",
    MARK_NUMERICS_OFF: "whose output differed from its float32 eager reference beyond its "
                       "precision's tolerance (--check_numerics; the side marked on its "
                       "throughput): it may be faster for computing something else",
}


def _verdict_notes(marks: pd.DataFrame) -> list[str]:
    """What each mark on a verdict means (no note for a mark no verdict has)."""
    notes = []
    for mark, text in VERDICT_MARK_NOTES.items():
        count = sum(mark in str(m) for m in marks["Verdict"])
        if count:
            notes.append(f"{count} verdict{'s' if count != 1 else ''} marked {mark} "
                         f"{'rest' if count != 1 else 'rests'} on runs {text}")
    return notes


def _value_text(value: Any) -> str:
    """A parameter's value as given on a command line (``2``, ``float32``, ``true``)."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def split_by(records: Records, param: str, base: str, new: str) -> tuple[Records, Records]:
    """The records whose ``param`` is ``base`` and those whose ``param`` is ``new`` (values
    compared as their command-line text)."""
    sides: dict[str, list[Mapping[str, Any]]] = {base: [], new: []}
    for record in records:
        if param in record and _value_text(record[param]) in sides:
            sides[_value_text(record[param])].append(record)
    return sides[base], sides[new]


def compare_by_report(records: Records, param: str, base: str, new: str,
                      threshold: float = NOISE_THRESHOLD, policy: Policy | None = None
                      ) -> Report:
    """``--compare-by PARAM BASE NEW``: two values of one parameter measured in one session
    (runs interleaved by round), compared as ``compare_report`` does, without a
    between-session variance."""
    policy = policy or Policy(apart=False)
    base_records, new_records = split_by(records, param, base, new)
    compared = f"compared: {param}: {base} -> {new} (within one session)"
    return compare_report(base_records, new_records, threshold, policy=policy,
                          compared=compared)


def _side(row: pd.Series, key: str, side: str, scale: float = 1.0) -> Any:
    """One side's mean of a figure: the value, the status of a failed experiment, or ``None``
    (no such experiment on that side, or no such figure in its runs)."""
    status = row[f"status_{side}"]
    if pd.isna(status):
        return None
    if status != "ok":
        return status
    value = row.get(f"{key}_mean_{side}")
    return None if value is None or pd.isna(value) else float(value) * scale


def _pair_tables(both: pd.DataFrame, agg_b: pd.DataFrame, agg_n: pd.DataFrame,
                 index: pd.MultiIndex) -> list[Table]:
    """Efficiency and latency of both sides, figure by figure (``PAIRED``), where logged."""
    tables = []
    for group, keys in PAIRED.items():
        figures = [f for f in of_group(group) if f.key in keys
                   and (present(agg_b, f.key) or present(agg_n, f.key))]
        if not figures:
            continue
        columns = {f"{side} {f.heading}": [_side(row, f.key, suffix, f.scale)
                                          for _, row in both.iterrows()]
                   for f in figures for side, suffix in (("Base", "b"), ("New", "n"))}
        data = pd.DataFrame(columns, index=index, dtype=object)
        if group == "latency":
            generating = [generation(agg).reindex(both.index, fill_value=False)
                          for agg in (agg_b, agg_n)]
            data = data[(generating[0] | generating[1]).to_numpy()]
        data = data.astype(object).where(data.notna(), None).sort_index(kind="stable")
        # a figure's base and new share their decimals, enough for 3 significant digits of
        # the smaller (TFLOP/s 0.0012 showed 0.00 on both sides)
        digits = tuple(significant_digits([*data[f"Base {f.heading}"], *data[f"New {f.heading}"]],
                                          f.digits) for f in figures for _ in range(2))
        tables.append(Table(group, GROUP_TITLES[group].replace("(mean", "(base and new, mean"),
                            data, column_digits=digits))
    return tables


#: The verdicts a comparison reaches (a cell with another word has none).
JUDGED_WORDS = ("faster", "slower", "inconclusive")
#: A verdict withheld for too few runs (``verdicts._word``): its count of runs.
_FEW_RUNS = re.compile(r"no verdict: (\d+) runs? on a side$")


def _method_notes(data: pd.DataFrame, policy: Policy, confidence: float, judged: int,
                  sessions: list[tuple[int, int]], none_why: str = "") -> list[str]:
    """How the verdicts were reached, and what a cell without one needs."""
    notes = [f"Base and New (samples/s, tokens/s): {ESTIMATOR_LEGEND}",
             *policy_notes(policy, confidence, judged, session_note(policy, sessions),
                           none_why)]
    verdicts = [str(v) for v in data["Verdict"]]
    few = {int(m.group(1)) for m in map(_FEW_RUNS.match, verdicts) if m}
    if few & {0, 1}:
        notes.append(f"no verdict from one run a side: iterations of one process are not "
                     f"independent samples of the code's speed; run exp.repeat >= {MIN_RUNS} "
                     f"on both sides (3-5 recommended: {POWER_NOTE})")
    if any(n > 1 for n in few):
        notes.append(f"no verdict nor interval under {MIN_RUNS} runs a side (the speedup alone "
                     "is shown): each side's spread would rest on too few runs for the level "
                     f"printed; run exp.repeat >= {MIN_RUNS} on both sides")
    if data["Runs needed (planning)"].notna().any():
        notes.append(runs_needed_note())
    return notes


def _dims(both: pd.DataFrame, agg_b: pd.DataFrame, agg_n: pd.DataFrame,
          identity: list[str]) -> pd.DataFrame:
    """Display columns of each compared experiment (from whichever side has it)."""
    merged = agg_b.combine_first(agg_n).reindex(both.index)
    dims = [*ROWS, *extra_dims(merged, ROWS, [], identity)]
    return pd.DataFrame({label_of(d): sortable(merged[d]) for d in dims})
