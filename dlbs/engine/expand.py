"""Expand experiments: references, computed values, casts, domains and ``exp.id`` (spec §3).

Each experiment is expanded on its own terms: the result never depends on the experiments
around it (only the order of repeated runs and each one's ``exp.round_position`` depend on
the plan: ``dlbs.engine.rounds``). For speed, ``expand_plan`` re-uses the previous experiment's work: experiments of a
plan share most values, so it finds the values that differ (by identity, then equality), marks
what depends on them through the recorded dependencies, and re-resolves only those; that group
is recalled from the plan's memo when its unexpanded values and the values it read from the
others recur (``Resolver.resolve_group``: a GPU list's dozen computed values, once a GPU list
and batch instead of once an experiment). Templates, compiled expressions and their results are
cached by text. The environment is a parameter: this
module never reads the process environment itself.
"""
from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from itertools import compress
from json.encoder import encode_basestring_ascii as encode_string
from operator import is_not
from sys import getrecursionlimit, setrecursionlimit
from typing import Any

from dlbs.engine.casts import Rule, build_rules
from dlbs.engine.memo import TEXT_BUDGET, Memo
from dlbs.engine.model import CAPTURE_PREFIX, ParamSpec, shown
from dlbs.engine.resolver import ID_PARAM, Resolver, is_auto_id
from dlbs.engine.rounds import ROUND_POSITION, UNPLACED, Rounds, round_position
from dlbs.errors import ExpansionError
from dlbs.params.catalogue import id_excluded, id_when_not, unused_dlbs

#: Parameters left out of the ``exp.id`` hash (besides ``sys.*``, captures and the parameters
#: that depend on ``exp.id``): those config/*.json declares with ``"roles": {"id": "excluded"}``
#: (``dlbs.params.catalogue``).
#: Repeats of one experiment share its id (and raising ``exp.repeat`` keeps the earlier runs'
#: log names), so ``exp.repeat``, ``exp.repeat_index`` and ``exp.repeat_suffix`` (the end of the
#: default log name, derived from them) are left out too, and so is the order of the runs
#: (``exp.interleave``, ``exp.order_seed``, ``exp.round_position``: see ``dlbs.engine.rounds``).
#: Run control that does not change what is measured is left out too: ``exp.ignore_past_errors``,
#: ``exp.sys_info`` (what is recorded) and the Slurm job's limits and bookkeeping (``slurm.time``, ``slurm.max_jobs``,
#: ``slurm.master_port``, ``slurm.requeue``, ``slurm.queue_timeout``, ``slurm.array``,
#: ``slurm.signal``; ``slurm.gpus_per_node``
#: follows ``exp.gpus``, which is hashed), and where a manual multi-node run meets and how long
#: it waits there (``pytorch.distributed_rendezvous``, ``exp.rendezvous_timeout``: another port
#: is the same experiment; the node's rank, which names its log, is hashed when it is not 0).
#: So are ``exp.status_msg`` (a note on ``exp.status``) and DLBS's launch plumbing, which dlbs
#: declares so that DLBS's configs and plans resolve but never uses (``UNUSED_DLBS_PARAMETERS``,
#: ``roles.dlbs_unused``).
UNUSED_DLBS_PARAMETERS = frozenset(unused_dlbs())
ID_EXCLUDED = id_excluded()
#: Parameters added after ``exp.id`` was first published, with their "off" value (config/*.json:
#: ``"roles": {"id": {"when_not": OFF}}``): each enters the hash only when it has another
#: value, so an experiment that does not use them keeps the id, and the log file, it had before
#: they existed (``exp.rerun`` resumes sweeps started by older versions;
#: ``tests/engine/test_expand.py`` pins a default experiment's id).
ID_WHEN_NOT: dict[str, object] = id_when_not()
#: The names above (kept for readers of the older name).
ID_WHEN_NONZERO = frozenset(ID_WHEN_NOT)
REPEAT, REPEAT_INDEX = "exp.repeat", "exp.repeat_index"
#: Runs of one experiment at most (``exp.repeat``'s ``max`` in config/base.json): the runs are
#: expanded here, before ``validate`` could say a larger count is out of range.
MAX_REPEAT = 10000
#: Re-resolve everything (instead of what changed) when more than this share of values changed.
FRESH_RATIO = 0.5
#: Most steps of a plan's memo of re-resolved groups (``Resolver.resolve_group``), and the misses
#: (less the hits) after which a group is no longer memoised: a group is missed once for each
#: combination of what it reads before it is ever hit (with ``exp.gpus`` last, the 100 GPU
#: lists and batches of the first model), then hit for every model after.
GROUP_MEMO_LIMIT, GROUP_GIVE_UP = 100_000, 1_000
#: Most characters of text (values read and set, counted by their lengths) the plan's memo of
#: groups holds: beyond it the memo is emptied (results unchanged, only speed).
GROUP_TEXT_BUDGET = TEXT_BUDGET
#: Fewer names than this are resolved as they are (the memo would cost more than it saves).
GROUP_MIN = 2
#: The layouts of experiments (their names, in order): a group's memo holds for one layout.
_LAYOUTS = itertools.count()
_MISSING, _ABSENT = object(), object()


def expand_experiment(experiment: Mapping[str, Any], specs: Mapping[str, ParamSpec],
                      environ: Mapping[str, str]) -> dict[str, Any]:
    """Return ``experiment`` fully expanded (see spec §3); raise ``ExpansionError``."""
    return _expand(experiment, build_rules(specs), environ, None).output


def expand_plan(plan: Iterable[Mapping[str, Any]], specs: Mapping[str, ParamSpec],
                environ: Mapping[str, str]) -> Iterator[dict[str, Any]]:
    """Expand every experiment of ``plan`` lazily (each as ``expand_experiment``).

    An experiment that runs once streams as it is expanded, in plan order. An experiment with
    ``exp.repeat`` N > 1 becomes N runs (``exp.repeat_index`` 0..N-1) ordered by
    ``exp.interleave`` (see :mod:`dlbs.engine.rounds`): by default in rounds, each round in a
    fresh seeded random order, after the experiments that run once (round 0 is shuffled too,
    so the repeated experiments are gathered first); ``fixed`` streams run 0 in plan order and
    then every run 1, and so on, as before. Each placed run carries ``exp.round_position``.
    A run the plan gives as such (a non-zero ``exp.repeat_index``, or an ``exp.round_position``
    as in a plan printed by ``print``) keeps its place and is not added again.
    """
    rules = build_rules(specs)
    env = dict(environ)
    state = None
    rounds = Rounds()
    memo: Memo | None = Memo(GROUP_MEMO_LIMIT, GROUP_GIVE_UP, GROUP_TEXT_BUDGET)
    for experiment in plan:
        # Private copies: the caller may change what it gets (or gave) before the next step.
        raw = dict(experiment)
        state = _expand(raw, rules, env, state, memo)
        if _gives_up(state, memo):
            memo, state = None, _expand(raw, rules, env, None)
        output = state.output
        count, run_id, index = repeat_count(output), output.get(ID_PARAM), output.get(REPEAT_INDEX)
        given = bool(index) or round_position(output) != UNPLACED
        if given:
            rounds.given.add((run_id, index))
        if count > 1 and not index:
            position = rounds.add(raw, output, count, run_id, given)
            if position is not None:  # exp.interleave=fixed: run 0 runs now, in plan order
                placed = {**raw, ROUND_POSITION: position}
                state = _expand(placed, rules, env, state, memo)
                if _gives_up(state, memo):
                    memo, state = None, _expand(placed, rules, env, None)
                yield dict(state.output)
                continue
            if not given:
                continue  # its runs come in the rounds after the plan
        yield dict(output)
    for raw, index, position in rounds.later_runs():
        placed = {**raw, REPEAT_INDEX: index, ROUND_POSITION: position}
        state = _expand(placed, rules, env, state, memo)
        if _gives_up(state, memo):
            memo, state = None, _expand(placed, rules, env, None)
        yield dict(state.output)


def repeat_count(experiment: Mapping[str, Any]) -> int:
    """``exp.repeat`` of an expanded experiment (1 when absent); an ``ExpansionError`` unless
    it is an integer >= 1."""
    value = experiment.get(REPEAT, 1)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ExpansionError(f"parameter '{REPEAT}': {shown(value)} is not an integer >= 1 (the "
                             "runs of each experiment); give one, e.g. -Pexp.repeat=3", param=REPEAT)
    if value > MAX_REPEAT:
        raise ExpansionError(f"parameter '{REPEAT}': {shown(value)} runs of each experiment is "
                             f"over the limit of {MAX_REPEAT}; give fewer", param=REPEAT)
    return value


class _State:
    """One expanded experiment and what is needed to expand a similar one incrementally."""

    __slots__ = ("compared", "deps", "done", "hashed", "id_pending", "items", "keys", "layout",
                 "order", "output", "places", "positions", "raw", "texts", "volatile")

    def __init__(self, raw: Mapping[str, Any], resolver: Resolver, keys: list[str],
                 layout: int) -> None:
        self.raw = raw
        self.keys = keys      # list(raw)
        self.layout = layout  # the same number as the previous experiment's: the same keys
        self.done = resolver.done
        self.deps = resolver.deps
        self.order: list[str] = []
        self.volatile = resolver.volatile
        self.id_pending = resolver.id_pending
        self.compared = False  # an expression compared identities (set once expanded)
        self.items: dict[str, str] = {}   # name -> its text in the exp.id hash
        self.hashed: list[str] = []       # names in the exp.id hash, sorted
        self.texts: list[str] = []        # their texts, in that order
        self.places: dict[str, int] = {}  # name -> its place in ``hashed``
        self.output: dict[str, Any] = {}
        self.positions: dict[str, int] | None = None  # name -> its place in ``keys``


def _expand(raw: Mapping[str, Any], rules: Mapping[str, Rule], environ: Mapping[str, str],
            prev: _State | None, memo: Memo | None = None) -> _State:
    """Expand ``raw``, re-using ``prev`` (the previous experiment) where nothing changed and
    ``memo`` (the plan's re-resolved groups of names) for what did."""
    if prev is not None:
        dirty, keys = _dirty_names(raw, prev)
        same_keys = keys is prev.keys
    else:
        dirty, keys, same_keys = None, list(raw), False
    layout = prev.layout if prev is not None and same_keys else next(_LAYOUTS)
    if prev is None or dirty is None:
        prev, dirty = None, set()
        resolver = Resolver(raw, rules, environ, {}, {})
        todo: Iterable[str] = raw
    else:
        done = prev.done.copy()
        for name in dirty:
            done.pop(name, None)
        resolver = Resolver(raw, rules, environ, done, dict(prev.deps))
        todo = _in_raw_order(raw, dirty, prev, same_keys)
    waiting = [name for name in todo if _stops_at_id(name, raw, prev, dirty)] \
        if prev is not None and resolver.id_pending else []
    if waiting:
        todo = [name for name in todo if name not in waiting]
    names = list(todo) if memo is not None and prev is not None and same_keys else []
    if memo is not None and prev is not None and len(names) > GROUP_MIN:
        try:
            deferred = _resolve_group(resolver, names, waiting, prev, memo, layout)
        except ExpansionError:  # raised in another order: expanded again, to raise the same
            with _frames_deeper(1):
                return _expand(raw, rules, environ, prev)
    else:
        deferred = waiting + resolver.resolve_names(names or todo)
    state = _State(raw, resolver, keys, layout)
    if prev is not None and same_keys:
        state.positions = prev.positions
    if resolver.id_pending:
        _set_experiment_id(state, prev, dirty, set(deferred))
        resolver.id_pending = False
        resolver.resolve_names(deferred)
    state.order = ([name for name in prev.order if name not in dirty] if prev else [])
    state.order += resolver.order
    state.output = _output(state, prev, dirty, same_keys)
    state.compared = resolver.compared
    return state


def _gives_up(state: _State, memo: Memo | None) -> bool:
    """Whether the plan's memo of groups is given up (for the rest of the plan) at ``state``:
    it compared identities (``is``) after a recall, and a recalled group's values are the
    memo's objects, not those a fresh resolution gives, so ``param(a) is param(b)`` could read
    otherwise (the experiment is then expanded again alone)."""
    return memo is not None and state.compared and memo.hits > 0


@contextmanager
def _frames_deeper(count: int) -> Iterator[None]:
    """Let Python's stack hold ``count`` more frames: a path that calls through ``count`` more
    functions than plain expansion fails a reference chain at the same depth."""
    limit = getrecursionlimit()
    setrecursionlimit(limit + count)
    try:
        yield
    finally:
        setrecursionlimit(limit)


def _resolve_group(resolver: Resolver, names: list[str], waiting: list[str], prev: _State,
                   memo: Memo, layout: int) -> list[str]:
    """Resolve ``names`` (re-resolved from ``prev``; ``waiting`` are left for after the id's
    hash) as a group recalled from ``memo`` when what it reads recurs; return the names left for
    after the hash, as ``resolver.resolve_names(names)`` orders them (after ``waiting``).

    The names that read ``exp.id`` in ``prev`` are resolved after the group (they read what
    changes every experiment: the memo would miss), and left unresolved when they read the
    very values they read in ``prev`` before ``exp.id`` (they would stop there again). Another
    order may raise another error first: an ``ExpansionError`` is for the caller to redo in
    plan order."""
    readers = [name for name in names if ID_PARAM in (prev.deps.get(name) or ())]
    group = [name for name in names if name not in readers] if readers else names
    root = (layout, resolver.id_pending, tuple(group), tuple(readers), tuple(waiting))
    limit = getrecursionlimit()  # this function and resolve_group: 2 frames more
    setrecursionlimit(limit + 2)   # (as _frames_deeper, inline: once an experiment)
    try:
        deferred = set(resolver.resolve_group(group, names + waiting, memo, root))
    finally:
        setrecursionlimit(limit)
    for name in readers:
        if name in resolver.done or name in deferred:
            continue
        if resolver.id_pending and _reads_id_next(name, resolver, prev):
            deferred.add(name)
        else:
            deferred.update(resolver.resolve_names([name]))
    return waiting + [name for name in names if name in deferred]


def _reads_id_next(name: str, resolver: Resolver, prev: _State) -> bool:
    """Whether resolving ``name`` would stop at ``exp.id`` (its hash pending) for sure: it
    read ``exp.id`` in ``prev`` after the very values it would read now (resolved already),
    from the same text (``_stops_at_id``, for names whose sources were re-resolved)."""
    sources = prev.deps[name]
    if name in prev.volatile:
        return False
    value, before = resolver.raw[name], prev.raw.get(name, _MISSING)
    if value is not before and not _same(value, before):
        return False
    done, old = resolver.done, prev.done
    return all(done.get(source, _MISSING) is old.get(source, _ABSENT)
               for source in sources[:sources.index(ID_PARAM)])


def _in_raw_order(raw: Mapping[str, Any], dirty: set[str], prev: _State,
                  same_keys: bool) -> Iterable[str]:
    """The names of ``dirty`` that ``raw`` has, in ``raw``'s order (all of ``raw`` when every
    name is dirty). With the previous experiment's keys, the few dirty names are sorted by their
    places (kept from one experiment to the next) instead of walking every name of ``raw``."""
    if len(dirty) >= len(raw):
        return raw
    if not same_keys:
        return [name for name in raw if name in dirty]
    positions = prev.positions
    if positions is None:
        positions = prev.positions = {name: i for i, name in enumerate(prev.keys)}
    return sorted((name for name in dirty if name in positions), key=positions.__getitem__)


def _stops_at_id(name: str, raw: Mapping[str, Any], prev: _State, dirty: set[str]) -> bool:
    """Whether resolving ``name`` now would stop at ``exp.id`` (its hash pending) for sure: it
    read ``exp.id`` in ``prev`` after values that are all unchanged, from the same text, so it
    reads the same names up to ``exp.id`` (``exp.log_file`` names the log by it). Resolving it
    only to stop there would cost a second rendering."""
    sources = prev.deps.get(name)
    if not sources or ID_PARAM not in sources or name in prev.volatile:
        return False
    value, before = raw[name], prev.raw.get(name, _MISSING)
    if value is not before and not _same(value, before):
        return False
    return dirty.isdisjoint(sources[:sources.index(ID_PARAM)])


def _dirty_names(raw: Mapping[str, Any], prev: _State) -> tuple[set[str] | None, list[str]]:
    """Return the names to re-resolve (``None``: all) and the keys of ``raw``, in order: the
    very list of ``prev`` when they are the same."""
    keys = list(raw)
    same_keys = keys == prev.keys
    if same_keys:
        keys = prev.keys
    changed = _changed_names(raw, prev, same_keys)
    if not same_keys:
        changed.update(name for name in prev.raw if name not in raw)
    if len(changed) > FRESH_RATIO * len(raw):
        return None, keys
    changed |= prev.volatile
    if prev.id_pending or is_auto_id(raw.get(ID_PARAM)):
        changed.add(ID_PARAM)
    deps = prev.deps
    for name in prev.order:
        if name not in changed and not changed.isdisjoint(deps[name]):
            changed.add(name)
    return changed, keys


def _changed_names(raw: Mapping[str, Any], prev: _State, same_keys: bool) -> set[str]:
    """Return the names of ``raw`` whose value differs from ``prev`` (or that it lacks)."""
    old = prev.raw
    candidates: Iterable[str]
    if same_keys:
        # The common case in a plan: same keys, same order, most values the same objects.
        candidates = compress(prev.keys, map(is_not, raw.values(), old.values()))
    else:
        candidates = (name for name, value in raw.items() if value is not old.get(name, _MISSING))
    return {name for name in candidates if not _same(raw[name], old.get(name, _MISSING))}


def _same(value: Any, other: Any) -> bool:
    """Return whether two raw values expand alike: same type and same text.

    ``==`` alone is not enough: ``1 == True`` and ``0.0 == -0.0`` but their texts differ.
    """
    kind = value.__class__
    if kind is not other.__class__:
        return False
    if kind is list:
        return len(value) == len(other) and all(map(_same, value, other))
    if kind is float:
        return repr(value) == repr(other)
    return kind in (str, int, bool) and value == other


def _set_experiment_id(state: _State, prev: _State | None, dirty: set[str],
                       deferred: set[str]) -> None:
    """Set ``exp.id`` to the 12-hex-digit sha1 of the values that do not depend on it."""
    done = state.done
    if prev is not None and prev.id_pending:
        # Only dirty names can differ: the others have the values they had in ``prev``.
        items = prev.items.copy()
        for name in dirty:
            items.pop(name, None)
        candidates: Iterable[str] = dirty
    else:
        items, candidates = {}, done
    for name in candidates:
        if name in done and name not in deferred and _hashed(name):
            value = done[name]
            if name in ID_WHEN_NOT and _is_off(value, ID_WHEN_NOT[name]):
                continue
            items[name] = _item_text(name, value)
    state.items = items
    if prev is not None and prev.id_pending and len(items) == len(prev.items) and \
            items.keys() == prev.items.keys():  # the same names: only dirty ones' texts change
        state.hashed, state.places, texts = prev.hashed, prev.places, prev.texts.copy()
        for name in dirty:
            place = state.places.get(name)
            if place is not None:
                texts[place] = items[name]
    else:
        state.hashed = sorted(items)
        state.places = {name: place for place, name in enumerate(state.hashed)}
        texts = [items[name] for name in state.hashed]
    state.texts = texts
    done[ID_PARAM] = hashlib.sha1("\n".join(texts).encode()).hexdigest()[:12]


def _is_off(value: Any, off: object) -> bool:
    """Whether ``value`` is the "off" value (numbers compare as numbers, never ``True == 1``)."""
    numbers = (int, float)
    if off.__class__ in numbers and value.__class__ in numbers:
        return bool(value == off)
    return value.__class__ is off.__class__ and value == off


def _item_text(name: str, value: Any) -> str:
    """Return the text of one value in the ``exp.id`` hash (stable across runs)."""
    kind = value.__class__
    if kind is str:
        return f"{name}={encode_string(value)}"
    if kind in (int, bool, float) or value is None:
        return f"{name}={value!r}"
    return f"{name}={json.dumps(value, sort_keys=True, default=str)}"


def _hashed(name: str) -> bool:
    """Return whether a parameter's value may enter the ``exp.id`` hash (memoised by name)."""
    try:
        return _HASHED[name]
    except KeyError:
        if len(_HASHED) > 100_000:
            _HASHED.clear()
        hashed = _HASHED[name] = not (name in ID_EXCLUDED
                                      or name.startswith(("sys.", CAPTURE_PREFIX)))
        return hashed


_HASHED: dict[str, bool] = {}


def _output(state: _State, prev: _State | None, dirty: set[str],
            same_keys: bool) -> dict[str, Any]:
    """Return the expanded values in the experiment's key order, without capture helpers."""
    done = state.done
    if prev is not None and same_keys:
        output = prev.output.copy()
        for name in dirty:
            if name in output:
                output[name] = done[name]
        return output
    return {name: done[name] for name in state.raw if not name.startswith(CAPTURE_PREFIX)}
