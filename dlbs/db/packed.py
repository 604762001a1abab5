"""Facts packed for SQLite: a run's facts as zlib-compressed JSON with a preset dictionary.

A run's facts are about 200 names and values (7-8 KB of JSON), and most of their bytes (the
names, the host's description, the notes the benchmark writes) are the same from one run to
the next. zlib with a preset dictionary made of typical facts stores them in about 5% of that,
and nothing is lost: the JSON text read back is the text stored.

A packed value is one byte, the dictionary's id, then a zlib stream (RFC 1950) compressed with
that dictionary. The stream records the dictionary's checksum, so a value never decompresses
with another dictionary: it fails. A dictionary is never changed once released (the database
files made with it depend on its bytes: :data:`DICTIONARIES` pins its SHA-256); a better one
is added under a new id, and every release reads all ids.

PostgreSQL keeps ``jsonb`` (its filters need it, and TOAST compresses long values itself):
:data:`FACTS` is this type on SQLite only. SQL on SQLite reads packed facts through the
function ``dlbs_facts(facts)`` (the JSON text), which :func:`register` adds to every
connection the store opens.
"""
from __future__ import annotations

import hashlib
import json
import zlib
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import LargeBinary
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

#: dictionary id -> (file under dlbs/db/dictionaries, its SHA-256). Never edit an entry.
DICTIONARIES: dict[int, tuple[str, str]] = {
    1: ("facts-1.json", "0a6e729c569c0171a4fbed26a5dafb2ab056279a6ad98fcc9f43b2c5e7a293a6"),
}
#: The dictionary new values are packed with.
CURRENT = 1
#: The name of the SQL function that unpacks (SQLite).
SQL_FUNCTION = "dlbs_facts"
_FOLDER = Path(__file__).resolve().parent / "dictionaries"
_LEVEL = 6


class PackError(ValueError):
    """A stored value that is not packed facts this release can read."""


@cache
def dictionary(dict_id: int) -> bytes:
    """The bytes of dictionary ``dict_id`` (checked against its pinned SHA-256)."""
    if dict_id not in DICTIONARIES:
        raise PackError(f"packed facts name dictionary {dict_id}, which this release does not "
                        f"know (it knows {sorted(DICTIONARIES)}); upgrade dlbs")
    name, digest = DICTIONARIES[dict_id]
    data = (_FOLDER / name).read_bytes()
    if hashlib.sha256(data).hexdigest() != digest:
        raise PackError(f"{_FOLDER / name} is not the released dictionary {dict_id} (its "
                        "SHA-256 differs); reinstall dlbs")
    return data


@cache
def _primed(dict_id: int) -> Any:
    """A compressor that has read dictionary ``dict_id`` (a copy of it packs a value: a third
    faster than reading the dictionary again for each one)."""
    return zlib.compressobj(_LEVEL, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY,
                            zdict=dictionary(dict_id))


def pack_text(text: str, dict_id: int = CURRENT) -> bytes:
    """The packed form of a JSON text."""
    packer = _primed(dict_id).copy()
    return bytes([dict_id]) + packer.compress(text.encode("utf-8")) + packer.flush()


def unpack_text(value: bytes | str | None) -> str | None:
    """The JSON text of a packed value (a text, a row stored before packing, is returned as
    it is; None stays None)."""
    if value is None or isinstance(value, str):
        return value
    data = bytes(value)
    if not data:
        raise PackError("packed facts are empty")
    unpacker = zlib.decompressobj(zdict=dictionary(data[0]))
    try:
        raw = unpacker.decompress(data[1:]) + unpacker.flush()
    except zlib.error as err:
        raise PackError(f"packed facts do not decompress ({err})") from None
    if not unpacker.eof:
        raise PackError("packed facts end early (the value is cut)")
    return raw.decode("utf-8")


def pack(facts: Any) -> bytes:
    """The packed form of a facts object (JSON as SQLAlchemy's JSON type writes it)."""
    return pack_text(json.dumps(facts))


def unpack(value: bytes | str | None) -> Any:
    """The facts object of a packed value."""
    text = unpack_text(value)
    return None if text is None else json.loads(text)


class PackedFacts(TypeDecorator[Any]):
    """SQLite's facts column: a facts object in Python, packed bytes in the file."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> bytes | None:
        if isinstance(value, bytes):  # packed already (a JSON value is never bytes): by the
            return value  # worker that parsed the log (``dlbs db ingest``)
        return None if value is None else pack(value)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return unpack(value)


def register(dbapi_connection: Any) -> None:
    """Adds ``dlbs_facts(facts)`` (the JSON text of packed facts) to an SQLite connection."""
    dbapi_connection.create_function(SQL_FUNCTION, 1, unpack_text, deterministic=True)


#: The facts' type: packed JSON on SQLite, ``jsonb`` on PostgreSQL (parsed once when stored,
#: so a filter on a fact reads it without parsing the row's JSON again).
FACTS = PackedFacts().with_variant(JSONB(), "postgresql")
