"""DVS128 Gesture from its recordings and from SpikingJelly's caches."""

import pickle

import numpy as np
import pytest
import torch
from data_fixtures import (
    GESTURE_LAYOUTS,
    aedat31_bytes,
    make_events,
    reference_frames,
    write_gesture_tree,
)
from torch.utils.data import DataLoader

from syops.data import DataError, get_dataset

T = 4


def items_by_label(dataset):
    return {label: frames for frames, label in (dataset[i] for i in range(len(dataset)))}


@pytest.mark.parametrize("layout", GESTURE_LAYOUTS)
@pytest.mark.parametrize("split", ["train", "test"])
def test_each_layout_gives_the_expected_frames(tmp_path, layout, split):
    tree = write_gesture_tree(tmp_path, layout=layout, T=T)
    data = get_dataset("dvs-gesture", tmp_path, T=T, split=split)
    assert len(data) == len(tree.samples[split])
    got = items_by_label(data)
    for label, events in tree.samples[split]:
        assert got[label].shape == (T, 2, 128, 128) and got[label].dtype == torch.float32
        np.testing.assert_array_equal(got[label].numpy(), reference_frames(events, T))
    assert data.info.num_classes == 11 and data.info.T == T and not data.info.synthetic
    assert data.describe() == f"dvs-gesture ({tmp_path}, {len(data)} samples, {split} split)"


def test_recordings_and_both_caches_agree(tmp_path):
    datasets = []
    for layout in GESTURE_LAYOUTS:
        write_gesture_tree(tmp_path / layout, layout=layout, T=T)
        datasets.append(items_by_label(get_dataset("dvs-gesture", tmp_path / layout, T=T,
                                                   split="train")))
    first = datasets[0]
    for other in datasets[1:]:
        assert first.keys() == other.keys()
        for label in first:
            assert torch.equal(first[label], other[label])


def test_window_excludes_events_outside_the_labelled_time(tmp_path):
    # Events at t = 500 000.. lie before every window; a window [1 000 000, 1 000 400) of
    # 40 events at 10 us spacing holds exactly its 40 events.
    write_gesture_tree(tmp_path, layout="aedat", T=T, events_per_sample=40)
    frames, _ = get_dataset("dvs-gesture", tmp_path, T=T, split="train")[0]
    assert frames.sum() == 40


def test_frames_cache_for_another_T_is_reported(tmp_path):
    write_gesture_tree(tmp_path, layout="frames", T=8)
    with pytest.raises(DataError, match="frames for T=8 only, not T=16"):
        get_dataset("dvs-gesture", tmp_path)


def test_root_may_be_the_cache_folder_itself(tmp_path):
    write_gesture_tree(tmp_path, layout="frames", T=T)
    data = get_dataset("dvs-gesture", tmp_path / f"frames_number_{T}_split_by_number", T=T)
    assert len(data) == 2


def test_default_T_is_16(tmp_path):
    write_gesture_tree(tmp_path, layout="aedat", T=16)
    data = get_dataset("dvs-gesture", tmp_path)
    assert data.info.T == 16 and data[0][0].shape == (16, 2, 128, 128)


def add_broken_test_recording(root, name="user25_led"):
    """A third test recording, truncated in the middle of a packet, plus its labels."""
    data = aedat31_bytes(make_events(30, seed=9, start_us=1_000_000))
    (root / f"{name}.aedat").write_bytes(data[:-5])
    (root / f"{name}_labels.csv").write_text("class,startTime_usec,endTime_usec\n"
                                             "1,1000000,1000300\n")
    with open(root / "trials_to_test.txt", "a") as trials:
        trials.write(f"{name}.aedat\n")
    return root / f"{name}.aedat"


def test_truncated_recording_fails_naming_the_file(tmp_path):
    write_gesture_tree(tmp_path, layout="aedat", T=T)
    broken = add_broken_test_recording(tmp_path)
    data = get_dataset("dvs-gesture", tmp_path, T=T)  # indexing reads only the CSVs
    with pytest.raises(DataError, match="truncated packet") as caught:
        data[len(data) - 1]
    assert str(broken) in str(caught.value) and "skip_bad" in str(caught.value)


def test_skip_bad_leaves_out_and_counts_broken_files(tmp_path):
    write_gesture_tree(tmp_path, layout="aedat", T=T)
    broken = add_broken_test_recording(tmp_path)
    (tmp_path / "user26_led_labels.csv").write_text("class,startTime_usec,endTime_usec\n"
                                                    "12,5,10\n")  # unknown class 12
    (tmp_path / "user26_led.aedat").write_bytes(aedat31_bytes(make_events(5, seed=1)))
    with open(tmp_path / "trials_to_test.txt", "a") as trials:
        trials.write("user26_led.aedat\nuser27_missing.aedat\n")

    data = get_dataset("dvs-gesture", tmp_path, T=T, skip_bad=True)
    assert len(data) == 2
    assert [item.path for item in data.skipped] == [
        str(tmp_path / "user26_led_labels.csv"), str(tmp_path / "user27_missing.aedat"),
        str(broken)]
    assert "unknown class 12" in data.skipped[0].reason
    assert data.info.num_skipped == 3 and "3 bad file(s) skipped" in data.describe()
    assert all(data[i][0].shape == (T, 2, 128, 128) for i in range(len(data)))


@pytest.mark.parametrize("csv, message", [
    ("class,start,end\n1,0,10\n", "expected 'class,startTime_usec,endTime_usec'"),
    ("class,startTime_usec,endTime_usec\n1,abc,10\n", "line 2 is '1,abc,10'"),
    ("class,startTime_usec,endTime_usec\n1,0,10\n0,5,9\n", "line 3: unknown class 0"),
    ("class,startTime_usec,endTime_usec\n3,50,50\n", "bad time window 50..50"),
])
def test_bad_labels_csv_is_named(tmp_path, csv, message):
    write_gesture_tree(tmp_path, layout="aedat", T=T)
    (tmp_path / "user24_led_labels.csv").write_text(csv)
    with pytest.raises(DataError, match=message) as caught:
        get_dataset("dvs-gesture", tmp_path, T=T)
    assert "user24_led_labels.csv" in str(caught.value)


def test_cache_with_a_stray_class_folder(tmp_path):
    write_gesture_tree(tmp_path, layout="events_np", T=T)
    (tmp_path / "events_np" / "test" / "eleven").mkdir()
    with pytest.raises(DataError, match="unexpected class folder 'eleven'"):
        get_dataset("dvs-gesture", tmp_path, T=T)


def test_reader_pickles_without_its_recording(tmp_path):
    write_gesture_tree(tmp_path, layout="aedat", T=T)
    data = get_dataset("dvs-gesture", tmp_path, T=T)
    data[0]  # fills the one-recording cache
    assert data.reader._recording is not None
    copy = pickle.loads(pickle.dumps(data))
    assert copy.reader._recording is None and torch.equal(copy[1][0], data[1][0])


def test_dataloader_with_two_workers(tmp_path):
    write_gesture_tree(tmp_path, layout="aedat", T=T)
    data = get_dataset("dvs-gesture", tmp_path, T=T, split="train")
    batches = list(DataLoader(data, batch_size=2, num_workers=2))
    frames = torch.cat([batch[0] for batch in batches])
    labels = torch.cat([batch[1] for batch in batches])
    assert frames.shape == (3, T, 2, 128, 128)
    assert labels.tolist() == [0, 4, 10]
    assert torch.equal(frames, torch.stack([data[i][0] for i in range(3)]))
