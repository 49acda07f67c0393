"""Spiking Heidelberg Digits from its HDF5 files: time and number splits by hand, layouts,
broken files, DataLoader workers, and an end-to-end `syops profile`."""

import sys

import numpy as np
import pytest
import torch
from cli_helpers import json_records
from data_writers_more import damaged_copies, save_tiny_model, write_shd_file
from torch.utils.data import DataLoader

from syops.data import DataError, get_dataset
from syops.data.shd import spikes_to_frames

# Times exactly representable in float16 and float32 (seconds).
UNEVEN = ([0.0, 0.125, 0.25, 0.375, 1.0], [0, 1, 1, 699, 5], 7)
SPREAD = ([0.5, 1.5], [3, 4], 19)
TRIALS = 120  # fuzzed files per run


def frames_by_hand(counts, T):
    frames = np.zeros((T, 700), dtype=np.float32)
    for frame, unit, count in counts:
        frames[frame, unit] = count
    return frames


def test_time_split_by_hand(tmp_path):
    # UNEVEN, T = 2: dt = (1.0 - 0) / 2 = 0.5; bin 0 holds t < 0.5 (the first four spikes),
    # bin 1 the spike at 1.0. SPREAD: dt = 0.5, bin 0: 0.5 <= t < 1.0, bin 1: t >= 1.0.
    write_shd_file(tmp_path / "shd_test.h5", [UNEVEN, SPREAD])
    data = get_dataset("shd", tmp_path, T=2)
    assert len(data) == 2 and [label for _, label in data] == [7, 19]
    assert data.info.sample_shape == (2, 700) and "split by time" in data.info.layout
    np.testing.assert_array_equal(
        data[0][0].numpy(), frames_by_hand([(0, 0, 1), (0, 1, 2), (0, 699, 1), (1, 5, 1)], 2))
    np.testing.assert_array_equal(data[1][0].numpy(), frames_by_hand([(0, 3, 1), (1, 4, 1)], 2))


def test_number_split_by_hand(tmp_path):
    # 5 spikes, T = 2: frame 0 holds spikes 0-1 (5 // 2), frame 1 spikes 2-4.
    write_shd_file(tmp_path / "shd_test.h5", [UNEVEN])
    data = get_dataset("shd", tmp_path, T=2, split_by="number")
    np.testing.assert_array_equal(
        data[0][0].numpy(), frames_by_hand([(0, 0, 1), (0, 1, 1), (1, 1, 1), (1, 699, 1),
                                            (1, 5, 1)], 2))
    with pytest.raises(DataError, match="split_by must be one of time, number"):
        get_dataset("shd", tmp_path, T=2, split_by="duration")


def test_time_bins_edge_cases_by_hand():
    times = np.array([0.0, 1.0], dtype=np.float32)
    units = np.array([2, 3])
    # T = 4, dt = 0.25: bins 1 and 2 are empty (SpikingJelly fails there), the end time
    # falls in the last bin.
    np.testing.assert_array_equal(spikes_to_frames(times, units, 4, "time"),
                                  frames_by_hand([(0, 2, 1), (3, 3, 1)], 4))
    # All spikes at one time: dt = 0, every spike is in the last bin.
    same = np.array([0.5, 0.5], dtype=np.float32)
    np.testing.assert_array_equal(spikes_to_frames(same, units, 3, "time"),
                                  frames_by_hand([(2, 2, 1), (2, 3, 1)], 3))
    # The time split does not depend on the order the spikes are stored in.
    order = [4, 0, 3, 1, 2]
    shuffled = spikes_to_frames(np.array(UNEVEN[0], dtype=np.float32)[order],
                                np.array(UNEVEN[1])[order], 2, "time")
    np.testing.assert_array_equal(shuffled, spikes_to_frames(
        np.array(UNEVEN[0], dtype=np.float32), np.array(UNEVEN[1]), 2, "time"))


def test_float16_times_and_spikingjelly_folder(tmp_path):
    write_shd_file(tmp_path / "events_h5" / "shd_train.h5", [UNEVEN], times_dtype=np.float16)
    data = get_dataset("shd", tmp_path, T=2, split="train")
    np.testing.assert_array_equal(
        data[0][0].numpy(), frames_by_hand([(0, 0, 1), (0, 1, 2), (0, 699, 1), (1, 5, 1)], 2))


def test_workers_reopen_the_file(tmp_path):
    write_shd_file(tmp_path / "shd_test.h5", [UNEVEN, SPREAD, UNEVEN])
    data = get_dataset("shd", tmp_path, T=4)
    first = data[0][0]  # opens the file in this process before the workers fork
    batches = [x for x, _ in DataLoader(data, batch_size=1, num_workers=2)]
    assert torch.equal(batches[0][0], first) and torch.equal(batches[2][0], first)
    assert torch.equal(batches[1][0], data[1][0])


def broken_samples(tmp_path, sample):
    return write_shd_file(tmp_path / "shd_test.h5", [UNEVEN, sample, SPREAD])


@pytest.mark.parametrize("sample, message", [
    (([0.1, 0.2], [3, 700], 1), "sample 1 has units 3..700, outside 0..699"),
    (([], [], 1), "sample 1 has no spikes"),
    (([0.1, 0.2, 0.3], [3, 4], 1), "sample 1 has 3 spike times but 2 units"),
    (([0.1, float("nan")], [3, 4], 1), "sample 1 has spike times that are not finite"),
    (([-0.5, 0.1], [3, 4], 1), "sample 1 has spike times that are not finite non-negative"),
])
def test_a_broken_sample_is_named_and_skipped_alone(tmp_path, sample, message):
    path = broken_samples(tmp_path, sample)
    data = get_dataset("shd", tmp_path, T=2)
    with pytest.raises(DataError, match=message) as caught:
        data[1]
    assert caught.value.path == str(path)
    kept = get_dataset("shd", tmp_path, T=2, skip_bad=True)
    assert [label for _, label in kept] == [7, 19]
    assert len(kept.skipped) == 1 and message in kept.skipped[0].reason


def test_a_label_outside_the_classes(tmp_path):
    path = broken_samples(tmp_path, ([0.1], [3], 20))
    with pytest.raises(DataError, match="record 1 has label 20, outside 0..19") as caught:
        get_dataset("shd", tmp_path, T=2)
    assert caught.value.path == str(path)
    assert len(get_dataset("shd", tmp_path, T=2, skip_bad=True)) == 2


def test_files_that_are_not_shd(tmp_path):
    import h5py

    path = tmp_path / "shd_test.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    with pytest.raises(DataError, match="not a readable HDF5 file") as caught:
        get_dataset("shd", tmp_path, T=2)
    assert caught.value.path == str(path)
    with h5py.File(path, "w") as h5:
        h5.create_dataset("labels", data=np.zeros(2, dtype=np.uint16))
    with pytest.raises(DataError, match="lacks the SHD dataset"):
        get_dataset("shd", tmp_path, T=2)
    write_shd_file(path, [UNEVEN, SPREAD])
    with h5py.File(path, "a") as h5:
        del h5["labels"]
        h5.create_dataset("labels", data=np.zeros(3, dtype=np.uint16))  # one label too many
    with pytest.raises(DataError, match="needs 1-D datasets of one length"):
        get_dataset("shd", tmp_path, T=2)
    write_shd_file(path, [UNEVEN], units_dtype=np.float32)
    with pytest.raises(DataError, match="spikes/units holds float32, expected an integer array"):
        get_dataset("shd", tmp_path, T=2)


def test_truncated_file(tmp_path):
    path = write_shd_file(tmp_path / "shd_test.h5", [UNEVEN, SPREAD])
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError) as caught:
        get_dataset("shd", tmp_path, T=2)
    assert caught.value.path == str(path)


def test_missing_file_gzipped_file_and_missing_h5py(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="no SHD test file found"):
        get_dataset("shd", tmp_path, T=2)
    (tmp_path / "shd_test.h5.gz").write_bytes(b"\x1f\x8b")
    with pytest.raises(DataError, match="decompress it first"):
        get_dataset("shd", tmp_path, T=2)
    write_shd_file(tmp_path / "shd_test.h5", [UNEVEN])
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(DataError, match="needs h5py: pip install h5py$"):
        get_dataset("shd", tmp_path, T=2)


def test_synthetic_stand_in_shape():
    data = get_dataset("shd", T=5, size=3)
    frames, label = data[2]
    assert frames.shape == (5, 700) and label == 2 and data.info.synthetic
    assert frames.min() >= 0 and torch.equal(frames, frames.round()) and frames.sum() > 0


def test_profile_a_user_model_end_to_end(tmp_path):
    write_shd_file(tmp_path / "data" / "shd_test.h5", [UNEVEN, SPREAD])
    model = save_tiny_model(tmp_path / "net.pt", (700,), 20, steps=True)
    record, = json_records("profile", model, "--trust-pickle", "--dataset", "shd", "-T", "2",
                           "--data-root", tmp_path / "data")
    assert record["samples"] == 2 and not record["synthetic_data"]
    fc1, = (layer for layer in record["layers"] if layer["name"] == "fc1")
    assert fc1["macs"] == 2 * 700 * 8  # multi-level counts: dense MACs, 2 steps per sample


def test_fuzzed_files_give_frames_or_a_data_error_naming_the_file(tmp_path):
    """Seeded byte mutations and truncations of a valid file (a longer run: raise TRIALS)."""
    good = write_shd_file(tmp_path / "good.h5", [UNEVEN, SPREAD]).read_bytes()
    outcomes = set()
    for trial, damaged in damaged_copies(good, TRIALS):
        path = tmp_path / f"trial{trial}" / "shd_test.h5"  # a new file: HDF5 caches open ones
        path.parent.mkdir()
        path.write_bytes(damaged)
        try:
            data = get_dataset("shd", path.parent, T=2)
            assert all(data[i][0].shape == (2, 700) for i in range(len(data)))
            outcomes.add("frames")
        except DataError as err:
            assert err.path == str(path), err
            outcomes.add("error")
    assert outcomes == {"frames", "error"}

