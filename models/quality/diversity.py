"""Diversity: how much the synthetic samples differ from each other.

- ``pixel_std_ratio``: the measure of SinGAN's paper (Rott Shaham et al., 2019): the
  standard deviation of each pixel value over the samples, averaged over pixels (and
  RGB channels), divided by the standard deviation of the training image's pixel
  values. 0 means every sample is the same image; values near 1 mean samples vary as
  much as the image itself does.
- ``mean_pairwise_distance``: the mean ``aligned_distances`` between pairs of samples,
  in the same units as the memorisation distances, so the two read together: samples
  should be about as far from each other as from the training image.
"""

from __future__ import annotations

import numpy as np
import torch

from ..pixels import unit_tensor
from .distance import aligned_distances, contrast

# Pairwise distances grow with the square of the count; beyond this many samples the
# first ones stand for the set.
MAX_PAIRWISE_SAMPLES = 32


def pixel_std_ratio(real_image: np.ndarray, images: np.ndarray) -> float:
    """[H, W, 3] real and [N, h, w, 3] samples (uint8, N >= 2) -> the SinGAN diversity measure."""
    samples = unit_tensor(images, torch.float64)
    return float(samples.std(dim=0, unbiased=False).mean()) / contrast(real_image)


def mean_pairwise_distance(real_image: np.ndarray, images: np.ndarray) -> float:
    """Mean shift-tolerant distance over pairs of the first MAX_PAIRWISE_SAMPLES samples (N >= 2)."""
    samples = unit_tensor(images[:MAX_PAIRWISE_SAMPLES])
    d = aligned_distances(samples, samples, contrast(real_image))
    upper = torch.triu_indices(len(samples), len(samples), offset=1)
    return float(d[upper[0], upper[1]].mean())
