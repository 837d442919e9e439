"""The lenient reader reads record batches as aiokafka's own reader does, and goes on where that
one fails on a header key that is not UTF-8."""

from __future__ import annotations

import pytest
from aiokafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

from shared.messaging.lenient_records import LenientMemoryRecords, read_batch

KEY = "ce_type"


def _batch(compression: int = 0, *, log_append: bool = False) -> bytearray:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=compression,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1_000_000,
    )
    for n in range(5):
        builder.append(
            n,
            timestamp=1_700_000_000_000 + n,
            key=None if n == 2 else f"key-{n}".encode(),
            value=f"value-{n}".encode() * (n + 1),
            headers=[(KEY, b"insats.referral.received.v1"), ("empty", None)],
        )
    batch: bytearray = builder.build()
    if log_append:
        batch[22] |= 0x08  # the timestamp-type bit of the attributes (offset 21, two bytes)
    return batch


def _as_aiokafka_reads(raw: bytes | bytearray) -> list[tuple[object, ...]]:
    return [
        (r.offset, r.timestamp, r.timestamp_type, r.key, r.value, tuple(r.headers))
        for r in DefaultRecordBatch(bytes(raw))
    ]


def _as_read(raw: bytes | bytearray) -> list[tuple[object, ...]]:
    return [
        (r.offset, r.timestamp, r.timestamp_type, r.key, r.value, r.headers)
        for r in read_batch(memoryview(bytes(raw)))
    ]


@pytest.mark.parametrize("compression", [0, 1], ids=["plain", "gzip"])
def test_the_lenient_reader_reads_what_aiokafka_reads(compression: int) -> None:
    raw = _batch(compression)
    assert _as_read(raw) == _as_aiokafka_reads(raw)


def test_log_append_time_is_the_batchs_time() -> None:
    raw = _batch(log_append=True)
    read = list(read_batch(memoryview(bytes(raw))))
    assert {r.timestamp_type for r in read} == {1}
    assert {r.timestamp for r in read} == {1_700_000_000_004}


def _with_a_header_key_that_is_not_utf8(raw: bytearray) -> bytes:
    spot = raw.find(KEY.encode(), raw.find(b"value-3"))  # the fourth record's first header
    raw[spot : spot + 2] = b"\xff\xfe"
    return bytes(raw)


def test_a_header_key_that_is_not_utf8_stops_aiokafka_and_not_the_lenient_reader() -> None:
    mangled = _with_a_header_key_that_is_not_utf8(_batch())
    with pytest.raises(UnicodeDecodeError):
        list(DefaultRecordBatch(mangled))
    records = LenientMemoryRecords(mangled)
    assert records.has_next()
    read = list(records.next_batch())
    assert [r.offset for r in read] == [0, 1, 2, 3, 4]
    assert read[3].headers[0][0] == "\ufffd\ufffd" + KEY[2:]
    assert read[3].value == b"value-3" * 4
    assert read[4].headers[0] == (KEY, b"insats.referral.received.v1")
