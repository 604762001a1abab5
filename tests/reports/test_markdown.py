"""Every markdown output renders as intended under CommonMark (markdown-it-py, with GFM tables):
the legend's items are list items whose text starts with the mark (``- * noisy`` was a nested
list, ``- # busy`` a heading), tables are tables, and the only headings are the renderer's.
"""
from __future__ import annotations

from typing import Any

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from dlbs.reports.build import build_report, compare_by_records, compare_records
from dlbs.reports.model import MARK_LEGEND, Report
from dlbs.reports.render import to_markdown

from .test_golden import measured

MD = MarkdownIt("commonmark").enable("table").enable("strikethrough")


def _report(kind: str, records: list[dict[str, Any]], new: list[dict[str, Any]]) -> Report:
    records = measured(records)
    if kind == "compare":
        return compare_records(records, new)
    if kind == "compare-by":
        both = [{**r, "exp.docker_image": "a"} for r in records] + \
            [{**r, "exp.docker_image": "b"} for r in new]
        return compare_by_records(both, "exp.docker_image", "a", "b")
    if kind == "pivot":
        return build_report(records, pivot=(["model"], ["devices"], "results.time_p50"))
    return build_report(records, kind)


def _busy(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records with one run on a busy machine (so that the ``#`` legend shows)."""
    return [{**r, "results.other_cpu_share": 0.5 if n == 0 else 0.01}
            for n, r in enumerate(records)]


def _inline_text(tokens: list[Token], at: int) -> str:
    """The rendered text of the inline token after ``tokens[at]`` (an open tag)."""
    inline = tokens[at + 1]
    return "".join(child.content for child in inline.children or [])


def _items(tokens: list[Token]) -> list[str]:
    """The text of each top-level list item's paragraph; fails on a nested list."""
    items, depth = [], 0
    for at, token in enumerate(tokens):
        if token.type == "bullet_list_open":
            depth += 1
            assert depth == 1, "a nested list: an item's text began with a list marker"
        elif token.type == "bullet_list_close":
            depth -= 1
        elif token.type == "paragraph_open" and depth == 1:
            items.append(_inline_text(tokens, at))
    return items


@pytest.mark.parametrize("kind", ["regular", "weak", "strong", "summary", "pivot", "compare",
                                  "compare-by"])
def test_markdown_renders_as_intended(kind: str, records: list[dict[str, Any]],
                                      new_records: list[dict[str, Any]]) -> None:
    report = _report(kind, _busy(records), _busy(new_records))
    tokens = MD.parse(to_markdown(report))
    headings = [_inline_text(tokens, at) for at, t in enumerate(tokens)
                if t.type == "heading_open"]
    assert headings[0] == report.title
    expected = {report.title, *(t.title for t in report.tables),
                "Parameters that differ between base and new", "Provenance"}
    assert set(headings) <= expected, f"stray headings: {set(headings) - expected}"
    assert sum(t.type == "table_open" for t in tokens) == len(report.tables)
    items = _items(tokens)
    for note in report.notes:  # each note is one list item, its text as written
        assert note in items
    if kind in ("regular", "weak", "strong", "pivot", "compare", "compare-by"):
        legend = [item for item in items if item[:2] in (f"{m} " for m in MARK_LEGEND)]
        assert any(item.startswith("# busy machine") for item in legend), items
        used = {m for t in report.tables if t.marks is not None
                for cell in t.marks.to_numpy().ravel() for m in str(cell or "")}
        assert {item[0] for item in legend} == used  # each mark used, and only those, explained
    if kind in ("compare", "compare-by"):  # a verdict's flags, each explained
        assert {"~", "#"} <= {item[0] for item in legend}
        assert any(item.startswith("1 verdict marked ~ rests on runs that found no steady")
                   or "verdicts marked ~ rest on runs that found no steady" in item
                   for item in items), items


def test_a_table_cell_with_markdown_characters_is_shown_as_written() -> None:
    """A user's model name with ``*``, ``_`` or ``|`` is text in a cell, not emphasis."""
    from .test_tables import run
    records = [run(**{"exp.model_title": "*big*_net_|x"})]
    tokens = MD.parse(to_markdown(build_report(records, "regular")))
    cells = [_inline_text(tokens, at) for at, t in enumerate(tokens) if t.type == "td_open"]
    assert "*big*_net_|x" in cells
    assert not any(t.type == "em_open" for t in tokens
                   for t in (t.children or []))


def _parameter_rows(markdown: str) -> list[list[str]]:
    """The body rows of every table, each cell's rendered text (``<br>`` as a line break;
    a token other than text, code or a line break is named in brackets, so it fails)."""
    tokens = MD.parse(markdown)
    rows: list[list[str]] = []
    for at, token in enumerate(tokens):
        if token.type == "tr_open":
            rows.append([])
        elif token.type == "td_open":
            parts = [c.content if c.type in ("text", "code_inline") else
                     "\n" if c.type == "html_inline" and c.content == "<br>" else f"[{c.type}]"
                     for c in tokens[at + 1].children or []]
            rows[-1].append("".join(parts))
    return [row for row in rows if row]  # the header rows have th cells only


def _expected_row(config: Any, name: str) -> list[str]:
    import json

    from dlbs.cli.help_params import _spec

    spec, value = _spec(config, name), config.parameters[name]
    desc = "\n".join(line.strip() for line in spec.desc.splitlines())
    if spec.domain is not None:
        desc += f"\nOne of: {', '.join(str(v) for v in spec.domain)}."
    default = value if isinstance(value, str) and value else json.dumps(value)
    return [name, spec.type or "any", default, desc]


@pytest.mark.parametrize("user", [
    pytest.param({}, id="default-configs"),
    pytest.param({"my.knob": {"val": "a`b|c", "type": "str", "desc": [
        "Use *all* cores, or_not_; a <b>tag</b>, [a link](x) and `code` stay as written.",
        "# not a heading | nor a cell"]},
        "my.ticks": {"val": "``x", "type": "str", "desc": "Two back`ticks.",
                     "val_domain": ["``x", "a|b", "*y*"]}}, id="user-text-with-markup"),
])
def test_the_parameter_reference_renders_as_written(user: dict[str, Any], tmp_path: Any) -> None:
    """``experimenter help --markdown`` (docs/parameters.md): every cell renders as the
    parameter's name, type, default and description are written, whatever characters they
    hold (a backtick in a default closed its code span; ``*`` in a description was emphasis)."""
    import argparse
    import json

    from dlbs.cli import help_params
    from dlbs.cli.planargs import load_config

    parser = argparse.ArgumentParser()
    help_params.add_arguments(parser)
    argv = []
    if user:
        path = tmp_path / "user.json"
        path.write_text(json.dumps({"parameters": user}))
        argv = ["--config", str(path)]
    config = load_config(parser.parse_args(argv), with_command_line=False)
    names = sorted(n for n in config.parameters if not user or n in user)
    rows = _parameter_rows(help_params.format_markdown(config, names))
    assert rows == [_expected_row(config, name) for name in names]
