"""Typos in parameter names are errors (exit 2, "did you mean"); names of the user's own are
warnings (issue 20, "Typos are errors by default"; ``dlbs/cli/paramnames.py``).

The CLI's behaviour is checked as a user meets it: ``python -m dlbs`` in a subprocess."""
from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from dlbs.cli.paramnames import OWN_NAMESPACES, closest_declared, edit_distance
from dlbs.config import load_default_configs
from dlbs.engine import merge_configs
from dlbs.engine.names import LOOK_ALIKES

TUTORIALS = Path(__file__).resolve().parents[1] / "fixtures" / "dlbs_tutorials"
CPU = ["-Pexp.model=alexnet", '-Pexp.gpus=""']
ACTIONS = ["print", "build", "validate", "run"]
TYPO = "error: {where}: parameter 'exp.replica_bacth' is not one dlbs knows and nothing " \
       "refers to it; did you mean 'exp.replica_batch'? (--allow-unknown keeps it as a name " \
       "of your own)"


def dlbs(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dlbs", *argv], cwd=cwd, capture_output=True,
                          text=True, timeout=120, check=False)


def declared() -> list[str]:
    config = merge_configs([], defaults=load_default_configs())
    return [name for name, spec in config.specs.items() if spec.desc]


@pytest.mark.parametrize("action", ACTIONS)
def test_a_typo_is_an_error_with_did_you_mean_in_every_plan_action(tmp_path: Path,
                                                                   action: str) -> None:
    done = dlbs(tmp_path, action, *CPU, f"-Pexp.log_dir={tmp_path}/logs",
                "-Pexp.replica_bacth=32")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == TYPO.format(where="-P")
    assert done.stdout == "" and not (tmp_path / "logs").exists()  # nothing ran


@pytest.mark.parametrize("argv, where", [
    pytest.param(["-Pexp.replica_bacth=32"], "-P", id="P"),
    pytest.param(["-Vexp.replica_bacth=[16, 32]"], "-V", id="V"),
    pytest.param(['-E{"parameters": {"exp.replica_bacth": 32}}'], "-E: extension #1", id="E"),
    pytest.param([('-E{"condition": {"exp.model": "alexnet"}, '
                   '"cases": [{"exp.replica_bacth": 32}]}')], "-E: extension #1", id="E-case"),
    pytest.param(["--config", "{dir}/c.json"], "{dir}/c.json", id="json-config"),
    pytest.param(["--config", "{dir}/c.yaml"], "{dir}/c.yaml", id="yaml-config"),
    pytest.param(["--config", "{dir}/e.json"], "{dir}/e.json: extension #1",
                 id="config-extension"),
])
def test_a_typo_is_an_error_wherever_it_is_given(tmp_path: Path, argv: list[str],
                                                where: str) -> None:
    (tmp_path / "c.json").write_text('{"parameters": {"exp.replica_bacth": 32}}')
    (tmp_path / "c.yaml").write_text("variables:\n  exp.replica_bacth: [16, 32]\n")
    (tmp_path / "e.json").write_text('{"extensions": [{"condition": {}, '
                                     '"parameters": {"exp.replica_bacth": 32}}]}')
    done = dlbs(tmp_path, "print", *CPU, *[a.replace("{dir}", str(tmp_path)) for a in argv], "--count")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == TYPO.format(where=where.replace("{dir}", str(tmp_path)))


@pytest.mark.parametrize("typo, meant", [
    pytest.param("exp.replica_bacth", "exp.replica_batch", id="swap"),
    pytest.param("exp.modle", "exp.model", id="swap-2"),
    pytest.param("exp.num_batchs", "exp.num_batches", id="letter-missing"),
    pytest.param("exp.dtpye", "exp.dtype", id="swap-short"),
    pytest.param("exp.gpu", "exp.gpus", id="short-missing-letter"),
    pytest.param("pytorch.cudnn_benchmrk", "pytorch.cudnn_benchmark", id="pytorch"),
    pytest.param("monitor.frequncy", "monitor.frequency", id="monitor"),
    pytest.param("exp.replica_btach", "exp.replica_batch", id="swap-inside"),
    pytest.param("exp.num_warmup_batchs", "exp.num_warmup_batches", id="warmup"),
    # letter case is no edit (the value was silently unused: only a warning before)
    pytest.param("exp.MODEL", "exp.model", id="upper-case"),
    pytest.param("EXP.REPLICA_BATCH", "exp.replica_batch", id="upper-case-namespace"),
    pytest.param("Exp.model", "exp.model", id="capital-namespace"),
    pytest.param("exp.Replica_Bacth", "exp.replica_batch", id="case-and-swap"),
])
def test_real_typos_name_the_parameter_meant(tmp_path: Path, typo: str, meant: str) -> None:
    done = dlbs(tmp_path, "print", *CPU, f"-P{typo}=1", "--count")
    assert done.returncode == 2, done.stderr
    assert f"did you mean '{meant}'?" in done.stderr


def test_allow_unknown_keeps_a_typo_like_name_with_a_warning(tmp_path: Path) -> None:
    done = dlbs(tmp_path, "print", *CPU, "-Pexp.replica_bacth=32", "--allow-unknown",
                "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["exp.replica_bacth"] == 32
    assert "warning: -P: parameter 'exp.replica_bacth' is not one dlbs knows; did you mean " \
           "'exp.replica_batch'? (kept: --allow-unknown)" in done.stderr


@pytest.mark.parametrize("argv", [
    pytest.param(["-Pexp.modle=x", "-Pexp.log_file=${exp.modle}.log"], id="dollar-reference"),
    pytest.param(["-Pexp.modle=x", "-Pexp.proj=$(param('exp.modle'))$"], id="param-call"),
    pytest.param(["-Vexp.modle=[1, 2]", ('-E{"condition": {"exp.modle": 1}, '
                                          '"parameters": {"exp.proj": "one"}}')],
                 id="extension-condition"),
])
def test_a_name_something_refers_to_is_a_user_variable(tmp_path: Path, argv: list[str]) -> None:
    done = dlbs(tmp_path, "print", *CPU, *argv, "--count")
    assert done.returncode == 0, done.stderr
    assert "'exp.modle' is not one dlbs knows (something refers to it: kept as a variable of " \
           "your own)" in done.stderr


def test_strict_makes_any_unknown_name_an_error_with_exit_2(tmp_path: Path) -> None:
    done = dlbs(tmp_path, "validate", *CPU, "-Pexp.greeting=hello", "--strict")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: -P: parameter 'exp.greeting' is not one dlbs knows " \
                                  "(--strict)"


#: Names in dlbs's namespaces that DLBS's own tutorials, recipes, docs and configs set
#: (github.com/HewlettPackard/dlcookbook-dlbs at 834350c) and that dlbs does not declare:
#: none of them may be taken for a typo.
DLBS_OWN_NAMES = [
    "exp.bench_iters", "exp.cpu_config", "exp.cpu_opts", "exp.device", "exp.device_batch",
    "exp.device_code", "exp.dlbs_hashtag", "exp.env", "exp.exp_path", "exp.framework_id",
    "exp.gpu_id", "exp.gpu_title", "exp.greeting", "exp.greeting.extension",
    "exp.greeting.extention", "exp.image_tag", "exp.log_root_dir", "exp.model_title",
    "exp.my_summary", "exp.parameter", "exp.status_message", "exp.trial", "exp.vnni_opts",
    "exp.vnni_status", "monitor.enabled", "monitor.pid_file_folder", "pytorch.__master_addr",
    "pytorch.__master_port", "runtime.dlbs_cache", "exp.model_1", "exp.framework_0",
]


@pytest.mark.parametrize("name", DLBS_OWN_NAMES)
def test_names_dlbs_users_set_are_never_typos(name: str) -> None:
    assert closest_declared(name, declared()) is None


def test_dlbs_users_own_names_on_the_command_line_are_warnings(tmp_path: Path) -> None:
    args = [f"-P{name}=1" for name in DLBS_OWN_NAMES]
    done = dlbs(tmp_path, "print", *CPU, *args, "--count")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("warning:") == len(DLBS_OWN_NAMES)


def test_the_introduction_tutorials_greeting_runs_unchanged(tmp_path: Path) -> None:
    # DLBS's tutorials/dlcookbook/introduction.sh: a variable of the user's own, and an
    # extension on it adding another name
    done = dlbs(tmp_path, "print", *CPU, '-Vexp.greeting=["Hello!", "How are you?"]',
                '-E{"condition":{"exp.greeting":"Hello!"}, "parameters": '
                '{"exp.greeting.extention": "You should see me only when exp.greeting is '
                'Hello!"}}', "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    plan = [json.loads(line) for line in done.stdout.splitlines()]
    assert [e.get("exp.greeting.extention") is not None for e in plan] == [True, False]


@pytest.mark.parametrize("config", sorted(p.name for p in TUTORIALS.glob("*.json")))
def test_dlbs_tutorial_and_recipe_configs_have_no_false_typo(tmp_path: Path, config: str) -> None:
    done = dlbs(tmp_path, "print", "--config", str(TUTORIALS / config), "--count")
    assert done.returncode == 0, done.stderr
    assert "did you mean" not in done.stderr


def _typo(rng: random.Random, name: str, edits: int) -> str:
    """``name`` with ``edits`` random edits in its last part (swap, drop, add, change)."""
    head, _, last = name.rpartition(".")
    chars = list(last)
    for _ in range(edits):
        at, op = rng.randrange(len(chars)), rng.choice("sdic")
        if op == "s" and at + 1 < len(chars):
            chars[at], chars[at + 1] = chars[at + 1], chars[at]
        elif op == "d" and len(chars) > 2:
            del chars[at]
        else:
            letter = rng.choice("abcdefghijklmnopqrstuvwxyz_")
            chars[at:at + (op == "c")] = [letter]
    return f"{head}.{''.join(chars)}"


@pytest.mark.parametrize("edits, rate", [(1, 0.99), (2, 0.85)])
def test_typos_of_every_declared_name_are_caught(edits: int, rate: float) -> None:
    # seeded: 20 typos of each declared name; a typo that is itself declared is no typo.
    # Measured: 100% of one-edit and 92% of two-edit typos (two edits in a last part of 4
    # characters or fewer are allowed one only, on purpose: exp.env is no typo of exp.gpus)
    rng, names = random.Random(20), declared()
    typos = [(t, n) for n in names for t in (_typo(rng, n, edits) for _ in range(20))
             if t not in names]
    caught = [closest_declared(t, names) is not None for t, _ in typos]
    assert sum(caught) / len(caught) >= rate


@pytest.mark.parametrize("a, b, distance", [
    ("batch", "bacth", 1), ("batch", "batch", 0), ("model", "modle", 1), ("gpus", "gpu", 1),
    ("abc", "", 3), ("ca", "abc", 3), ("replica_batch", "replica_btach", 1),
])
def test_edit_distance_counts_a_swap_as_one_edit(a: str, b: str, distance: int) -> None:
    assert edit_distance(a, b) == distance == edit_distance(b, a)


def test_own_namespaces_are_those_of_the_default_configs() -> None:
    assert {f"{name.split('.')[0]}." for name in declared()} == set(OWN_NAMESPACES)


@pytest.mark.parametrize("arg, char", [
    pytest.param("-Pexp.m\u043edel=x", "'\u043e' (U+043E CYRILLIC SMALL LETTER O, not 'o')",
                 id="cyrillic-o"),
    pytest.param("-Pexp.m\u03bfdel=x", "'\u03bf' (U+03BF GREEK SMALL LETTER OMICRON, not 'o')",
                 id="greek-omicron"),
    pytest.param("-V\u0435xp.replic\u0430_batch=[1]", "'\u0435' (U+0435 CYRILLIC SMALL LETTER "
                 "IE, not 'e'), '\u0430' (U+0430 CYRILLIC SMALL LETTER A, not 'a')",
                 id="two-cyrillic"),
])
def test_a_look_alike_of_a_declared_name_is_a_typo_naming_the_look_alike(
        tmp_path: Path, arg: str, char: str) -> None:
    done = dlbs(tmp_path, "print", *CPU, arg, "--count")
    assert done.returncode == 2, done.stderr
    assert f"holds the look-alike {char}; did you mean" in done.stderr


def test_look_alikes_are_letters_of_other_scripts_or_dashes_nfkc_keeps() -> None:
    import unicodedata
    for char, ascii_char in LOOK_ALIKES.items():
        assert unicodedata.normalize("NFKC", char) == char  # NFKC would map it otherwise
        assert ascii_char.isascii() and not char.isascii()
        assert unicodedata.name(char).split()[0] in ("CYRILLIC", "GREEK", "HYPHEN", "FIGURE",
                                                     "EN", "MINUS")


@pytest.mark.parametrize("name", ["exp.Model_2", "Exp.greeting", "runtime.env.Path"])
def test_a_name_of_the_users_own_in_another_case_is_no_typo(name: str) -> None:
    # case-insensitive matching must keep the suffix rule and leave unrelated names alone
    assert closest_declared(name, declared()) is None
