"""Data sets behind ``--dataset``: DVS128 Gesture, CIFAR10-DVS, N-MNIST, SHD, MNIST,
Fashion-MNIST, CIFAR-10/100 and ImageNet-style image folders, read from their usual on-disk
layouts, or seeded synthetic stand-ins.

>>> from syops.data import get_dataset
>>> data = get_dataset("dvs-gesture", "/data/DVS128Gesture", T=16)   # doctest: +SKIP
>>> data.describe()                                                   # doctest: +SKIP
'dvs-gesture (/data/DVS128Gesture, 288 samples, test split)'
"""

from syops.data.dataset import DatasetInfo, SampleDataset, Skipped
from syops.data.errors import DataError
from syops.data.registry import dataset_summary, get_dataset, list_datasets

__all__ = ["DataError", "DatasetInfo", "SampleDataset", "Skipped", "dataset_summary",
           "get_dataset", "list_datasets"]
