"""Fidelity: sliced Wasserstein distance (SWD) between patch distributions, per Laplacian level.

After Karras et al., "Progressive growing of GANs" (ICLR 2018): each image is split
into a Laplacian pyramid (band-pass levels, finest first, then the low-pass residual)
down to about 16 px; at each level 7x7x3 patches are sampled from the real image and
from the synthetic set; the SWD between the two patch sets is the mean, over random
unit directions, of the 1-D Wasserstein-1 distance of the projections.

Differences from the original: the real "set" is the single training image, and both
patch sets are normalised with the real patches' per-channel mean and std (the
original normalises each set by its own statistics, which would hide colour and
contrast drifts). Values are therefore in units of the real image's per-level
contrast. Because the real set is small, each level also reports ``real_vs_real``: the
SWD between two independent patch draws from the real image, the floor a perfect
generator could reach.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..pixels import unit_tensor

PATCH = 7
MIN_LEVEL_SIDE = 16
PATCHES_PER_LEVEL = 4096
DIRECTIONS = 512

_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def binomial_blur(x: torch.Tensor) -> torch.Tensor:
    """5x5 binomial low-pass of [N, C, H, W], mirrored borders."""
    c = x.shape[1]
    kernel = (_BINOMIAL[:, None] * _BINOMIAL[None, :]).to(x).expand(c, 1, 5, 5)
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), kernel, groups=c)


def num_levels(height: int, width: int) -> int:
    """Levels while the next, halved level keeps a short side of at least MIN_LEVEL_SIDE."""
    side, levels = min(height, width), 1
    while math.ceil(side / 2) >= MIN_LEVEL_SIDE:
        side, levels = math.ceil(side / 2), levels + 1
    return levels


def laplacian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """[N, C, H, W] -> ``levels`` maps: band-pass details finest first, then the low-pass residual."""
    bands = []
    for _ in range(levels - 1):
        down = binomial_blur(x)[..., ::2, ::2]
        up = torch.zeros(*x.shape[:2], 2 * down.shape[2], 2 * down.shape[3], dtype=x.dtype)
        up[..., ::2, ::2] = 4.0 * down  # zero insertion keeps a quarter of the samples
        bands.append(x - binomial_blur(up)[..., : x.shape[2], : x.shape[3]])
        x = down
    bands.append(x)
    return bands


def sample_patches(maps: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` random 7x7 patches from [N, C, h, w] (an equal share per image) -> [count, C, 7, 7]."""
    n, _, h, w = maps.shape
    per_image = -(-count // n)
    offsets = torch.arange(PATCH)
    patches = []
    for image in maps:
        ys = torch.randint(0, h - PATCH + 1, (per_image,), generator=generator)
        xs = torch.randint(0, w - PATCH + 1, (per_image,), generator=generator)
        rows = (ys[:, None] + offsets)[:, :, None]  # [K, 7, 1]
        cols = (xs[:, None] + offsets)[:, None, :]  # [K, 1, 7]
        patches.append(image[:, rows, cols].permute(1, 0, 2, 3))  # [K, C, 7, 7]
    return torch.cat(patches)[:count]


def sliced_wasserstein(reference: torch.Tensor, others: list[torch.Tensor], directions: int, generator: torch.Generator) -> list[float]:
    """SWD between ``reference`` [K, D] and each equally sized point set in ``others``, on shared directions."""
    for other in others:
        if other.shape != reference.shape:
            raise ValueError(f"point sets must have the same shape, got {list(reference.shape)} and {list(other.shape)}")
    dirs = torch.randn(reference.shape[1], directions, generator=generator, dtype=reference.dtype)
    dirs = dirs / dirs.norm(dim=0, keepdim=True)

    def sorted_projections(points: torch.Tensor) -> torch.Tensor:
        # [directions, K], sorted along the contiguous axis (several times faster than sorting columns).
        return (dirs.T @ points.T).sort(dim=1).values

    ref = sorted_projections(reference)
    return [float((ref - sorted_projections(other)).abs().mean()) for other in others]


def swd_per_level(real_image: np.ndarray, images: np.ndarray, seed: int = 0) -> list[dict]:
    """SWD between the real image [H, W, 3] and the synthetic images [N, h, w, 3] (uint8), per level.

    Returns one entry per level, finest first: ``level``, ``size`` [h, w] of the real
    image at that level, ``swd`` and the ``real_vs_real`` floor. Identical inputs give 0:
    both sets are drawn with the same random stream.
    """
    real = unit_tensor(real_image[None])
    fake = unit_tensor(images)
    levels = min(num_levels(*real.shape[2:]), num_levels(*fake.shape[2:]))
    if min(min(real.shape[2:]), min(fake.shape[2:])) < PATCH:
        raise ValueError(f"images must be at least {PATCH} px on each side for patch statistics")
    out = []
    for level, (real_band, fake_band) in enumerate(zip(laplacian_pyramid(real, levels), laplacian_pyramid(fake, levels))):
        real_patches = sample_patches(real_band, PATCHES_PER_LEVEL, torch.Generator().manual_seed(seed + level))
        fake_patches = sample_patches(fake_band, PATCHES_PER_LEVEL, torch.Generator().manual_seed(seed + level))
        second_real = sample_patches(real_band, PATCHES_PER_LEVEL, torch.Generator().manual_seed(seed + level + 10_000))
        mean = real_patches.mean(dim=(0, 2, 3), keepdim=True)
        std = real_patches.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-3)  # a flat band has no contrast to scale by

        def describe(p: torch.Tensor) -> torch.Tensor:
            return ((p - mean) / std).flatten(1)

        swd, floor = sliced_wasserstein(
            describe(real_patches), [describe(fake_patches), describe(second_real)], DIRECTIONS, torch.Generator().manual_seed(seed)
        )
        out.append({"level": level, "size": list(real_band.shape[2:]), "swd": swd, "real_vs_real": floor})
    return out
