"""Turn a parsed expression into a tree of Python closures (the restricted evaluator's back end).

Each allowed ``ast`` node becomes a closure ``fn(sandbox, scope) -> value``; any other node is
refused with ``Forbidden`` while building, so nothing outside the whitelist can ever run. No
``eval``/``compile`` is involved: the expression is interpreted by these closures, which route
every attribute access, call, risky operator, comprehension loop and built value through the
``Sandbox`` guards. ``scope`` holds comprehension variables; other names come from the sandbox.
"""
from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Iterator
from typing import Any

from dlbs.engine.sandbox import Forbidden, Sandbox, get_attribute

Node = Callable[[Sandbox, dict], Any]

_UNARY: dict[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg, ast.Not: operator.not_,
          ast.Invert: operator.invert}
_BINARY: dict[type, Callable[[Any, Any], Any]] = {ast.Sub: operator.sub, ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv,
           ast.RShift: operator.rshift, ast.BitOr: operator.or_, ast.BitXor: operator.xor,
           ast.BitAnd: operator.and_}
_GUARDED = {ast.Add: "add", ast.Mult: "mult", ast.Pow: "pow", ast.LShift: "lshift",
            ast.Mod: "mod"}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt,
            ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
            ast.Is: operator.is_, ast.IsNot: operator.is_not,
            ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}
_CONSTANTS = (str, int, float, bool, type(None))
_NODE_NAMES = {ast.Lambda: "lambda", ast.NamedExpr: "assignment expression ':='",
               ast.JoinedStr: "f-string", ast.FormattedValue: "f-string", ast.Await: "await",
               ast.Yield: "yield", ast.YieldFrom: "yield"}


def build(node: ast.AST) -> Node:
    """Return the closure that evaluates ``node``; raise ``Forbidden`` for a refused construct."""
    builder = _BUILDERS.get(type(node))
    if builder is None:
        name = _NODE_NAMES.get(type(node), type(node).__name__)
        raise Forbidden(f"{name} is not allowed")
    return builder(node)


def _constant(node: ast.Constant) -> Node:
    value = node.value
    if not isinstance(value, _CONSTANTS):
        raise Forbidden(f"constant {value!r} is not allowed")
    return lambda sb, scope: value


def _name(node: ast.Name) -> Node:
    name = node.id
    if name.startswith("_"):
        raise Forbidden(f"name '{name}' (names starting with '_' are forbidden)")

    def lookup(sb: Sandbox, scope: dict) -> Any:
        if name in scope:
            return scope[name]
        try:
            return sb.names[name]
        except KeyError:
            raise Forbidden(f"name '{name}' is not available") from None
    return lookup


def _binop(node: ast.BinOp) -> Node:
    left, right = build(node.left), build(node.right)
    guarded = _GUARDED.get(type(node.op))
    if guarded is not None:
        return lambda sb, scope: sb.binop(guarded, left(sb, scope), right(sb, scope))
    op = _BINARY.get(type(node.op))
    if op is None:
        raise Forbidden(f"operator {type(node.op).__name__} is not allowed")
    return lambda sb, scope: sb.plain(op, left(sb, scope), right(sb, scope))


def _unaryop(node: ast.UnaryOp) -> Node:
    operand, op = build(node.operand), _UNARY[type(node.op)]
    return lambda sb, scope: op(operand(sb, scope))


def _boolop(node: ast.BoolOp) -> Node:
    values = [build(value) for value in node.values]
    is_and = isinstance(node.op, ast.And)

    def evaluate(sb: Sandbox, scope: dict) -> Any:
        result = None
        for value in values:
            result = value(sb, scope)
            if bool(result) != is_and:
                return result
        return result
    return evaluate


def _compare(node: ast.Compare) -> Node:
    first = build(node.left)
    rest = [(_COMPARE[type(op)], isinstance(op, (ast.In, ast.NotIn)), build(value))
            for op, value in zip(node.ops, node.comparators)]

    def evaluate(sb: Sandbox, scope: dict) -> Any:
        left = first(sb, scope)
        for op, membership, value in rest:
            right = value(sb, scope)
            sb.compared(left, right, membership)
            if not op(left, right):
                return False
            left = right
        return True
    return evaluate


def _ifexp(node: ast.IfExp) -> Node:
    test, body, orelse = build(node.test), build(node.body), build(node.orelse)
    return lambda sb, scope: body(sb, scope) if test(sb, scope) else orelse(sb, scope)


def _subscript(node: ast.Subscript) -> Node:
    value, index = build(node.value), build(node.slice)
    return lambda sb, scope: sb.sliced(value(sb, scope), index(sb, scope))


def _slice(node: ast.Slice) -> Node:
    parts = [build(part) if part is not None else None
             for part in (node.lower, node.upper, node.step)]
    return lambda sb, scope: slice(*(p(sb, scope) if p else None for p in parts))


def _attribute(node: ast.Attribute) -> Node:
    attr = node.attr
    if attr.startswith("_"):
        raise Forbidden(f"attribute '{attr}' (names starting with '_' are forbidden)")
    value = build(node.value)
    return lambda sb, scope: get_attribute(value(sb, scope), attr)


def _call(node: ast.Call) -> Node:
    func, args = build(node.func), _sequence(node.args)
    keywords = [(kw.arg, build(kw.value)) for kw in node.keywords]

    def evaluate(sb: Sandbox, scope: dict) -> Any:
        kwargs: dict[str, Any] = {}
        for name, value in keywords:
            if name is None:
                kwargs.update(value(sb, scope))
            else:
                kwargs[name] = value(sb, scope)
        return sb.call(func(sb, scope), *args(sb, scope), **kwargs)
    return evaluate


def _sequence(elements: list[ast.expr]) -> Callable[[Sandbox, dict], list]:
    """Return a closure building the list of ``elements`` (``*x`` items are unpacked)."""
    parts = [(isinstance(e, ast.Starred), build(e.value if isinstance(e, ast.Starred) else e))
             for e in elements]

    def evaluate(sb: Sandbox, scope: dict) -> list:
        items: list[Any] = []
        for starred, part in parts:
            if starred:
                items.extend(sb.iterate(part(sb, scope)))
            else:
                items.append(part(sb, scope))
        return items
    return evaluate


def _display(kind: type) -> Callable[[ast.AST], Node]:
    def builder(node: Any) -> Node:
        items = _sequence(node.elts)
        return lambda sb, scope: sb.item(kind(items(sb, scope)))
    return builder


def _dict(node: ast.Dict) -> Node:
    pairs = [(build(k) if k is not None else None, build(v)) for k, v in zip(node.keys, node.values)]

    def evaluate(sb: Sandbox, scope: dict) -> dict:
        result: dict[Any, Any] = {}
        for key, value in pairs:
            if key is None:
                result.update(value(sb, scope))
            else:
                result[key(sb, scope)] = value(sb, scope)
        return sb.item(result)
    return evaluate


def _comprehension(node: Any) -> Callable[[Sandbox, dict], Iterator[dict]]:
    """Return a closure yielding one scope per iteration of ``node``'s generators."""
    loops = []
    for gen in node.generators:
        if gen.is_async:
            raise Forbidden("async comprehension is not allowed")
        loops.append((_target(gen.target), build(gen.iter), [build(c) for c in gen.ifs]))

    def scopes(sb: Sandbox, scope: dict, depth: int = 0) -> Iterator[dict]:
        if depth == len(loops):
            yield scope
            return
        bind, source, conditions = loops[depth]
        for value in sb.iterate(source(sb, scope)):
            inner = dict(scope)
            bind(inner, value)
            if all(condition(sb, inner) for condition in conditions):
                yield from scopes(sb, inner, depth + 1)
    return scopes


def _target(node: ast.AST) -> Callable[[dict, Any], None]:
    """Return a closure binding a comprehension target (a name or nested tuple of names)."""
    if isinstance(node, ast.Name):
        if node.id.startswith("_"):
            raise Forbidden(f"name '{node.id}' (names starting with '_' are forbidden)")
        name = node.id

        def bind(scope: dict, value: Any) -> None:
            scope[name] = value
        return bind
    if isinstance(node, (ast.Tuple, ast.List)):
        binds = [_target(element) for element in node.elts]

        def unpack(scope: dict, value: Any) -> None:
            values = list(value)
            if len(values) != len(binds):
                raise ValueError(f"cannot unpack {len(values)} values into {len(binds)} names")
            for bind, item in zip(binds, values):
                bind(scope, item)
        return unpack
    raise Forbidden(f"comprehension target {type(node).__name__} is not allowed")


def _listcomp(kind: type) -> Callable[[Any], Node]:
    def builder(node: Any) -> Node:
        scopes, elt = _comprehension(node), build(node.elt)
        return lambda sb, scope: sb.item(kind(sb.item(elt(sb, s)) for s in scopes(sb, scope)))
    return builder


def _generator(node: ast.GeneratorExp) -> Node:
    scopes, elt = _comprehension(node), build(node.elt)
    return lambda sb, scope: (sb.item(elt(sb, s)) for s in scopes(sb, scope))


def _dictcomp(node: ast.DictComp) -> Node:
    scopes, key, value = _comprehension(node), build(node.key), build(node.value)
    return lambda sb, scope: sb.item(
        {sb.item(key(sb, s)): sb.item(value(sb, s)) for s in scopes(sb, scope)})


def _expression(node: ast.Expression) -> Node:
    return build(node.body)


_BUILDERS: dict[type, Callable[[Any], Node]] = {
    ast.Expression: _expression, ast.Constant: _constant, ast.Name: _name,
    ast.BinOp: _binop, ast.UnaryOp: _unaryop, ast.BoolOp: _boolop, ast.Compare: _compare,
    ast.IfExp: _ifexp, ast.Subscript: _subscript, ast.Slice: _slice,
    ast.Attribute: _attribute, ast.Call: _call, ast.List: _display(list),
    ast.Tuple: _display(tuple), ast.Set: _display(set), ast.Dict: _dict,
    ast.ListComp: _listcomp(list), ast.SetComp: _listcomp(set),
    ast.GeneratorExp: _generator, ast.DictComp: _dictcomp,
}
