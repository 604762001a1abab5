"""The report of serving runs (``exp.phase=serve``): rows the served model (and API), columns
the offered load (``serve.request_rate``, or ``serve.concurrency`` for a closed loop), one table
per figure: TTFT, TPOT, ITL and end-to-end percentiles, requests and output tokens per second,
goodput, SLO attainment and failed requests.

A cell of requests/s, output tokens/s or goodput is the one estimator of every output
(:mod:`benchstats.estimate`: the geometric mean of the runs, Student's t on their logarithms),
so the report and ``dlbs history`` give a serving run's requests/s alike. A cell of a latency,
the SLO attainment or the failed requests is the median of its experiment's repeated runs (the typical repeat: each run from
the server as it found it, ``serve.num_requests`` at the offered load); its 95% interval is
the distribution-free order-statistic interval of that median over the runs, given from
:data:`MIN_RUNS_FOR_INTERVAL` runs (``exp.repeat``). A run's statistics are not normal (a few
runs catch a long queue): Student's t over 3-10 runs covered 65-93% on simulated queueing
servers (``benchmarks/sim_latency_intervals.py --repeats``), the order-statistic interval
95-98%. One run's requests queue behind each other, no independent draws, so a run has no
interval of its own (logs from before 2026-11-28 carry per-run intervals that treated them as
such, 26-88% coverage labelled 95% on simulated queues: they are not shown). A run whose
client lagged (``results.client_lagged``) marks its cell. Pure: records in, ``Report`` out.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from benchstats.estimate import ESTIMATOR_LEGEND, OPEN_LEGEND, estimate_runs
from benchstats.quantiles import quantile_interval

from dlbs.logs.fact_types import (
    BUSY,
    NOT_READABLE,
    SERVE_CONFIG_FACTS,
    SHORT_WINDOW,
    config_value,
    machine_state,
)
from dlbs.params import catalogue
from dlbs.reports.model import (
    MARK_BUSY,
    MARK_LEGEND,
    MARK_NOT_JUDGED,
    Report,
    Table,
    cell_ends,
    has_open_end,
    interval_text,
)

#: A cell whose client lagged: its latencies include the client's own delay.
MARK_LAGGED = "@"
#: A cell of a token figure counted per streamed chunk (the server sent no ``usage``).
MARK_CHUNKS = "c"
CHUNKS_NOTE = (f"{MARK_CHUNKS} counted per streamed chunk (results.tokens_counted_by: the server "
               "sent no usage): a chunk may carry several tokens, so tokens/s reads low and "
               "TPOT high")
#: The figures whose value depends on how output tokens were counted.
TOKEN_FIGURES = ("results.tpot_p50", "results.output_tokens_per_second")
#: A cell whose server did not keep up with the offered load (``results.saturated``).
MARK_SATURATED = "s"
#: A cell whose runs could not tell whether the server kept up (``results.saturated`` null,
#: ``results.saturated_why`` starting ``cannot tell:``) and none of them was saturated.
MARK_CANNOT_TELL = "u"
SATURATED_NOTE = (f"{MARK_SATURATED} saturated: the server did not keep up (results.saturated: "
                  "under 75% of the requests answered by the last send, or a growing queue "
                  "(TTFT p50 rising through the run) or backlog with under 90%; a run that "
                  f"could not tell is marked {MARK_CANNOT_TELL} instead); its latencies are "
                  "the queue's, and Requests/s (achieved) is the server's ceiling, not the load")
#: How ``results.saturated_why`` starts when a run could not tell.
CANNOT_TELL = "cannot tell:"
#: Why a run cannot tell, in short (the chart's legend; each cell's own reason is a note).
CANNOT_TELL_WHY = ("75-90% answered by the last send, or a growing queue with 90% or more: "
                   "too few requests near the server's limit")
CANNOT_TELL_NOTE = (f"{MARK_CANNOT_TELL} cannot tell whether the server kept up: 75-90% of "
                    "the requests answered by the last send and no growing queue, or a "
                    "growing queue or backlog with 90% or more answered: a short run near the "
                    "server's limit (results.saturated null, results.saturated_why "
                    "'cannot tell: ...'); neither saturated nor kept up: its latencies may "
                    "be the queue's; give that load more requests (serve.num_requests)")
BUSY_NOTE = f"{MARK_BUSY} {MARK_LEGEND[MARK_BUSY]}"
NOT_JUDGED_NOTE = f"{MARK_NOT_JUDGED} {MARK_LEGEND[MARK_NOT_JUDGED]}"
LAGGED_NOTE = (f"{MARK_LAGGED} the load client lagged (results.client_lagged: its event loop "
               "woke more than 10 ms late at p99): the latencies include its own delay")


@dataclass(frozen=True)
class ServeFigure:
    key: str
    title: str
    digits: int = 1
    scale: float = 1.0
    #: a rate (requests or tokens a second): the one estimator of every output
    #: (:mod:`benchstats.estimate`, as ``dlbs history`` gives ``results.throughput``) instead
    #: of the median run
    rate: bool = False
    #: a figure inside a dict fact (``results.server_metrics``'s ``ttft_p50_ms``); "": the fact
    field: str = ""

    def value(self, record: Mapping[str, Any]) -> Any:
        """The figure in ``record`` (None when absent)."""
        fact = record.get(self.key)
        if not self.field:
            return fact
        return fact.get(self.field) if isinstance(fact, Mapping) else None


FIGURES: tuple[ServeFigure, ...] = (
    ServeFigure("results.ttft_p50", "TTFT p50 (ms)"),
    ServeFigure("results.ttft_p99", "TTFT p99 (ms)"),
    ServeFigure("results.tpot_p50", "TPOT p50 (ms)", 2),
    ServeFigure("results.itl_p50", "ITL p50 (ms)", 2),
    ServeFigure("results.e2e_p50", "End-to-end p50 (ms)"),
    ServeFigure("results.request_throughput", "Requests/s (achieved)", 2, rate=True),
    ServeFigure("results.output_tokens_per_second", "Output tokens/s", 1, rate=True),
    ServeFigure("results.goodput", "Goodput (requests/s within the SLO)", 2, rate=True),
    ServeFigure("results.slo_attainment", "SLO attainment (%)", 1, 100.0),
    ServeFigure("results.failed_requests", "Failed requests", 0),
    ServeFigure("results.send_delay_p99_ms", "Send delay p99 (ms: how late requests left their "
                "schedule, e.g. held by serve.concurrency; TTFT counts from the send)"),
)
#: The server's own figures (``results.server_metrics``, scraped from its /metrics): tables
#: beside the client's, only where a run carries them.
SERVER = "results.server_metrics"
SERVER_FIGURES: tuple[ServeFigure, ...] = (
    ServeFigure(SERVER, "Server TTFT p50 (ms, the server's histogram: from the request's "
                "arrival, without the network and the client)", field="ttft_p50_ms"),
    ServeFigure(SERVER, "Server requests running (max over the run)", 0, field="running_max"),
    ServeFigure(SERVER, "Server KV-cache use (max, %)", 1, 100.0, field="kv_cache_usage_max"),
    ServeFigure(SERVER, "Server prefix-cache hit rate (%)", 1, 100.0,
                field="prefix_cache_hit_rate"),
)


def is_serving(record: Mapping[str, Any]) -> bool:
    return record.get("exp.phase") == "serve"


def is_capacity(record: Mapping[str, Any]) -> bool:
    """A capacity search (``serve.search``): its ``serve.request_rate`` is where the search
    started, not a load; its figures are ``results.capacity*``."""
    return record.get("serve.search") in ("rate", "concurrency") or \
        "results.capacity_trials" in record


#: The capacity table's columns.
CAPACITY_COLUMNS = ("Capacity", "95% low", "95% high", "Unit", "SLO", "Percentile (%)",
                    "Trials", "Steps", "Most steps in a trial", "Converged")
CAPACITY_NOTE = ("Capacity: the highest load at which serve.slo_percentile % of a step's "
                 "requests meet the SLO on average (failed ones count as missed), found by a "
                 "search of load steps (serving/capacity.py); the geometric mean of independent "
                 "trials, its interval Student's t over their logarithms (two trials or more) "
                 "with the low side stretched 1.45x, calibrated to cover 95% on four simulated "
                 "servers: measured 93.5-97% at the defaults from a start at or below the "
                 "capacity, 88.5-95.6% from 3x above it (docs/serving.md). Converged: every "
                 "trial's bracket "
                 "(highest load met, lowest missed) within serve.search_tolerance of its middle")


def _load_key(records: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """The swept load: the request rate, or the concurrency of a closed loop (rate 0)."""
    rates = {float(r.get("serve.request_rate") or 0) for r in records}
    if rates != {0.0}:
        return "serve.request_rate", "offered load (requests/s)"
    return "serve.concurrency", "concurrency (requests in flight)"


def _row(record: Mapping[str, Any], with_api: bool, varying: Sequence[str] = ()) -> str:
    """A row's name: the model (and the served model), the API when both are shown, then
    ``name=value`` of every configuration fact in ``varying`` (runs that differ in one are
    different experiments: never one cell)."""
    model = str(record.get("serve.model") or record.get("exp.model") or "?")
    label = str(record.get("exp.model") or model)
    if model != label:
        label = f"{label} ({model})"
    if with_api:
        label = f"{label}, {record.get('serve.api', 'completions')}"
    return ", ".join([label, *(f"{name.removeprefix('serve.')}={_config(record, name)}"
                               for name in varying)])


#: What tells serving experiments apart in a report besides the model and the API (the row's
#: label): the server (its endpoint: two servers of one model in one folder), their
#: configuration, and the switches (each parameter's ``roles.serving_row`` in config/*.json).
ROW_FACTS = (*catalogue.serving_row("server"),
             *(name for name in SERVE_CONFIG_FACTS if name not in catalogue.serving_row("label")),
             *catalogue.serving_row("switch"))


def _config(record: Mapping[str, Any], name: str) -> Any:
    """A configuration fact as runs are compared (a switch as a bool, absent: off)."""
    return config_value(name, record.get(name))


def _varying(runs: Sequence[Mapping[str, Any]], leave_out: Sequence[str] = ()) -> list[str]:
    """The facts of ``ROW_FACTS`` (but ``leave_out``) whose values differ between ``runs``."""
    return [name for name in ROW_FACTS if name not in leave_out
            and len({repr(_config(r, name)) for r in runs}) > 1]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


#: Runs an interval of a cell's median needs: with 6, the lowest and highest run hold the
#: median with probability 1 - 2 / 2**6 = 96.9% (5 runs: 93.8%, under 95%).
MIN_RUNS_FOR_INTERVAL = 6


def _cell(runs: list[Mapping[str, Any]], figure: ServeFigure
          ) -> tuple[float | None, float | None, float | None]:
    values = [v for v in (_number(figure.value(r)) for r in runs) if v is not None]
    if not values:
        return None, None, None
    if figure.rate and min(values) > 0:
        found = estimate_runs(values)
        return (found.value * figure.scale, *((None, None) if math.isnan(found.low) else
                                              (found.low * figure.scale, found.high * figure.scale)))
    middle = quantile_interval(values, 0.5)  # NaN ends below MIN_RUNS_FOR_INTERVAL runs
    low, high = (None, None) if math.isnan(middle.low) else \
        (middle.low * figure.scale, middle.high * figure.scale)
    return middle.value * figure.scale, low, high


def serving_report(records: Sequence[Mapping[str, Any]]) -> Report:
    """The serving report of ``records`` (those with ``exp.phase=serve``): the load grid of
    the runs at a fixed load, and the capacity table of the capacity searches."""
    served = [r for r in records if is_serving(r)]
    searches = [r for r in served if is_capacity(r)]
    runs = [r for r in served if not is_capacity(r)]
    tables = _load_tables(runs) if runs else []
    notes = _notes(runs, tables) if runs else []
    if CANNOT_TELL_NOTE in notes:  # each cell's reasons under the mark's legend
        at = notes.index(CANNOT_TELL_NOTE) + 1
        notes[at:at] = _cannot_tell_notes(runs)
    notes += [OPEN_LEGEND] if any(has_open_end(t) for t in tables) else []
    tables += interval_tables(tables)
    if searches:
        tables.append(capacity_table(searches))
        notes.append(CAPACITY_NOTE)
        if any(search_lagged(r) for r in searches) and LAGGED_NOTE not in notes:
            notes.append(LAGGED_NOTE + "; a capacity so marked may be the client's limit, "
                         "not the server's")
        notes += sorted({f"{_row(r, False)}: {r['results.capacity_note']}" for r in searches
                         if r.get("results.capacity_note")})
        if not runs:
            notes += [n for n in _notes(searches, []) if n.startswith("SLO:")]
    return Report("serve", "Serving report: rows model, columns offered load", tables, notes)


def capacity_table(searches: Sequence[Mapping[str, Any]]) -> Table:
    """One row a capacity search (its model, and the unit searched when both were)."""
    units = {str(r.get("results.capacity_unit") or r.get("serve.search")) for r in searches}
    rows: dict[str, list[Any]] = {}
    low: dict[str, Any] = {}
    high: dict[str, Any] = {}
    lagged: dict[str, bool] = {}
    varying = _varying(searches, ("serve.request_rate", "serve.concurrency", "serve.search"))
    for record in searches:
        label = _row(record, False, varying)
        if len(units) > 1:
            label += f" ({record.get('serve.search')})"
        while label in rows:
            label += "'"
        interval = record.get("results.capacity_ci95")
        lo, hi = interval if isinstance(interval, list) and len(interval) == 2 else (None, None)
        status = record.get("results.status")
        capacity = record.get("results.capacity") if status == "ok" else (status or "failure")
        slo = record.get("results.slo")
        brackets = record.get("results.capacity_trials")
        rows[label] = [capacity, lo, hi, record.get("results.capacity_unit"),
                       _slo_text(slo) if isinstance(slo, dict) else None,
                       record.get("results.slo_percentile"),
                       len(brackets) if isinstance(brackets, list) else None,
                       record.get("results.capacity_steps"),
                       record.get("results.capacity_max_steps"),
                       record.get("results.capacity_converged")]
        low[label], high[label] = lo, hi
        lagged[label] = search_lagged(record)
    rows = dict(sorted(rows.items()))
    data = pd.DataFrame.from_dict(rows, orient="index", columns=list(CAPACITY_COLUMNS),
                                  dtype=object)
    data.index.name = "Model"
    ci_low = pd.DataFrame(None, index=data.index, columns=data.columns, dtype=object)
    ci_high = ci_low.copy()
    marks = pd.DataFrame("", index=data.index, columns=data.columns, dtype=object)
    for label in rows:
        ci_low.at[label, "Capacity"] = low[label]
        ci_high.at[label, "Capacity"] = high[label]
        if lagged[label]:
            marks.at[label, "Capacity"] = MARK_LAGGED
    return Table("capacity", "Capacity under the SLO", data, marks, digits=2,
                 ci=(ci_low, ci_high), column_digits=(2, 2, 2, 0, 0, 1, 0, 0, 0, 0))


def search_lagged(record: Mapping[str, Any]) -> bool:
    """Whether the client lagged in any step of a capacity search (the search then found, at
    least in part, the client's own limit)."""
    steps = record.get("results.search_steps")
    return bool(record.get("results.client_lagged")) or isinstance(steps, list) and any(
        isinstance(s, Mapping) and s.get("results.client_lagged") for s in steps)


def _cell_key(runs: Sequence[Mapping[str, Any]]
              ) -> tuple[str, str, Callable[[Mapping[str, Any]], tuple[str, float]]]:
    """The swept load, its title, and the (row, load) cell of a run among ``runs``."""
    load, load_title = _load_key(runs)
    with_api = len({r.get("serve.api", "completions") for r in runs}) > 1
    varying = _varying(runs, (load,))
    return load, load_title, lambda record: (_row(record, with_api, varying),
                                             float(record.get(load) or 0))


def _cannot_tell_notes(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each cell marked :data:`MARK_CANNOT_TELL`, with its runs' reasons (``results.
    saturated_why``) in one line."""
    load, _title, key = _cell_key(runs)
    cells: dict[tuple[str, float], list[Mapping[str, Any]]] = {}
    for record in runs:
        if record.get("results.status") == "ok":
            cells.setdefault(key(record), []).append(record)
    unit = "requests/s" if load == "serve.request_rate" else "in flight"
    notes = []
    for (row, at), here in sorted(cells.items()):
        if MARK_CANNOT_TELL in _state_marks(here):
            # each run's signs, without the rule the legend already states
            whys = dict.fromkeys(str(r["results.saturated_why"]).removeprefix(CANNOT_TELL)
                                 .partition(", but not enough to say")[0].strip()
                                 for r in here if cannot_tell(r))
            notes.append(f"{MARK_CANNOT_TELL} {row} at {at:g} {unit}: cannot tell whether the "
                         f"server kept up: {' | '.join(whys)}")
    return notes


def _load_tables(runs: Sequence[Mapping[str, Any]]) -> list[Table]:
    _load, load_title, key = _cell_key(runs)
    cells: dict[tuple[str, float], list[Mapping[str, Any]]] = {}
    failed: dict[tuple[str, float], str] = {}
    for record in runs:
        if record.get("results.status") == "ok":
            cells.setdefault(key(record), []).append(record)
        else:
            failed.setdefault(key(record), str(record.get("results.status") or "failure"))
    rows = sorted({k[0] for k in [*cells, *failed]})
    cols = sorted({k[1] for k in [*cells, *failed]})
    index = pd.Index(rows, name="Model")
    columns = pd.Index([_column(c) for c in cols], name=load_title)
    tables = []
    server = [f for f in SERVER_FIGURES if any(_number(f.value(r)) is not None for r in runs)]
    for figure in (*FIGURES, *server):
        data = pd.DataFrame(None, index=index, columns=columns, dtype=object)
        low = data.copy()
        high = data.copy()
        marks = pd.DataFrame("", index=index, columns=columns, dtype=object)
        for (row, col), runs_here in cells.items():
            value, lo, hi = _cell(runs_here, figure)
            data.at[row, _column(col)] = value
            low.at[row, _column(col)] = lo
            high.at[row, _column(col)] = hi
            if any(r.get("results.client_lagged") for r in runs_here):
                marks.at[row, _column(col)] = MARK_LAGGED
            marks.at[row, _column(col)] += _state_marks(runs_here)
            if figure.key in TOKEN_FIGURES and any(
                    "chunks" in (r.get("results.tokens_counted_by") or ()) for r in runs_here):
                marks.at[row, _column(col)] += MARK_CHUNKS
        for (row, col), status in failed.items():
            if (row, col) not in cells:
                data.at[row, _column(col)] = status
        name = f"server_{figure.field}" if figure.field else figure.key.removeprefix("results.")
        tables.append(Table(name, figure.title, data, marks,
                            digits=figure.digits, ci=(low, high), exact=True))
    return tables


def _state_marks(runs: Sequence[Mapping[str, Any]]) -> str:
    """The saturated, busy-machine and not-judged marks of a cell: any of its runs is enough
    (the machine state as every report judges it: ``fact_types.machine_state``)."""
    states = {machine_state(r) for r in runs}
    saturated = any(r.get("results.saturated") is True for r in runs)
    return ((MARK_SATURATED if saturated else "")
            + (MARK_CANNOT_TELL if not saturated and any(map(cannot_tell, runs)) else "")
            + (MARK_BUSY if BUSY in states else "")
            + (MARK_NOT_JUDGED if states & {SHORT_WINDOW, NOT_READABLE} else ""))


def cannot_tell(record: Mapping[str, Any]) -> bool:
    """Whether a run could not tell if its server kept up (neither saturated nor kept up)."""
    return record.get("results.saturated") is None and str(
        record.get("results.saturated_why") or "").startswith(CANNOT_TELL)


def _column(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _notes(runs: Sequence[Mapping[str, Any]], tables: list[Table]) -> list[str]:
    notes = []
    for mark, note in ((MARK_LAGGED, LAGGED_NOTE), (MARK_CHUNKS, CHUNKS_NOTE),
                       (MARK_SATURATED, SATURATED_NOTE), (MARK_CANNOT_TELL, CANNOT_TELL_NOTE),
                       (MARK_BUSY, BUSY_NOTE),
                       (MARK_NOT_JUDGED, NOT_JUDGED_NOTE)):
        if any(t.marks is not None and t.marks.map(lambda m, mark=mark: mark in m).to_numpy().any()
               for t in tables):
            notes.append(note)
    slos = {_slo_text(r["results.slo"]) for r in runs
            if isinstance(r.get("results.slo"), dict)}
    notes.append("TTFT: time to the first token from a request leaving the client; TPOT: time "
                 "per output token after the first; ITL: gaps between streamed chunks; each "
                 "cell is the median of its runs (exp.repeat), its 95% interval (charts, "
                 f"json, the interval tables) from {MIN_RUNS_FOR_INTERVAL} runs: the "
                 "distribution-free interval of the median run, over the runs (a run's own "
                 "requests queue behind each other: no interval within one run); requests/s, "
                 f"output tokens/s and goodput: the {ESTIMATOR_LEGEND}, as dlbs history gives "
                 "a serving run's requests/s")
    if slos:
        notes.append("SLO: " + "; ".join(sorted(slos)) + " (attainment counts failed "
                     "requests as missed)")
    return notes


def _slo_text(slo: Mapping[str, Any]) -> str:
    parts = [f"{name} <= {slo[key]:g} ms" for key, name in (("ttft_ms", "TTFT"),
                                                             ("tpot_ms", "TPOT"))
             if isinstance(slo.get(key), (int, float))]
    return ", ".join(parts) or "none (every answered request meets it)"


#: Figures whose 95% intervals get a table of their own (``low - high``), after the figures.
INTERVAL_TABLES = ("ttft_p50", "ttft_p99", "tpot_p50", "request_throughput")


def interval_tables(tables: list[Table]) -> list[Table]:
    """``low - high`` text tables of the intervals of :data:`INTERVAL_TABLES`, an end beyond
    ``benchstats.OPEN_FACTOR`` x the value shown open (``>= low``), as JSON's ``ci`` and
    ``dlbs history`` give it."""
    made = []
    for table in tables:
        if table.name not in INTERVAL_TABLES or table.ci is None:
            continue
        low, high = table.ci
        text = pd.DataFrame(None, index=table.data.index, columns=table.data.columns,
                            dtype=object)
        for r in range(text.shape[0]):
            for c in range(text.shape[1]):
                ends = cell_ends(table.data.iat[r, c], low.iat[r, c], high.iat[r, c])
                if ends is not None:
                    text.iat[r, c] = interval_text(ends, table.digits)
        if text.notna().to_numpy().any():  # none: too few requests, or one run of a rate
            made.append(Table(f"{table.name}_ci", f"{table.title}: 95% interval", text,
                              digits=table.digits, intervals=True))
    return made
