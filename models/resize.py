"""The MATLAB-style bicubic resize of SPEC section 2, as one small matrix per axis.

Each axis' resampling is linear, so it is a matrix [out, in] built once per
(in, out, scale) and applied with two matmuls on whatever device the tensor lives on.

Two modes:
- ``reference``: first truncates to uint8 exactly as the reference does
  (``uint8(255 * (x + 1) / 2)``), resizes, maps back to [-1, 1] and clamps. Models
  trained by the reference need this to reproduce its outputs.
- ``float``: resizes the [-1, 1] values directly and clamps. Models trained by this
  project use it (no quantisation noise between scales).
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import numpy as np
import torch

ResizeMode = Literal["reference", "float"]
RESIZE_MODES: tuple[str, ...] = ("reference", "float")


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic kernel with a = -0.5."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return near + far


def output_length(in_length: int, scale: float) -> int:
    """ceil(in * scale) in float64, as the reference computes it."""
    return int(math.ceil(in_length * scale))


@functools.lru_cache(maxsize=512)
def _axis_weights(in_length: int, out_length: int, scale: float) -> np.ndarray:
    """[out_length, in_length] float64 resampling matrix for one axis.

    Antialiasing when downscaling (kernel stretched by 1/scale), symmetric boundary.
    The reference computes tap indices as unsigned integers, so taps left of the
    first pixel wrap to huge indices whose kernel weight is zero: they are dropped
    and the remaining weights renormalised, not mirrored. Reproduced here.
    """
    antialias = scale < 1.0
    kernel_width = 4.0 / scale if antialias else 4.0
    out_coords = np.arange(1, out_length + 1, dtype=np.float64)
    match = out_coords / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(match - kernel_width / 2.0)
    taps = int(np.ceil(kernel_width) + 2)
    index = left[:, None] + np.arange(taps) - 1.0  # [out, taps], may be negative
    distance = match[:, None] - index - 1.0
    weights = scale * _cubic(scale * distance) if antialias else _cubic(distance)
    weights[index < 0] = 0.0
    sums = weights.sum(axis=1)
    sums[sums == 0] = 1.0
    weights = weights / sums[:, None]
    mirror = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    source = mirror[np.mod(np.maximum(index, 0).astype(np.int64), 2 * in_length)]
    matrix = np.zeros((out_length, in_length), dtype=np.float64)
    rows = np.repeat(np.arange(out_length), taps)
    np.add.at(matrix, (rows, source.reshape(-1)), weights.reshape(-1))
    return matrix


@functools.lru_cache(maxsize=512)
def _axis_matrix(in_length: int, out_length: int, scale: float, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(_axis_weights(in_length, out_length, scale)).to(device=device, dtype=torch.float32)


def resize(x: torch.Tensor, scale: float, mode: ResizeMode = "float") -> torch.Tensor:
    """Resize [N, C, H, W] in [-1, 1] by ``scale``; output size ceil(size * scale) per axis."""
    if mode not in RESIZE_MODES:
        raise ValueError(f"unknown resize mode {mode!r}; expected one of {RESIZE_MODES}")
    h, w = x.shape[-2:]
    x = x.float()
    if mode == "reference":
        x = (255.0 * ((x + 1.0) / 2.0).clamp(0.0, 1.0)).to(torch.uint8).float()
    if scale != 1.0:
        rows = _axis_matrix(h, output_length(h, scale), scale, x.device)  # [out_h, H]
        cols = _axis_matrix(w, output_length(w, scale), scale, x.device)  # [out_w, W]
        x = torch.matmul(torch.matmul(rows, x), cols.T)
    if mode == "reference":
        x = (x / 255.0 - 0.5) * 2.0
    return x.clamp(-1.0, 1.0)
