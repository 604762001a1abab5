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
from collections.abc import Hashable, Iterable, Mapping
from typing import Any, NoReturn

from dlbs.engine.casts import Rule
from dlbs.engine.evaluator import evaluate, follows_from_values
from dlbs.engine.memo import Memo, value_key
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


class _Unread(Exception):
    """Internal: a memo walk reached a value that is not known yet (the names are resolved)."""


class _Group:
    """What resolving a group of names did: the values it set (in order), the dependencies of
    the templated ones, their post-order, and the names deferred (they need ``exp.id``)."""

    __slots__ = ("deferred", "deps", "order", "values")

    def __init__(self, values: dict[str, Any], deps: dict[str, list[str]], order: list[str],
                 deferred: list[str]) -> None:
        self.values = values
        self.deps = deps
        self.order = order
        self.deferred = deferred


#: A site of a group's memo that is the unexpanded value of a name of the group (other sites
#: are the names of values read from outside the group).
_RAW = "raw"


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
        # While a group is resolved for its memo: the (name, value) pairs read from outside
        # ``inside`` (names being re-resolved), in order, and the names whose value does not
        # follow from what they read (an identity compared).
        self.outside: list[tuple[str, Any]] | None = None
        self.inside: Iterable[str] = ()
        self.impure = False
        self.compared = False  # an expression compared identities (set outside a group too)

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

    def resolve_group(self, names: list[str], inside: list[str], memo: Memo,
                      root: Hashable) -> list[str]:
        """``resolve_names(names)`` for names re-resolved from a previous experiment's values,
        recalled from ``memo`` under ``root`` when the unexpanded values of ``inside`` (every
        name not resolved yet, in order: ``names`` and those left for later; the others are in
        ``done``) and the values the group reads from outside are those of an earlier group:
        resolving is a function of these alone (``root`` names what else it depends on: the
        names and the plan's layout). A group that used randomness or compared identities is
        never remembered."""
        done, raw = self.done, self.raw
        if memo.gave_up(root):  # what it reads changes every time: resolved as it is
            return self.resolve_names(names)
        try:
            recalled = memo.recall(root, self._group_reader, [])
        except _Unread:
            recalled = None
        if recalled is not None:
            done.update(recalled.values)
            self.deps.update(recalled.deps)
            self.order += recalled.order
            return list(recalled.deferred)
        start, order_start = len(done), len(self.order)
        outside: list[tuple[str, Any]] = []
        self.outside, self.inside = outside, set(inside)
        try:
            deferred = self.resolve_names(names)
        finally:
            self.outside, self.inside = None, ()
        if self.volatile or self.impure:
            return deferred
        values = {name: done[name] for name in list(done)[start:]}
        if all(value_key(value) is not None for value in values.values()):
            order = self.order[order_start:]
            trail: list[tuple[Any, Any]] = [((_RAW, name), raw[name]) for name in inside]
            firsts: dict[str, Any] = {}  # a name read again reads the same value
            for name, value in outside:
                if name not in firsts:
                    firsts[name] = value
            trail += firsts.items()
            memo.remember(root, trail, _Group(values, {name: self.deps[name] for name in order},
                                              order, list(deferred)),
                          sum(len(value) for value in values.values() if value.__class__ is str))
        return deferred

    def _group_reader(self, site: Any) -> Any:
        """A value a group read: a name's unexpanded value, or one read from outside (known
        already); ``_Unread`` when it is not known (the group is then resolved)."""
        if site.__class__ is tuple:
            return self.raw[site[1]]
        value = self.done.get(site, _MISSING)
        if value is _MISSING:
            value = self.env.get(site) if site not in self.raw else None
            if value is None:
                raise _Unread
        return value

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
        value = self.done.get(name, _MISSING)
        if value is not _MISSING:
            return value
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
            if self.outside is not None and name not in self.inside:
                self.outside.append((name, value))
            return value
        if name not in self.raw:
            name = self._normal(name)
        self.deps[owner].append(name)
        if name in self.raw:
            if name in self.active:
                self._raise_cycle(name, owner)
            if name == ID_PARAM and self.id_pending:
                raise NeedsId
            value = self.resolve(name)
            if self.outside is not None and name not in self.inside:  # ``name`` was NFKC'd
                self.outside.append((name, value))
            return value
        value = self.env.get(name)
        if value is None:
            if ref is None:
                ref = Ref(name, (), f"{PARAM_FUNCTION}({shown(name)})")
            self._raise_undefined(ref, name, owner)
        if self.outside is not None:
            self.outside.append((name, value))
        return value

    def _compute(self, expr: Expr, owner: str) -> str:
        """Evaluate a computed value ``$(...)$`` of parameter ``owner``."""
        parts = expr.parts
        text = parts[0] if len(parts) == 1 and parts[0].__class__ is str else \
            self.render(parts, owner)

        done, read, outside, inside = self.done, self.deps[owner], self.outside, self.inside

        def lookup(name: str) -> Any:
            # What _value does, the value resolved already taking the short way (the reads
            # of memoised expressions are most of the lookups of a plan).
            value = done.get(name, _MISSING)
            if value is _MISSING:
                return self._value(name, owner)
            read.append(name)
            if outside is not None and name not in inside:
                outside.append((name, value))
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
        elif not follows_from_values(text):
            self.compared = True
            if outside is not None:
                self.impure = True
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
