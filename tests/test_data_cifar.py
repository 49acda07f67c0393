"""CIFAR-10 and CIFAR-100 from their binary version: records by hand, normalisation, the
refused pickle version, broken batches, DataLoader workers, and an end-to-end `syops profile`."""

import numpy as np
import pytest
import torch
from cli_helpers import invoke, json_records, one_error_line
from data_writers_more import cifar_record, save_tiny_model, solid_image, write_cifar_batch
from torch.utils.data import DataLoader

from syops.data import DataError, get_dataset

# The mean and std of SpikingJelly's CIFAR-10 examples, and the usual CIFAR-100 ones.
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)


def normalised(rgb, mean, std):
    return [(value / 255 - m) / s for value, m, s in zip(rgb, mean, std)]


def write_cifar10(root, train_batches=5):
    folder = root / "cifar-10-batches-bin"
    write_cifar_batch(folder / "test_batch.bin", [((3,), solid_image(255, 0, 51)),
                                                  ((0,), solid_image(0, 102, 255)),
                                                  ((9,), solid_image(1, 2, 3))])
    for number in range(1, train_batches + 1):
        write_cifar_batch(folder / f"data_batch_{number}.bin", [((number,), solid_image(9, 9, 9))])
    return folder


def test_record_layout_by_hand():
    image = np.zeros((3, 32, 32), dtype=np.uint8)
    image[0, 0, 1], image[1, 31, 31], image[2, 1, 0] = 10, 20, 30
    record = cifar_record((4,), image)
    assert len(record) == 3073 and record[0] == 4
    assert record[1 + 1] == 10 and record[1 + 1024 + 1023] == 20 and record[1 + 2048 + 32] == 30


def test_cifar10_pixels_labels_and_normalisation(tmp_path):
    write_cifar10(tmp_path)
    data = get_dataset("cifar10", tmp_path)
    assert len(data) == 3 and [label for _, label in data] == [3, 0, 9]
    image = data[0][0]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32
    for channel, value in enumerate(normalised((255, 0, 51), CIFAR10_MEAN, CIFAR10_STD)):
        assert torch.allclose(image[channel], torch.full((32, 32), value))
    assert image[0, 0, 0] == pytest.approx((1 - 0.4914) / 0.2023)
    assert torch.allclose(data[1][0][1], torch.full((32, 32), (0.4 - 0.4822) / 0.1994))
    train = get_dataset("cifar10", tmp_path, split="train")
    assert [label for _, label in train] == [1, 2, 3, 4, 5]  # data_batch_1 .. _5 in order


def test_one_pixel_lands_where_the_format_puts_it(tmp_path):
    image = np.zeros((3, 32, 32), dtype=np.uint8)
    image[2, 1, 0] = 255  # blue, row 1, column 0: byte 1 + 2048 + 32 of the record
    write_cifar_batch(tmp_path / "test_batch.bin", [((5,), image)])
    read = get_dataset("cifar10", tmp_path)[0][0]
    zero = normalised((0, 0, 0), CIFAR10_MEAN, CIFAR10_STD)
    assert read[2, 1, 0] == pytest.approx((1 - 0.4465) / 0.2010)
    assert read[2, 0, 1] == pytest.approx(zero[2]) and read[0, 1, 0] == pytest.approx(zero[0])


def test_cifar100_uses_the_fine_label(tmp_path):
    folder = tmp_path / "cifar-100-binary"
    write_cifar_batch(folder / "test.bin", [((4, 72), solid_image(255, 255, 255)),
                                            ((19, 99), solid_image(0, 0, 0))])
    write_cifar_batch(folder / "train.bin", [((0, 5), solid_image(0, 0, 0))])
    data = get_dataset("CIFAR-100", tmp_path)
    assert [label for _, label in data] == [72, 99] and data.info.num_classes == 100
    for channel, value in enumerate(normalised((255, 255, 255), CIFAR100_MEAN, CIFAR100_STD)):
        assert torch.allclose(data[0][0][channel], torch.full((32, 32), value))
    assert [label for _, label in get_dataset("cifar100", tmp_path, split="train")] == [5]


def test_pickle_version_is_refused_with_a_hint(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in ("data_batch_1", "test_batch", "batches.meta"):
        (folder / name).write_bytes(b"\x80\x04not unpickled")
    with pytest.raises(DataError, match="Python-pickle version of cifar10, which syops does not "
                       "unpickle .unsafe.; download the binary version"):
        get_dataset("cifar10", tmp_path)
    result = invoke("profile", "sew7b", "--dataset", "cifar10", "--data-root", folder)
    assert result.exit_code == 2 and "binary version" in one_error_line(result)


@pytest.mark.parametrize("content, message", [
    (lambda: cifar_record((1,), solid_image(0, 0, 0))[:-1], "is 3072 bytes, not a positive "
                                                              "multiple of the 3073-byte"),
    (lambda: b"", "is 0 bytes"),
    (lambda: cifar_record((1, 2), solid_image(0, 0, 0)), "is 3074 bytes"),  # a CIFAR-100 record
])
def test_broken_batch_is_named_and_skipped(tmp_path, content, message):
    folder = write_cifar10(tmp_path)
    bad = folder / "data_batch_3.bin"
    bad.write_bytes(content())
    with pytest.raises(DataError, match=message) as caught:
        get_dataset("cifar10", tmp_path, split="train")
    assert caught.value.path == str(bad)
    kept = get_dataset("cifar10", tmp_path, split="train", skip_bad=True)
    assert [label for _, label in kept] == [1, 2, 4, 5]
    assert [entry.path for entry in kept.skipped] == [str(bad)]


def test_a_label_outside_the_classes_is_one_bad_record(tmp_path):
    folder = write_cifar10(tmp_path)
    write_cifar_batch(folder / "test_batch.bin", [((3,), solid_image(0, 0, 0)),
                                                  ((10,), solid_image(0, 0, 0)),
                                                  ((9,), solid_image(255, 255, 255))])
    with pytest.raises(DataError, match="record 1 has label 10, outside 0..9"):
        get_dataset("cifar10", tmp_path)
    kept = get_dataset("cifar10", tmp_path, skip_bad=True)
    assert [label for _, label in kept] == [3, 9] and len(kept.skipped) == 1
    assert kept[1][0][0, 0, 0] == pytest.approx((1 - 0.4914) / 0.2023)


def test_missing_files(tmp_path):
    write_cifar10(tmp_path, train_batches=4)
    with pytest.raises(DataError, match="no cifar10 binary batches found .* data_batch_5.bin"):
        get_dataset("cifar10", tmp_path, split="train")
    (tmp_path / "train").mkdir()  # a folder named like a CIFAR-100 pickle file is not one
    with pytest.raises(DataError, match="no cifar100 binary batches found"):
        get_dataset("cifar100", tmp_path)
    (tmp_path / "cifar-100-python").mkdir()
    (tmp_path / "cifar-100-python" / "test").write_bytes(b"\x80\x04")
    with pytest.raises(DataError, match="Python-pickle version of cifar100"):
        get_dataset("cifar100", tmp_path)


def test_workers_give_the_same_batches(tmp_path):
    write_cifar10(tmp_path)
    data = get_dataset("cifar10", tmp_path)
    plain = [x for x, _ in DataLoader(data, batch_size=2)]
    forked = [x for x, _ in DataLoader(data, batch_size=2, num_workers=2)]
    assert all(torch.equal(a, b) for a, b in zip(plain, forked))


def test_synthetic_stand_ins():
    for name, mean, std in (("cifar10", CIFAR10_MEAN, CIFAR10_STD),
                            ("cifar100", CIFAR100_MEAN, CIFAR100_STD)):
        image, label = get_dataset(name, size=2, seed=3)[1]
        assert image.shape == (3, 32, 32) and label == 1
        low, high = normalised((0, 0, 0), mean, std), normalised((255, 255, 255), mean, std)
        for channel in range(3):
            assert low[channel] - 1e-5 <= image[channel].min()
            assert image[channel].max() <= high[channel] + 1e-5


def test_profile_a_user_model_end_to_end(tmp_path):
    write_cifar10(tmp_path / "data")
    model = save_tiny_model(tmp_path / "net.pt", (3, 32, 32), 10, steps=False)
    record, = json_records("profile", model, "--trust-pickle", "--dataset", "cifar10",
                           "--data-root", tmp_path / "data")
    assert record["samples"] == 3 and not record["synthetic_data"]
    fc1, = (layer for layer in record["layers"] if layer["name"] == "fc1")
    assert fc1["macs"] == 3072 * 8
