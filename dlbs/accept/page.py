"""The HTML page of a node acceptance (``dlbs accept --html``): the fleet chart, the false-alarm
line of each check and the per-node table, in one self-contained file (the chart embedded as a
PNG). Pure apart from drawing: verdicts in, text and image bytes out.

The chart has a row a check; each node is a dot at its distance from the fleet's median in
percent (negative: worse, whichever way the check counts), failed nodes red and named; the
lines a node must cross to fail are drawn on its row: the fleet's (its t bound over the
peers' spread, or the 2% floor below which no node fails, whichever is further) and the
reference table's, where it has the check.
"""
from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from benchstats.fleet import MIN_CHANGE, FleetVerdict
from benchstats.tdist import t_quantile

from dlbs.accept.verdict import CheckVerdict, Reference, exclude_line, node_lines, said_line

if TYPE_CHECKING:
    from matplotlib.axes import Axes

#: Failed nodes named on a row, the worst first (a fleet of 1,024 would bury the chart).
MAX_NAMED = 8


def percent_off(ratio: float, higher_is_better: bool) -> float:
    """A node's distance from the fleet's median in percent, negative when worse."""
    return 100.0 * ((ratio if higher_is_better else 1.0 / ratio) - 1.0)


def fleet_bound(fleet: FleetVerdict) -> float | None:
    """Where the fleet fails a node, in percent from the median (negative): the t bound over
    the peers' spread or the :data:`MIN_CHANGE` floor, whichever is further; None when the
    fleet was too small to judge."""
    if not fleet.judged or math.isnan(fleet.spread):
        return None
    peers = sum(not n.failed for n in fleet.nodes) - 1  # a healthy node's peers
    if peers < 2:
        return None
    t = t_quantile(1.0 - fleet.node_alpha, peers - 1)
    by_t = math.expm1(-t * fleet.spread * math.sqrt(1.0 + 1.0 / peers))
    return 100.0 * min(by_t, -MIN_CHANGE)


def reference_bound(fleet: FleetVerdict, ref: Reference | None) -> float | None:
    """The reference table's bound in percent from the fleet's median (None: no reference)."""
    if ref is None or not fleet.median > 0:
        return None
    return percent_off(ref.low / fleet.median, ref.higher_is_better)


def fleet_chart(fleets: Sequence[FleetVerdict], references: Mapping[str, Reference]) -> bytes:
    """The fleet chart as PNG bytes (a row a check)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = len(fleets)
    figure, axes = plt.subplots(figsize=(9.0, 1.2 + 0.9 * rows))
    limits = _limits(fleets, references)
    for row, fleet in enumerate(fleets):
        _draw_row(axes, row, fleet, references.get(fleet.check), limits)
    axes.set_xlim(*limits)
    axes.set_yticks(range(rows), [f.check for f in fleets])
    axes.set_ylim(rows - 0.5, -0.5)
    axes.axvline(0.0, color="black", linewidth=0.8)
    axes.set_xlabel("% from the fleet's median (negative: worse)")
    axes.set_title(f"{len({n.node for f in fleets for n in f.nodes})} nodes: red ones failed; "
                   "| the fleet's bound, ¦ the reference's", fontsize="medium")
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def _draw_row(axes: Axes, row: int, fleet: FleetVerdict, ref: Reference | None,
              limits: tuple[float, float]) -> None:
    """One check's nodes (spread over the row by their order, so equal figures stay visible)
    and bounds; a reference bound beyond ``limits`` is an arrow at the edge with its value (one
    far bound must not flatten every node into a dot)."""
    higher = ref.higher_is_better if ref is not None else True
    count = max(len(fleet.nodes), 1)
    places = {}
    for index, node in enumerate(fleet.nodes):
        x, y = percent_off(node.ratio, higher), row + 0.5 * ((index + 0.5) / count - 0.5)
        places[node.node] = (x, y)
        axes.plot([x], [y], "x" if node.failed else "o",
                  color="tab:red" if node.failed else "tab:gray",
                  markersize=6 if node.failed else 4)
    failed = sorted((n for n in fleet.nodes if n.failed), key=lambda n: places[n.node][0])
    for node in failed[:MAX_NAMED]:
        axes.annotate(node.node, places[node.node],
                      xytext=(0, 7), textcoords="offset points", ha="center",
                      fontsize="x-small", color="tab:red")
    bound = fleet_bound(fleet)
    if bound is not None:
        axes.plot([bound, bound], [row - 0.4, row + 0.4], "-",
                  color="tab:red", linewidth=1.2)
    ref_bound = reference_bound(fleet, ref)
    if ref_bound is None:
        return
    if limits[0] <= ref_bound <= limits[1]:
        axes.plot([ref_bound, ref_bound], [row - 0.4, row + 0.4], ":",
                  color="tab:red", linewidth=1.2)
    else:
        edge = limits[0] if ref_bound < limits[0] else limits[1]
        axes.annotate(f"reference bound {ref_bound:+.0f}% (off the chart)", (edge, row - 0.35),
                      ha="left" if edge == limits[0] else "right", fontsize="x-small",
                      color="tab:red")


def _limits(fleets: Sequence[FleetVerdict], references: Mapping[str, Reference]
            ) -> tuple[float, float]:
    """The x range: every node and the fleet's bounds, with a margin (not the references')."""
    xs = [0.0]
    for fleet in fleets:
        ref = references.get(fleet.check)
        higher = ref.higher_is_better if ref is not None else True
        xs += [percent_off(n.ratio, higher) for n in fleet.nodes]
        bound = fleet_bound(fleet)
        xs += [bound] if bound is not None else []
    low, high = min(xs), max(xs)
    margin = max(0.08 * (high - low), 0.5)
    return low - margin, high + margin


def html_page(verdicts: Sequence[CheckVerdict], fleets: Sequence[FleetVerdict],
              references: Mapping[str, Reference], title: str = "Node acceptance",
              pair_lines: Sequence[str] = (), said_lines: Sequence[str] | None = None) -> str:
    """The whole page: verdict lines (and the pairs' between nodes), the chart, each check's
    false-alarm line (``said_lines``, else each fleet's without its runs), the table."""
    chart = base64.b64encode(fleet_chart(fleets, references)).decode("ascii") if fleets else ""
    lines = node_lines(verdicts) + list(pair_lines) + [
        exclude_line(verdicts) or "no node failed: nothing to exclude"]
    rows = "".join(
        f"<tr class=\"{'fail' if v.failed else 'pass'}\"><td>{html.escape(v.node)}</td>"
        f"<td>{html.escape(v.check)}</td><td>{v.said}</td>"
        f"<td>{html.escape(v.why)}</td></tr>" for v in verdicts)
    said = "".join(f"<li>{html.escape(line)}</li>" for line in
                   (said_lines if said_lines is not None else [said_line(f) for f in fleets]))
    image = (f'<img alt="fleet chart: each node\'s distance from the fleet\'s median, a row a '
             f'check" src="data:image/png;base64,{chart}">' if chart else "")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><pre>{html.escape(chr(10).join(lines))}</pre>"
            f"{image}<h2>False alarms</h2><ul>{said}</ul>"
            f"<h2>Each node and check</h2><table><tr><th>node</th><th>check</th>"
            f"<th>verdict</th><th>why</th></tr>{rows}</table></body></html>\n")


_STYLE = ("body{font-family:sans-serif;margin:1.5em;max-width:70em}"
          "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:0.2em 0.5em;"
          "text-align:left}tr.fail td{background:#fde2e1}img{max-width:100%}")
