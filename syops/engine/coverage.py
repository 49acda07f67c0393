"""How often a convolution reads each input position.

A conv applies its kernel at every output position; the input position ``p`` is read by
``coverage(p)`` (output position, kernel tap) pairs. Coverage depends only on shapes and
hyper-parameters, so the exact count of (non-zero input, weight) pairs of a call is a
weighted sum of the per-position non-zero counts, with no second convolution.
Coverage is separable: the map of an N-d conv is the outer product of N 1-d vectors.
"""

from __future__ import annotations

import numpy as np

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def resolve_padding(padding, kernel: int, dilation: int) -> tuple[int, int]:
    """(left, right) padding of one dimension, for an int or PyTorch's "same"/"valid"."""
    if padding == "valid":
        return 0, 0
    if padding == "same":
        total = dilation * (kernel - 1)
        return total // 2, total - total // 2
    return int(padding), int(padding)


def conv_output_length(length: int, kernel: int, stride: int, dilation: int,
                       pad_left: int, pad_right: int) -> int:
    """Output length of one dimension of a convolution."""
    return (length + pad_left + pad_right - dilation * (kernel - 1) - 1) // stride + 1


def conv_coverage(length: int, kernel: int, stride: int, dilation: int,
                  pad_left: int, pad_right: int, padding_mode: str = "zeros") -> np.ndarray:
    """Number of (output position, kernel tap) pairs that read each of ``length`` inputs.

    Zero padding is never read as input (it holds no spike); with the other padding
    modes a padded position is a copy of an input position, so its reads count there.
    """
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"unknown padding mode {padding_mode!r}; expected one of {PADDING_MODES}")
    out = conv_output_length(length, kernel, stride, dilation, pad_left, pad_right)
    taps = (np.arange(max(out, 0))[:, None] * stride
            + np.arange(kernel)[None, :] * dilation).ravel() - pad_left
    if padding_mode == "zeros":
        source = taps[(taps >= 0) & (taps < length)]
    else:
        source = _padded_source(taps, length, padding_mode)
    return np.bincount(source, minlength=length).astype(np.int64)


def _padded_source(index: np.ndarray, length: int, mode: str) -> np.ndarray:
    """The input position a (possibly padded) index copies, for non-zero padding modes."""
    if mode == "replicate":
        return np.clip(index, 0, length - 1)
    if mode == "circular":
        return np.mod(index, length)
    period = 2 * (length - 1)  # reflect: mirror about both edges, edges not repeated
    if period == 0:
        return np.zeros_like(index)
    folded = np.abs(index) % period
    return np.where(folded >= length, period - folded, folded)


def conv_transpose_output_length(length: int, kernel: int, stride: int, dilation: int,
                                 padding: int, output_padding: int) -> int:
    """Output length of one dimension of a transposed convolution."""
    return (length - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def conv_transpose_coverage(length: int, kernel: int, stride: int, dilation: int,
                            padding: int, output_padding: int) -> np.ndarray:
    """Number of kernel taps by which each of ``length`` inputs reaches an output position
    inside the output (padding crops the full result, output_padding extends it)."""
    out = conv_transpose_output_length(length, kernel, stride, dilation, padding, output_padding)
    target = (np.arange(length)[:, None] * stride + np.arange(kernel)[None, :] * dilation
              - padding)
    return ((target >= 0) & (target < out)).sum(axis=1).astype(np.int64)
