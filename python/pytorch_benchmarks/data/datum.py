"""A tiny protobuf wire-format codec for Caffe's ``Datum`` message (no Caffe, no protobuf).

Fields (``caffe.proto``): ``channels=1``, ``height=2``, ``width=3`` (int32), ``data=4``
(bytes: raw CHW uint8 pixels in BGR order, or an encoded JPEG/PNG when ``encoded``),
``label=5`` (int32), ``float_data=6`` (repeated float, packed or not), ``encoded=7`` (bool).
Unknown fields are skipped, as protobuf does. Pure Python; no I/O.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


class DatumError(ValueError):
    """A record that is not a well-formed Datum."""


@dataclass
class Datum:
    """One Caffe record: an image (raw or encoded) and its label."""

    channels: int = 0
    height: int = 0
    width: int = 0
    data: bytes = b""
    label: int = 0
    float_data: tuple[float, ...] = ()
    encoded: bool = False


def _varint(value: int) -> bytes:
    """Encode an int as a varint; negative int32 values take 10 bytes (two's complement)."""
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def encode_datum(datum: Datum) -> bytes:
    """Serialise ``datum`` as Caffe does (proto2: fields written in number order)."""
    parts = [_key(1, _VARINT) + _varint(datum.channels),
             _key(2, _VARINT) + _varint(datum.height),
             _key(3, _VARINT) + _varint(datum.width)]
    if datum.data:
        parts.append(_key(4, _BYTES) + _varint(len(datum.data)) + datum.data)
    parts.append(_key(5, _VARINT) + _varint(datum.label))
    parts.extend(_key(6, _FIXED32) + struct.pack("<f", v) for v in datum.float_data)
    if datum.encoded:
        parts.append(_key(7, _VARINT) + _varint(1))
    return b"".join(parts)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise DatumError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise DatumError("varint longer than 10 bytes")


def _int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _read_field(buf: bytes, pos: int, wire: int) -> tuple[int | bytes, int]:
    """Read one value of wire type ``wire`` at ``pos``; return it and the next position."""
    if wire == _VARINT:
        return _read_varint(buf, pos)
    if wire == _BYTES:
        size, pos = _read_varint(buf, pos)
        end = pos + size
    elif wire in (_FIXED32, _FIXED64):
        end = pos + (4 if wire == _FIXED32 else 8)
    else:
        raise DatumError(f"unsupported wire type {wire}")
    if end > len(buf):
        raise DatumError("truncated field")
    return bytes(buf[pos:end]), end


def decode_datum(buf: bytes) -> Datum:
    """Parse a serialised Datum; raises :class:`DatumError` on malformed input."""
    datum, pos = Datum(), 0
    floats: list[float] = []
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        field, wire = key >> 3, key & 7
        value, pos = _read_field(buf, pos, wire)
        if field in (1, 2, 3, 5) and isinstance(value, int):
            setattr(datum, {1: "channels", 2: "height", 3: "width", 5: "label"}[field],
                    _int32(value))
        elif field == 4 and isinstance(value, bytes):
            datum.data = value
        elif field == 6 and isinstance(value, bytes):  # packed (wire 2) or one fixed32
            floats.extend(v for (v,) in struct.iter_unpack("<f", value))
        elif field == 7 and isinstance(value, int):
            datum.encoded = bool(value)
    datum.float_data = tuple(floats)
    return datum
