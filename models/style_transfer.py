"""Gatys-style neural style transfer of synthetic images (SPEC section 7).

The synthetic RGB image is the content, the real training image the style. Only RGB
is touched: ``stylize_samples`` copies the mask channel through unchanged.

Losses follow the reference implementation: content loss is the MSE of conv5_1
activations; style loss sums, over conv1_1 .. conv5_1, the layer weight times the MSE
between the (unnormalised) Gram matrices, divided by n * c * h * w of that layer (n = 1:
each image is its own problem). Pixels are optimised in ImageNet-normalised space with
Adam, starting from the content image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Union

import numpy as np
import torch
from PIL import Image

from .inputs import tensor_to_pair_arrays
from .pixels import unit_tensor
from .train import resolve_device
from .vgg19 import VGG19Features, imagenet_denormalise, imagenet_normalise, load_vgg19

# features index -> style weight, conv1_1 .. conv5_1.
STYLE_LAYERS = {0: 0.75, 5: 0.5, 10: 0.25, 19: 0.25, 28: 0.25}
CONTENT_LAYER = 28  # conv5_1
TAPPED_LAYERS = sorted(set(STYLE_LAYERS) | {CONTENT_LAYER})

DEFAULT_STEPS = 1000
DEFAULT_CONTENT_WEIGHT = 1.0
DEFAULT_STYLE_WEIGHT = 1000.0
LEARNING_RATE = 0.01
DEFAULT_BATCH_SIZE = 8

Weights = Union[str, Path, VGG19Features]


@dataclass(frozen=True)
class StyleProgress:
    images_done: int  # images finished before the current batch
    images: int
    batch_size: int  # images in the current batch
    step: int  # steps finished on the current batch
    steps: int
    content_loss: float  # mean over the batch's images, before weighting
    style_loss: float

    @property
    def fraction(self) -> float:
        return (self.images_done + self.batch_size * self.step / self.steps) / self.images


StyleProgressFn = Callable[[StyleProgress], None]


def gram(features: torch.Tensor) -> torch.Tensor:
    """[B, C, h, w] -> [B, C, C], unnormalised (the loss divides)."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2)


def content_loss(features: dict[int, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """Per image [B]: MSE at conv5_1."""
    return ((features[CONTENT_LAYER] - target) ** 2).mean(dim=(1, 2, 3))


def style_loss(features: dict[int, torch.Tensor], target_grams: dict[int, torch.Tensor]) -> torch.Tensor:
    """Per image [B]: sum over style layers of weight * MSE(Gram, style Gram) / (c * h * w)."""
    total = torch.zeros(features[CONTENT_LAYER].shape[0], device=features[CONTENT_LAYER].device)
    for index, weight in STYLE_LAYERS.items():
        f = features[index]
        _, c, h, w = f.shape
        total = total + weight * ((gram(f) - target_grams[index]) ** 2).mean(dim=(1, 2)) / (c * h * w)
    return total


def transfer(
    content: torch.Tensor,
    style: torch.Tensor,
    vgg: VGG19Features,
    steps: int,
    content_weight: float,
    style_weight: float,
    on_step: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """Optimise content [B, 3, H, W] towards the style [1, 3, H, W] (both RGB in [0, 1]).

    Returns [B, 3, H, W] in [0, 1]. ``on_step(step, content_losses, style_losses)`` gets
    per-image losses [B] after each step.
    """
    with torch.no_grad():
        content_n = imagenet_normalise(content)
        content_target = vgg(content_n, [CONTENT_LAYER])[CONTENT_LAYER]
        style_features = vgg(imagenet_normalise(style), list(STYLE_LAYERS))
        style_grams = {i: gram(f) for i, f in style_features.items()}
    pixels = content_n.clone().requires_grad_(True)
    optimiser = torch.optim.Adam([pixels], lr=LEARNING_RATE)
    for step in range(steps):
        optimiser.zero_grad(set_to_none=True)
        features = vgg(pixels, TAPPED_LAYERS)
        c_loss = content_loss(features, content_target)
        s_loss = style_loss(features, style_grams)
        # Summed over images, so each image gets the gradient it would get alone and
        # Adam (element-wise) gives the same result at any batch size.
        (content_weight * c_loss + style_weight * s_loss).sum().backward()
        optimiser.step()
        if on_step is not None:
            on_step(step + 1, c_loss.detach(), s_loss.detach())
    return imagenet_denormalise(pixels.detach()).clamp(0.0, 1.0)


def _check_args(images: np.ndarray, style_image: np.ndarray, steps: int, content_weight: float, style_weight: float, batch_size: int) -> None:
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 [N, H, W, 3], got {images.dtype} {list(images.shape)}")
    if style_image.ndim != 3 or style_image.shape[-1] != 3 or style_image.dtype != np.uint8:
        raise ValueError(f"style image must be uint8 [H, W, 3], got {style_image.dtype} {list(style_image.shape)}")
    if min(images.shape[1:3]) < 16:
        raise ValueError(f"images must be at least 16 px on each side for VGG19's conv5_1, got {images.shape[2]}x{images.shape[1]}")
    if steps < 1:
        raise ValueError(f"style transfer steps must be at least 1, got {steps}")
    if content_weight < 0 or style_weight < 0:
        raise ValueError(f"content and style weights must be >= 0, got {content_weight} and {style_weight}")
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")


def stylize_batch(
    images: np.ndarray,
    style_image: np.ndarray,
    weights: Weights,
    *,
    steps: int = DEFAULT_STEPS,
    content_weight: float = DEFAULT_CONTENT_WEIGHT,
    style_weight: float = DEFAULT_STYLE_WEIGHT,
    device: str | torch.device = "auto",
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: StyleProgressFn | None = None,
) -> np.ndarray:
    """Restyle ``images`` [N, H, W, 3] uint8 after ``style_image`` [h, w, 3] uint8.

    ``weights`` is a VGG19 weight file (see ``models.vgg19.find_vgg19_weights``) or an
    already loaded ``VGG19Features`` (reuse it across calls: loading costs ~0.5 GB of
    reads). The style image is resized to the images' size first (bilinear, as the
    reference does), because unnormalised Gram matrices grow with the image area.
    Images are optimised ``batch_size`` at a time; returns [N, H, W, 3] uint8.
    """
    images = np.asarray(images)
    style_image = np.asarray(style_image)
    _check_args(images, style_image, steps, content_weight, style_weight, batch_size)
    device = torch.device(device) if isinstance(device, torch.device) else resolve_device(device)
    vgg = weights.to(device) if isinstance(weights, VGG19Features) else load_vgg19(weights, device)
    n, h, w, _ = images.shape
    if style_image.shape[:2] != (h, w):
        style_image = np.asarray(Image.fromarray(style_image).resize((w, h), Image.BILINEAR))
    style = unit_tensor(style_image[None]).to(device)
    out = np.empty_like(images)
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)

        def on_step(step: int, c_loss: torch.Tensor, s_loss: torch.Tensor, start: int = start, count: int = stop - start) -> None:
            if progress is not None:
                progress(StyleProgress(start, n, count, step, steps, c_loss.mean().item(), s_loss.mean().item()))

        result = transfer(unit_tensor(images[start:stop]).to(device), style, vgg, steps, content_weight, style_weight, on_step)
        out[start:stop] = (result * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return out


def stylize_samples(samples: torch.Tensor, style_image: np.ndarray, weights: Weights, **options) -> torch.Tensor:
    """Restyle the RGB channels of generated samples [N, 4, H, W] in [-1, 1].

    The mask channel is copied through bit for bit; ``options`` are those of ``stylize_batch``.
    """
    images, _ = tensor_to_pair_arrays(samples)
    styled = stylize_batch(images, style_image, weights, **options)
    out = samples.detach().cpu().clone()
    out[:, :3] = torch.from_numpy(styled).permute(0, 3, 1, 2).float() / 255.0 * 2.0 - 1.0
    return out
