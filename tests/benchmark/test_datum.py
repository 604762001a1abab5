"""The Caffe Datum codec against bytes protobuf itself would write."""
from __future__ import annotations

import struct

import pytest
from pytorch_benchmarks.data.datum import Datum, DatumError, decode_datum, encode_datum

#: Datum{channels:3 height:2 width:1 data:"abcdef" label:7} as protobuf serialises it.
GOLDEN = b"\x08\x03\x10\x02\x18\x01\x22\x06abcdef\x28\x07"


def test_encoding_matches_protobuf_bytes() -> None:
    assert encode_datum(Datum(3, 2, 1, b"abcdef", 7)) == GOLDEN


def test_decoding_protobuf_bytes() -> None:
    assert decode_datum(GOLDEN) == Datum(3, 2, 1, b"abcdef", 7)


@pytest.mark.parametrize("datum", [
    pytest.param(Datum(3, 4, 5, bytes(range(60)), 999, (), False), id="raw"),
    pytest.param(Datum(0, 0, 0, b"\xff\xd8jpeg", 3, (), True), id="encoded"),
    pytest.param(Datum(1, 1, 1, b"", -1, (1.5, -2.0), False), id="negative-label-floats"),
    pytest.param(Datum(3, 300, 300, b"x" * 270000, 2**31 - 1), id="large"),
])
def test_round_trip(datum: Datum) -> None:
    assert decode_datum(encode_datum(datum)) == datum


def test_packed_float_data_and_unknown_fields_are_read() -> None:
    packed = struct.pack("<2f", 0.5, 0.25)
    unknown = b"\x48\x05" + b"\x52\x02hi"     # field 9 varint, field 10 bytes
    buf = b"\x28\x04" + b"\x32" + bytes([len(packed)]) + packed + unknown + b"\x38\x01"
    datum = decode_datum(buf)
    assert (datum.label, datum.float_data, datum.encoded) == (4, (0.5, 0.25), True)


@pytest.mark.parametrize("buf", [b"\x22\x09abc", b"\x08", b"\x08" + b"\x80" * 10 + b"\x01",
                                 b"\x0b"])
def test_malformed_records_raise(buf: bytes) -> None:
    with pytest.raises(DatumError):
        decode_datum(buf)
