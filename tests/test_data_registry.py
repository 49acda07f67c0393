"""Names, options, errors and the synthetic stand-ins of ``syops.data.get_dataset``."""

import pytest
import torch
from torch.utils.data import DataLoader

from syops.data import DataError, dataset_summary, get_dataset, list_datasets

DVS = ["dvs-gesture", "cifar10-dvs"]


def test_names():
    assert list_datasets() == ["dvs-gesture", "cifar10-dvs", "imagenet", "n-mnist", "shd",
                               "mnist", "fashion-mnist", "cifar10", "cifar100"]
    assert "11 gestures" in dataset_summary("DVS_Gesture")
    assert get_dataset("DVS128_Gesture").info.name == "dvs-gesture"


@pytest.mark.parametrize("name, classes", [("dvs-gesture", 11), ("cifar10-dvs", 10)])
def test_synthetic_event_frames(name, classes):
    data = get_dataset(name)
    assert len(data) == 8 and data.info.synthetic and data.info.num_classes == classes
    assert data.info.T == 16 and data.info.source == "synthetic (seed 0)"
    assert data.describe() == f"{name} (synthetic, seed 0)"
    frames = torch.stack([data[i][0] for i in range(len(data))])
    assert frames.shape == (8, 16, 2, 128, 128) and frames.dtype == torch.float32
    assert frames.min() >= 0 and torch.equal(frames, frames.round())  # event counts
    active = (frames > 0).float().mean(dim=(2, 3, 4))  # fraction of active pixels per frame
    assert 0.005 < float(active.min()) and float(active.max()) < 0.10
    assert (frames > 1).any()
    assert [data[i][1] for i in range(8)] == [i % classes for i in range(8)]


def test_synthetic_images():
    data = get_dataset("imagenet", size=3)
    image, label = data[0]
    assert len(data) == 3 and image.shape == (3, 224, 224) and data.info.num_classes == 1000
    assert -2.2 < float(image.min()) < float(image.max()) < 2.7 and float(image.std()) > 0.1


@pytest.mark.parametrize("name", list_datasets())
def test_synthetic_is_deterministic_per_seed(name):
    first, again = get_dataset(name, seed=3, size=2), get_dataset(name, seed=3, size=2)
    other = get_dataset(name, seed=4, size=2)
    assert torch.equal(first[1][0], again[1][0])
    assert not torch.equal(first[1][0], other[1][0])
    assert not torch.equal(first[0][0], first[1][0])
    assert other.describe() == f"{name} (synthetic, seed 4)"


def test_synthetic_T_and_dataloader_workers():
    data = get_dataset("dvs-gesture", T=4, size=4)
    batches = list(DataLoader(data, batch_size=2, num_workers=2))
    assert batches[0][0].shape == (2, 4, 2, 128, 128)
    assert torch.equal(torch.cat([b[0] for b in batches]), torch.stack([data[i][0] for i in range(4)]))


@pytest.mark.parametrize("call, message", [
    (lambda root: get_dataset("dvs-gestrue"), "unknown data set 'dvs-gestrue'; did you mean 'dvs-gesture'"),
    (lambda root: get_dataset("svhn"), "known: dvs-gesture, cifar10-dvs, imagenet, n-mnist"),
    (lambda root: get_dataset("dvs-gesture", root / "nowhere"), "does not exist"),
    (lambda root: get_dataset("dvs-gesture", root / "file.txt"), "is a file"),
    (lambda root: get_dataset("dvs-gesture", root), "no dvs-gesture data found in"),
    (lambda root: get_dataset("cifar10-dvs", root), "no cifar10-dvs data found in"),
    (lambda root: get_dataset("imagenet", root), "no image class folders found"),
    (lambda root: get_dataset("dvs-gesture", split="val"), "unknown split 'val'"),
    (lambda root: get_dataset("dvs-gesture", T=0), "T must be an integer >= 1"),
    (lambda root: get_dataset("imagenet", T=4), "T does not apply"),
    (lambda root: get_dataset("dvs-gesture", size=0), "size must be an integer >= 1"),
    (lambda root: get_dataset("dvs-gesture", colour=1), "option(s) colour do not apply"),
    (lambda root: get_dataset("dvs-gesture", root, seed=1),
     "seed do not apply to dvs-gesture with a data root"),
])
def test_errors_are_one_line_data_errors(tmp_path, call, message):
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DataError) as caught:
        call(tmp_path)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_empty_split_folder(tmp_path):
    (tmp_path / "events_np" / "test").mkdir(parents=True)
    with pytest.raises(DataError, match="holds no test samples of dvs-gesture"):
        get_dataset("dvs-gesture", tmp_path)
