"""The history chart: each series' points along the axis with their intervals."""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from dlbs.db.history import Series


def history_chart(series: Sequence[Series], metric: str, axis: str, path: str) -> None:
    """Draw the series into ``path`` (format by suffix). Points are joined in axis order;
    an error bar is a point's 95% interval (runs as the unit, or one run's own)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels: list[str] = []
    for one in series:
        for p in one.points:
            if p.axis_value not in labels:
                labels.append(p.axis_value)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(labels) + 3), 4.2))
    for one in series:
        xs = [labels.index(p.axis_value) for p in one.points]
        ys = [p.value for p in one.points]
        lows = [p.value - p.low if math.isfinite(p.low) else 0.0 for p in one.points]
        highs = [p.high - p.value if math.isfinite(p.high) else 0.0 for p in one.points]
        name = " ".join(str(one.parameters.get(k)) for k in
                        ("exp.model", "exp.phase", "exp.replica_batch") if k in one.parameters)
        ax.errorbar(xs, ys, yerr=[lows, highs], marker="o", capsize=3, label=name)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_xlabel(axis)
    unit = {"results.throughput": "samples/s", "results.time": "ms"}.get(metric)
    ax.set_ylabel(f"{metric} ({unit})" if unit else metric)
    ax.set_title(f"{metric} by {axis} (95% CI)")
    ax.grid(alpha=0.3)
    if series:
        ax.legend(fontsize=8)
    fig.tight_layout()
    import io

    from safeio import atomic_write_bytes

    target = Path(path)
    fmt = target.suffix.lstrip(".").lower() or "png"
    if fmt not in ("png", "svg", "pdf"):
        plt.close(fig)
        raise ValueError(f"--plot {path}: give a .png, .svg or .pdf file")
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt)
    plt.close(fig)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, buffer.getvalue())  # never through a link planted at the name
