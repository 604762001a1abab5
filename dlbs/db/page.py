"""``dlbs db page``: one self-contained HTML page of a results database: the configurations,
each one's history chart with its intervals (PNG embedded), and the regressions found."""
from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from pathlib import Path

from benchstats.estimate import ESTIMATOR_LEGEND

from dlbs.db.charts import why
from dlbs.db.history import Found, Judged, Point, Series, unsteady_newest
from dlbs.db.records import canonical
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


def _change_rows(changes: Sequence[Found]) -> str:
    rows = []
    for c in changes:
        rows.append(
            f"<tr class='{c.direction}'><td class='l'>{html.escape(c.direction)}</td>"
            f"<td class='l'>{html.escape(_name(c.parameters))}</td>"
            f"<td class='l'>{html.escape(c.last_good)}</td><td class='l'>"
            f"{html.escape(c.first_bad)}</td><td>{c.change:+.1%}</td>"
            f"<td>[{c.ci[0]:+.1%}, {c.ci[1]:+.1%}]</td><td>{c.p_value:.3g}</td></tr>")
    return "\n".join(rows)


def render(series: Sequence[Series], judged: Judged, metric: str, axis: str, source: str,
           runs: int, left_out: str = "") -> str:
    """The page's HTML: ``runs`` the runs in the statistics, ``left_out`` what says which
    runs were left out of them (:meth:`dlbs.db.history.Loaded.note`)."""
    parts = [(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>dlbs results: "
             f"{html.escape(metric)} by {html.escape(axis)}</title><style>{STYLE}</style>"
             "</head><body>"),
             f"<h1>{html.escape(metric)} by {html.escape(axis)}</h1>",
             (f"<p class='note'>{html.escape(source)}: {runs} runs; {judged.judged} of "
             f"{len(series)} configurations judged for changes ({_not_judged(judged)}; "
             f"each marked below). Points: the {html.escape(ESTIMATOR_LEGEND)} "
             "(none when the run withheld it: the table says why); a grey x "
             "marks excluded runs."
             f"{' ' + html.escape(left_out[:1].upper() + left_out[1:]) + '.' if left_out else ''}"
             "</p>"),
             "<h2>Changes found</h2>"]
    if judged.changes:
        parts.append("<table><tr><th class='l'>direction</th><th class='l'>configuration</th>"
                     "<th class='l'>last good</th><th class='l'>first bad</th><th>change</th>"
                     "<th>95% CI</th><th>p</th></tr>" + _change_rows(judged.changes)
                     + "</table>")
    else:
        parts.append("<p>No change beyond the minimum in any judged history.</p>")
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
            f"<tr><td class='l'>{html.escape(p.axis_value)}</td><td>{p.value:.4g}</td>"
            f"<td>{_low_cell(p)}</td>"
            f"<td>{'' if math.isnan(p.high) else f'{p.high:.4g}'}</td><td>{p.runs}</td>"
            f"<td>{'excluded' if p.excluded else ''}</td></tr>" for p in one.points)
        parts.append(f"<table><tr><th class='l'>{html.escape(axis)}</th><th>value</th>"
                     f"<th>CI low</th><th>CI high</th><th>runs</th><th></th></tr>{rows}</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _low_cell(p: Point) -> str:
    """The CI low cell: the bound, or why a one-run point has none (its run's interval was
    withheld: "none: not steady", issue 30), or empty."""
    if not math.isnan(p.low):
        return f"{p.low:.4g}"
    return f"none: {html.escape(p.withheld)}" if p.withheld else ""


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
