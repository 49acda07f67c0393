"""File formats and event integration: AEDAT 3.1 / 2.0 readers, npz caches, frames."""

import numpy as np
import pytest
from data_fixtures import (
    AEDAT31_HEADER,
    EventArrays,
    aedat31_bytes,
    aedat31_packet,
    cifar10dvs_bytes,
    make_events,
    polarity_word,
    reference_frames,
)

from syops.data import DataError
from syops.data.aedat import read_aedat20_cifar10dvs, read_aedat31_polarity
from syops.data.events import Events, read_events_npz
from syops.data.frames import events_to_frames, frame_bounds, read_frames_npz


def as_events(t, x, y, p):
    return Events(*(np.asarray(column, dtype=np.int64) for column in (t, x, y, p)))


# ------------------------------------------------------------------ integration into frames
def test_ten_events_into_three_frames_by_hand():
    # N = 10 events, T = 3: N // T = 3, so frames hold events [0, 3), [3, 6) and [6, 10)
    # (the last frame takes the left-over event). (x, y, p) per event:
    xyp = [(0, 0, 0), (0, 0, 0), (5, 1, 1),               # frame 0
           (5, 1, 1), (5, 1, 0), (2, 3, 1),               # frame 1
           (127, 127, 0), (127, 127, 0), (127, 127, 0), (1, 0, 1)]  # frame 2
    x, y, p = zip(*xyp)
    frames = events_to_frames(as_events(range(10), x, y, p), T=3, height=128, width=128)

    expected = np.zeros((3, 2, 128, 128), dtype=np.float32)  # [frame, polarity, y, x]
    expected[0, 0, 0, 0] = 2      # events 0 and 1, OFF, at (x=0, y=0)
    expected[0, 1, 1, 5] = 1      # event 2, ON, at (5, 1)
    expected[1, 1, 1, 5] = 1      # event 3
    expected[1, 0, 1, 5] = 1      # event 4: same pixel, other polarity -> channel 0
    expected[1, 1, 3, 2] = 1      # event 5
    expected[2, 0, 127, 127] = 3  # events 6, 7, 8
    expected[2, 1, 0, 1] = 1      # event 9, the left-over one
    assert frames.dtype == np.float32
    np.testing.assert_array_equal(frames, expected)


def test_fewer_events_than_frames_all_go_to_the_last_frame():
    # N = 2 < T = 4: N // T = 0, so frames 0..2 are empty and frame 3 runs over [0, 2).
    frames = events_to_frames(as_events([0, 1], [3, 3], [4, 4], [1, 1]), 4, 128, 128)
    assert frames[:3].sum() == 0 and frames[3, 1, 4, 3] == 2


def test_frame_bounds_follow_spikingjelly_number_split():
    starts, stops = frame_bounds(num_events=11, T=4)  # 11 // 4 = 2
    assert starts.tolist() == [0, 2, 4, 6] and stops.tolist() == [2, 4, 6, 11]


@pytest.mark.parametrize("count, T", [(0, 3), (5, 5), (37, 4), (100, 16), (3, 8)])
def test_integration_equals_spikingjelly_formula(count, T):
    events = make_events(count, seed=count)
    ours = events_to_frames(as_events(events.t, events.x, events.y, events.p), T, 128, 128)
    np.testing.assert_array_equal(ours, reference_frames(events, T))


# ------------------------------------------------------------------ AEDAT 3.1
def test_aedat31_reader_decodes_bits_overflow_and_skips_other_packets(tmp_path):
    # Packet 1 (type 0, special events) must be skipped. Packet 2: two valid events and one
    # with the valid bit clear (dropped). Packet 3: eventTSOverflow 1, so t = 2**31 + 5.
    body = (aedat31_packet(0, [(0xABCD, 1)])
            + aedat31_packet(1, [(polarity_word(127, 0, 1), 10),
                                 (polarity_word(3, 100, 0, valid=0), 11),
                                 (polarity_word(0, 127, 0), 12)])
            + aedat31_packet(1, [(polarity_word(64, 32, 1), 5)], overflow=1))
    path = tmp_path / "rec.aedat"
    path.write_bytes(AEDAT31_HEADER + body)
    events = read_aedat31_polarity(path)
    assert events.t.tolist() == [10, 12, 2**31 + 5]
    assert events.x.tolist() == [127, 0, 64]
    assert events.y.tolist() == [0, 127, 32]
    assert events.p.tolist() == [1, 0, 1]


def test_aedat31_round_trip_of_fixture_writer(tmp_path):
    events = make_events(50, seed=1)
    path = tmp_path / "rec.aedat"
    path.write_bytes(aedat31_bytes(events, packet_size=7))
    read = read_aedat31_polarity(path)
    for ours, theirs in zip(read, (events.t, events.x, events.y, events.p)):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("damage, message", [
    (lambda data: data[:-3], "truncated packet at byte"),
    (lambda data: data + b"\x01\x00", "truncated packet header"),
    (lambda data: b"#!AER-DAT2.0\r\n" + data[len(b"#!AER-DAT3.1\r\n"):], "not an AEDAT 3.1 file"),
    (lambda data: data.replace(b"#!END-HEADER\r\n", b"#END\r\n"), "no '#!END-HEADER'"),
    (lambda data: b"", "not an AEDAT 3.1 file"),
])
def test_broken_aedat31_names_file_and_problem(tmp_path, damage, message):
    path = tmp_path / "user01_led.aedat"
    path.write_bytes(damage(aedat31_bytes(make_events(20, seed=2))))
    with pytest.raises(DataError, match=message) as caught:
        read_aedat31_polarity(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


# ------------------------------------------------------------------ AEDAT 2.0 (CIFAR10-DVS)
def test_cifar10dvs_address_layout_by_hand(tmp_path):
    # Address bits: 0 polarity, 1-7 column, 8-14 row (jAER DVS128). Row 10, column 20,
    # polarity 1 reads, in SpikingJelly's convention, as x = 127 - 10, y = 127 - 20, p = 0.
    address = (10 << 8) | (20 << 1) | 1
    path = tmp_path / "cifar10_cat_0.aedat"
    path.write_bytes(b"#!AER-DAT2.0\r\n# comment\r\n"
                     + np.array([address, 777], dtype=">u4").tobytes())
    events = read_aedat20_cifar10dvs(path)
    assert (events.t.tolist(), events.x.tolist(), events.y.tolist(), events.p.tolist()) == \
        ([777], [117], [107], [0])


def test_cifar10dvs_round_trip_and_truncation(tmp_path):
    events = make_events(33, seed=3)
    path = tmp_path / "cifar10_dog_1.aedat"
    data = cifar10dvs_bytes(events)
    path.write_bytes(data)
    read = read_aedat20_cifar10dvs(path)
    for ours, theirs in zip(read, (events.t, events.x, events.y, events.p)):
        np.testing.assert_array_equal(ours, theirs)
    path.write_bytes(data[:-5])
    with pytest.raises(DataError, match="not a multiple of 8") as caught:
        read_aedat20_cifar10dvs(path)
    assert str(path) in str(caught.value)


# ------------------------------------------------------------------ SpikingJelly npz caches
def test_events_and_frames_npz_read_back(tmp_path):
    events = EventArrays(np.arange(4), np.array([1, 2, 3, 4]), np.array([5, 6, 7, 8]),
                         np.array([True, False, True, True]))
    np.savez(tmp_path / "e.npz", t=events.t, x=events.x, y=events.y, p=events.p)
    read = read_events_npz(tmp_path / "e.npz")
    assert read.p.tolist() == [1, 0, 1, 1] and read.x.tolist() == [1, 2, 3, 4]

    frames = reference_frames(make_events(9, seed=4), T=2)  # float64, as SpikingJelly saves
    np.savez_compressed(tmp_path / "f.npz", frames=frames)
    loaded = read_frames_npz(tmp_path / "f.npz", (2, 2, 128, 128))
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, frames)


@pytest.mark.parametrize("write, message", [
    (lambda path: path.write_bytes(b"not a zip"), "not a readable .npz"),
    (lambda path: np.savez(path, t=[1], x=[1]), r"lacks array\(s\) y, p"),
    (lambda path: np.save(open(path, "wb"), np.zeros(3)), "single .npy array"),
])
def test_broken_events_npz(tmp_path, write, message):
    path = tmp_path / "user01_led_0.npz"
    write(path)
    with pytest.raises(DataError, match=message) as caught:
        read_events_npz(path)
    assert str(path) in str(caught.value)


def test_frames_of_wrong_shape(tmp_path):
    np.savez(tmp_path / "f.npz", frames=np.zeros((8, 2, 128, 128)))
    with pytest.raises(DataError, match=r"shape \[8, 2, 128, 128\], expected \[16, 2, 128, 128\]"):
        read_frames_npz(tmp_path / "f.npz", (16, 2, 128, 128))
