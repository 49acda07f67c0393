"""N-MNIST from its 40-bit ATIS .bin recordings: decoding, frames, layouts, broken files,
DataLoader workers, and an end-to-end `syops profile`."""

import numpy as np
import pytest
import torch
from cli_helpers import invoke, json_records, one_error_line
from data_writers_more import damaged_copies, nmnist_bytes, save_tiny_model, write_nmnist_sample
from torch.utils.data import DataLoader

from syops.data import DataError, get_dataset
from syops.data.nmnist import read_nmnist_bin

# (x, y, polarity, timestamp us); the last timestamp is the largest 23-bit value.
EVENTS = [(0, 0, 1, 10), (33, 0, 0, 20), (5, 7, 1, 30), (5, 7, 1, 40), (33, 33, 0, 2 ** 23 - 1)]


def expected_two_frames():
    """T = 2 of 5 events: frame 0 holds events 0-1 (5 // 2 = 2), frame 1 events 2-4;
    channel = polarity, indexed [y, x]."""
    frames = np.zeros((2, 2, 34, 34), dtype=np.float32)
    frames[0, 1, 0, 0] = 1
    frames[0, 0, 0, 33] = 1
    frames[1, 1, 7, 5] = 2
    frames[1, 0, 33, 33] = 1
    return frames


def write_tree(root, folder="."):
    base = root / folder
    write_nmnist_sample(base / "Test" / "3" / "00004.bin", EVENTS)
    write_nmnist_sample(base / "Test" / "0" / "00002.bin", EVENTS[:2])
    write_nmnist_sample(base / "Train" / "9" / "00001.bin", EVENTS[2:])
    return root


def test_event_bytes_by_hand(tmp_path):
    # x=5, y=7, ON, t=0x012345 -> 05 07 81 23 45 (polarity is the top bit of byte 2).
    path = tmp_path / "one.bin"
    path.write_bytes(bytes([0x05, 0x07, 0x81, 0x23, 0x45, 0x21, 0x00, 0x7F, 0xFF, 0xFF]))
    events = read_nmnist_bin(path)
    assert events.x.tolist() == [5, 33] and events.y.tolist() == [7, 0]
    assert events.p.tolist() == [1, 0]
    assert events.t.tolist() == [0x012345, 0x7FFFFF]
    assert nmnist_bytes([(5, 7, 1, 0x012345)]) == bytes([0x05, 0x07, 0x81, 0x23, 0x45])


def test_frames_split_by_number_by_hand(tmp_path):
    data = get_dataset("n-mnist", write_tree(tmp_path), T=2, split="test")
    assert len(data) == 2 and data.info.sample_shape == (2, 2, 34, 34)
    assert [label for _, label in data] == [0, 3]  # class folders in name order
    np.testing.assert_array_equal(data[1][0].numpy(), expected_two_frames())
    # Two events, T = 2: one per frame.
    first = data[0][0].numpy()
    assert first[0, 1, 0, 0] == 1 and first[1, 0, 0, 33] == 1 and first.sum() == 2
    assert not data.info.synthetic and "Test/" in data.info.layout


def test_train_split_and_spikingjelly_extract_folder(tmp_path):
    write_tree(tmp_path, folder="extract")
    train = get_dataset("N_MNIST", tmp_path, T=3, split="train")
    assert len(train) == 1 and train[0][1] == 9
    # 3 events, T = 3: one event per frame.
    frames = train[0][0].numpy()
    assert frames[0, 1, 7, 5] == 1 and frames[1, 1, 7, 5] == 1 and frames[2, 0, 33, 33] == 1
    assert frames.sum() == 3


def test_spikingjelly_caches(tmp_path):
    # events_np: the same events as arrays t, x, y, p; integrated exactly like the recordings.
    columns = np.array(EVENTS).T
    folder = tmp_path / "events_np" / "test" / "3"
    folder.mkdir(parents=True)
    np.savez(folder / "00004.npz", x=columns[0], y=columns[1], p=columns[2], t=columns[3])
    data = get_dataset("n-mnist", tmp_path, T=2)
    assert data[0][1] == 3 and "events_np" in data.info.layout
    np.testing.assert_array_equal(data[0][0].numpy(), expected_two_frames())
    # frames_number_2_split_by_number: used as they are, and before events_np.
    frames = tmp_path / "frames_number_2_split_by_number" / "test" / "7"
    frames.mkdir(parents=True)
    np.savez(frames / "00001.npz", frames=expected_two_frames() * 3)
    cached = get_dataset("n-mnist", tmp_path, T=2)
    assert cached[0][1] == 7 and cached[0][0].sum() == 15
    other = tmp_path / "other" / "frames_number_2_split_by_number" / "test"
    other.mkdir(parents=True)
    with pytest.raises(DataError, match="holds SpikingJelly frames for T=2 only, not T=5"):
        get_dataset("n-mnist", tmp_path / "other", T=5)
    np.savez(frames / "00001.npz", frames=np.zeros((2, 2, 128, 128)))
    with pytest.raises(DataError, match="expected .2, 2, 34, 34."):
        cached[0]


def test_workers_give_the_same_batches(tmp_path):
    data = get_dataset("n-mnist", write_tree(tmp_path), T=2)
    plain = [x for x, _ in DataLoader(data, batch_size=1)]
    forked = [x for x, _ in DataLoader(data, batch_size=1, num_workers=2)]
    assert all(torch.equal(a, b) for a, b in zip(plain, forked))


@pytest.mark.parametrize("content, message", [
    (nmnist_bytes(EVENTS)[:-2], "23 bytes, not a positive multiple of 5"),
    (b"", "0 bytes, not a positive multiple of 5"),
    (nmnist_bytes([(34, 0, 1, 5)]), "event x coordinates span 34..34, outside the 34x34"),
    (nmnist_bytes([(0, 240, 1, 5)]), "event y coordinates span 240..240"),
])
def test_broken_recording_names_the_file(tmp_path, content, message):
    write_tree(tmp_path)
    bad = tmp_path / "Test" / "5" / "00009.bin"
    bad.parent.mkdir()
    bad.write_bytes(content)
    data = get_dataset("n-mnist", tmp_path, T=2)
    with pytest.raises(DataError, match=message) as caught:
        data[2]
    assert caught.value.path == str(bad)
    kept = get_dataset("n-mnist", tmp_path, T=2, skip_bad=True)
    assert len(kept) == 2 and [entry.path for entry in kept.skipped] == [str(bad)]


def test_missing_layout_and_odd_class_folder(tmp_path):
    with pytest.raises(DataError, match=r"no n-mnist data found .* Train/<0..9>/\*\.bin"):
        get_dataset("n-mnist", tmp_path, T=2)
    write_tree(tmp_path)
    (tmp_path / "Test" / "ten").mkdir()
    with pytest.raises(DataError, match="unexpected class folder 'ten'"):
        get_dataset("n-mnist", tmp_path, T=2)


def test_synthetic_stand_in_shape():
    data = get_dataset("n-mnist", T=3, size=2, seed=1)
    frames, label = data[1]
    assert frames.shape == (3, 2, 34, 34) and label == 1 and data.info.synthetic
    assert torch.equal(frames, get_dataset("n-mnist", T=3, size=2, seed=1)[1][0])
    assert frames.min() >= 0 and torch.equal(frames, frames.round())


def test_profile_a_user_model_end_to_end(tmp_path):
    write_tree(tmp_path / "data")
    model = save_tiny_model(tmp_path / "net.pt", (2, 34, 34), 10, steps=True)
    record, = json_records("profile", model, "--trust-pickle", "--dataset", "n-mnist", "-T", "2",
                           "--data-root", tmp_path / "data")
    assert record["samples"] == 2 and not record["synthetic_data"]
    assert str(tmp_path / "data") in record["data"]
    # fc1 sees event counts (multi-level): 2 steps x 2312 inputs x 8 outputs MACs per sample.
    fc1, = (layer for layer in record["layers"] if layer["name"] == "fc1")
    assert fc1["macs"] == 2 * 2312 * 8


def test_cli_names_a_broken_recording_in_one_line(tmp_path):
    write_tree(tmp_path / "data")
    bad = write_nmnist_sample(tmp_path / "data" / "Test" / "3" / "00005.bin", EVENTS)
    bad.write_bytes(bad.read_bytes()[:7])
    model = save_tiny_model(tmp_path / "net.pt", (2, 34, 34), 10, steps=True)
    result = invoke("profile", model, "--trust-pickle", "--dataset", "n-mnist", "-T", "2",
                    "--data-root", tmp_path / "data")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert str(bad) in line and "not a positive multiple of 5" in line


def test_fuzzed_recordings_give_frames_or_a_data_error_naming_the_file(tmp_path):
    """Seeded byte mutations and truncations of a valid recording."""
    path = tmp_path / "Test" / "1" / "00001.bin"
    path.parent.mkdir(parents=True)
    outcomes = set()
    for _, damaged in damaged_copies(nmnist_bytes(EVENTS * 4), 200, most_bytes=4):
        path.write_bytes(damaged)
        try:
            frames = get_dataset("n-mnist", tmp_path, T=3)[0][0]
            assert frames.shape == (3, 2, 34, 34) and frames.sum() == len(damaged) // 5
            outcomes.add("frames")
        except DataError as err:
            assert err.path == str(path), err
            outcomes.add("error")
    assert outcomes == {"frames", "error"}
