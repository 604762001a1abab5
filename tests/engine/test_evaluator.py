"""The restricted evaluator of ``$(expression)$`` (spec §3.3, DEVIATION security)."""
from __future__ import annotations

import pytest

from dlbs.engine import expand_experiment
from dlbs.engine.evaluator import evaluate
from dlbs.engine.sandbox import Forbidden
from dlbs.errors import ExpansionError


def _compute(expression: str) -> str:
    return expand_experiment({"p": f"$({expression})$"}, {}, {})["p"]


@pytest.mark.parametrize("expression,result", [
    pytest.param("1 + 2 * 3 - 4 / 2", "5.0", id="arithmetic"),
    pytest.param("7 // 2, 7 % 2, 2 ** 10, -3, ~0, 6 & 3, 6 | 3, 6 ^ 3, 1 << 4, 32 >> 2",
                 "(3, 1, 1024, -3, -1, 2, 7, 5, 16, 8)", id="integer-operators"),
    pytest.param("1 < 2 <= 2 != 3", "True", id="chained-comparison"),
    pytest.param("'a' in 'abc' and 'z' not in 'abc' and None is None", "True", id="membership"),
    pytest.param("not 0 and 1 or 2", "1", id="bool-ops"),
    pytest.param("'gpu' if 2 > 0 else 'cpu'", "gpu", id="conditional"),
    pytest.param("'abcdef'[1], 'abcdef'[::-2], [1, 2, 3][-1]", "('b', 'fdb', 3)", id="index-slice"),
    pytest.param("'0:1,2'.replace(':', ',').split(',')", "['0', '1', '2']", id="str-methods"),
    pytest.param("'{}-{:>3}'.format('a', 7)", "a-  7", id="str-format"),
    pytest.param("'%s=%05.1f' % ('x', 2.5)", "x=002.5", id="percent-format"),
    pytest.param("[x * x for x in range(5) if x % 2]", "[1, 9]", id="list-comprehension"),
    pytest.param("{k: v for k, v in zip('ab', (1, 2))}", "{'a': 1, 'b': 2}",
                 id="dict-comprehension"),
    pytest.param("sorted({c for c in 'banana'})", "['a', 'b', 'n']", id="set-comprehension"),
    pytest.param("sum(x for x in range(4)), [(i, j) for i in range(2) for j in range(i)]",
                 "(6, [(1, 0)])", id="generator-nested-loops"),
    pytest.param("[*range(2), *'ab'], {**{'a': 1}, 'b': 2}", "([0, 1, 'a', 'b'], {'a': 1, 'b': 2})",
                 id="unpacking"),
    pytest.param("int('007'), float('2.5'), str(1), bool(''), len('abc'), abs(-2)",
                 "(7, 2.5, '1', False, 3, 2)", id="builtins"),
    pytest.param("min(3, 1), max([1, 5]), round(2.567, 2), sorted([3, 1], reverse=True)",
                 "(1, 5, 2.57, [3, 1])", id="builtins-2"),
    pytest.param("list(enumerate('ab')), tuple([1]), dict(a=1), any([0, 1]), all([])",
                 "([(0, 'a'), (1, 'b')], (1,), {'a': 1}, True, True)", id="builtins-3"),
    pytest.param("isinstance(1, int), isinstance('a', (int, float))", "(True, False)",
                 id="isinstance"),
    pytest.param("re.sub('[:,]', ' ', '0:1,2').split(), re.match(r'(\\d+)', '42x').group(1)",
                 "(['0', '1', '2'], '42')", id="re"),
    pytest.param("math.ceil(2.1), math.sqrt(16), math.pi > 3", "(3, 4.0, True)", id="math"),
    pytest.param("json.dumps({'a': [1]}), json.loads('[1, 2]')[1]", "('{\"a\": [1]}', 2)",
                 id="json"),
    pytest.param("os.path.join('a', 'b.txt'), os.path.splitext('m.tar')[1], "
                 "os.path.basename('/x/y'), os.path.dirname('/x/y'), os.path.isabs('/x')",
                 "('a/b.txt', '.tar', 'y', '/x', True)", id="os-path"),
    pytest.param("len(uuid.uuid4().hex)", "32", id="uuid"),
    pytest.param("True, False, None", "(True, False, None)", id="constants"),
    pytest.param("  1 + 1  ", "2", id="surrounding-spaces"),
])
def test_allowed_expression_evaluates_like_python(expression: str, result: str) -> None:
    assert _compute(expression) == result


@pytest.mark.parametrize("expression,reason", [
    pytest.param("__import__('os')", "name '__import__'", id="import-builtin"),
    pytest.param("().__class__.__bases__", "attribute '__bases__'", id="class-bases"),
    pytest.param("[].__class__.__mro__[1].__subclasses__()", "attribute '__subclasses__'",
                 id="subclasses"),
    pytest.param("open('x')", "name 'open' is not available", id="open"),
    pytest.param("os.system('id')", "'os.system' is not available", id="os-system"),
    pytest.param("os.environ", "'os.environ' is not available", id="os-environ"),
    pytest.param("os.path.exists('/')", "'os.path.exists' is not available", id="path-exists"),
    pytest.param("os.path.expanduser('~')", "'os.path.expanduser' is not available",
                 id="path-expanduser"),
    pytest.param("os.path.getsize('/')", "'os.path.getsize' is not available", id="path-getsize"),
    pytest.param("9**9**9", "power of about", id="huge-power"),
    pytest.param("2 ** 10 ** 7", "power of about", id="big-power"),
    pytest.param("1 << 10**9", "<< of about", id="huge-shift"),
    pytest.param("'a'*10**12", "repetition would make 1000000000000 items", id="huge-str-repeat"),
    pytest.param("[0]*10**9", "repetition would make 1000000000 items", id="huge-list-repeat"),
    pytest.param("[[0]*1000]*100000", "repetition would make 100000000 items",
                 id="nested-list-repeat"),
    pytest.param("range(10**12)", "range would make 1000000000000 items", id="huge-range"),
    pytest.param("[[x for x in range(10**6)] for y in range(10**6)]", "too much work",
                 id="nested-comprehension"),
    pytest.param("sorted(l for l in [list(range(10**5))] for y in range(10**5))",
                 "too much work", id="shared-big-elements"),
    pytest.param("(lambda: 1)()", "lambda is not allowed", id="lambda"),
    pytest.param("[f for f in [lambda: 0]]", "lambda is not allowed", id="lambda-in-comprehension"),
    pytest.param("getattr(1, 'real')", "name 'getattr' is not available", id="getattr"),
    pytest.param("type(1)", "name 'type' is not available", id="type"),
    pytest.param("eval('1')", "name 'eval' is not available", id="eval"),
    pytest.param("globals()", "name 'globals' is not available", id="globals"),
    pytest.param("'{0.__class__}'.format(1)", "format field '{0.__class__}'", id="format-attr"),
    pytest.param("'{0[0]}'.format([1])", "format field '{0[0]}'", id="format-index"),
    pytest.param("'{:{}}'.format(1, 5)", "nested field", id="format-nested"),
    pytest.param("'{:>1000000000}'.format(1)", "width over", id="format-width"),
    pytest.param("'x'.format_map({})", "attribute 'format_map' of a str value", id="format-map"),
    pytest.param("str.format_map('{x}', {})", "attribute 'format_map' of a type value",
                 id="str-type-format-map"),
    pytest.param("str.format('{0.__class__}', 1)", "attribute 'format' of a type value",
                 id="str-type-format"),
    pytest.param("'%*s' % (10**9, 'a')", "format spec '%*'", id="percent-star"),
    pytest.param("'%1000000000s' % 'a'", "format spec '%1000000000'", id="percent-width"),
    pytest.param("'a'.center(10**10)", "str.center would make", id="center"),
    pytest.param("'\\t'.expandtabs(10**9)", "str.expandtabs would make", id="expandtabs"),
    pytest.param("('ab'*500).replace('', 'x'*3000)", "str.replace would make", id="replace"),
    pytest.param("' '.join(['a'*10**5]*10**5)", "would make", id="join"),
    pytest.param("re.sub('', 'x'*10**5, 'y'*10**5)", "re.sub would make", id="re-sub"),
    pytest.param("re.compile('a', 128)", "regular-expression flags 128", id="re-debug-flag"),
    pytest.param("re.sub('a', str, 'a')", "re.sub with a function", id="re-sub-function"),
    pytest.param("sum([[1]]*10, [])", "sum with a non-numeric start", id="sum-lists"),
    pytest.param("round(1, -10**8)", "round to -100000000 digits", id="round-digits"),
    pytest.param("json.dumps(1, indent=10**9)", "json.dumps indent", id="json-indent"),
    pytest.param("math.factorial(10**8)", "'math.factorial' is not available", id="factorial"),
    pytest.param("uuid.uuid1()", "'uuid.uuid1' is not available", id="uuid1"),
    pytest.param("[].append(1)", "attribute 'append' of a list value", id="list-mutation"),
    pytest.param("(x for x in [1]).gi_frame", "attribute 'gi_frame' of a generator value",
                 id="generator-frame"),
    pytest.param("'abc'.upper.__self__", "attribute '__self__'", id="method-self"),
    pytest.param("re.match('a', 'a').re", "attribute 're' of a Match value", id="match-re"),
    pytest.param("f'{1}'", "f-string is not allowed", id="f-string"),
    pytest.param("(y := 1)", "assignment expression", id="walrus"),
    pytest.param("b'x'", "constant b'x' is not allowed", id="bytes"),
    pytest.param("_x", "name '_x' (names starting with '_' are forbidden)", id="underscore-name"),
    pytest.param("[_ for _ in [1]]", "name '_'", id="underscore-target"),
    pytest.param("-" * 1900 + "1", "invalid expression (RecursionError)", id="deep-nesting"),
    pytest.param("1" * 2001, "longer than 2000 characters", id="too-long"),
])
def test_hostile_expression_is_refused(expression: str, reason: str) -> None:
    with pytest.raises(ExpansionError) as info:
        _compute(expression)
    message = str(info.value)
    assert message.startswith("parameter 'p': expression $(") and " is forbidden: " in message
    assert reason in message
    assert info.value.param == "p"


def test_failing_expression_names_the_exception() -> None:
    with pytest.raises(ExpansionError, match=r"failed: KeyError: 'z'$"):
        _compute("{'a': 1}['z']")


def test_expression_results_are_cached_except_random_ones() -> None:
    assert evaluate("'cached' * 2") == ("cachedcached", True)
    text, deterministic = evaluate("uuid.uuid4().hex")
    assert not deterministic and evaluate("uuid.uuid4().hex")[0] != text


@pytest.mark.parametrize("expression,kind", [
    pytest.param("(x for x in range(3))", "a generator", id="generator"),
    pytest.param("zip('ab', 'cd')", "a generator", id="zip"),
    pytest.param("enumerate('ab')", "a generator", id="enumerate"),
    pytest.param("len", "a function", id="builtin-function"),
    pytest.param("'a'.upper", "a function", id="bound-method"),
    pytest.param("range(3)", "a range", id="range"),
    pytest.param("{'b', 'a'}", "a set", id="set-whose-order-changes-between-runs"),
    pytest.param("re.match('a', 'a')", "a match", id="regex-match"),
    pytest.param("re.compile('a')", "a pattern", id="regex-pattern"),
    pytest.param("math", "a module", id="module"),
    pytest.param("[1, (2, {'a': range(1)})]", "a range", id="nested-in-data"),
])
def test_a_value_that_is_not_plain_data_is_refused(expression: str, kind: str) -> None:
    with pytest.raises(Forbidden, match=f"its value is {kind}, not plain data"):
        evaluate(expression)


def test_plain_data_and_none_are_values() -> None:
    assert evaluate("[(1, 2.5), {'a': [None, True]}], re.match('b', 'a')")[0] == \
        "([(1, 2.5), {'a': [None, True]}], None)"


def test_the_refusal_names_the_parameter() -> None:
    with pytest.raises(ExpansionError, match=r"parameter 'p': expression .* is forbidden: its "
                                             r"value is a generator"):
        _compute("(x for x in 'ab')")
