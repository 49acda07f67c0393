"""Hostile data files (issue 13): huge declared sizes, garbage recordings, empty windows,
odd polarities, non-finite frames, skip_bad per sample, errors from DataLoader workers."""

import os
import struct
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import invoke, one_error_line
from data_fixtures import (
    AEDAT20_HEADER,
    EventArrays,
    address_space_limited,
    aedat31_bytes,
    make_events,
    reference_frames,
    save_events_npz,
    time_limited,
    write_cifar10dvs_tree,
    write_gesture_tree,
    write_image_folder,
)
from PIL import Image
from torch.utils.data import DataLoader

import syops.data.npz
from syops.data import DataError, get_dataset
from syops.data.aedat import read_aedat20_cifar10dvs
from syops.data.events import read_events_npz
from syops.data.frames import read_frames_npz

T = 4
LIMIT_SLACK = 1 << 30  # address space a reader may add while the RLIMIT_AS guard is on


def memory_guard():
    """An address-space cap (current + 1 GiB) that an attempt to allocate gigabytes hits."""
    return address_space_limited(LIMIT_SLACK)


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")


def expect_named_error(path: Path, read, message: str) -> DataError:
    with pytest.raises(DataError, match=message) as caught:
        read()
    assert caught.value.path == str(path) and str(path) in str(caught.value)
    return caught.value


# ---------------------------------------------------------------- item 4: declared sizes
def npz_declaring(path: Path, key: str, shape, dtype="<f8", uncompressed: int = None) -> Path:
    """An .npz whose member ``key`` declares ``shape`` but holds 64 bytes of data; with
    ``uncompressed`` the zip's directory claims that many bytes too (as a real bomb does)."""
    header = {"descr": dtype, "fortran_order": False, "shape": tuple(shape)}
    text = repr(header).encode("latin1")
    text += b" " * (-(len(text) + 11) % 64) + b"\n"
    member = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + bytes(64)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{key}.npy", member)
    if uncompressed is not None:  # patch the central directory's uncompressed size
        raw = bytearray(path.read_bytes())
        entry = raw.rfind(b"PK\x01\x02")
        raw[entry + 24:entry + 28] = struct.pack("<I", uncompressed)
        path.write_bytes(bytes(raw))
    return path


@linux_only
def test_npz_declaring_gigabytes_is_refused_before_allocating(tmp_path):
    # 4 GiB of float64 declared by a 300-byte file, honestly in both the .npy header and
    # the zip directory: refused by the 1 GiB bound, under a cap that an attempt would hit.
    shape = (2 ** 29 - 64, 1)  # its bytes (and the header) fit the zip's 32-bit size field
    path = npz_declaring(tmp_path / "bomb.npz", "t", shape, uncompressed=2 ** 32 - 1)
    with memory_guard():
        error = expect_named_error(path, lambda: read_npz_arrays_events(path), "4.0 GiB")
    assert "more than the 1 GiB" in str(error)


def read_npz_arrays_events(path):
    return syops.data.npz.read_npz_arrays(path, ("t",))


@linux_only
def test_npz_header_larger_than_its_member_is_refused(tmp_path):
    path = npz_declaring(tmp_path / "f.npz", "frames", (1 << 30, 8))  # 64 GiB in 192 bytes
    with memory_guard():
        expect_named_error(path, lambda: read_frames_npz(path, (1 << 30, 8)),
                           "declares 68719476736 bytes but its member holds 192")


def test_bound_applies_to_all_arrays_together(tmp_path, monkeypatch):
    path = tmp_path / "e.npz"
    save_events_npz(path, make_events(10, seed=0))  # 4 arrays of 10 int64: 320 bytes
    monkeypatch.setattr(syops.data.npz, "MAX_ARRAY_BYTES", 319)
    expect_named_error(path, lambda: read_events_npz(path), "more than the")
    monkeypatch.setattr(syops.data.npz, "MAX_ARRAY_BYTES", 320)
    assert read_events_npz(path).num_events == 10


def test_frames_of_wrong_declared_shape_are_not_loaded(tmp_path):
    path = npz_declaring(tmp_path / "f.npz", "frames", (4, 2, 128, 128))  # data missing
    expect_named_error(path, lambda: read_frames_npz(path, (16, 2, 128, 128)),
                       r"shape \[4, 2, 128, 128\], expected \[16, 2, 128, 128\]")


def write_png(path: Path, width: int, height: int) -> Path:
    Image.new("L", (width, height)).save(path, optimize=True)
    return path


@linux_only
def test_image_whose_resize_would_take_gigabytes(tmp_path):
    write_image_folder(tmp_path)
    path = write_png(tmp_path / "n01440764" / "strip.png", 1, 60000)
    assert path.stat().st_size < 1000
    data = get_dataset("imagenet", tmp_path)
    index = [sample.path for sample in data.samples].index(str(path))
    with memory_guard():
        error = expect_named_error(path, lambda: data[index], "1 x 60000 pixels")
    assert "67108864 pixels" in str(error)
    kept = get_dataset("imagenet", tmp_path, skip_bad=True)
    assert len(kept) == 3 and [item.path for item in kept.skipped] == [str(path)]


def test_image_that_decodes_to_too_many_pixels(tmp_path):
    write_image_folder(tmp_path)
    path = write_png(tmp_path / "n01443537" / "huge.png", 9000, 9000)  # 81 M pixels
    data = get_dataset("imagenet", tmp_path)
    index = [sample.path for sample in data.samples].index(str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        expect_named_error(path, lambda: data[index], "9000 x 9000 pixels")


# ---------------------------------------------------------------- item 5: CIFAR10-DVS garbage
def png_bytes(tmp_path) -> bytes:
    return write_png(tmp_path / "x.png", 4, 4).read_bytes()


@pytest.mark.parametrize("content, message", [
    (lambda tmp: b"", r"not an AEDAT 2.0 recording \(empty"),
    (lambda tmp: AEDAT20_HEADER, "file holds no events"),
    (lambda tmp: np.random.default_rng(0).bytes(800), "not an AEDAT 2.0 recording"),
    (lambda tmp: AEDAT20_HEADER + np.random.default_rng(0).bytes(800), "address bits above"),
    (png_bytes, r"first line '.PNG'"),
    (lambda tmp: b"#!AER-DAT3.1\r\n#!END-HEADER\r\n", "is '#!AER-DAT3.1', expected"),
])
def test_cifar10dvs_garbage_is_not_a_sample(tmp_path, content, message):
    write_cifar10dvs_tree(tmp_path, layout="aedat", per_class=2)
    path = tmp_path / "cat" / "cifar10_cat_0.aedat"
    path.write_bytes(content(tmp_path))
    data = get_dataset("cifar10-dvs", tmp_path, T=T, split="train", train_ratio=0.5)
    assert [sample.path for sample in data.samples] == [
        str(tmp_path / "airplane" / "cifar10_airplane_0.aedat"), str(path)]
    expect_named_error(path, lambda: data[1], message)
    kept = get_dataset("cifar10-dvs", tmp_path, T=T, split="train", train_ratio=0.5,
                       skip_bad=True)
    assert len(kept) == 1 and [item.path for item in kept.skipped] == [str(path)]


def aedat20(records) -> bytes:
    """AEDAT 2.0 bytes of raw (address, timestamp) pairs."""
    return AEDAT20_HEADER + b"".join(struct.pack(">II", a, t) for a, t in records)


def test_aedat20_timestamps_must_run_forward(tmp_path):
    path = tmp_path / "a.aedat"
    path.write_bytes(aedat20([(0, 10), (1, 20), (2, 15)]))
    expect_named_error(path, lambda: read_aedat20_cifar10dvs(path),
                       r"timestamps go backwards at event 2 \(20 -> 15 us\)")


def test_aedat20_one_wrap_around_counts_on(tmp_path):
    path = tmp_path / "a.aedat"
    path.write_bytes(aedat20([(0, 2 ** 32 - 2), (1, 2 ** 32 - 1), (2, 3)]))
    assert read_aedat20_cifar10dvs(path).t.tolist() == [2 ** 32 - 2, 2 ** 32 - 1, 2 ** 32 + 3]
    path.write_bytes(aedat20([(0, 2 ** 32 - 2), (1, 3), (2, 2 ** 32 - 1), (3, 4)]))
    expect_named_error(path, lambda: read_aedat20_cifar10dvs(path), "backwards at event 3")


def test_aedat20_address_bits_above_the_sensor(tmp_path):
    path = tmp_path / "a.aedat"
    path.write_bytes(aedat20([(0x7FFF, 1), (0x8000, 2)]))
    expect_named_error(path, lambda: read_aedat20_cifar10dvs(path),
                       r"1 of 2 events have address bits above bit 14 \(first: event 1, "
                       r"address 0x8000\)")


# ---------------------------------------------------------------- item 6: DVS Gesture
def write_labels(root: Path, stem: str, rows: str) -> None:
    (root / f"{stem}_labels.csv").write_text("class,startTime_usec,endTime_usec\n" + rows)


def test_gesture_window_outside_the_recording(tmp_path):
    write_gesture_tree(tmp_path, layout="aedat", T=T)  # test windows start at 1 000 000 us
    write_labels(tmp_path, "user24_led", "3,1000000,1000400\n8,9000000,9500000\n")
    data = get_dataset("dvs-gesture", tmp_path, T=T)
    path = tmp_path / "user24_led.aedat"
    expect_named_error(path, lambda: data[1],
                       r"window 9000000..9500000 us \(class 8\) holds no events; the "
                       r"recording's events span 500000..2000390 us")
    assert data[0][0].sum() == 40


def test_gesture_recording_without_events(tmp_path):
    write_gesture_tree(tmp_path, layout="aedat", T=T)
    path = tmp_path / "user24_led.aedat"
    path.write_bytes(aedat31_bytes(make_events(0, seed=0)))
    data = get_dataset("dvs-gesture", tmp_path, T=T)
    expect_named_error(path, lambda: data[0], "recording holds no valid polarity events")


def events_np_tree(tmp_path, **arrays) -> Path:
    """A gesture events_np tree whose first test sample is replaced by ``arrays``."""
    write_gesture_tree(tmp_path, layout="events_np", T=T)
    path = tmp_path / "events_np" / "test" / "2" / "user24_led_0.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("arrays, message", [
    (dict(t=[], x=[], y=[], p=[]), "file holds no events"),
    (dict(t=[1, 2], x=[3, 4], y=[5, 6], p=[1, 5]), r"polarities must be 0 or 1, found \[5\]"),
    (dict(t=[1, 2], x=[3, 4], y=[5, 6], p=[-1, 7]), r"polarities must be 0 or 1, found \[-1, 7\]"),
    (dict(t=[1.0, 2.0], x=[3.0, np.nan], y=[5, 6], p=[0, 1]), "'x' holds NaN or infinite"),
    (dict(t=[1.0, np.inf], x=[3, 4], y=[5, 6], p=[0, 1]), "'t' holds NaN or infinite"),
    (dict(t=[1, 2], x=[3.5, 4], y=[5, 6], p=[0, 1]), "'x' holds values that are not integers"),
    (dict(t=[1, 2], x=[3, 4], y=[5, 6], p=["a", "b"]), "'p' holds <U1 values, expected numbers"),
])
def test_gesture_events_np_bad_values(tmp_path, arrays, message):
    path = events_np_tree(tmp_path, **arrays)
    data = get_dataset("dvs-gesture", tmp_path, T=T)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # validated, not cast with numpy warnings
        expect_named_error(path, lambda: data[0], message)


def test_events_np_integer_floats_and_booleans_are_events(tmp_path):
    path = events_np_tree(tmp_path, t=np.array([1.0, 2.0]), x=np.array([3.0, 4.0]),
                          y=np.array([5, 6], dtype=np.uint8), p=np.array([False, True]))
    events = read_events_npz(path)
    assert events.x.tolist() == [3, 4] and events.p.tolist() == [0, 1]
    assert events.t.dtype == np.int64


def frames_tree(tmp_path, frames) -> Path:
    write_gesture_tree(tmp_path, layout="frames", T=T)
    path = tmp_path / f"frames_number_{T}_split_by_number" / "test" / "2" / "user24_led_0.npz"
    np.savez(path, frames=frames)
    return path


def frames_with(value, dtype=np.float64):
    frames = np.zeros((T, 2, 128, 128), dtype=dtype)
    frames[1, 0, 3, 4] = value
    return frames


@pytest.mark.parametrize("frames, message", [
    (frames_with(np.nan), r"frames hold 1 NaN or infinite value\(s\)"),
    (frames_with(np.inf), r"frames hold 1 NaN or infinite value\(s\)"),
    (frames_with(1e300), r"frames hold 1 NaN or infinite value\(s\)"),  # beyond float32
    (frames_with(-2.0), r"negative values \(min -2\)"),
    (frames_with(-2, np.int16), r"negative values \(min -2\)"),
    (np.full((T, 2, 128, 128), "1"), "holds <U1 values, expected numbers"),
])
def test_frames_cache_bad_values(tmp_path, frames, message):
    path = frames_tree(tmp_path, frames)
    data = get_dataset("dvs-gesture", tmp_path, T=T)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        expect_named_error(path, lambda: data[0], message)
    kept = get_dataset("dvs-gesture", tmp_path, T=T, skip_bad=True)
    assert len(kept) == 1 and [item.path for item in kept.skipped] == [str(path)]


# ---------------------------------------------------------------- item 7: skip the sample only
def test_skip_bad_keeps_the_good_windows_of_a_recording(tmp_path):
    tree = write_gesture_tree(tmp_path, layout="aedat", T=T)
    # The train recording: three windows (classes 1, 5, 11); put one off-sensor event
    # (x = 200) into the second window only.
    (label0, first), (label1, second), (label2, third) = tree.samples["train"]
    second = EventArrays(second.t, second.x.copy(), second.y, second.p)
    second.x[7] = 200
    joined = EventArrays(*(np.concatenate([getattr(e, k) for e in (first, second, third)])
                           for k in ("t", "x", "y", "p")))
    path = tmp_path / "user01_fluorescent.aedat"
    path.write_bytes(aedat31_bytes(joined))

    data = get_dataset("dvs-gesture", tmp_path, T=T, split="train")
    expect_named_error(path, lambda: data[1], rf"window 2000000..2000400 us \(class 5\): event "
                       rf"x coordinates span {second.x.min()}..200, outside the 128x128 sensor")
    kept = get_dataset("dvs-gesture", tmp_path, T=T, split="train", skip_bad=True)
    assert [label for _, label in (kept[i] for i in range(len(kept)))] == [label0, label2]
    np.testing.assert_array_equal(kept[0][0].numpy(), reference_frames(first, T))
    np.testing.assert_array_equal(kept[1][0].numpy(), reference_frames(third, T))
    assert len(kept.skipped) == 1 and "window 2000000..2000400" in kept.skipped[0].reason


def test_a_broken_recording_is_listed_once_for_all_its_windows(tmp_path):
    write_gesture_tree(tmp_path, layout="aedat", T=T)
    path = tmp_path / "user01_fluorescent.aedat"
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(DataError, match="all train samples"):
        get_dataset("dvs-gesture", tmp_path, T=T, split="train", skip_bad=True)
    kept = get_dataset("dvs-gesture", tmp_path, T=T, split="test", skip_bad=True)
    assert len(kept) == 2 and kept.skipped == ()
    write_labels(tmp_path, "user24_led", "3,1000000,1000400\n8,2000000,2000400\n9,5,6\n")
    kept = get_dataset("dvs-gesture", tmp_path, T=T, split="test", skip_bad=True)
    assert len(kept) == 2 and len(kept.skipped) == 1


# ---------------------------------------------------------------- item 10: worker errors
def test_data_error_in_a_worker_keeps_its_message_and_path(tmp_path):
    write_cifar10dvs_tree(tmp_path, layout="aedat", per_class=2)
    path = tmp_path / "cat" / "cifar10_cat_0.aedat"
    path.write_bytes(b"")
    data = get_dataset("cifar10-dvs", tmp_path, T=T, split="train", train_ratio=0.5)
    with pytest.raises(DataError) as caught:
        list(DataLoader(data, batch_size=1, num_workers=1))
    assert str(caught.value).startswith(f"{path}: not an AEDAT 2.0 recording (empty")
    assert caught.value.path == str(path) and "Caught" not in str(caught.value)


def test_cli_names_the_file_with_workers(tmp_path, tiny_event_model):
    tree = write_gesture_tree(tmp_path / "gesture", layout="frames", T=2)
    path = tree.root / "frames_number_2_split_by_number" / "test" / "2" / "user24_led_0.npz"
    np.savez(path, frames=np.full((2, 2, 128, 128), "x"))
    result = invoke("profile", tiny_event_model, "--trust-pickle", "--dataset", "dvs-gesture",
                    "-T", "2", "--data-root", tree.root, "--workers", "1")
    assert result.exit_code == 2, result.stderr
    line = one_error_line(result)
    assert line.startswith(f"Error: {path}: array 'frames' holds <U1 values"), line
    result = invoke("profile", tiny_event_model, "--trust-pickle", "--dataset", "dvs-gesture",
                    "-T", "2", "--data-root", tree.root, "--workers", "1", "--skip-bad")
    assert result.exit_code == 0, result.stderr
    assert "skipped 1 bad file(s)" in result.stderr


@pytest.fixture
def tiny_event_model(tmp_path):
    import torch
    from cli_helpers import tiny_model
    path = tmp_path / "tiny.pt"
    torch.save(tiny_model(), path)
    return path


# ---------------------------------------------------------------- item 11: BOM
def test_labels_csv_and_trials_list_with_a_byte_order_mark(tmp_path):
    write_gesture_tree(tmp_path, layout="aedat", T=T)
    for name in ("user24_led_labels.csv", "trials_to_test.txt"):
        path = tmp_path / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    data = get_dataset("dvs-gesture", tmp_path, T=T)
    assert len(data) == 2 and data[0][0].sum() == 40


def test_labels_file_that_is_not_a_small_regular_file(tmp_path):
    write_gesture_tree(tmp_path, layout="aedat", T=T)
    path = tmp_path / "user24_led_labels.csv"
    path.write_bytes(b"class,startTime_usec,endTime_usec\n" + b"#" * (1 << 20))
    with pytest.raises(DataError, match="small text files") as caught:
        get_dataset("dvs-gesture", tmp_path, T=T)
    assert str(path) in str(caught.value)


# ---------------------------------------------------------------- never read a FIFO or a huge file
@linux_only
def test_fifo_recording_is_refused_not_read(tmp_path):
    import os

    write_gesture_tree(tmp_path, layout="aedat", T=T)
    path = tmp_path / "user24_led.aedat"
    path.unlink()
    os.mkfifo(path)  # reading it would block forever
    with pytest.raises(DataError, match="listed in the trials list is not a regular file"):
        get_dataset("dvs-gesture", tmp_path, T=T)
    (tmp_path / "user24_led_labels.csv").unlink()
    os.mkfifo(tmp_path / "user24_led_labels.csv")
    path.unlink()
    path.write_bytes(b"")
    with pytest.raises(DataError, match="labels.csv: is not a regular file"):
        get_dataset("dvs-gesture", tmp_path, T=T)


def test_recording_larger_than_the_bound(tmp_path, monkeypatch):
    import syops.data.aedat

    write_cifar10dvs_tree(tmp_path, layout="aedat", classes=("cat",), per_class=1)
    path = tmp_path / "cat" / "cifar10_cat_0.aedat"
    monkeypatch.setattr(syops.data.aedat, "MAX_RECORDING_BYTES", path.stat().st_size - 1)
    data = get_dataset("cifar10-dvs", tmp_path, T=T, split="train")
    expect_named_error(path, lambda: data[0], f"is {path.stat().st_size} bytes, more than")


# ---------------------------------------------------------------- issue 24: readers
def shd_samples(count: int):
    return [([0.1, 0.2, 0.3], [1, 2, 3], index % 20) for index in range(count)]


@linux_only
def test_shd_external_link_to_a_fifo_is_refused_not_followed(tmp_path):
    import h5py
    from data_writers_more import write_shd_file
    fifo = tmp_path / "fifo.h5"
    os.mkfifo(fifo)
    path = write_shd_file(tmp_path / "shd_test.h5", shd_samples(2))
    with h5py.File(path, "a") as h5:
        del h5["labels"]
        h5["labels"] = h5py.ExternalLink(str(fifo), "labels")
    with time_limited(20):
        expect_named_error(path, lambda: get_dataset("shd", tmp_path, T=2),
                           "labels is an external link to")


@linux_only
def test_shd_external_storage_is_refused(tmp_path):
    import h5py
    from data_writers_more import write_shd_file
    fifo = tmp_path / "labels.bin"
    os.mkfifo(fifo)
    path = write_shd_file(tmp_path / "shd_test.h5", shd_samples(2))
    with h5py.File(path, "a") as h5:
        del h5["labels"]
        h5.create_dataset("labels", (2,), dtype=np.uint16, external=[(str(fifo), 0, 4)])
    with time_limited(20):
        expect_named_error(path, lambda: get_dataset("shd", tmp_path, T=2),
                           "labels keeps its data outside the file")


def test_skip_bad_checks_only_the_samples_the_run_uses(tmp_path, monkeypatch):
    """--samples N --skip-bad reads N good samples, not every declared one."""
    from data_writers_more import write_shd_file

    from syops.data import shd
    write_shd_file(tmp_path / "shd_test.h5", shd_samples(300))
    reads = []
    original = shd.SHDReader.__call__
    monkeypatch.setattr(shd.SHDReader, "__call__",
                        lambda self, sample: reads.append(sample.key) or original(self, sample))
    dataset = get_dataset("shd", tmp_path, T=2, skip_bad=True, limit=3)
    assert reads == [0, 1, 2] and len(dataset) == 3
    assert len(get_dataset("shd", tmp_path, T=2, skip_bad=True)) == 300


@linux_only
def test_cifar_batch_of_a_million_records_is_refused_before_reading(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    with open(folder / "test_batch.bin", "wb") as stream:  # sparse: 3 GB of holes
        stream.truncate(10 ** 6 * 3073)
    with memory_guard(), time_limited(20):
        expect_named_error(folder / "test_batch.bin",
                           lambda: get_dataset("cifar10", tmp_path), "more than 60,000 records")


def test_event_model_on_event_data_of_another_size_is_refused():
    result = invoke("profile", "fsnn7", "--dataset", "n-mnist", "-T", "2", "--samples", "1")
    assert result.exit_code == 2
    assert "fsnn7 takes frames [T, 2, 128, 128] (dvs-gesture), but n-mnist gives [T, 2, 34, " \
           "34]" in one_error_line(result)


def test_a_named_data_set_without_data_root_says_it_is_synthetic_once():
    result = invoke("profile", "fsnn7", "--dataset", "dvs-gesture", "-T", "2", "--samples", "1",
                    "--format", "json")
    assert result.exit_code == 0
    assert result.stderr.count("no --data-root: dvs-gesture is a seeded synthetic stand-in") == 1
    assert "--data-root DIR" in result.stderr
    quiet_default = invoke("profile", "fsnn7", "-T", "2", "--samples", "1", "--format", "json")
    assert "synthetic stand-in" not in quiet_default.stderr
