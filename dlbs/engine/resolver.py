"""Resolve the values of one experiment: references, computed values, casts (spec §3.2-3.4).

``Resolver`` resolves parameters depth-first, so references are resolved in dependency order
whatever their order in the text, detects cycles on its resolution stack and records, for each
templated parameter, the names it read (``deps``) and a post-order of resolution (``order``). The
plan expander uses these to re-resolve only what changed from one experiment to the next.
"""
from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

from dlbs.engine.casts import Rule
from dlbs.engine.evaluator import evaluate
from dlbs.engine.model import shown
from dlbs.engine.names import bad_character
from dlbs.engine.sandbox import PARAM_FUNCTION, Forbidden
from dlbs.engine.template import Expr, Ref, TemplateSyntaxError, parse_template
from dlbs.errors import ExpansionError

ID_PARAM = "exp.id"
#: DLBS's default ``exp.id`` (its ``base.json``, so every plan DLBS's ``build`` writes):
#: ``$(uuid.uuid4().__str__().replace('-', ''))$``, a random uuid, i.e. "no fixed id". It is
#: read as an empty ``exp.id``: the deterministic hash, so that a DLBS plan run again finds its
#: logs. (Only this exact idiom, spacing and quotes aside: the evaluator still refuses
#: ``__str__``, and an id made random on purpose, ``$(uuid.uuid4().hex)$``, stays random.)
DLBS_RANDOM_ID = re.compile(
    r"\s*\$\(\s*uuid\.uuid4\(\s*\)\s*\.\s*__str__\(\s*\)\s*\.\s*replace\(\s*(['\"])-\1\s*,"
    r"\s*(['\"])\2\s*\)\s*\)\$\s*")
#: The environment variable naming the Python that runs experimenter: ``sys.executable`` in
#: an expression (DLBS's ``runtime.python``) is its value.
PYTHON_VARIABLE = "DLBS_PYTHON"
#: Most characters a value may have once its references and expressions are substituted: a
#: value that doubles at each level of references (``b = ${a}${a}``, ``c = ${b}${b}``...) stops
#: here, 20 levels up, instead of exhausting memory.
MAX_VALUE_LENGTH = 1_000_000
_MISSING = object()
#: Most characters of an expression shown in a message.
_SHOWN_EXPRESSION = 200


def is_auto_id(value: Any) -> bool:
    """Whether an unexpanded ``exp.id`` asks for the deterministic id: empty, or DLBS's
    random-uuid default (:data:`DLBS_RANDOM_ID`)."""
    if value.__class__ is not str:
        return False
    return value == "" or (value.startswith(("$", " ", "\t"))
                           and DLBS_RANDOM_ID.fullmatch(value) is not None)


class NeedsId(Exception):
    """Internal: a value depends on ``exp.id`` before its hash is known."""


class Resolver:
    """Resolves the parameters of one experiment into ``done``."""

    def __init__(self, raw: Mapping[str, Any], rules: Mapping[str, Rule],
                 environ: Mapping[str, str], done: dict[str, Any],
                 deps: dict[str, list[str]]) -> None:
        """``done`` may hold values already known (reused from a previous experiment)."""
        self.raw = raw
        self.rules = rules
        self.env = environ
        self.done = done
        self.deps = deps
        self.order: list[str] = []       # templated names, in post-order of resolution
        self.volatile: set[str] = set()  # names whose value used randomness (uuid)
        self.active: dict[str, None] = {}  # the resolution stack, in order
        self.id_pending = is_auto_id(raw.get(ID_PARAM))
        self.python = environ.get(PYTHON_VARIABLE)  # what sys.executable is in an expression

    def resolve_names(self, names: Iterable[str]) -> list[str]:
        """Resolve ``names``; return those that need ``exp.id`` while its hash is pending."""
        deferred = []
        done, rules = self.done, self.rules
        for name in names:
            if name in done or (name == ID_PARAM and self.id_pending):
                continue
            value = self.raw[name]
            kind = value.__class__
            if (kind is str and "$" not in value) or (kind is not str and kind is not list):
                if kind is str:
                    _check_text(name, value)
                rule = rules.get(name)
                done[name] = value if rule is None else rule.apply(value)
                continue
            try:
                self.resolve_top(name)
            except NeedsId:
                self.active.clear()
                deferred.append(name)
        return deferred

    def resolve_top(self, name: str) -> None:
        """Resolve ``name``, turning a too-deep reference chain into an ``ExpansionError``."""
        try:
            self.resolve(name)
        except RecursionError:
            self.active.clear()
            raise _error(f"parameter '{name}': reference chain too deep; simplify the "
                                 f"references", param=name) from None

    def resolve(self, name: str) -> Any:
        """Return the final value of parameter ``name`` (resolving what it needs first)."""
        try:
            return self.done[name]
        except KeyError:
            pass
        value = self.raw[name]
        if value.__class__ is list:
            value = " ".join([str(item) for item in value])
        if value.__class__ is str:
            template = self._template(name, value)
            if template is not None:
                self.deps[name] = []
                self.active[name] = None
                value = self.render(template, name)
                del self.active[name]
                self.order.append(name)
            _check_text(name, value)
        rule = self.rules.get(name)
        if rule is not None:
            value = self._apply(rule, name, value)
        self.done[name] = value
        return value

    def _apply(self, rule: Rule, name: str, value: Any) -> Any:
        """``rule.apply(value)``; a computed value that does not cast names what it was
        computed from (``-Pexp.replica_batch=1.5`` fails as ``exp.effective_batch``)."""
        try:
            return rule.apply(value)
        except ExpansionError as err:
            sources = self.deps.get(name)
            if not sources:
                raise
            names = ", ".join(dict.fromkeys(sources))
            raise _error(f"{err} (its value is computed from {names})", param=name) from None

    def _template(self, name: str, text: str) -> tuple | None:
        """Return the parsed template of ``text``; raise naming the parameter when malformed."""
        try:
            return parse_template(text)
        except TemplateSyntaxError as err:
            raise _error(f"parameter '{name}': {err}", param=name) from None

    def render(self, parts: tuple, owner: str) -> str:
        """Return the text of a template with references and computed values substituted."""
        if len(parts) == 1:
            kind = parts[0].__class__
            if kind is Ref:
                return self._reference(parts[0], owner)
            if kind is Expr:  # a value that is one computed value, as most computed ones are
                text = self._compute(parts[0], owner)
                if len(text) > MAX_VALUE_LENGTH:
                    _raise_too_long(owner)
                return text
        out = []
        size = 0
        for part in parts:
            kind = part.__class__
            if kind is str:
                text = part
            elif kind is Ref:
                text = self._reference(part, owner)
            else:
                text = self._compute(part, owner)
            size += len(text)
            if size > MAX_VALUE_LENGTH:
                _raise_too_long(owner)
            out.append(text)
        return "".join(out)

    def _reference(self, ref: Ref, owner: str) -> str:
        """Return the text a reference of ``owner`` stands for; record the dependency."""
        name = ref.name if ref.name is not None else self.render(ref.parts, owner)
        return to_text(self._lookup(name, owner, ref))

    def _normal(self, name: str) -> str:
        """A referenced name that is not a parameter: its NFKC form when that is one
        (``${ｅｘｐ.model}`` is ``${exp.model}``, as the names of a config are read)."""
        if name.isascii():
            return name
        normal = unicodedata.normalize("NFKC", name)
        return normal if normal in self.raw else name

    def _value(self, name: str, owner: str) -> Any:
        """``param(name)`` in an expression of ``owner``: what ``${name}`` stands for, as a
        value (a parameter's resolved, typed value; else the environment variable's text)."""
        return self._lookup(name, owner, None)

    def _lookup(self, name: str, owner: str, ref: Ref | None) -> Any:
        """The value ``name`` stands for in ``owner`` (a parameter's resolved value, else the
        environment variable's text); record the dependency; ``ref`` names it in errors
        (None: ``param(name)``)."""
        value = self.done.get(name, _MISSING)
        if value is not _MISSING:  # resolved already: neither active nor a pending exp.id
            self.deps[owner].append(name)
            return value
        if name not in self.raw:
            name = self._normal(name)
        self.deps[owner].append(name)
        if name in self.raw:
            if name in self.active:
                self._raise_cycle(name, owner)
            if name == ID_PARAM and self.id_pending:
                raise NeedsId
            return self.resolve(name)
        value = self.env.get(name)
        if value is None:
            if ref is None:
                ref = Ref(name, (), f"{PARAM_FUNCTION}({shown(name)})")
            self._raise_undefined(ref, name, owner)
        return value

    def _compute(self, expr: Expr, owner: str) -> str:
        """Evaluate a computed value ``$(...)$`` of parameter ``owner``."""
        parts = expr.parts
        text = parts[0] if len(parts) == 1 and parts[0].__class__ is str else \
            self.render(parts, owner)

        done, read = self.done, self.deps[owner]

        def lookup(name: str) -> Any:
            # What _value does, the value resolved already taking the short way (the reads
            # of memoised expressions are most of the lookups of a plan).
            value = done.get(name, _MISSING)
            if value is _MISSING:
                return self._value(name, owner)
            read.append(name)
            return value
        try:
            result, deterministic = evaluate(text, self.python, lookup)
        except (ExpansionError, NeedsId, RecursionError):
            raise  # from param(): about another parameter, or its chain
        except Forbidden as err:
            raise _error(f"parameter '{owner}': expression {_expression(text)} is forbidden: "
                                 f"{err}", param=owner) from None
        except Exception as err:  # noqa: BLE001 - any failure of user code is reported
            raise _error(f"parameter '{owner}': expression {_expression(text)} failed: "
                                 f"{type(err).__name__}: {err}", param=owner) from None
        if not deterministic:
            self.volatile.add(owner)
        return result

    def _chain(self) -> str:
        """Return `` (reference chain: a -> b)`` for a stack deeper than one, else ``""``."""
        if len(self.active) < 2:
            return ""
        return f" (reference chain: {' -> '.join(self.active)})"

    def _raise_cycle(self, name: str, owner: str) -> NoReturn:
        """Raise the error for a reference back into the resolution stack."""
        if name == owner:
            raise _error(f"parameter '{owner}' refers to itself (${{{name}}}); a value "
                                 f"cannot use its own value", param=owner)
        stack = list(self.active)
        cycle = " -> ".join([*stack[stack.index(name):], name])
        raise _error(f"parameter '{owner}': reference cycle {cycle}; break the cycle "
                             f"by giving one of them a plain value", param=owner)

    def _raise_undefined(self, ref: Ref, name: str, owner: str) -> NoReturn:
        """Raise the error for a reference to a name that is neither a parameter nor in env."""
        if ref.name is None:
            what = f"reference {ref.text} resolves to undefined name {shown(name)}"
        else:
            what = f"undefined reference {ref.text}"
        raise _error(f"parameter '{owner}': {what}{self._chain()}; define it with "
                             f"-P{name}=VALUE or in a config", param=owner)


def _raise_too_long(owner: str) -> NoReturn:
    """Raise the error for a value over ``MAX_VALUE_LENGTH`` characters."""
    raise _error(f"parameter '{owner}': its value would be longer than {MAX_VALUE_LENGTH} "
                 f"characters (the value-size limit); a value that repeats its references "
                 f"grows at each level of references", param=owner)


def _check_text(name: str, value: str) -> None:
    """Raise when a value holds a NUL or a lone surrogate (from the environment, an
    expression such as ``$('\\0')$``, a plan): no program could be given it as it is."""
    reason = bad_character(value)
    if reason is not None:
        raise _error(f"parameter '{name}': its value {reason}", param=name)


def to_text(value: Any) -> str:
    """Return the text substituted for a value: ``str()``, a dict as JSON."""
    if value.__class__ is str:
        return value
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    return str(value)


def _expression(text: str) -> str:
    """``$(text)$`` for a message, cut to about ``_SHOWN_EXPRESSION`` characters."""
    if len(text) > _SHOWN_EXPRESSION:
        text = f"{text[:_SHOWN_EXPRESSION - 3]}..."
    return f"$({text})$"


def _error(message: str, param: str) -> ExpansionError:
    """Return an ``ExpansionError`` whose message is one line (newlines shown as ``\\n``)."""
    return ExpansionError(message.replace("\r", "\\r").replace("\n", "\\n"), param=param)
