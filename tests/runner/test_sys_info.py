"""``exp.sys_info`` as in DLBS: each available source becomes ``hw.<source>`` in the log; the
others are named in ``hw.sys_info_missing`` and in one warning per sweep."""
from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from typing import Any

from dlbs.runner import Runner

from .test_runner import facts_of


def test_available_sources_are_logged_missing_ones_named(
        make_exp: Callable[..., dict[str, Any]]) -> None:
    wanted = "cpuinfo,meminfo,lscpu,nosuch,nvidiasmi"
    exps = [make_exp(params={"exp.sys_info": wanted}) for _ in range(2)]
    err = io.StringIO()
    summary = Runner(out=io.StringIO(), err=err, bar=False).run(exps)
    assert summary.count("ok") == 2
    facts = facts_of(exps[0]["exp.log_file"])
    assert facts["hw.cpuinfo"][0]["processor"] == "0"
    assert facts["hw.meminfo"]["MemTotal"].endswith("kB")
    missing = facts["hw.sys_info_missing"]
    assert missing["nosuch"].startswith("unknown source")
    if shutil.which("lscpu"):
        assert "Architecture" in facts["hw.lscpu"]
    if shutil.which("nvidia-smi") is None:
        assert missing["nvidiasmi"] == "nvidia-smi is not installed"
    assert facts["results.status"] == "ok"
    warnings = [line for line in err.getvalue().splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1  # one line a sweep names every missing source
    assert warnings[0].startswith("warning: exp.sys_info sources not in the logs: ")
    assert all(f"'{name}'" in warnings[0] for name in missing)
    assert "'nosuch': unknown source" in warnings[0]


def test_no_sys_info_no_facts(make_exp: Callable[..., dict[str, Any]]) -> None:
    exp = make_exp()
    Runner(out=io.StringIO(), err=io.StringIO(), bar=False).run([exp])
    assert not any(k.startswith("hw.cpuinfo") for k in facts_of(exp["exp.log_file"]))
