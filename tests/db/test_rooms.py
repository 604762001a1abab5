"""The database package split by responsibility (issue 57 item 4, "Rooms"): no module of
``dlbs/db`` over 450 lines, the ``Store`` facade offering every public method of the rooms it
composes as they are, and the writes of each engine going through the one ``RunWriter``
protocol (``COPY`` on PostgreSQL, ``INSERT`` on SQLite)."""
from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from dlbs.db import ingest, open_store
from dlbs.db.queries import Queries
from dlbs.db.store import Store
from dlbs.db.summary import Summary
from dlbs.db.writes import CopyWriter, InsertWriter, Writes, writer_for

DB = Path(__file__).resolve().parents[2] / "dlbs" / "db"
#: The most lines a module of ``dlbs/db`` may have (STYLE.md: modules under ~400 lines).
LIMIT = 450
#: Public methods of a room that the facade does not offer, and why: ``store_rows`` takes
#: rows the ingest made (``Store.store_many`` takes facts).
INTERNAL = {"store_rows"}


def test_no_module_of_the_database_package_is_over_the_limit() -> None:
    sizes = {path.name: len(path.read_text(encoding="utf-8").splitlines())
             for path in sorted(DB.glob("*.py"))}
    over = {name: lines for name, lines in sizes.items() if lines > LIMIT}
    assert not over, f"dlbs/db modules over {LIMIT} lines: {over}"


@pytest.mark.parametrize("room", [Writes, Queries, Summary], ids=lambda room: room.__name__)
def test_the_store_offers_every_public_method_of_its_rooms_as_it_is(room: type) -> None:
    """A method added to a room and forgotten in the facade, or a parameter that differs
    between them, is a method the commands cannot call as documented."""
    methods = [name for name, member in vars(room).items()
               if inspect.isfunction(member) and not name.startswith("_")
               and name not in INTERNAL]
    assert methods
    for name in methods:
        assert inspect.signature(getattr(Store, name)) == \
            inspect.signature(getattr(room, name)), f"Store.{name} differs from {room.__name__}"


def test_the_store_ingests_with_the_ingest_rooms_parameters() -> None:
    facade = list(inspect.signature(Store.ingest_paths).parameters.values())[1:]
    room = list(inspect.signature(ingest.ingest_paths).parameters.values())[1:]
    assert facade == room


def test_each_engine_writes_through_its_backend_of_the_one_protocol(db_url: str) -> None:
    store = open_store(db_url)
    try:
        with store.engine.begin() as conn:
            writer = writer_for(store.db, conn)
        if store.url.get_backend_name() == "postgresql":
            assert isinstance(writer, CopyWriter)
        else:
            assert isinstance(writer, InsertWriter) and not writer.facts_object
    finally:
        store.close()
