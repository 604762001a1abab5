"""Parse a string value into a template of literals, references and computed values (spec §3).

``${name}`` is a reference; its name may itself hold references (``${${exp.framework}.dir}``).
``$(expr)$`` is a computed value ending at the first ``)$``; references inside it are substituted
before it is evaluated. Parsed templates are cached by text: the same text recurs in thousands of
experiments. This module only parses; ``expand`` resolves.
"""
from __future__ import annotations

from dlbs.engine.model import shown

#: Texts parsed at most; the cache is cleared when it grows past this (a plan has few texts).
_CACHE_LIMIT = 100_000
#: Deepest nesting of references in references (``${${a}.b}`` is 2).
MAX_NESTING = 50


class TemplateSyntaxError(Exception):
    """A malformed template; ``expand`` turns it into an ``ExpansionError`` naming the parameter."""


class Ref:
    """A reference ``${...}``: a static ``name``, or ``parts`` that render to the name."""

    __slots__ = ("name", "parts", "text")

    def __init__(self, name: str | None, parts: Template, text: str) -> None:
        self.name = name
        self.parts = parts
        self.text = text


class Expr:
    """A computed value ``$(...)$``: ``parts`` render to the expression text."""

    __slots__ = ("parts", "text")

    def __init__(self, parts: Template, text: str) -> None:
        self.parts = parts
        self.text = text


Part = str | Ref | Expr
Template = tuple  # tuple[Part, ...]

_CACHE: dict[str, Template | None | TemplateSyntaxError] = {}


def parse_template(text: str) -> Template | None:
    """Return the parts of ``text``, or ``None`` when it holds no reference or expression.

    Raises ``TemplateSyntaxError`` for ``${`` without ``}``, an empty ``${}`` or ``$(`` without
    ``)$``.
    """
    try:
        cached = _CACHE[text]
    except KeyError:
        cached = _parse_uncached(text)
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        _CACHE[text] = cached
    if isinstance(cached, TemplateSyntaxError):
        raise cached
    return cached


def _parse_uncached(text: str) -> Template | None | TemplateSyntaxError:
    """Parse ``text`` without the cache; return (not raise) a syntax error."""
    if "${" not in text and "$(" not in text:
        return None
    try:
        parts, _ = _parse_parts(text, 0, in_ref=False, allow_expr=True)
    except TemplateSyntaxError as err:
        return err
    return parts


def _parse_parts(text: str, start: int, *, in_ref: bool, allow_expr: bool,
                 depth: int = 0) -> tuple[Template, int]:
    """Parse from ``start`` to the end (or, ``in_ref``, to the closing ``}``); return parts, end.

    ``depth`` counts the ``${`` around ``start``; over ``MAX_NESTING`` is a syntax error.
    """
    if depth > MAX_NESTING:
        raise TemplateSyntaxError(f"references nested more than {MAX_NESTING} deep ('${{' "
                                  f"inside '${{') in {shown(text)}; simplify the value")
    parts: list[Part] = []
    literal_start = pos = start
    while True:
        pos = _next_special(text, pos, in_ref)
        if pos < 0:
            if in_ref:
                raise TemplateSyntaxError(f"'${{' without a closing '}}' in {shown(text)}")
            _add_literal(parts, text[literal_start:])
            return tuple(parts), len(text)
        if text[pos] == "}":
            _add_literal(parts, text[literal_start:pos])
            return tuple(parts), pos
        if text.startswith("${", pos):
            _add_literal(parts, text[literal_start:pos])
            ref, pos = _parse_ref(text, pos, depth)
            parts.append(ref)
        elif allow_expr and text.startswith("$(", pos):
            _add_literal(parts, text[literal_start:pos])
            expr, pos = _parse_expr(text, pos, depth)
            parts.append(expr)
        else:
            pos += 1
            continue
        literal_start = pos


def _next_special(text: str, pos: int, in_ref: bool) -> int:
    """Return the index of the next ``$`` (or, ``in_ref``, ``}``) at or after ``pos``; -1 if none."""
    dollar = text.find("$", pos)
    if not in_ref:
        return dollar
    brace = text.find("}", pos)
    if dollar < 0 or (0 <= brace < dollar):
        return brace
    return dollar


def _parse_ref(text: str, start: int, depth: int) -> tuple[Ref, int]:
    """Parse the reference starting at ``start`` (at ``${``); return it and the index after it."""
    parts, end = _parse_parts(text, start + 2, in_ref=True, allow_expr=False, depth=depth + 1)
    source = text[start:end + 1]
    if not parts:
        raise TemplateSyntaxError(f"empty reference '${{}}' in {shown(text)}")
    if len(parts) == 1 and isinstance(parts[0], str):
        return Ref(parts[0], (), source), end + 1
    return Ref(None, parts, source), end + 1


def _parse_expr(text: str, start: int, depth: int) -> tuple[Expr, int]:
    """Parse the computed value starting at ``start`` (at ``$(``); it ends at the first ``)$``."""
    end = text.find(")$", start + 2)
    if end < 0:
        raise TemplateSyntaxError(f"'$(' without a closing ')$' in {shown(text)}")
    body = text[start + 2:end]
    parts, _ = _parse_parts(body, 0, in_ref=False, allow_expr=False, depth=depth)
    return Expr(parts, text[start:end + 2]), end + 2


def _add_literal(parts: list[Part], literal: str) -> None:
    """Append a non-empty literal."""
    if literal:
        parts.append(literal)
