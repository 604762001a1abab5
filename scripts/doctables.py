"""What the simulation scripts share: a markdown table, and writing generated text between
two markers of a document (``<!-- NAME:begin -->`` ... ``<!-- NAME:end -->``)."""
from __future__ import annotations

from pathlib import Path


def markdown(rows: list[dict[str, str]]) -> str:
    """A markdown table of ``rows`` (same keys)."""
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "| " + " | ".join("---" for _ in keys) + " |"]
    lines += ["| " + " | ".join(row[k] for k in keys) + " |" for row in rows]
    return "\n".join(lines)


def write_between(doc: Path, begin: str, end: str, text: str) -> None:
    """Replace the text between the markers ``begin`` and ``end`` of ``doc``."""
    content = doc.read_text(encoding="utf-8")
    start, stop = content.index(begin) + len(begin), content.index(end)
    doc.write_text(content[:start] + "\n" + text + content[stop:], encoding="utf-8")
