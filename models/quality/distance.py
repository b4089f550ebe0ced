"""One image distance shared by the memorisation and diversity measures.

``aligned_distances``: the RMSE between two RGB images after the best small
translation (up to ``SHIFT_FRACTION`` of the long side each way, over the overlap),
divided by the training image's pixel standard deviation (``contrast``). Images are
compared at a long side of at most ``COMPARE_SIDE`` px (area averaging, then a 5x5
binomial blur) so that what does not change the content counts little: offsets of a
few pixels (also by fractions of a comparison pixel), JPEG noise, resampling.
0 means identical content; two unrelated images with the training image's statistics
are about sqrt(2) apart.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..pixels import unit_tensor
from .fidelity import binomial_blur

COMPARE_SIDE = 128
SHIFT_FRACTION = 0.04


def contrast(real_image: np.ndarray) -> float:
    """The unit of distances: standard deviation of the training image's [H, W, 3] pixel values in [0, 1]."""
    return max(float(unit_tensor(real_image[None], torch.float64).std(unbiased=False)), 1e-6)


def comparison_scale(x: torch.Tensor) -> torch.Tensor:
    """[N, 3, H, W] -> area-averaged so the long side is at most COMPARE_SIDE, then blurred."""
    factor = math.ceil(max(x.shape[2:]) / COMPARE_SIDE)
    return binomial_blur(F.avg_pool2d(x, factor) if factor > 1 else x)


def aligned_distances(a: torch.Tensor, b: torch.Tensor, scale: float) -> torch.Tensor:
    """[A, B] shift-tolerant RMSE between every image of ``a`` [A, 3, H, W] and ``b`` [B, 3, H, W], over ``scale``.

    Inputs are in [0, 1] at the same size; ``scale`` is the training image's ``contrast``.
    """
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"images to compare must have the same size, got {list(a.shape[1:])} and {list(b.shape[1:])}")
    a, b = comparison_scale(a.double()), comparison_scale(b.double())
    h, w = a.shape[2:]
    max_shift = max(1, round(SHIFT_FRACTION * max(h, w)))
    best = torch.full((a.shape[0], b.shape[0]), math.inf, dtype=torch.float64)
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            # Overlap of a with b moved by (dy, dx).
            a_ov = a[:, :, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)].flatten(1)
            b_ov = b[:, :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)].flatten(1)
            squared = (a_ov**2).sum(1)[:, None] + (b_ov**2).sum(1)[None, :] - 2.0 * a_ov @ b_ov.T
            best = torch.minimum(best, squared.clamp_min(0.0) / a_ov.shape[1])
    return best.sqrt() / scale
