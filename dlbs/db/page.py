"""``dlbs db page``: one self-contained HTML page of a results database: the configurations,
each one's history chart with its intervals (PNG embedded), and the regressions found."""
from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

from benchstats.estimate import ESTIMATOR_LEGEND, OPEN_LEGEND

from dlbs.db.busy import BUSY_LEGEND, busy_count, change_marks, mark_of
from dlbs.db.charts import why
from dlbs.db.history import Found, Judged, Newest, Point, Series, unsteady_newest
from dlbs.db.records import canonical
from dlbs.db.series import end_cell
from dlbs.errors import ReportError

STYLE = """body{font-family:sans-serif;margin:2em;max-width:1100px}
table{border-collapse:collapse;margin:0.5em 0 1.5em}
th,td{border:1px solid #ccd;padding:3px 8px;text-align:right}
th{background:#e8eef8}td.l,th.l{text-align:left}
.regression{background:#fbe3e3}.improvement{background:#e3f5e3}
img{max-width:100%}.note{color:#555}"""


def _chart(one: Series, metric: str, axis: str) -> str:
    """The series' chart as a data: URI (PNG)."""
    from dlbs.db.charts import render

    return ("data:image/png;base64,"
            + base64.b64encode(render([one], metric, axis, compact=True)).decode())


def _name(parameters: dict[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in parameters.items())


def _change_rows(changes: Sequence[Found], series: Sequence[Series]) -> str:
    rows = []
    for c, mark in zip(changes, change_marks(series, changes)):
        rows.append(
            f"<tr class='{c.direction}'><td class='l'>{html.escape(c.direction)}</td>"
            f"<td class='l'>{html.escape(_name(c.parameters))}</td>"
            f"<td class='l'>{html.escape(c.last_good)}</td><td class='l'>"
            f"{html.escape(c.first_bad)}{' ' + mark if mark else ''}</td><td>{c.change:+.1%}</td>"
            f"<td>[{c.ci[0]:+.1%}, {c.ci[1]:+.1%}]</td><td>{c.p_value:.3g}</td></tr>")
    return "\n".join(rows)


def render(series: Sequence[Series], judged: Judged, metric: str, axis: str, source: str,
           runs: int, left_out: str = "", newest: Newest | None = None) -> str:
    """The page's HTML: ``runs`` the runs in the statistics, ``left_out`` what says which
    runs were left out of them (:meth:`dlbs.db.history.Loaded.note`); ``judged``: the
    changes anywhere in each history (``dlbs regressions``), ``newest``: the newest points'
    verdicts (``dlbs regressions --latest``), each section named by its question."""
    newest_said = ("" if newest is None else
                   f"; newest points: {newest.judged.judged} of {len(newest.loaded.series)} "
                   f"judged ({_not_judged(newest.judged)}), as 'dlbs regressions --latest' "
                   "judges them")
    parts = [(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>dlbs results: "
             f"{html.escape(metric)} by {html.escape(axis)}</title><style>{STYLE}</style>"
             "</head><body>"),
             f"<h1>{html.escape(metric)} by {html.escape(axis)}</h1>",
             (f"<p class='note'>{html.escape(source)}: {runs} runs; {judged.judged} of "
             f"{len(series)} configurations judged for changes ({_not_judged(judged)}; "
             f"each marked below) anywhere in their histories{html.escape(newest_said)}. "
             f"Points: the {html.escape(ESTIMATOR_LEGEND)} "
             "(none when the run withheld it: the table says why); a grey x "
             f"marks excluded runs.{_open_note(series)}{_busy_note(series)}"
             f"{' ' + html.escape(left_out[:1].upper() + left_out[1:]) + '.' if left_out else ''}"
             "</p>")]
    if newest is not None:
        parts += _newest_section(newest, axis)
    parts += ["<h2>Changes found in the histories</h2>",
              (f"<p class='note'>histories: {judged.judged} of {len(series)} configurations "
              f"judged ({_not_judged(judged)}): change points anywhere in each history, as "
              "'dlbs regressions' judges them.</p>")]
    parts.append(_change_table(judged.changes, series) if judged.changes else
                 "<p>No change beyond the minimum in any judged history.</p>")
    parts.append("<h2>Configurations</h2>")
    why_not = {canonical(parameters): why for parameters, why in judged.not_judged}
    for number, one in enumerate(series, 1):
        mark = why_not.get(canonical(one.parameters))
        mark = f" <span class='note'>(not judged: {html.escape(mark)})</span>" if mark else ""
        parts.append(f"<h3 id='s{number}'>{number}. {html.escape(_name(one.parameters))}"
                     f"{mark}</h3>")
        parts.append(f"<img alt='history of configuration {number}' "
                     f"src='{_chart(one, metric, axis)}'>")
        rows = "".join(
            f"<tr><td class='l'>{html.escape(p.axis_value)}</td><td>{p.value:.4g}"
            f"{_mark_cell(p)}</td><td>{_low_cell(p)}</td><td>{_high_cell(p)}</td>"
            f"<td>{p.runs}</td><td>{'excluded' if p.excluded else ''}</td></tr>"
            for p in one.points)
        parts.append(f"<table><tr><th class='l'>{html.escape(axis)}</th><th>value</th>"
                     f"<th>CI low</th><th>CI high</th><th>runs</th><th></th></tr>{rows}</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _change_table(changes: Sequence[Found], series: Sequence[Series]) -> str:
    return ("<table><tr><th class='l'>direction</th><th class='l'>configuration</th>"
            "<th class='l'>last good</th><th class='l'>first bad</th><th>change</th>"
            "<th>95% CI</th><th>p</th></tr>" + _change_rows(changes, series) + "</table>")


def _mark_cell(p: Point) -> str:
    """The busy mark after a point's value (``dlbs.db.busy``), with its legend as a tooltip."""
    mark = mark_of(p)
    return f" <span title='{html.escape(BUSY_LEGEND)}'>{mark}</span>" if mark else ""


def _busy_note(series: Sequence[Series], what: str = "points") -> str:
    """`` #: ... (3 of 12 points from busy runs).`` where a point is marked, else ``""``."""
    counted = busy_count([p for one in series for p in one.points], what)
    return f" {html.escape(BUSY_LEGEND)} ({counted})." if counted else ""


def _newest_busy(newest: Newest) -> str:
    """`` 1 of 5 newest points from busy runs (#: ...).``, or ``""`` when none is."""
    from dlbs.db.busy import newest_points

    counted = busy_count([p for _, p in newest_points(newest.loaded.series)], "newest points")
    return f" {counted} ({html.escape(BUSY_LEGEND)})." if counted else ""


def _newest_section(newest: Newest, axis: str) -> list[str]:
    """The newest points' verdicts as the CI gate ``dlbs regressions --latest`` gives them on
    this database (its counts, its changes, the series whose newest runs computed wrong
    numbers, its exit code): a page that said only "no change" in the histories while the
    gate failed on a newest point read as the gate passing."""
    from benchstats.latest import GOAL_DROP

    from dlbs.db.gate import broken_said, noisy_said

    judged = newest.judged
    count = {d: sum(c.direction == d for c in judged.changes)
             for d in ("regression", "improvement")}
    gate = (f"dlbs regressions --latest --min-change {newest.min_change:g} --alpha "
            f"{newest.alpha:g} on this database exits {newest.exit_code}")
    parts = ["<h2>Newest points (the gate: dlbs regressions --latest)</h2>",
             (f"<p class='note'>newest points: {judged.judged} of {len(newest.loaded.series)} "
             f"configurations judged ({html.escape(_not_judged(judged))}): each "
             "configuration's newest point against the points before it; "
             f"{count['regression']} regression(s), {count['improvement']} improvement(s) "
             f"beyond {newest.min_change * 100:.6g}% (Benjamini-Hochberg at --alpha {newest.alpha:g}); "
             f"{html.escape(gate)}.{_newest_busy(newest)}</p>"),
             _change_table(judged.changes, newest.loaded.series) if judged.changes else
             "<p>No newest point changed beyond the minimum.</p>"]
    if judged.noisy:  # passing, but they could have missed a drop the gate is meant to find
        parts.append(f"<p class='note'>Too noisy for a {GOAL_DROP:.0%} drop (passing, but the "
                     "gate could have missed one):</p><ul>" + "".join(
                         f"<li>{html.escape(_name(parameters))}: "
                         f"{html.escape(noisy_said(detectable))}</li>"
                         for parameters, detectable in judged.noisy) + "</ul>")
    if newest.broken:
        parts.append("<p class='regression'>Wrong numbers in the newest version (the gate "
                     "fails on these):</p><ul>" + "".join(
                         f"<li>{html.escape(_name(b.parameters))}: "
                         f"{html.escape(broken_said(b, axis))}</li>" for b in newest.broken)
                     + "</ul>")
    return parts


def _open_note(series: Sequence[Series]) -> str:
    """The legend's sentence on open ends (an arrow on the chart, ``open`` in the table),
    where a point has one; else nothing."""
    opened = any(ends is not None and None in ends
                 for one in series for p in one.points for ends in [p.ends()])
    return f" {html.escape(OPEN_LEGEND[:1].upper() + OPEN_LEGEND[1:])}." if opened else ""


def _end_text(end: float | None) -> str:
    """One end of a shown interval: the number, or ``open`` beyond ``OPEN_FACTOR`` x the value."""
    return str(end_cell(end)) if end is None else f"{end:.4g}"


def _low_cell(p: Point) -> str:
    """The CI low cell: the bound (``open`` beyond ``benchstats.OPEN_FACTOR`` x the value),
    or why a one-run point has none (its run's interval was withheld: "none: not steady",
    issue 30), or empty."""
    ends = p.ends()
    if ends is not None:
        return _end_text(ends[0])
    return f"none: {html.escape(p.withheld)}" if p.withheld else ""


def _high_cell(p: Point) -> str:
    """The CI high cell: the bound, ``open`` beyond ``benchstats.OPEN_FACTOR`` x the value
    (no upper bound: a one-run time interval that reached near 0), or empty."""
    ends = p.ends()
    return "" if ends is None else _end_text(ends[1])


def write_page(folder: str, text: str) -> Path:
    """Write ``index.html`` into ``folder`` (created when absent), never through a link."""
    from safeio import atomic_write_text

    target = Path(folder)
    page = target / "index.html"
    if target.exists() and not target.is_dir():
        raise ReportError(f"--output {folder}: not a folder (the page is written as "
                          f"{page}); give a folder")
    try:
        target.mkdir(parents=True, exist_ok=True)
        atomic_write_text(page, text)
    except OSError as err:
        raise ReportError(f"--output {folder}: cannot write the page ({why(err)}); give a "
                          "folder you may write") from None
    return page


def _not_judged(judged: Judged) -> str:
    """``"2 too short to judge"``, and those whose newest run was not steady apart."""
    unsteady = len(unsteady_newest(judged))
    text = f"{len(judged.not_judged) - unsteady} too short to judge"
    return text + (f", {unsteady} with an unsteady newest run not judged" if unsteady else "")
