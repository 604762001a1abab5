"""JUnit XML of a node acceptance: one test case a node x check, for CI dashboards. Pure."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from dlbs.accept.verdict import CheckVerdict


def junit_xml(verdicts: Sequence[CheckVerdict], suite: str = "dlbs accept") -> str:
    """The verdicts as a JUnit ``testsuite``: classname the node, name the check; a failed
    check carries its one-line reason as the failure's message, a check nothing judged is
    skipped with its reason."""
    failures = sum(v.failed for v in verdicts)
    skipped = sum(not v.failed and not v.judged for v in verdicts)
    root = ET.Element("testsuite", name=suite, tests=str(len(verdicts)),
                      failures=str(failures), errors="0", skipped=str(skipped))
    for v in verdicts:
        case = ET.SubElement(root, "testcase", classname=v.node, name=v.check)
        if v.failed:
            ET.SubElement(case, "failure", message=v.why).text = v.why
        elif not v.judged:  # nothing judged it: a skipped case, its reason the message
            ET.SubElement(case, "skipped", message=v.why)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
