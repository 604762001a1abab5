"""Every expansion error of spec §3: one clear line naming the parameter (and the chain)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dlbs.errors import DLBSError, ExpansionError


@pytest.mark.parametrize("parameters,param,message", [
    pytest.param({"exp.x": "${exp.nope}"}, "exp.x",
                 "parameter 'exp.x': undefined reference ${exp.nope}; define it with "
                 "-Pexp.nope=VALUE or in a config", id="undefined-reference"),
    pytest.param({"a": "${b}", "b": "x/${nope}"}, "b",
                 "parameter 'b': undefined reference ${nope} (reference chain: a -> b); define "
                 "it with -Pnope=VALUE or in a config", id="undefined-reference-in-chain"),
    pytest.param({"a": "${b}", "b": "${c}", "c": "${a}"}, "c",
                 "parameter 'c': reference cycle a -> b -> c -> a; break the cycle by giving "
                 "one of them a plain value", id="cycle"),
    pytest.param({"a": "x${a}"}, "a",
                 "parameter 'a' refers to itself (${a}); a value cannot use its own value",
                 id="self-reference"),
    pytest.param({"f": "tf", "d": "${${f}.dir}"}, "d",
                 "parameter 'd': reference ${${f}.dir} resolves to undefined name 'tf.dir'; "
                 "define it with -Ptf.dir=VALUE or in a config", id="nested-undefined"),
    pytest.param({"a": "${b"}, "a", "parameter 'a': '${' without a closing '}' in '${b'",
                 id="unterminated-reference"),
    pytest.param({"a": "x${}"}, "a", "parameter 'a': empty reference '${}' in 'x${}'",
                 id="empty-reference"),
    pytest.param({"a": "$(1 + 2"}, "a", "parameter 'a': '$(' without a closing ')$' in '$(1 + 2'",
                 id="unterminated-expression"),
    pytest.param({"a": "$(1/${z})$", "z": 0}, "a",
                 "parameter 'a': expression $(1/0)$ failed: ZeroDivisionError: division by zero",
                 id="expression-fails"),
    pytest.param({"a": "$(open('/etc/passwd'))$"}, "a",
                 "parameter 'a': expression $(open('/etc/passwd'))$ is forbidden: name 'open' is "
                 "not available", id="expression-forbidden"),
    pytest.param({"a": "$(1 +)$"}, "a",
                 "parameter 'a': expression $(1 +)$ is forbidden: invalid syntax (invalid syntax)",
                 id="expression-syntax"),
    pytest.param({"b": {"val": "abc", "type": "int"}}, "b",
                 "parameter 'b': cannot cast 'abc' to int; give an integer such as 16",
                 id="cast-int"),
    pytest.param({"b": {"val": "1,5", "type": "float"}}, "b",
                 "parameter 'b': cannot cast '1,5' to float; give a number such as 0.5",
                 id="cast-float"),
    pytest.param({"b": {"val": "maybe", "type": "bool"}}, "b",
                 "parameter 'b': cannot cast 'maybe' to bool; give one of true/false, on/off, "
                 "yes/no, 1/0", id="cast-bool"),
    pytest.param({"p": {"val": "train", "val_domain": ["training", "inference"]}}, "p",
                 "parameter 'p': value 'train' is not allowed; allowed values: training, "
                 "inference", id="outside-domain"),
    pytest.param({"n": {"val": "$(3)$", "type": "int", "val_domain": [1, 2]}}, "n",
                 "parameter 'n': value 3 is not allowed; allowed values: 1, 2",
                 id="outside-domain-after-cast"),
])
def test_expansion_error_message(expanded: Callable[..., Any], parameters: dict, param: str,
                                 message: str) -> None:
    with pytest.raises(ExpansionError) as info:
        expanded(parameters)
    assert str(info.value) == message
    assert info.value.param == param
    assert "\n" not in str(info.value)


def test_cycle_through_nested_reference_is_reported(expanded: Callable[..., Any]) -> None:
    with pytest.raises(ExpansionError, match=r"reference cycle a -> b -> a"):
        expanded({"a": "${${b}}", "b": "${a}"})


def test_deep_reference_chain_is_an_error_not_a_crash(expanded: Callable[..., Any]) -> None:
    params = {f"p{i}": f"${{p{i + 1}}}" for i in range(5000)}
    params["p5000"] = "end"
    with pytest.raises(ExpansionError, match=r"^parameter 'p0': reference chain too deep; "
                                             r"simplify the references$"):
        expanded(params)


def test_every_engine_error_is_a_dlbs_error() -> None:
    from dlbs.errors import ConfigError, PlanError
    assert all(issubclass(kind, DLBSError) for kind in (ConfigError, PlanError, ExpansionError))


@pytest.mark.parametrize("value", [
    pytest.param("$(1 +\n)$", id="newline-in-expression"),
    pytest.param("$(json.loads('[\\n'))$", id="newline-in-failure"),
    pytest.param("${a\nb}", id="newline-in-reference"),
])
def test_error_message_is_one_line(expanded: Callable[..., Any], value: str) -> None:
    with pytest.raises(ExpansionError) as info:
        expanded({"p": value})
    assert "\n" not in str(info.value) and str(info.value).startswith("parameter 'p'")
