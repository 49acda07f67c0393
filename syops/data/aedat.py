"""Readers for the AEDAT recordings of DVS128 Gesture (AEDAT 3.1) and CIFAR10-DVS (AEDAT 2.0).

Each reader loads one whole recording (memory bounded by that file) and returns its
polarity events in recording order, with the coordinate conventions SpikingJelly uses when
it converts the same files, so that its caches and these readers give the same events.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import List, Tuple

import numpy as np

from syops.data.errors import broken_file
from syops.data.events import Events

# AEDAT 3.1 (little-endian): 28-byte packet header, then eventNumber events of eventSize bytes.
AEDAT31_VERSION_LINE = b"#!AER-DAT3.1"
AEDAT31_END_OF_HEADER = b"#!END-HEADER\r\n"
PACKET_HEADER = struct.Struct("<hhiiiiii")  # type, source, size, tsOffset, tsOverflow,
#                                            capacity, number, valid
POLARITY_EVENT_TYPE = 1
POLARITY_EVENT = np.dtype([("data", "<u4"), ("timestamp", "<i4")])

# AEDAT 2.0 (jAER, big-endian): '#' header lines, then (uint32 address, uint32 timestamp).
AEDAT20_VERSION_LINE = b"#!AER-DAT2.0"
AEDAT20_EVENT = np.dtype([("address", ">u4"), ("timestamp", ">u4")])
AEDAT20_ADDRESS_BITS = 0x7FFF  # polarity, 7-bit column, 7-bit row
TIMESTAMP_WRAP = 1 << 32  # jAER's uint32 microseconds wrap around after about 71 minutes
CIFAR10DVS_SENSOR = 128
# A recording is read whole and its events take 4x its size as int64 columns: DVS Gesture's
# recordings are tens of MB, CIFAR10-DVS's about 1 MB.
MAX_RECORDING_BYTES = 1 << 30


def read_recording(path: Path) -> bytes:
    """The bytes of a recording: a regular file of at most ``MAX_RECORDING_BYTES``."""
    path = Path(path)
    if not path.is_file():
        raise broken_file(path, "is not a regular file")
    size = path.stat().st_size
    if size > MAX_RECORDING_BYTES:
        raise broken_file(path, f"is {size} bytes, more than the {MAX_RECORDING_BYTES} bytes a "
                          f"recording may take")
    return path.read_bytes()


def read_aedat31_polarity(path: Path) -> Events:
    """Valid polarity events of an AEDAT 3.1 file; other packet types are skipped.

    Event data word: bit 0 valid, bit 1 polarity, bits 2-16 y, bits 17-31 x (origin top left).
    Timestamp: the event's int32 plus the packet's eventTSOverflow << 31.
    """
    raw = read_recording(path)
    packets = _polarity_packets(raw, _aedat31_body_start(raw, path), path)
    if not packets:
        return _no_events()
    records = np.concatenate([np.frombuffer(raw, POLARITY_EVENT, count=n, offset=at)
                              for at, n, _ in packets])
    overflow = np.repeat(np.array([o for _, _, o in packets], dtype=np.int64),
                         [n for _, n, _ in packets])
    valid = (records["data"] & 1) == 1
    records, overflow = records[valid], overflow[valid]
    data = records["data"].astype(np.int64)
    return Events(t=records["timestamp"].astype(np.int64) + (overflow << 31),
                  x=(data >> 17) & 0x7FFF, y=(data >> 2) & 0x7FFF, p=(data >> 1) & 1)


def _aedat31_body_start(raw: bytes, path: Path) -> int:
    """Byte offset of the first packet: just after the '#!END-HEADER' line."""
    first_line = raw[:80].split(b"\n", 1)[0].strip()
    if not first_line.startswith(AEDAT31_VERSION_LINE):
        shown = first_line[:40].decode("ascii", "replace") or "empty"
        raise broken_file(path, f"not an AEDAT 3.1 file (first line {shown!r}, "
                          f"expected {AEDAT31_VERSION_LINE.decode()!r})")
    end = raw.find(b"\n" + AEDAT31_END_OF_HEADER)
    if end < 0:
        raise broken_file(path, "AEDAT 3.1 header has no '#!END-HEADER' line (file truncated?)")
    return end + 1 + len(AEDAT31_END_OF_HEADER)


def _polarity_packets(raw: bytes, position: int, path: Path) -> List[Tuple[int, int, int]]:
    """(payload offset, event count, timestamp overflow) of each polarity packet."""
    packets = []
    while position < len(raw):
        if len(raw) - position < PACKET_HEADER.size:
            raise broken_file(path, f"truncated packet header at byte {position} "
                              f"({len(raw) - position} of {PACKET_HEADER.size} bytes)")
        kind, _, size, ts_offset, overflow, capacity, number, _ = \
            PACKET_HEADER.unpack_from(raw, position)
        if size <= 0 or number < 0 or capacity != number:
            raise broken_file(path, f"bad packet header at byte {position} (eventSize {size}, "
                              f"eventCapacity {capacity}, eventNumber {number})")
        payload = position + PACKET_HEADER.size
        end = payload + size * number
        if end > len(raw):
            raise broken_file(path, f"truncated packet at byte {position}: declares "
                              f"{size * number} bytes of events, {len(raw) - payload} remain")
        if kind == POLARITY_EVENT_TYPE:
            if size != POLARITY_EVENT.itemsize or ts_offset != 4:
                raise broken_file(path, f"polarity packet at byte {position} has eventSize "
                                  f"{size} and eventTSOffset {ts_offset}, expected 8 and 4")
            packets.append((payload, number, overflow))
        position = end
    return packets


def read_aedat20_cifar10dvs(path: Path) -> Events:
    """Events of a CIFAR10-DVS recording (AEDAT 2.0, DVS128 address layout).

    Address: bit 0 polarity, bits 1-7 column, bits 8-14 row. Like SpikingJelly's
    converter we map x = 127 - row, y = 127 - column and p = 1 - polarity, which turns the
    jAER bottom-left origin and sensor orientation into upright images. The file must start
    with the '#!AER-DAT2.0' line and hold whole 8-byte events whose addresses use no bit
    above bit 14 and whose timestamps never go backwards (except one 32-bit wrap-around).
    """
    raw = read_recording(path)
    body = _aedat20_body_start(raw, path)
    if (len(raw) - body) % AEDAT20_EVENT.itemsize:
        raise broken_file(path, f"event data is {len(raw) - body} bytes, not a multiple of "
                          f"{AEDAT20_EVENT.itemsize} (file truncated?)")
    records = np.frombuffer(raw, AEDAT20_EVENT, offset=body)
    address = records["address"].astype(np.int64)
    timestamps = records["timestamp"].astype(np.int64)
    timestamps = _unwrapped(timestamps, _check_aedat20_events(address, timestamps, path))
    last = CIFAR10DVS_SENSOR - 1
    return Events(t=timestamps, x=last - ((address >> 8) & 0x7F),
                  y=last - ((address >> 1) & 0x7F), p=1 - (address & 1))


def _aedat20_body_start(raw: bytes, path: Path) -> int:
    """Byte offset just after the leading '#' lines (a body may not start with '#')."""
    first_line = raw[: raw.find(b"\n")].strip() if b"\n" in raw[:200] else raw[:40]
    if not first_line.startswith(AEDAT20_VERSION_LINE):
        if first_line.startswith(b"#!AER-DAT"):
            version = first_line.decode("ascii", "replace")
            raise broken_file(path, f"is {version!r}, expected an AEDAT 2.0 (jAER) recording")
        found = f"first line {first_line[:40].decode('ascii', 'replace')!r}" if raw else "empty"
        raise broken_file(path, f"not an AEDAT 2.0 recording ({found}, expected "
                          f"{AEDAT20_VERSION_LINE.decode()!r} first)")
    position = 0
    while raw.startswith(b"#", position):
        line_end = raw.find(b"\n", position)
        if line_end < 0:
            raise broken_file(path, "header line never ends (file truncated?)")
        position = line_end + 1
    return position


def _check_aedat20_events(address: np.ndarray, timestamps: np.ndarray, path: Path) -> np.ndarray:
    """DataError unless every address is a DVS128 polarity event and time runs forward;
    returns where the timestamps wrap around (at most once)."""
    foreign = np.flatnonzero(address & ~AEDAT20_ADDRESS_BITS)
    if foreign.size:
        raise broken_file(path, f"{foreign.size} of {address.size} events have address bits "
                          f"above bit 14 (first: event {foreign[0]}, address "
                          f"{address[foreign[0]]:#x}); not DVS128 polarity events")
    step = np.diff(timestamps)
    backwards = np.flatnonzero((step < 0) & (step > -TIMESTAMP_WRAP // 2))
    wraps = step <= -TIMESTAMP_WRAP // 2
    if backwards.size or np.count_nonzero(wraps) > 1:
        at = backwards[0] if backwards.size else np.flatnonzero(wraps)[1]
        raise broken_file(path, f"timestamps go backwards at event {at + 1} "
                          f"({timestamps[at]} -> {timestamps[at + 1]} us)")
    return wraps


def _unwrapped(timestamps: np.ndarray, wraps: np.ndarray) -> np.ndarray:
    """Timestamps counted on past a 32-bit wrap-around, so they keep increasing."""
    if not wraps.any():
        return timestamps
    return timestamps + np.concatenate([[0], np.cumsum(wraps)]) * TIMESTAMP_WRAP


def _no_events() -> Events:
    empty = np.zeros(0, dtype=np.int64)
    return Events(empty, empty, empty, empty)
