"""The scale pyramid of SPEC section 2: how many scales, their sizes, and the real images."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .inputs import InputError
from .resize import ResizeMode, output_length, resize


@dataclass(frozen=True)
class Pyramid:
    """Sizes of every scale, coarsest first, for one training image."""

    scale1: float  # original -> working image (long side <= max_size)
    scale_factor: float  # between consecutive scales, < 1
    sizes: tuple[tuple[int, int], ...]  # (h, w) per scale; the last is the working size

    @property
    def stop_scale(self) -> int:
        return len(self.sizes) - 1

    @property
    def num_scales(self) -> int:
        return len(self.sizes)


def plan_pyramid(height: int, width: int, min_size: int, max_size: int, scale_factor_init: float) -> Pyramid:
    """Plan the pyramid for an original image of ``height`` x ``width``.

    Float arithmetic follows the reference operation for operation, because the sizes
    come from ceil() and a last-bit difference would change a size by one pixel.
    """
    short, long = min(height, width), max(height, width)
    num_scales = math.ceil(math.log(min_size / short, scale_factor_init)) + 1
    scale2stop = math.ceil(math.log(min(max_size, long) / long, scale_factor_init))
    stop_scale = num_scales - scale2stop
    scale1 = min(max_size / long, 1)
    work_h, work_w = output_length(height, scale1), output_length(width, scale1)
    if stop_scale < 1 or min(work_h, work_w) <= min_size:
        raise InputError(
            f"image is too small for a pyramid: {width}x{height} becomes {work_w}x{work_h} at the "
            f"working size, and its short side must exceed min_size={min_size} px for at least two scales"
        )
    scale_factor = math.pow(min_size / min(work_h, work_w), 1 / stop_scale)
    sizes = []
    for i in range(stop_scale + 1):
        s = math.pow(scale_factor, stop_scale - i)
        sizes.append((output_length(work_h, s), output_length(work_w, s)))
    return Pyramid(scale1=scale1, scale_factor=scale_factor, sizes=tuple(sizes))


def build_reals(x: torch.Tensor, pyramid: Pyramid, mode: ResizeMode) -> list[torch.Tensor]:
    """The real image at every scale, coarsest first: list of [1, 4, h_n, w_n]."""
    working = resize(x, pyramid.scale1, mode)
    reals = [resize(working, math.pow(pyramid.scale_factor, pyramid.stop_scale - i), mode) for i in range(pyramid.num_scales)]
    for real, size in zip(reals, pyramid.sizes):
        assert tuple(real.shape[-2:]) == size, (real.shape, size)
    return reals
