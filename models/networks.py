"""Per-scale generator and discriminator (SPEC section 3).

Module and parameter names follow the reference (head / body.blockN / tail, each
block conv / norm / LeakyRelu) so that imported reference weights map one to one.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

NUM_CHANNELS = 4  # RGB + mask
NUM_LAYERS = 5
KERNEL_SIZE = 3
# Five valid 3x3 convolutions shrink a map by this much on each side.
PADDING = (KERNEL_SIZE - 1) * NUM_LAYERS // 2


def width_at_scale(scale: int, base: int = 32, cap: int = 128) -> int:
    """Feature width N at scale n: 32 for scales 0-3, 64 for 4-7, 128 from 8."""
    return min(base * 2 ** (scale // 4), cap)


class ConvBlock(nn.Sequential):
    """Conv2d(3x3, valid) -> BatchNorm2d -> LeakyReLU(0.2)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.add_module("conv", nn.Conv2d(in_channels, out_channels, KERNEL_SIZE, stride=1, padding=0))
        self.add_module("norm", nn.BatchNorm2d(out_channels))
        self.add_module("LeakyRelu", nn.LeakyReLU(0.2, inplace=True))


def _trunk(width: int, min_width: int) -> tuple[ConvBlock, nn.Sequential, int]:
    """Head block (4 -> N) and the body blocks; returns them and the body's output width."""
    head = ConvBlock(NUM_CHANNELS, width)
    body = nn.Sequential()
    in_width = width
    for i in range(1, NUM_LAYERS - 1):
        out_width = max(width // 2**i, min_width)
        body.add_module(f"block{i}", ConvBlock(in_width, out_width))
        in_width = out_width
    return head, body, in_width


class Generator(nn.Module):
    """Residual generator: G(z, prev) = tanh(convs(z)) + prev cropped to the output size."""

    def __init__(self, width: int, min_width: int):
        super().__init__()
        self.head, self.body, out_width = _trunk(width, min_width)
        self.tail = nn.Sequential(nn.Conv2d(out_width, NUM_CHANNELS, KERNEL_SIZE, stride=1, padding=0), nn.Tanh())

    def forward(self, z: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        # z, prev: [N, 4, h + 10, w + 10] -> [N, 4, h, w]
        x = self.tail(self.body(self.head(z)))
        crop = (prev.shape[2] - x.shape[2]) // 2
        return x + prev[:, :, crop : prev.shape[2] - crop, crop : prev.shape[3] - crop]


class Discriminator(nn.Module):
    """Patch critic (WGAN): one score per 11 x 11 patch, no activation."""

    def __init__(self, width: int, min_width: int):
        super().__init__()
        self.head, self.body, out_width = _trunk(width, min_width)
        self.tail = nn.Conv2d(out_width, 1, KERNEL_SIZE, stride=1, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # [N, 4, h, w] -> [N, 1, h - 10, w - 10]
        return self.tail(self.body(self.head(x)))


def init_weights(module: nn.Module, generator: torch.Generator) -> None:
    """Conv weights ~ N(0, 0.02); BatchNorm weight ~ N(1, 0.02), bias 0.

    Conv biases get torch's default distribution, U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    drawn from ``generator`` so that a seed alone fixes the whole initialisation.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, 0.02, generator=generator)
            bound = 1.0 / (m.in_channels * KERNEL_SIZE * KERNEL_SIZE) ** 0.5
            nn.init.uniform_(m.bias, -bound, bound, generator=generator)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02, generator=generator)
            nn.init.zeros_(m.bias)


def fold_batchnorm(gen: Generator) -> Generator:
    """A copy of an eval-mode generator with each BatchNorm folded into its convolution.

    In eval mode BatchNorm is a fixed per-channel affine map, so folding it into the
    preceding convolution's weights gives the same outputs (up to float rounding) and
    saves a full pass over every feature map: generation is memory-bound there on a CPU.
    """
    folded = copy.deepcopy(gen).eval()
    for block in [folded.head, *folded.body]:
        block.conv = fuse_conv_bn_eval(block.conv, block.norm)
        block.norm = nn.Identity()
    return folded
