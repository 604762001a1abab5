"""The parameter catalogue: what each parameter is, declared once, beside its type and default
in ``config/*.json`` (issue 57), read into frozen records; every table of parameter names the
rest of dlbs reads is computed here from the records' roles.

A declaration holds, besides ``val``, ``type``, ``desc`` (and a range or domain):

- ``group``: the part of a run it sets (``model``, ``measure``, ``placement``, ``data``,
  ``container``, ``runtime``, ``serving``, ``slurm``, ``sweep``...).
- ``roles``: ``id`` (``"hashed"``, ``"excluded"`` or ``{"when_not": OFF}``: hashed into
  ``exp.id`` only when not its off value, for parameters added after ids were published);
  ``identity`` (its place in the database's original comparability key, the order stored keys
  were made of); ``key_when_not`` (an identity field added later: ``off`` values, its
  ``order``, when it means something: ``only_when`` (another fact and its value, or a list of
  the values it may have), ``training_only``,
  ``under_parallelism``, and ``why`` it is keyed); ``report_off`` (values a report reads as
  not logged); ``serving_config`` (a serving run's configuration); ``not_identity`` (why it
  is not);
  ``bookkeeping``; ``memory_kind`` (experiments alike in it are of one kind for memory: a
  larger batch of a kind that ran out of memory is skipped); ``load_series`` (serving runs
  alike in it are one rate sweep: a higher rate of a sweep that saturated is skipped);
  ``dlbs_unused`` (DLBS's launch plumbing, declared so that DLBS's configs resolve, never used:
  what to use ``instead``, in the ``order`` the warning names them); ``chooses_device`` (a
  plan that sets none of these only inherits DLBS's default GPU 0); ``per_run`` (set by the
  runner or the expansion for each run: never an input, different in a re-run);
  ``set_by_bisect`` (``dlbs bisect`` sets it for each revision and round: a plan may not);
  ``always_matched`` (``report --compare`` matches the sides on it even where they differ in
  it wholesale: two models, phases or batches are never one cell compared); ``most_used``
  (its place among DLBS's most used parameters, which ``help --frameworks NAME`` shows first);
  ``series_name`` (how a history's series is named by it: ``value``, every name shows its
  value; ``named``, shown as ``name=value`` where the series shown differ in it);
  ``serving_row`` (what it is to a serving report's row: ``label``, in the row's label (the
  served model, the API); ``server``, the server, named before the configuration; ``switch``,
  a switch named after it); ``report_core`` (its place among the facts without which a
  report may take two experiments for one: a record lacking one is an experiment of its own);
  ``fills`` (the ``report_core`` fact a report fills or derives from it where a log lacks
  that fact); ``layout`` (it shapes an experiment's size: batch, devices, nodes; a report's
  row lets it vary along the row by design); ``provenance`` (the entry of a report's
  provenance that lists its distinct values); ``reference_setting`` (its place among what a
  ``dlbs accept`` reference training run's figure depends on, recorded with the figure);
  ``not_served`` (a plan's setting a serving run carries and never uses: no batch, precision,
  sequence length or data for the load client; none in its key, its name or its row).
- ``unit``: ``s`` for a value in seconds; ``label``: the heading of its column in a report;
  ``short``: the short name of its column in a report (``--rows model``).
- ``db_column``: the column of the database's ``runs`` table that holds its value (an indexed
  column, what ``-P key=value`` filters of ``dlbs db``/``history`` match on in SQL).
- ``form``: the form of value sbatch takes for a ``slurm.*`` parameter (one of
  :data:`VALUE_FORMS`: ``size``, ``time``, ``licenses``); validate refuses any other.
- ``field``: ``GROUP.ATTRIBUTE``, the field of the typed ``Experiment`` that reads it (its
  group: ``run``, ``workload``, ``placement``, ``host``, ``container``, ``serving``,
  ``slurm``; ``dlbs.experiment.groups`` reads each field from the parameter declared here).
- ``computed_flags``: the benchmark's flags (and torchrun's ``WORLD_SIZE``) the launcher
  computes from this parameter, alone or with others (``--device`` from ``exp.gpus`` and
  ``exp.device_type``): what preflight names behind such a flag.
- ``fact_type``: the type of the fact a run logs of it, in docs/log-format.md's words
  (``dlbs.logs.fact_types`` checks logged values with it).
- ``flag``: the benchmark's (or, with ``"program": "loadgen"``, the load client's) flag, its
  ``order`` on the command line and ``when`` it is passed (``given``, ``real_data``,
  ``nonzero``, ``not_default``, ``max_batch``, ``computed``; the load client's ``always``,
  ``given``, ``true``, ``searching``, ``changed``). A flag passed only away from the
  program's default has that default as the parameter's ``val`` (a contract test reads the
  programs' parsers).

Pure and standard-library only (the engine imports it): it reads the project's own
declarations once (cached) and never the environment. The facts a run logs that are no
parameter (``hw.*``, ``device_model``...) are declared where they are read
(``dlbs.params.identity``).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

#: The default configs: ``<project root>/config`` (``dlbs.config.default_config_dir``).
CONFIG_DIR = Path(__file__).resolve().parent.parent.parent / "config"
#: How a parameter enters ``exp.id``.
ID_ROLES = ("hashed", "excluded", "when_not")
#: When the benchmark's flags and the load client's are passed.
FLAG_WHEN = {"benchmark": ("given", "real_data", "nonzero", "not_default", "max_batch",
                           "computed"),
             "loadgen": ("always", "given", "true", "searching", "changed")}
#: The ``when`` of a flag that is passed only when the value is not the program's default.
WHEN_NOT_DEFAULT = ("not_default", "changed")
#: How a parameter names a series (``roles.series_name``).
SERIES_NAME = ("value", "named")
#: What a parameter is to a serving report's row (``roles.serving_row``).
SERVING_ROW = ("label", "server", "switch")
#: The forms of value a parameter may declare (``form``: what sbatch takes for it).
VALUE_FORMS = ("size", "time", "licenses")


class CatalogueError(ValueError):
    """A declaration of ``config/*.json`` that the catalogue cannot read (a project bug)."""


@dataclass(frozen=True)
class KeyRole:
    """An identity field added after runs were stored: keyed only away from its ``off``
    values (so older runs keep their keys), in the ``order`` of the table it joined."""

    off: tuple[Any, ...]
    order: int
    only_when: tuple[str, Any] | None = None
    training_only: bool = False
    under_parallelism: str | None = None
    why: str = ""


@dataclass(frozen=True)
class Roles:
    """What a parameter is to ``exp.id``, to a run's identity, and to its bookkeeping."""

    id: str
    id_off: Any = None
    identity: int | None = None
    report_off: tuple[Any, ...] = ()
    key_when_not: KeyRole | None = None
    serving_config: bool = False
    not_identity: str | None = None
    bookkeeping: bool = False
    memory_kind: bool = False
    load_series: bool = False
    instead: str | None = None
    instead_order: int = 0
    chooses_device: bool = False
    per_run: bool = False
    set_by_bisect: bool = False
    always_matched: bool = False
    most_used: int | None = None
    series_name: str | None = None
    serving_row: str | None = None
    report_core: int | None = None
    fills: str | None = None
    layout: bool = False
    provenance: str | None = None
    reference_setting: int | None = None
    not_served: bool = False


@dataclass(frozen=True)
class Flag:
    """A command-line flag a parameter becomes, and when it is passed."""

    name: str
    when: str
    order: int
    program: str = "benchmark"


@dataclass(frozen=True)
class Parameter:
    """One parameter of the catalogue."""

    name: str
    group: str
    default: Any
    roles: Roles
    flag: Flag | None = None
    fact_type: str | None = None
    unit: str | None = None
    label: str | None = None
    field: str | None = None
    computed_flags: tuple[str, ...] = ()
    form: str | None = None
    db_column: str | None = None
    short: str | None = None


@cache
def parameters() -> dict[str, Parameter]:
    """Every declared parameter, in the order of the default configs (file name, then
    declaration order), read once."""
    out: dict[str, Parameter] = {}
    for path in sorted(CONFIG_DIR.glob("*.json"), key=lambda p: p.name):
        declared = json.loads(path.read_text(encoding="utf-8")).get("parameters", {})
        out.update((name, _parameter(path.name, name, raw)) for name, raw in declared.items())
    return out


def _parameter(origin: str, name: str, raw: Mapping[str, Any]) -> Parameter:
    where = f"{origin}: parameter '{name}'"
    if not isinstance(raw.get("group"), str) or not isinstance(raw.get("roles"), dict):
        raise CatalogueError(f"{where}: declare its 'group' and its 'roles' (dlbs.params.catalogue)")
    flag = raw.get("flag")
    if flag is not None and flag.get("when") in WHEN_NOT_DEFAULT and _computed(raw.get("val")):
        raise CatalogueError(f"{where}: a flag passed when not the default needs a plain 'val'")
    if raw.get("form") not in (None, *VALUE_FORMS):
        raise CatalogueError(f"{where}: form must be one of {VALUE_FORMS}, not {raw['form']!r}")
    return Parameter(name, raw["group"], raw.get("val"), _roles(where, raw["roles"]),
                     None if flag is None else _flag(where, flag), raw.get("fact_type"),
                     raw.get("unit"), raw.get("label"), _field(where, raw.get("field")),
                     tuple(raw.get("computed_flags", ())), raw.get("form"),
                     raw.get("db_column"), raw.get("short"))


def _field(where: str, given: Any) -> str | None:
    """A declared ``field`` (``GROUP.ATTRIBUTE``), checked for its form."""
    if given is None:
        return None
    if not isinstance(given, str) or len(given.split(".")) != 2 or not all(given.split(".")):
        raise CatalogueError(f"{where}: field must be 'GROUP.ATTRIBUTE', not {given!r}")
    return given


def _computed(value: Any) -> bool:
    """Whether a declared value is computed at expansion (``$(...)$``, ``${...}``)."""
    return isinstance(value, str) and ("$(" in value or "${" in value)


def _roles(where: str, raw: Mapping[str, Any]) -> Roles:
    given: Any = raw.get("id")
    id_role, id_off = given, None
    if isinstance(given, dict) and set(given) == {"when_not"}:
        id_role, id_off = "when_not", given["when_not"]
    if raw.get("series_name") not in (None, *SERIES_NAME):
        raise CatalogueError(f"{where}: roles.series_name must be one of {SERIES_NAME}, not "
                             f"{raw['series_name']!r}")
    if raw.get("serving_row") not in (None, *SERVING_ROW):
        raise CatalogueError(f"{where}: roles.serving_row must be one of {SERVING_ROW}, not "
                             f"{raw['serving_row']!r}")
    if id_role not in ID_ROLES:
        raise CatalogueError(f"{where}: roles.id must be one of 'hashed', 'excluded' or "
                             f"{{\"when_not\": OFF}}, not {id_role!r}")
    key, unused = raw.get("key_when_not"), raw.get("dlbs_unused") or {}
    return Roles(id=id_role, id_off=id_off, identity=raw.get("identity"),
                 report_off=tuple(raw.get("report_off", ())),
                 key_when_not=None if key is None else _key_role(key),
                 serving_config=bool(raw.get("serving_config")),
                 not_identity=raw.get("not_identity"), bookkeeping=bool(raw.get("bookkeeping")),
                 memory_kind=bool(raw.get("memory_kind")),
                 load_series=bool(raw.get("load_series")),
                 instead=unused.get("instead"), instead_order=unused.get("order", 0),
                 chooses_device=bool(raw.get("chooses_device")),
                 per_run=bool(raw.get("per_run")),
                 set_by_bisect=bool(raw.get("set_by_bisect")),
                 always_matched=bool(raw.get("always_matched")),
                 most_used=raw.get("most_used"), series_name=raw.get("series_name"),
                 serving_row=raw.get("serving_row"), report_core=raw.get("report_core"),
                 fills=raw.get("fills"), layout=bool(raw.get("layout")),
                 provenance=raw.get("provenance"),
                 reference_setting=raw.get("reference_setting"),
                 not_served=bool(raw.get("not_served")))


def _key_role(raw: Mapping[str, Any]) -> KeyRole:
    only = raw.get("only_when")
    return KeyRole(off=tuple(raw["off"]), order=raw["order"],
                   only_when=None if only is None else (
                       only[0], tuple(only[1]) if isinstance(only[1], list) else only[1]),
                   training_only=bool(raw.get("training_only")),
                   under_parallelism=raw.get("under_parallelism"), why=raw.get("why", ""))


def _flag(where: str, raw: Mapping[str, Any]) -> Flag:
    program = raw.get("program", "benchmark")
    if raw.get("when") not in FLAG_WHEN.get(program, ()):
        raise CatalogueError(f"{where}: flag.when {raw.get('when')!r} is none of "
                             f"{FLAG_WHEN.get(program, ())} (program {program!r})")
    return Flag(raw["name"], raw["when"], raw["order"], program)


def with_role(test: Callable[[Roles], Any]) -> list[Parameter]:
    """The parameters whose roles pass ``test`` (a function of :class:`Roles`), in catalogue
    order."""
    return [p for p in parameters().values() if test(p.roles)]


def ordered(places: Mapping[str, int], what: str) -> tuple[str, ...]:
    """The names of ``places`` (name -> place 1, 2, ...) in their places; every place taken
    once."""
    names = sorted(places, key=places.__getitem__)
    if sorted(places.values()) != list(range(1, len(places) + 1)):
        raise CatalogueError(f"the places of {what} are not 1..{len(places)}: {places}")
    return tuple(names)


# --- the tables, as functions of the roles ------------------------------------------------


def identity_places() -> dict[str, int]:
    """Parameter -> its place in the database's original comparability key."""
    places: dict[str, int] = {}
    for p in parameters().values():
        if p.roles.identity is not None:
            places[p.name] = p.roles.identity
    return places


def key_roles() -> dict[str, KeyRole]:
    """The identity fields added later (``roles.key_when_not``), in their table's order."""
    found: dict[str, KeyRole] = {}
    for p in parameters().values():
        if p.roles.key_when_not is not None:
            found[p.name] = p.roles.key_when_not
    order = ordered({name: role.order for name, role in found.items()}, "key_when_not")
    return {name: found[name] for name in order}


def added_when_not() -> dict[str, tuple[Any, ...]]:
    """Identity field added later -> the values every earlier run had (not keyed)."""
    return {name: role.off for name, role in key_roles().items()}


def only_when() -> dict[str, tuple[str, Any]]:
    """Added identity field -> the (fact, value) without which it is not keyed."""
    return {name: role.only_when for name, role in key_roles().items() if role.only_when}


def training_only() -> tuple[str, ...]:
    """Added identity fields that mean something in training only."""
    return tuple(name for name, role in key_roles().items() if role.training_only)


def under_parallelism() -> dict[str, str]:
    """Added identity field -> the one parallelism it means something under."""
    return {name: role.under_parallelism for name, role in key_roles().items()
            if role.under_parallelism}


def report_off_values() -> dict[str, tuple[Any, ...]]:
    """Identity field -> values a report reads as not logged."""
    return {p.name: p.roles.report_off for p in with_role(lambda r: r.report_off)}


def serving_config() -> tuple[str, ...]:
    """A serving run's configuration, in catalogue order."""
    return tuple(p.name for p in with_role(lambda r: r.serving_config))


def not_identity() -> dict[str, str]:
    """Parameter that is not identity -> why."""
    return {p.name: str(p.roles.not_identity) for p in with_role(lambda r: r.not_identity)}


def bookkeeping() -> frozenset[str]:
    """Parameters that differ between runs by design (never listed nor named)."""
    return frozenset(p.name for p in with_role(lambda r: r.bookkeeping))


def memory_kind() -> tuple[str, ...]:
    """What makes two experiments of one kind for memory (model, phase, precision, layout)."""
    return tuple(p.name for p in with_role(lambda r: r.memory_kind))


def load_series() -> tuple[str, ...]:
    """What tells one serving rate sweep from another: every parameter of the load but its
    rate."""
    return tuple(p.name for p in with_role(lambda r: r.load_series))


def unused_dlbs() -> dict[str, str]:
    """DLBS's parameter that dlbs declares and never uses -> what to use instead, in the
    order a warning names them."""
    found = {p.name: p.roles for p in with_role(lambda r: r.instead)}
    order = ordered({name: roles.instead_order for name, roles in found.items()}, "dlbs_unused")
    return {name: str(found[name].instead) for name in order}


def device_choosers() -> tuple[str, ...]:
    """The parameters that choose the device (a plan that sets none of them inherits it)."""
    return tuple(p.name for p in with_role(lambda r: r.chooses_device))


def per_run() -> tuple[str, ...]:
    """The parameters set for each run (never an input; different in a re-run)."""
    return tuple(p.name for p in with_role(lambda r: r.per_run))


def set_by_bisect() -> tuple[str, ...]:
    """The parameters ``dlbs bisect`` sets itself (a plan that gives one is refused)."""
    return tuple(p.name for p in with_role(lambda r: r.set_by_bisect))


def always_matched() -> frozenset[str]:
    """The identity parameters ``report --compare`` always matches the sides on."""
    return frozenset(p.name for p in with_role(lambda r: r.always_matched))


def most_used() -> tuple[str, ...]:
    """DLBS's most used parameters, in their places (``help --frameworks NAME`` shows them)."""
    return ordered({p.name: p.roles.most_used for p in parameters().values()
                    if p.roles.most_used is not None}, "most_used")


def series_name() -> dict[str, str]:
    """Parameter -> how it names a history's series (:data:`SERIES_NAME`), in catalogue
    order."""
    return {p.name: str(p.roles.series_name) for p in with_role(lambda r: r.series_name)}


def serving_row(what: str) -> tuple[str, ...]:
    """The parameters that are ``what`` (:data:`SERVING_ROW`) to a serving report's row, in
    catalogue order."""
    return tuple(p.name for p in with_role(lambda r: r.serving_row == what))


def report_core() -> tuple[str, ...]:
    """The facts without which a report may take two experiments for one, in their places."""
    return ordered({p.name: p.roles.report_core for p in parameters().values()
                    if p.roles.report_core is not None}, "report_core")


def grouped(value_of: Callable[[Roles], str | None]) -> dict[str, tuple[str, ...]]:
    """A role's value -> the parameters that have it (``value_of`` reads it from the roles;
    None: not one of them), in catalogue order."""
    out: dict[str, list[str]] = {}
    for p in parameters().values():
        value = value_of(p.roles)
        if value is not None:
            out.setdefault(value, []).append(p.name)
    return {value: tuple(names) for value, names in out.items()}


def fills() -> dict[str, tuple[str, ...]]:
    """Core fact (``report_core``) -> the parameters a report fills it from, in catalogue
    order."""
    return grouped(lambda r: r.fills)


def layout() -> tuple[str, ...]:
    """The parameters that shape an experiment's size (batch, devices, nodes), in catalogue
    order."""
    return tuple(p.name for p in with_role(lambda r: r.layout))


def provenance() -> dict[str, tuple[str, ...]]:
    """Entry of a report's provenance -> the parameters whose values it lists, in catalogue
    order."""
    return grouped(lambda r: r.provenance)


def reference_settings() -> tuple[str, ...]:
    """What a ``dlbs accept`` reference training run's figure depends on, in their places."""
    return ordered({p.name: p.roles.reference_setting for p in parameters().values()
                    if p.roles.reference_setting is not None}, "reference_setting")


def not_served() -> tuple[str, ...]:
    """The plan's settings a serving run carries and never uses, in catalogue order."""
    return tuple(p.name for p in with_role(lambda r: r.not_served))


def in_unit(unit: str) -> frozenset[str]:
    """The parameters whose values are in ``unit`` (``s``: seconds)."""
    return frozenset(p.name for p in parameters().values() if p.unit == unit)


def id_excluded() -> frozenset[str]:
    """Parameters never hashed into ``exp.id``."""
    return frozenset(p.name for p in with_role(lambda r: r.id == "excluded"))


def id_when_not() -> dict[str, Any]:
    """Parameter -> the "off" value at which it stays out of ``exp.id``."""
    return {p.name: p.roles.id_off for p in with_role(lambda r: r.id == "when_not")}


def flags(program: str = "benchmark",
          when: Iterable[str] | None = None) -> tuple[tuple[Flag, str], ...]:
    """(flag, parameter) pairs of ``program``, in command-line order (``when``: only those
    passed so)."""
    chosen = set(FLAG_WHEN[program] if when is None else when)
    found: dict[str, Flag] = {}
    for p in parameters().values():
        if p.flag is not None and p.flag.program == program and p.flag.when in chosen:
            found[p.name] = p.flag
    places = {name: flag.order for name, flag in found.items()}
    order = ordered(places, f"{program} flags") if when is None \
        else sorted(places, key=places.__getitem__)
    return tuple((found[name], name) for name in order)


def computed_flags() -> dict[str, tuple[str, ...]]:
    """A flag the launcher computes (``--device``, torchrun's ``WORLD_SIZE``) -> the
    parameters it is computed from, in catalogue order."""
    out: dict[str, list[str]] = {}
    for p in parameters().values():
        for flag in p.computed_flags:
            out.setdefault(flag, []).append(p.name)
    return {flag: tuple(names) for flag, names in out.items()}


def fact_types() -> dict[str, str]:
    """Parameter -> the type of the fact a run logs of it (docs/log-format.md's words), for
    the parameters whose fact the parser checks."""
    return {p.name: p.fact_type for p in parameters().values() if p.fact_type is not None}


def forms() -> dict[str, str]:
    """Parameter -> the form of value it takes (:data:`VALUE_FORMS`), in catalogue order."""
    return {p.name: p.form for p in parameters().values() if p.form is not None}


def db_columns() -> dict[str, str]:
    """Parameter -> the column of the database's ``runs`` table holding it, in catalogue
    order."""
    return {p.name: p.db_column for p in parameters().values() if p.db_column is not None}


def shorts() -> dict[str, str]:
    """Parameter -> the short name of its column in a report, in catalogue order."""
    return {p.name: p.short for p in parameters().values() if p.short is not None}


def labels() -> dict[str, str]:
    """Parameter -> the heading of its column in a report."""
    return {p.name: p.label for p in parameters().values() if p.label is not None}


def view_fields() -> dict[str, dict[str, str]]:
    """Group of the typed ``Experiment`` -> its attribute -> the parameter it reads (the
    declared ``field``s), in catalogue order; an attribute declared twice is refused."""
    return {group: dict(found) for group, found in _view_fields().items()}


@cache
def _view_fields() -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for p in parameters().values():
        if p.field is None:
            continue
        group, attribute = p.field.split(".")
        known = out.setdefault(group, {})
        if attribute in known:
            raise CatalogueError(f"parameters '{known[attribute]}' and '{p.name}' both declare "
                                 f"the field {p.field!r}")
        known[attribute] = p.name
    return out


def parameter_of(group: str, attribute: str) -> str:
    """The parameter the field ``group.attribute`` of the typed ``Experiment`` reads."""
    try:
        return _view_fields()[group][attribute]
    except KeyError:
        raise CatalogueError(f"no parameter of config/*.json declares the field "
                             f"'{group}.{attribute}'") from None


def groups() -> dict[str, tuple[str, ...]]:
    """Group -> its parameters, in catalogue order."""
    out: dict[str, list[str]] = {}
    for p in parameters().values():
        out.setdefault(p.group, []).append(p.name)
    return {group: tuple(names) for group, names in out.items()}
