"""ImageNet-style image folders, decoded with Pillow."""

import numpy as np
import pytest
from data_fixtures import write_image_folder
from PIL import Image

from syops.data import DataError, get_dataset
from syops.data.images import centre_crop, resize_shorter_side

MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


def test_three_images_in_two_classes(tmp_path):
    write_image_folder(tmp_path)  # n01440764: red 300x256, blue-ish 256x320; n01443537: 1
    data = get_dataset("imagenet", tmp_path)
    assert len(data) == 3 and data.info.num_classes == 2 and data.info.T is None
    assert [data[i][1] for i in range(3)] == [0, 0, 1]  # sorted class folder order
    image, _ = data[0]
    assert image.shape == (3, 224, 224) and str(image.dtype) == "torch.float32"
    # A solid colour survives resizing and cropping: every pixel is (c / 255 - mean) / std.
    for i, colour in enumerate([(255, 0, 0), (0, 128, 255), (10, 20, 30)]):
        expected = (np.array(colour) / 255.0 - MEAN) / STD
        np.testing.assert_allclose(data[i][0].numpy().reshape(3, -1).mean(axis=1), expected,
                                   rtol=0, atol=1e-5)
        assert float(data[i][0].std(dim=(1, 2)).max()) < 1e-5


def test_resize_and_centre_crop_geometry():
    # 600 x 400 -> shorter side 256: 384 x 256; the 224 crop starts at ((384-224)/2, 16).
    resized = resize_shorter_side(Image.new("RGB", (600, 400)), 256)
    assert resized.size == (384, 256)
    assert resize_shorter_side(Image.new("RGB", (300, 500)), 256).size == (256, 426)
    marked = Image.new("L", (384, 256), 0)
    marked.putpixel((80, 16), 255)  # the crop's top-left pixel
    cropped = centre_crop(marked, 224)
    assert cropped.size == (224, 224) and cropped.getpixel((0, 0)) == 255


def test_split_folders_are_used(tmp_path):
    write_image_folder(tmp_path / "val")
    write_image_folder(tmp_path / "train", {"a": [(256, 256, (0, 0, 0))]})
    assert len(get_dataset("imagenet", tmp_path, split="test")) == 3
    assert len(get_dataset("imagenet", tmp_path, split="train")) == 1


def test_broken_image_and_skip_bad(tmp_path):
    write_image_folder(tmp_path)
    broken = tmp_path / "n01443537" / "broken.JPEG"
    broken.write_bytes(b"\xff\xd8\xff not really a jpeg")
    data = get_dataset("imagenet", tmp_path)
    with pytest.raises(DataError, match="cannot decode image") as caught:
        data[[sample.path for sample in data.samples].index(str(broken))]
    assert str(broken) in str(caught.value)
    data = get_dataset("imagenet", tmp_path, skip_bad=True)
    assert len(data) == 3 and data.skipped[0].path == str(broken)


def test_folder_without_images(tmp_path):
    (tmp_path / "n0").mkdir()
    (tmp_path / "n0" / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match="no image class folders found"):
        get_dataset("imagenet", tmp_path)
