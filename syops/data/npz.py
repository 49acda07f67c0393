"""Reading named arrays out of SpikingJelly's .npz cache files."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Dict, Sequence

import numpy as np

from syops.data.errors import broken_file

_READ_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile)


def read_npz_arrays(path: Path, keys: Sequence[str]) -> Dict[str, np.ndarray]:
    """The arrays ``keys`` of the .npz archive at ``path``; DataError if unreadable or missing."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except _READ_ERRORS as err:
        raise broken_file(path, f"not a readable .npz archive ({err})") from err
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise broken_file(path, "holds a single .npy array, not an .npz archive of named arrays")
    with loaded as archive:
        missing = [key for key in keys if key not in archive.files]
        if missing:
            found = ", ".join(archive.files) or "none"
            raise broken_file(path, f"lacks array(s) {', '.join(missing)} (has {found})")
        try:
            return {key: np.asarray(archive[key]) for key in keys}
        except _READ_ERRORS as err:
            raise broken_file(path, f"archive is damaged ({err})") from err
