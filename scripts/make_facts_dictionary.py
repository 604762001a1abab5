"""Writes a preset dictionary for packed facts (dlbs/db/packed.py) from logs: the facts of each
log as the store keeps them (JSON), one per line, in the order given; zlib reads the last 32 KB
of a dictionary, and strings near its end cost the least, so give the most typical log last.

    python scripts/make_facts_dictionary.py OUT LOG [LOG ...]

A released dictionary is never changed: a new one gets a new id in packed.DICTIONARIES, with
its SHA-256 (printed here). Dictionary 1 was made from two H200 runs of the first GPU session
(docs/gpu/2026-11-26-h200/call1/logs/dlbs-resnet50-train-bf16.facts and
d1-llama-bf16-train.facts) and two CPU runs of the README's first sweep (alexnet_owt inference
b4, resnet18 training b4, at commit 97a3d29).
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dlbs.logs import parse_log

WINDOW = 32 * 1024


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[3].strip(), file=sys.stderr)
        return 2
    out, logs = Path(argv[0]), argv[1:]
    lines = []
    for log in logs:
        record = parse_log(log).record
        if not record:
            print(f"{log}: no facts in this log; give benchmark logs", file=sys.stderr)
            return 2
        lines.append(json.dumps(record))
    data = ("\n".join(lines) + "\n").encode("utf-8")[-WINDOW:]
    out.write_bytes(data)
    print(f"{out}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
