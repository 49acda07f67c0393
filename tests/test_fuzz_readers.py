"""Property-based fuzzing of the data readers (issue 13).

Each format starts from a valid tiny file written by the test encoders; hypothesis flips,
sets, inserts and deletes bytes and truncates it (or, for npz caches, writes arrays of random
dtype, shape and values). Building the data set and reading every item must then give either
a DataError naming the file, or items of the promised shape that are finite float32 (and
non-negative and not all zero for event counts): never another exception, a hang (``TIME_LIMIT`` s per
example) or an allocation beyond ``MEMORY_LIMIT`` (the readers' stated 1 GiB bound plus
slack, enforced with RLIMIT_AS).

CI runs ``EXAMPLES`` examples per format, derandomised; a longer, random run:
``SYOPS_FUZZ_EXAMPLES=5000 python -m pytest -q tests/test_fuzz_readers.py`` (docs/data.md).
"""

import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from data_fixtures import (  # noqa: E402
    address_space_limited,
    reference_frames,
    time_limited,
    write_cifar10dvs_tree,
    write_gesture_tree,
    write_image_folder,
)
from data_writers_more import (  # noqa: E402
    solid_image,
    write_cifar_batch,
    write_mnist_split,
    write_nmnist_sample,
    write_shd_file,
)
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import syops.data.npz  # noqa: E402
from syops.data import DataError, get_dataset  # noqa: E402
from syops.data.user import open_user_data  # noqa: E402

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="RLIMIT_AS and /proc guards are Linux-only")

LONG_RUN = "SYOPS_FUZZ_EXAMPLES" in os.environ
EXAMPLES = int(os.environ.get("SYOPS_FUZZ_EXAMPLES", 60))
TIME_LIMIT = 10.0  # seconds per example: far above a normal read (milliseconds)
MEMORY_LIMIT = syops.data.npz.MAX_ARRAY_BYTES + (512 << 20)
T = 2
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not LONG_RUN, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


@dataclass(frozen=True)
class Format:
    """A tiny valid data tree, the one file of it the fuzzer rewrites, and how it is read."""

    dataset: str
    write: Callable[[Path], Path]  # writes the tree under root, returns the file to fuzz
    options: Dict
    counts: bool  # items are event counts (non-negative)
    needs: Optional[str] = None  # a module the format needs (skipped without it)


def _gesture(layout: str, stored: bool = False) -> Callable[[Path], Path]:
    def write(root: Path) -> Path:
        tree = write_gesture_tree(root, layout=layout, T=T, events_per_sample=12)
        if layout == "aedat":
            return root / "user24_led.aedat"
        folder = "events_np" if layout == "events_np" else f"frames_number_{T}_split_by_number"
        path = root / folder / "test" / "2" / "user24_led_0.npz"
        if stored:  # np.savez: members stored, so byte edits reach the .npy headers and data
            events = tree.samples["test"][0][1]
            if layout == "events_np":
                np.savez(path, t=events.t, x=events.x, y=events.y, p=events.p)
            else:
                np.savez(path, frames=reference_frames(events, T))
        return path
    return write


def _cifar10_dvs(root: Path) -> Path:
    write_cifar10dvs_tree(root, layout="aedat", classes=("cat",), per_class=1,
                          events_per_sample=12)
    return root / "cat" / "cifar10_cat_0.aedat"


def _nmnist(root: Path) -> Path:
    events = [(x, (7 * x) % 34, x % 2, 100 * x) for x in range(12)]
    return write_nmnist_sample(root / "Test" / "3" / "00001.bin", events)


def _mnist(gz: bool) -> Callable[[Path], Path]:
    def write(root: Path) -> Path:
        images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
        return write_mnist_split(root, "test", images, [3, 7], gz=gz)[0]
    return write


def _cifar10(root: Path) -> Path:
    return write_cifar_batch(root / "test_batch.bin", [((1,), solid_image(10, 20, 30)),
                                                        ((9,), solid_image(200, 0, 90))])


def _shd(root: Path) -> Path:
    return write_shd_file(root / "shd_test.h5", [([0.0, 0.25, 0.5], [1, 2, 699], 4),
                                                 ([0.125, 1.0], [3, 5], 11)])


def _images(root: Path) -> Path:
    write_image_folder(root, {"n01": [(12, 9, (255, 0, 0))], "n02": [(9, 9, (0, 9, 9))]})
    return root / "n01" / "img0.png"


FORMATS = {
    "aedat31": Format("dvs-gesture", _gesture("aedat"), dict(T=T), True),
    "aedat20": Format("cifar10-dvs", _cifar10_dvs, dict(T=T, split="train"), True),
    "events-npz": Format("dvs-gesture", _gesture("events_np"), dict(T=T), True),
    "events-npz-stored": Format("dvs-gesture", _gesture("events_np", True), dict(T=T), True),
    "frames-npz": Format("dvs-gesture", _gesture("frames"), dict(T=T), True),
    "frames-npz-stored": Format("dvs-gesture", _gesture("frames", True), dict(T=T), True),
    "nmnist-bin": Format("n-mnist", _nmnist, dict(T=T), True),
    "mnist-idx": Format("mnist", _mnist(False), {}, False),
    "mnist-idx-gz": Format("mnist", _mnist(True), {}, False),
    "cifar10-bin": Format("cifar10", _cifar10, {}, False),
    "shd-h5": Format("shd", _shd, dict(T=T), True, needs="h5py"),
    "png": Format("imagenet", _images, {}, False),
}


class Seeds(dict):
    """{format name: (root, fuzzed file, its valid bytes)}, shown briefly in failure reports."""

    def __repr__(self) -> str:
        return f"<seed trees of {', '.join(self)}>"


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    """Each format's tree written once."""
    written = Seeds()
    for name, fmt in FORMATS.items():
        if fmt.needs and not _importable(fmt.needs):
            continue
        root = tmp_path_factory.mktemp(name)
        path = fmt.write(root)
        written[name] = (root, path, path.read_bytes())
    return written


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def read_everything(fmt: Format, root: Path):
    """Build the data set and read each item, under the time and memory bounds:
    (promised item shape, items)."""
    with time_limited(TIME_LIMIT), address_space_limited(MEMORY_LIMIT):
        data = get_dataset(fmt.dataset, root, **fmt.options)
        return data.info.sample_shape, [data[index][0].numpy() for index in range(len(data))]


def check_outcome(fmt: Format, root: Path, path: Path) -> None:
    """The property: a DataError naming the file, or valid items. Anything else fails."""
    try:
        shape, items = read_everything(fmt, root)
    except DataError as err:
        assert path.name in str(err), f"error does not name {path.name}: {err}"
        assert "\n" not in str(err), f"error is not one line: {err!r}"
        return
    for item in items:
        assert item.shape == shape and item.dtype == np.float32
        assert np.isfinite(item).all(), "item holds NaN or inf"
        if fmt.counts:
            assert item.min() >= 0, "event counts below zero"
            assert item.sum() > 0, "a sample without events"


# ---------------------------------------------------------------- byte-level mutations
@st.composite
def mutations(draw, size: int):
    """Up to 6 edits (set, flip, insert, delete a byte; favouring the first 64 bytes, where
    headers are) and perhaps a truncation, as (kind, position, value) tuples."""
    position = st.one_of(st.integers(0, min(63, size - 1)), st.integers(0, size - 1))
    value = st.one_of(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, 0x01, 0x23]), st.integers(0, 255))
    edits = draw(st.lists(st.tuples(st.sampled_from(["set", "flip", "insert", "delete"]),
                                    position, value), min_size=0, max_size=6))
    truncate = draw(st.one_of(st.none(), st.integers(0, size)))
    if not edits and truncate is None:
        edits = [("set", draw(position), draw(value))]
    return edits, truncate


def apply(data: bytes, edits, truncate: Optional[int]) -> bytes:
    out = bytearray(data)
    for kind, position, value in edits:
        position = min(position, max(len(out) - 1, 0))
        if kind == "set" and out:
            out[position] = value
        elif kind == "flip" and out:
            out[position] ^= 1 << (value % 8)
        elif kind == "insert":
            out[position:position] = bytes([value])
        elif kind == "delete" and out:
            del out[position]
    return bytes(out if truncate is None else out[:truncate])


@pytest.mark.parametrize("name", list(FORMATS))
def test_mutated_files_give_data_errors_or_valid_items(seeds, name):
    if name not in seeds:
        pytest.skip(f"{FORMATS[name].needs} is not installed")
    root, path, original = seeds[name]
    fmt = FORMATS[name]

    @FUZZ
    @given(change=mutations(len(original)))
    def fuzz(change):
        path.write_bytes(apply(original, *change))
        check_outcome(fmt, root, path)

    try:
        check_outcome(fmt, root, path)  # the untouched file must read
        fuzz()
    finally:
        path.write_bytes(original)


# ---------------------------------------------------------------- npz contents
NUMBERS = ["bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
           "float16", "float32", "float64"]
dtypes = st.one_of(st.sampled_from(["float64", "float32", "float16"]), st.sampled_from(NUMBERS),
                   st.sampled_from(["complex64", "<U2", "S2", "object"]))
SPECIAL = [0, 1, 2, 127, -1, -5, 2 ** 31, 2 ** 53 + 1, 2 ** 63, 0.5, float("nan"),
           float("inf"), float("-inf"), 1e300, -0.0]


def _cast(values, dtype: str) -> np.ndarray:
    """``values`` as ``dtype`` the way a careless writer would store them (wrapping,
    rounding, stringifying), without numpy's casting warnings."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dtype == "object":
            return np.array(list(values) + [None], dtype=object)
        if dtype in ("<U2", "S2"):
            return np.array([str(v)[:2] for v in values], dtype=dtype)
        floats = np.array(values, dtype=np.float64)
        if np.dtype(dtype).kind in "iub":
            floats = np.nan_to_num(floats, nan=0, posinf=0, neginf=0)
            return floats.astype(np.int64 if dtype != "uint64" else np.uint64).astype(dtype)
        return floats.astype(dtype)


value_lists = st.lists(st.one_of(st.sampled_from(SPECIAL), st.integers(-3, 200)),
                       min_size=0, max_size=12)


def _savez(path: Path, compressed: bool, **arrays) -> None:
    (np.savez_compressed if compressed else np.savez)(path, **arrays)


@FUZZ
@given(columns=st.fixed_dictionaries({key: st.tuples(value_lists, dtypes)
                                      for key in "txyp"}),
       compressed=st.booleans())
def test_events_npz_of_any_contents(seeds, columns, compressed):
    root, path, original = seeds["events-npz"]
    arrays = {key: _cast(values, dtype) for key, (values, dtype) in columns.items()}
    try:
        _savez(path, compressed, **arrays)
        check_outcome(FORMATS["events-npz"], root, path)
    finally:
        path.write_bytes(original)


@FUZZ
@given(dtype=dtypes,
       shape=st.one_of(st.just((T, 2, 128, 128)),
                       st.sampled_from([(T + 1, 2, 128, 128), (T, 2, 128), (0,), ()])),
       pokes=st.lists(st.tuples(st.integers(0, 10 ** 6), st.sampled_from(SPECIAL)), max_size=5),
       compressed=st.booleans())
def test_frames_npz_of_any_contents(seeds, dtype, shape, pokes, compressed):
    root, path, original = seeds["frames-npz"]
    frames = _cast([0] * int(np.prod(shape)), dtype).reshape(shape) if dtype != "object" \
        else np.array([None], dtype=object)
    for index, value in pokes:
        if frames.size and dtype != "object":
            frames.reshape(-1)[index % frames.size] = _cast([value], dtype)[0]
    try:
        _savez(path, compressed, frames=frames)
        check_outcome(FORMATS["frames-npz"], root, path)
    finally:
        path.write_bytes(original)


def test_fuzzed_seed_trees_are_valid(seeds):
    """Without edits every seed tree reads (so the fuzzers start from valid files)."""
    for name, (root, path, _) in seeds.items():
        shape, items = read_everything(FORMATS[name], root)
        assert items and all(item.shape == shape for item in items), name
        assert all(np.isfinite(item).all() for item in items), name


# ---------------------------------------------------------------- user data (issue 24)
USER_LIMIT = 32  # items read per example (a file may declare billions)


def check_user_data(spec: str, where: str, limit: Optional[int]) -> None:
    """``open_user_data`` then its first items, under the bounds: a one-line DataError
    naming ``where``, or finite float32 items of the promised shape."""
    try:
        with time_limited(TIME_LIMIT), address_space_limited(MEMORY_LIMIT):
            data = open_user_data(spec, limit=limit)
            count = min(len(data), limit or USER_LIMIT, USER_LIMIT)
            shape, items = data.info.sample_shape, [data[i][0].numpy() for i in range(count)]
    except DataError as err:
        assert where in str(err), f"error does not name {where}: {err}"
        assert "\n" not in str(err), f"error is not one line: {err!r}"
        return
    for item in items:
        assert item.shape == shape and item.dtype == np.float32
        assert np.isfinite(item).all(), "item holds NaN or inf"


def write_user_tensors(path: Path, array: np.ndarray, declared: Optional[int]) -> None:
    """``array`` as .npy, .npz or .pt; a .npy whose header declares ``declared`` rows."""
    if path.suffix == ".npz":
        np.savez(path, x=array)
    elif path.suffix == ".pt":
        import torch
        torch.save(torch.from_numpy(np.ascontiguousarray(array)), path)
    elif declared is None:
        np.save(path, array)
    else:
        with open(path, "wb") as stream:
            np.lib.format.write_array_header_1_0(stream, {
                "descr": np.lib.format.dtype_to_descr(array.dtype), "fortran_order": False,
                "shape": (declared, *array.shape[1:])})
            stream.write(array.tobytes())


@FUZZ
@given(suffix=st.sampled_from([".npy", ".npz", ".pt"]),
       values=value_lists.filter(bool), dtype=st.sampled_from(NUMBERS),
       rows=st.integers(1, 4), declared=st.one_of(st.none(), st.integers(0, 2 ** 40)),
       limit=st.one_of(st.none(), st.integers(1, 3)))
def test_user_tensor_files_of_any_contents(tmp_path_factory, suffix, values, dtype, rows,
                                           declared, limit):
    cells = (values * (rows * 3))[:rows * 3]
    array = _cast(cells, dtype).reshape(rows, 3)
    if suffix == ".pt" and dtype in ("uint16", "uint32", "uint64"):
        array = array.astype(np.int64)   # torch.from_numpy takes few unsigned types
    path = tmp_path_factory.mktemp("user") / f"data{suffix}"
    write_user_tensors(path, array, declared)
    check_user_data(str(path), path.name, limit)


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".pt"])
def test_mutated_user_tensor_files(tmp_path, suffix):
    path = tmp_path / f"data{suffix}"
    write_user_tensors(path, np.arange(12, dtype=np.float32).reshape(4, 3), None)
    original = path.read_bytes()
    check_user_data(str(path), path.name, None)

    @FUZZ
    @given(change=mutations(len(original)), limit=st.one_of(st.none(), st.integers(1, 3)))
    def fuzz(change, limit):
        path.write_bytes(apply(original, *change))
        check_user_data(str(path), path.name, limit)

    fuzz()


USER_DATASET = """
import sys
import torch


class Items(torch.utils.data.Dataset):
    def __len__(self):
        return {length}

    def __getitem__(self, index):
        if index == {fails_at}:
            {failure}
        values = torch.tensor({values}, dtype=torch.float64)
        return {item}
"""
FAILURES = {"raise": "raise KeyError(index)", "oserror": "raise OSError(5, 'I/O error')",
            "exit": "sys.exit(1)", "none": "return None", "string": "return 'x'"}
ITEMS = {"tensor": "values", "pair": "values, 1", "dict": "{{'x': values, 'y': 2}}",
         "keyless": "{{'features': values}}", "empty": "values[:0]"}


@FUZZ
@given(length=st.one_of(st.integers(1, 5), st.just(10 ** 12)), fails_at=st.integers(0, 6),
       failure=st.sampled_from(list(FAILURES)), item=st.sampled_from(list(ITEMS)),
       values=value_lists.filter(bool).map(lambda v: [float(x) for x in v]),
       limit=st.one_of(st.none(), st.integers(1, 4)))
def test_user_datasets_that_raise_exit_or_give_garbage(tmp_path_factory, length, fails_at,
                                                        failure, item, values, limit):
    folder = tmp_path_factory.mktemp("dataset")   # a new file each time: no module cache
    (folder / "items.py").write_text(USER_DATASET.format(
        length=length, fails_at=fails_at, failure=FAILURES[failure],
        values=repr(values).replace("nan", "float('nan')").replace("inf", "float('inf')"),
        item=ITEMS[item].replace("{{", "{").replace("}}", "}")))
    check_user_data(f"{folder}/items.py:Items", "items.py", limit)
