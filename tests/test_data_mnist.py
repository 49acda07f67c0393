"""MNIST and Fashion-MNIST from their idx-ubyte files (plain and gzipped): pixels by hand,
layouts, broken files, DataLoader workers, and an end-to-end `syops profile`."""

import gzip
import struct

import numpy as np
import pytest
import torch
from cli_helpers import json_records
from data_writers_more import idx_bytes, save_tiny_model, write_idx, write_mnist_split
from torch.utils.data import DataLoader

from syops.data import DataError, get_dataset


def three_images():
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    images[0, 0, 0], images[0, 27, 27] = 255, 51  # -> 1.0 and 0.2
    images[1, 5, :] = 102  # a row of 0.4
    images[2] = 255  # all ink
    return images


LABELS = [7, 0, 9]


def test_idx_header_by_hand():
    assert idx_bytes(np.zeros((2, 28, 28)))[:16] == bytes.fromhex("00000803" "00000002"
                                                                  "0000001c" "0000001c")
    assert idx_bytes(np.array([7, 0]))[:8] == bytes.fromhex("00000801" "00000002")


@pytest.mark.parametrize("gz", [False, True])
def test_pixels_and_labels_by_hand(tmp_path, gz):
    write_mnist_split(tmp_path, "test", three_images(), LABELS, gz=gz)
    data = get_dataset("mnist", tmp_path)
    assert len(data) == 3 and [label for _, label in data] == LABELS
    first = data[0][0]
    assert first.shape == (1, 28, 28) and first.dtype == torch.float32
    assert first[0, 0, 0] == 1.0 and first[0, 27, 27] == pytest.approx(0.2)
    assert first.sum() == pytest.approx(1.2)
    second = data[1][0]
    assert torch.allclose(second[0, 5], torch.full((28,), 0.4)) and second.sum() == pytest.approx(
        28 * 0.4, rel=1e-5)
    assert torch.equal(data[2][0], torch.ones(1, 28, 28))
    assert data.info.layout == ("idx-ubyte files t10k-images-idx3-ubyte" + (".gz" if gz else "")
                                + " and t10k-labels-idx1-ubyte" + (".gz" if gz else ""))


def test_torchvision_folders_train_split_and_dotted_names(tmp_path):
    write_mnist_split(tmp_path / "FashionMNIST" / "raw", "train", three_images()[:2], [1, 2])
    data = get_dataset("fashion-mnist", tmp_path, split="train")
    assert [label for _, label in data] == [1, 2] and data.info.num_classes == 10
    with pytest.raises(DataError, match="no mnist test files found"):
        get_dataset("mnist", tmp_path)
    # Kaggle's copies name them t10k-images.idx3-ubyte.
    write_idx(tmp_path / "raw" / "t10k-images.idx3-ubyte", three_images())
    write_idx(tmp_path / "raw" / "t10k-labels.idx1-ubyte", np.array(LABELS))
    assert len(get_dataset("mnist", tmp_path)) == 3


def test_static_images_take_no_T(tmp_path):
    with pytest.raises(DataError, match="T does not apply"):
        get_dataset("mnist", T=4)


@pytest.mark.parametrize("gz", [False, True])
def test_workers_give_the_same_batches(tmp_path, gz):
    write_mnist_split(tmp_path, "test", three_images(), LABELS, gz=gz)
    data = get_dataset("mnist", tmp_path)
    plain = [x for x, _ in DataLoader(data, batch_size=2)]
    forked = [x for x, _ in DataLoader(data, batch_size=2, num_workers=2)]
    assert all(torch.equal(a, b) for a, b in zip(plain, forked))


def lying_header(count):
    """An images file whose header declares ``count`` images but holds three."""
    return idx_bytes(three_images())[:4] + struct.pack(">I", count) + \
        idx_bytes(three_images())[8:]


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("content, message", [
    (lambda: idx_bytes(three_images())[:-100], "declares 2352 bytes of values after its 16-byte"),
    (lambda: lying_header(1000), "declares 784000 bytes of values"),
    (lambda: lying_header(2 ** 31), "more than the limit"),
    (lambda: idx_bytes(np.array(LABELS)), "has 1 dimensions, expected 3"),
    (lambda: idx_bytes(np.zeros((3, 28, 29))), "declares dimensions 3 x 28 x 29, expected N x 28 x 28"),
    (lambda: b"\x1f\x8b\x08" + bytes(40), "not an idx-ubyte file"),
    (lambda: b"", "not an idx-ubyte file"),
])
def test_broken_images_file_names_it(tmp_path, gz, content, message):
    if gz and content().startswith(b"\x1f\x8b"):
        pytest.skip("a gzip header inside a gzip file is just content")
    images, _ = write_mnist_split(tmp_path, "test", three_images(), LABELS, gz=gz)
    data = content()
    images.write_bytes(gzip.compress(data) if gz else data)
    if gz and "declares 2352" in message:
        message = "decompresses to 2268 bytes"
    with pytest.raises(DataError, match=message) as caught:
        get_dataset("mnist", tmp_path)
    assert caught.value.path == str(images)
    with pytest.raises(DataError, match="were in broken files"):
        get_dataset("mnist", tmp_path, skip_bad=True)


def test_corrupt_gzip_stream(tmp_path):
    images, _ = write_mnist_split(tmp_path, "test", three_images(), LABELS, gz=True)
    packed = bytearray(images.read_bytes())
    packed[len(packed) // 2] ^= 0xFF  # damage the deflate stream, keep the size trailer
    images.write_bytes(bytes(packed))
    with pytest.raises(DataError) as caught:
        get_dataset("mnist", tmp_path)
    assert caught.value.path == str(images)


def test_labels_count_and_range(tmp_path):
    images, labels = write_mnist_split(tmp_path, "test", three_images(), [7, 0], gz=False)
    with pytest.raises(DataError, match="holds 2 labels but t10k-images-idx3-ubyte holds 3"):
        get_dataset("mnist", tmp_path)
    write_idx(labels, np.array([7, 10, 9]))
    with pytest.raises(DataError, match="record 1 has label 10, outside 0..9") as caught:
        get_dataset("mnist", tmp_path)
    assert caught.value.path == str(images)
    kept = get_dataset("mnist", tmp_path, skip_bad=True)
    assert [label for _, label in kept] == [7, 9] and len(kept.skipped) == 1
    assert torch.equal(kept[1][0], torch.ones(1, 28, 28))  # the third image, not the second


def test_synthetic_stand_ins():
    for name in ("mnist", "fashion-mnist"):
        data = get_dataset(name, size=2)
        image, label = data[1]
        assert image.shape == (1, 28, 28) and label == 1 and data.info.synthetic
        assert 0 <= image.min() and image.max() <= 1 and 0.1 < (image > 0).float().mean() < 0.3


def test_profile_a_user_model_end_to_end(tmp_path):
    write_mnist_split(tmp_path / "data", "test", three_images(), LABELS, gz=True)
    model = save_tiny_model(tmp_path / "net.pt", (1, 28, 28), 10, steps=False)
    record, = json_records("profile", model, "--trust-pickle", "--dataset", "mnist",
                           "--data-root", tmp_path / "data")
    assert record["samples"] == 3 and not record["synthetic_data"]
    fc1, = (layer for layer in record["layers"] if layer["name"] == "fc1")
    assert fc1["macs"] == 784 * 8  # grey levels are multi-level input: dense MACs
