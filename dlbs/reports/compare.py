"""``report --compare BASE NEW``: per experiment, the speedup of NEW over BASE with a verdict.

Experiments are matched on their identity keys, less those that differ wholesale between the
two sides (one value in BASE, another in NEW: that is what is being compared, e.g. the docker
image or the precision); the model, phase, batch and number of devices always match.
Speedup = mean batch time of BASE / mean batch time of NEW (> 1: NEW is faster), with a 95%
Welch-t confidence interval of the ratio of means on the log scale. Samples are the
repeated runs when both sides have at least two, otherwise the per-iteration times
(``results.time_data``). Verdict: ``faster`` when the whole interval is above 1, ``slower`` when
below, otherwise ``no significant change``. Pure: records in, ``Report`` out.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from dlbs.reports.aggregate import NOISE_THRESHOLD, aggregate
from dlbs.reports.frame import column_of, identity_keys, label_of, to_frame
from dlbs.reports.model import Report, Table
from dlbs.reports.stats import Ratio, ratio_of_means, summarize
from dlbs.reports.tables import extra_dims, sortable

Records = Sequence[Mapping[str, Any]]
#: Keys that always take part in matching, even when they differ wholesale.
ALWAYS_MATCHED: frozenset[str] = frozenset({
    "exp.model", "exp.phase", "exp.replica_batch", "exp.effective_batch", "exp.num_replicas"})
ROWS: list[str] = ["model_title", "device", "replica_batch", "phase", "dtype"]
COLUMNS: list[str] = ["Base (samples/s)", "New (samples/s)", "Speedup", "CI95 low", "CI95 high",
                      "Runs base", "Runs new", "Samples", "Verdict"]


def _values(records: Records, key: str) -> set[str]:
    return {json.dumps(r.get(key), sort_keys=True, default=str) for r in records}


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


Samples = tuple[dict[int, list[float]], dict[int, list[float]]]


def _samples(frame: pd.DataFrame) -> Samples:
    """Batch times (ms) of each experiment: per successful run, and per timed iteration."""
    ok = frame[(frame["status"] == "ok") & frame["time"].notna()]
    runs = {int(k): [float(x) for x in v] for k, v in ok.groupby("identity")["time"]}
    iterations: dict[int, list[float]] = {}
    for identity, data, time in zip(ok["identity"], ok["time_data"], ok["time"]):
        values = data if isinstance(data, list) and data else [time]
        iterations.setdefault(int(identity), []).extend(float(v) for v in values)
    return runs, iterations


def _pick(identity: int, base: Samples, new: Samples) -> tuple[list[float], list[float], str]:
    """Repeated runs when both sides have two or more, else per-iteration times."""
    runs_b, runs_n = base[0].get(identity, []), new[0].get(identity, [])
    if len(runs_b) >= 2 and len(runs_n) >= 2:
        return runs_b, runs_n, "runs"
    return base[1].get(identity, []), new[1].get(identity, []), "iterations"


def _verdict(ratio: Ratio) -> str:
    speedup_low, speedup_high = 1.0 / ratio.ci_high, 1.0 / ratio.ci_low
    if math.isnan(ratio.ci_low):
        return "not enough data"
    if speedup_low > 1.0:
        return "faster"
    if speedup_high < 1.0:
        return "slower"
    return "no significant change"


def _status_verdict(base: Any, new: Any) -> str | None:
    if pd.isna(base) or pd.isna(new):
        return "only in new" if pd.isna(base) else "only in base"
    if base != "ok" or new != "ok":
        side = "both" if base != "ok" and new != "ok" else ("base" if base != "ok" else "new")
        return f"failed in {side}"
    return None


def _compare_row(row: pd.Series, base: Samples, new: Samples) -> list[Any]:
    b_thr = row["throughput_mean_b"] if row["status_b"] == "ok" else row["status_b"]
    n_thr = row["throughput_mean_n"] if row["status_n"] == "ok" else row["status_n"]
    runs = [int(row["runs_b"]) if not pd.isna(row["runs_b"]) else None,
            int(row["runs_n"]) if not pd.isna(row["runs_n"]) else None]
    verdict = _status_verdict(row["status_b"], row["status_n"])
    if verdict is not None:
        return [b_thr, n_thr, None, None, None, *runs, None, verdict]
    b_values, n_values, level = _pick(int(row.name), base, new)
    ratio = ratio_of_means(summarize(b_values), summarize(n_values))
    low = None if math.isnan(ratio.ci_high) else 1.0 / ratio.ci_high
    high = None if math.isnan(ratio.ci_low) else 1.0 / ratio.ci_low
    return [b_thr, n_thr, 1.0 / ratio.ratio, low, high, *runs, level, _verdict(ratio)]


def _sides(base: Records, new: Records, keys: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The frames of both sides, built together so that their identities are comparable."""
    frame = to_frame([*base, *new], extra=keys, identity=keys)
    return frame.iloc[:len(base)], frame.iloc[len(base):]


def compare_report(base: Records, new: Records, threshold: float = NOISE_THRESHOLD) -> Report:
    """The comparison table of ``new`` against ``base``."""
    keys, notes = match_keys(base, new)
    frame_b, frame_n = _sides(base, new, keys)
    agg_b, agg_n = aggregate(frame_b, threshold), aggregate(frame_n, threshold)
    both = agg_b.add_suffix("_b").join(agg_n.add_suffix("_n"), how="outer")
    samples_b, samples_n = _samples(frame_b), _samples(frame_n)
    cells = [_compare_row(row, samples_b, samples_n) for _, row in both.iterrows()]
    dims_frame = _dims(both, agg_b, agg_n, [column_of(k) for k in keys])
    # dtype=object: a column with an empty cell keeps its ints (runs 3, not 3.00)
    data = pd.DataFrame(cells, index=pd.MultiIndex.from_frame(dims_frame), columns=COLUMNS,
                        dtype=object)
    data = data.astype(object).where(data.notna(), None).sort_index(kind="stable")
    notes.append("speedup = base batch time / new batch time (> 1: new is faster); CI95 by "
                 "Welch's t over repeated runs when both sides have two or more, else over "
                 "per-iteration times")
    return Report("compare", "Comparison: new vs base", [Table("comparison", "Speedup", data)],
                  notes)


def _dims(both: pd.DataFrame, agg_b: pd.DataFrame, agg_n: pd.DataFrame,
          identity: list[str]) -> pd.DataFrame:
    """Display columns of each compared experiment (from whichever side has it)."""
    merged = agg_b.combine_first(agg_n).reindex(both.index)
    dims = [*ROWS, *extra_dims(merged, ROWS, [], identity)]
    return pd.DataFrame({label_of(d): sortable(merged[d]) for d in dims})
