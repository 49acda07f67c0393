"""CIFAR10-DVS from its AEDAT 2.0 recordings and from SpikingJelly's caches."""

import numpy as np
import pytest
import torch
from data_fixtures import CIFAR10DVS_LAYOUTS, reference_frames, write_cifar10dvs_tree

from syops.data import DataError, get_dataset

T = 4


def file_order(per_class):
    """Indices in file-name order: cifar10_cat_0, _1, _10, _11, _2, ... (as SpikingJelly sorts)."""
    return sorted(range(per_class), key=lambda index: f"cifar10_x_{index}.npz")


@pytest.mark.parametrize("layout", CIFAR10DVS_LAYOUTS)
def test_ninety_ten_split_in_file_name_order(tmp_path, layout):
    # 12 recordings per class in name order 0, 1, 10, 11, 2, ..., 9: ceil(0.9 * 12) = 11 go to
    # train, the last by name (index 9, not 11) is the test sample.
    tree = write_cifar10dvs_tree(tmp_path, layout=layout, T=T, per_class=12)
    test = get_dataset("cifar10-dvs", tmp_path, T=T, split="test")
    train = get_dataset("cifar10-dvs", tmp_path, T=T, split="train")
    assert len(test) == 2 and len(train) == 22
    assert [test[i][1] for i in range(2)] == [0, 3]  # airplane, cat
    for i, name in enumerate(("airplane", "cat")):
        index, events = tree.samples[name][9]
        np.testing.assert_array_equal(test[i][0].numpy(), reference_frames(events, T))
    first_train = tree.samples["airplane"][file_order(12)[0]][1]
    np.testing.assert_array_equal(train[0][0].numpy(), reference_frames(first_train, T))
    assert "90%" in test.info.layout


def test_all_layouts_agree(tmp_path):
    items = []
    for layout in CIFAR10DVS_LAYOUTS:
        write_cifar10dvs_tree(tmp_path / f"tree_{layout}", layout=layout, T=T, per_class=3)
        data = get_dataset("cifar10-dvs", tmp_path / f"tree_{layout}", T=T, split="train")
        items.append([data[i] for i in range(len(data))])
    for other in items[1:]:
        assert [label for _, label in other] == [label for _, label in items[0]]
        assert all(torch.equal(a, b) for (a, _), (b, _) in zip(items[0], other))


def test_train_ratio_option(tmp_path):
    write_cifar10dvs_tree(tmp_path, layout="events_np", T=T, per_class=10)
    data = get_dataset("cifar10-dvs", tmp_path, T=T, split="test", train_ratio=0.5)
    assert len(data) == 10
    with pytest.raises(DataError, match="train_ratio must lie strictly between 0 and 1"):
        get_dataset("cifar10-dvs", tmp_path, T=T, train_ratio=1.0)


def test_train_test_folders_of_the_cache_are_used_as_they_are(tmp_path):
    # SpikingJelly's TEBN split leaves frames_number_<T>_split_by_number/{train,test}/<class>.
    tree = write_cifar10dvs_tree(tmp_path, layout="frames", T=T, per_class=3)
    cache = tmp_path / f"frames_number_{T}_split_by_number"
    (cache / "test" / "cat").mkdir(parents=True)
    (cache / "cat" / "cifar10_cat_0.npz").rename(cache / "test" / "cat" / "cifar10_cat_0.npz")
    data = get_dataset("cifar10-dvs", tmp_path, T=T, split="test")
    assert len(data) == 1 and data[0][1] == 3
    np.testing.assert_array_equal(data[0][0].numpy(), reference_frames(tree.samples["cat"][0][1], T))


def test_unknown_class_folder_in_cache(tmp_path):
    write_cifar10dvs_tree(tmp_path, layout="events_np", T=T, per_class=2)
    (tmp_path / "events_np" / "plane").mkdir()
    with pytest.raises(DataError, match="unexpected class folder 'plane'"):
        get_dataset("cifar10-dvs", tmp_path, T=T)


def test_skip_bad_truncated_recording(tmp_path):
    write_cifar10dvs_tree(tmp_path, layout="aedat", T=T, per_class=2)
    broken = tmp_path / "cat" / "cifar10_cat_1.aedat"
    broken.write_bytes(broken.read_bytes()[:-3])
    # Two recordings per class: ceil(0.9 * 2) = 2, so both are train samples.
    with pytest.raises(DataError, match="not a multiple of 8"):
        get_dataset("cifar10-dvs", tmp_path, T=T, split="train")[3]
    data = get_dataset("cifar10-dvs", tmp_path, T=T, split="train", skip_bad=True)
    assert len(data) == 3 and [item.path for item in data.skipped] == [str(broken)]
