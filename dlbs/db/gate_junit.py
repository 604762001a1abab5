"""The CI gate's JUnit XML document (``dlbs regressions --junit``): one test case a series, a
failure for a regression or wrong numbers, skipped for a series not judged; the same sentences
as the markdown summary (:mod:`dlbs.db.gate`), and the change's own ``as_json()`` as a
failure's text. Pure: renders bytes; it never opens, writes or prints anything.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from dlbs.db.busy import BUSY_LEGEND
from dlbs.db.gate import (
    SUITE,
    Gate,
    Outcome,
    broken_said,
    busy_mark,
    change_cells,
    method,
    noisy_said,
    outcomes,
    percent,
    rerun_said,
)
from dlbs.db.history import Found

#: Characters XML 1.0 cannot hold (control characters, lone surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(text: object) -> str:
    """Text XML 1.0 can hold: a character it cannot becomes U+FFFD."""
    return _NOT_XML.sub("\ufffd", str(text))


def _said(change: Found) -> str:
    shown, interval, p_value = change_cells(change)
    busy = f"; {BUSY_LEGEND}" if change.busy else ""
    return (f"{change.direction}: {shown} {interval} from {change.last_good} to "
            f"{change.first_bad}{busy_mark(change)} (p {p_value}){busy}")


def _testcase(suite: ET.Element, gate: Gate, one: Outcome) -> None:
    case = ET.SubElement(suite, "testcase", classname=_xml(one.name),
                         name=_xml(f"{gate.metric} along {gate.axis}"), time="0")
    if one.broken is not None:  # one failure: the wrong numbers, and any regression too
        message = "; ".join([broken_said(one.broken, gate.axis),
                             *(_said(c) + _rerun_of(gate, c) for c in one.regressions)])
        failure = ET.SubElement(case, "failure", type="numerics", message=_xml(message))
        failure.text = _xml(json.dumps([one.broken.as_json(),
                                        *(_with_rerun(gate, c) for c in one.regressions)],
                                       indent=1, default=str))
        return
    if one.not_judged is not None:
        ET.SubElement(case, "skipped", message=_xml(f"not judged: {one.not_judged}"))
        return
    if one.regressions:
        failure = ET.SubElement(case, "failure", type="regression", message=_xml(
            "; ".join(_said(c) + _rerun_of(gate, c) for c in one.regressions)))
        failure.text = _xml(json.dumps([_with_rerun(gate, c) for c in one.regressions],
                                       indent=1, default=str))
    said = [_said(c) + ("" if c.direction == "regression" else "; an improvement passes")
            + _rerun_of(gate, c) for c in one.changes]
    said += [f"{_said(c)}; {rerun_said(confirmation)}: passes"
             for name, c, confirmation in (gate.rerun.unconfirmed if gate.rerun else [])
             if name == one.name]
    said = said or [f"no change beyond ±{percent(gate.min_change)}"]
    if one.noisy is not None:
        said.append(noisy_said(one.noisy))
    if one.busy_newest and not any(c.busy for c in one.changes):  # else a change said it
        said.append(f"the newest point is marked {BUSY_LEGEND}")
    ET.SubElement(case, "system-out").text = _xml("\n".join(said))


def _rerun_of(gate: Gate, change: Found) -> str:
    confirmation = gate.rerun.of(change) if gate.rerun is not None else None
    return "" if confirmation is None else f"; {rerun_said(confirmation)}"


def _with_rerun(gate: Gate, change: Found) -> dict[str, Any]:
    if gate.rerun is None:
        return change.as_json()
    return {**change.as_json(), "confirmation": gate.rerun.of(change)}


def _counted(element: ET.Element, found: Sequence[Outcome]) -> None:
    element.set("tests", str(len(found)))
    element.set("failures", str(sum(bool(one.regressions) or one.broken is not None
                                    for one in found)))
    element.set("errors", "0")
    element.set("skipped", str(sum(one.not_judged is not None for one in found)))
    element.set("time", "0")


def junit(gate: Gate) -> bytes:
    """A JUnit XML document: one ``<testsuite>`` with one ``<testcase>`` per series (a
    ``<failure>`` for a regression, ``<skipped>`` for a series not judged), UTF-8."""
    found = outcomes(gate)
    root = ET.Element("testsuites", name=SUITE)
    suite = ET.SubElement(root, "testsuite", name=SUITE)
    for element in (root, suite):
        _counted(element, found)
    properties = ET.SubElement(suite, "properties")
    settings = {"metric": gate.metric, "axis": gate.axis, "min_change": f"{gate.min_change:g}",
                "mode": "latest" if gate.alpha is not None else "change points",
                "method": method(gate).replace("`", "")}
    if gate.alpha is not None:
        settings["alpha"] = f"{gate.alpha:g}"
    if gate.note:
        settings["note"] = gate.note
    if gate.busy:
        settings["busy"] = f"{BUSY_LEGEND} ({gate.busy})"
    for key, value in settings.items():
        ET.SubElement(properties, "property", name=key, value=_xml(value))
    for one in found:
        _testcase(suite, gate, one)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
