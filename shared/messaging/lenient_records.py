"""Records whose header keys are not UTF-8 must not stop a consumer.

Kafka's protocol calls a header key a string, but a broker stores whatever bytes a producer sends
(kcat -H takes its argument byte for byte). aiokafka 0.14 decodes each key as strict UTF-8 while
it unpacks a fetched batch, so such a record makes every `getmany` of its partition raise
UnicodeDecodeError: FastStream's consume loop dies on it, is restarted, fetches the same batch
and dies again, and the partition never moves (measured on the local stack). Java's consumer
replaces what is not UTF-8 and goes on; this does the same.

`install()` puts a thin wrapper around the record sets aiokafka's fetcher unpacks. Batches are
read by aiokafka's own fast reader as before; only a batch whose reading fails on a header key is
read again by the small reader below (record batch format v2, as the Kafka protocol documents
it), which decodes header keys with replacement characters, and the consumer carries on from the
record it had reached. Nothing else changes: the records and their values are the broker's.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aiokafka import codec
from aiokafka.consumer import fetcher
from aiokafka.record.util import decode_varint

_BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")  # base offset .. record count: 61 bytes
_LENGTH = struct.Struct(">qi")  # base offset, batch length: what precedes every batch
_LOG_OVERHEAD = _LENGTH.size
_MAGIC_OFFSET = 16
_COMPRESSION = 0x07
_LOG_APPEND_TIME = 0x08
_DECOMPRESS = {
    1: codec.gzip_decode,
    2: codec.snappy_decode,
    3: codec.lz4_decode,
    4: codec.zstd_decode,
}
_ORIGINAL = fetcher.MemoryRecords


@dataclass(frozen=True)
class LenientRecord:
    """A record as aiokafka's fetcher reads one."""

    offset: int
    timestamp: int
    timestamp_type: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    checksum: None = None


def read_batch(batch: bytes | memoryview) -> Iterator[LenientRecord]:
    """Every record of one record batch (magic 2), header keys decoded leniently."""
    (
        base_offset,
        _length,
        _epoch,
        _magic,
        _crc,
        attributes,
        _last_offset_delta,
        base_timestamp,
        max_timestamp,
        _producer_id,
        _producer_epoch,
        _base_sequence,
        count,
    ) = _BATCH_HEADER.unpack_from(batch, 0)
    body: bytes = bytes(batch[_BATCH_HEADER.size :])
    compression = attributes & _COMPRESSION
    if compression:
        body = _DECOMPRESS[compression](body)
    log_append = bool(attributes & _LOG_APPEND_TIME)
    pos = 0
    for _ in range(count):
        length, pos = decode_varint(body, pos)
        end = pos + length
        pos += 1  # the record's attributes, unused
        timestamp_delta, pos = decode_varint(body, pos)
        offset_delta, pos = decode_varint(body, pos)
        key, pos = _nullable(body, pos)
        value, pos = _nullable(body, pos)
        header_count, pos = decode_varint(body, pos)
        headers = []
        for _ in range(header_count):
            name, pos = _nullable(body, pos)
            header_value, pos = _nullable(body, pos)
            headers.append(((name or b"").decode("utf-8", errors="replace"), header_value))
        pos = end
        yield LenientRecord(
            offset=base_offset + offset_delta,
            timestamp=max_timestamp if log_append else base_timestamp + timestamp_delta,
            timestamp_type=int(log_append),
            key=key,
            value=value,
            headers=tuple(headers),
        )


def _nullable(buffer: bytes, pos: int) -> tuple[bytes | None, int]:
    size, pos = decode_varint(buffer, pos)
    if size < 0:
        return None, pos
    return buffer[pos : pos + size], pos + size


class _LenientBatch:
    """aiokafka's own batch, read by its fast reader until a header key fails to decode."""

    def __init__(self, inner: Any, raw: memoryview) -> None:
        self._inner = inner
        self._raw = raw

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __iter__(self) -> Iterator[Any]:
        reached = -1
        try:
            for record in self._inner:
                reached = record.offset
                yield record
        except UnicodeDecodeError:
            for record in read_batch(self._raw):
                if record.offset > reached:
                    yield record


class LenientMemoryRecords:
    """aiokafka's record set of one fetched partition, each v2 batch wrapped as above."""

    def __init__(self, data: bytes) -> None:
        self._inner = _ORIGINAL(data)
        self._raw = memoryview(data)
        self._pos = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def has_next(self) -> bool:
        return bool(self._inner.has_next())

    def next_batch(self) -> Any:
        batch = self._inner.next_batch()
        if batch is None or len(self._raw) - self._pos < _LOG_OVERHEAD:
            return batch
        _, length = _LENGTH.unpack_from(self._raw, self._pos)
        raw = self._raw[self._pos : self._pos + _LOG_OVERHEAD + length]
        self._pos += _LOG_OVERHEAD + length
        if len(raw) > _MAGIC_OFFSET and raw[_MAGIC_OFFSET] >= 2:
            return _LenientBatch(batch, raw)
        return batch


def install() -> None:
    """Read fetched records leniently from now on, in this process (idempotent)."""
    fetcher.MemoryRecords = LenientMemoryRecords
