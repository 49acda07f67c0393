"""Read a pickle that holds only numpy arrays (and dicts, lists, tuples, numbers, strings)
without running any other code: the unpickler admits the few globals numpy needs to
rebuild an array and refuses every other one. Used for published weight files such as
abr/power_benchmarks' ``inference_weights.pkl`` (a dict of name -> float32 array).
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

MAX_BYTES = 256 * 1024 * 1024


def _encode(text: str, encoding: str = "latin1") -> bytes:
    """What protocol-2 pickles call (``_codecs.encode``) to rebuild an array's bytes."""
    return text.encode(encoding)


_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(0))[0]  # numpy's _reconstruct, wherever it lives
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _encode,
}


class _NumpyOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[module, name]
        except KeyError:
            raise pickle.UnpicklingError(f"refused global {module}.{name}: only numpy arrays "
                                         "may be read") from None


def load_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """The ``name -> array`` dict pickled in ``path``; ValueError naming the file when it is
    missing, too large, not a pickle, refers to anything but numpy, or is not such a dict."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"weights file {path} does not exist or is not a regular file")
    if path.stat().st_size > MAX_BYTES:
        raise ValueError(f"weights file {path} is larger than {MAX_BYTES >> 20} MiB")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ValueError(f"cannot read weights file {path}: {err.strerror}") from None
    try:
        data = _NumpyOnly(io.BytesIO(raw), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError) as err:
        raise ValueError(f"weights file {path} is not a pickle of numpy arrays: {err}") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, np.ndarray)
                                             for k, v in data.items()):
        raise ValueError(f"weights file {path} does not hold a dict of name -> numpy array")
    return data
