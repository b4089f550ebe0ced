"""Reading an image and its segmentation mask into the 4-channel training tensor (SPEC section 1).

Real datasets are messy: JPEG-noisy RGB masks, 0/1 masks, palette and 1-bit masks,
instance labels, 16-bit images, TIFF and GIF. Each either loads or fails with an
``InputError`` whose message names the file and the problem.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

# A path, raw bytes, or an open binary file.
Source = Union[str, Path, bytes, BinaryIO]

DEFAULT_MAX_PIXELS = 40_000_000


class InputError(ValueError):
    """A user-supplied input that cannot be used; the message names the file and the problem."""


class InputTooLarge(InputError):
    """The input exceeds a configured size limit (the service answers 413)."""


@dataclass(frozen=True)
class TrainingPair:
    """An RGB image and its binary mask, as loaded from the user's files."""

    image: np.ndarray  # [H, W, 3] uint8
    mask: np.ndarray  # [H, W] bool
    image_name: str
    mask_name: str

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def foreground_share(self) -> float:
        return float(self.mask.mean())


def _describe(source: Source, name: str | None) -> str:
    if name:
        return name
    if isinstance(source, (str, Path)):
        return str(source)
    return getattr(source, "name", None) or "<upload>"


def open_image(source: Source, name: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open and fully decode one image, checking its declared size before decoding the pixels.

    Every failure is an ``InputError`` naming the file; an image over ``max_pixels``
    (or a decompression bomb over Pillow's own limit) is ``InputTooLarge``.
    """
    name = _describe(source, name)
    with warnings.catch_warnings():
        # Our own max_pixels decides; Pillow's bomb warning would only add noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            if isinstance(source, bytes):
                handle: BinaryIO = io.BytesIO(source)
            elif isinstance(source, (str, Path)):
                handle = open(source, "rb")
            else:
                handle = source
            img = Image.open(handle)
        except Image.DecompressionBombError:
            raise InputTooLarge(f"{name}: declared size exceeds the limit of {max_pixels} pixels") from None
        except FileNotFoundError:
            raise InputError(f"{name}: file not found") from None
        except IsADirectoryError:
            raise InputError(f"{name}: is a directory, not an image file") from None
        except UnidentifiedImageError:
            raise InputError(f"{name}: not a readable image (unknown or corrupt format)") from None
        except OSError as exc:
            raise InputError(f"{name}: cannot be read ({exc})") from None
        width, height = img.size
        if width * height > max_pixels:
            raise InputTooLarge(f"{name}: {width}x{height} = {width * height} pixels exceeds the limit of {max_pixels} pixels")
        if width == 0 or height == 0:
            raise InputError(f"{name}: image has no pixels ({width}x{height})")
        try:
            img.load()
        except Image.DecompressionBombError:
            raise InputTooLarge(f"{name}: declared size exceeds the limit of {max_pixels} pixels") from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise InputError(f"{name}: image data is truncated or corrupt ({exc})") from None
    return img


def load_image(source: Source, name: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """One image file -> [H, W, 3] uint8 (see ``image_to_rgb``)."""
    name = _describe(source, name)
    return image_to_rgb(open_image(source, name, max_pixels), name)


def _to_uint8(values: np.ndarray, name: str) -> np.ndarray:
    """Map 16-bit, 32-bit or float pixel data onto 0..255 by its own min-max range."""
    if values.dtype == np.uint8:
        return values
    values = values.astype(np.float64)
    if not np.isfinite(values).all():
        raise InputError(f"{name}: image has non-finite pixel values (NaN or infinity)")
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.round((values - lo) / (hi - lo) * 255.0).astype(np.uint8)


def image_to_rgb(img: Image.Image, name: str) -> np.ndarray:
    """Any supported image mode -> [H, W, 3] uint8. Greyscale becomes 3 equal channels."""
    mode = img.mode
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        alpha = np.asarray(img.convert("RGBA"))[..., 3]
        if alpha.min() < 255:
            raise InputError(
                f"{name}: image has transparent pixels; if its alpha channel is the mask, "
                "remove the transparency, or, if the alpha channel is the mask, train from the single "
                "RGBA file with `singan-seg train IMAGE --rgba-mask`"
            )
    if mode in ("RGB", "RGBA", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "1", "L", "LA"):
        return np.ascontiguousarray(np.asarray(img.convert("RGB")))
    # High bit depth greyscale (I;16, I, F): rescale by its own range, then replicate.
    grey = _to_uint8(np.asarray(img), name)
    if grey.ndim != 2:
        raise InputError(f"{name}: unsupported image mode {mode!r}")
    return np.repeat(grey[:, :, None], 3, axis=2)


def mask_to_binary(img: Image.Image, name: str) -> np.ndarray:
    """Any supported mask encoding -> [H, W] bool foreground.

    - 1-bit: as is. Palette: index > 0 (index 0 is background).
    - 8-bit (greyscale or colour, colour reduced by its brightest channel): a mask that
      reaches 128 or more is a 0/255 mask, possibly JPEG-noisy, thresholded at > 127;
      otherwise it is a 0/1 mask or instance labels, and every value > 0 is foreground.
    - 16/32-bit or float: > 0 (no lossy codec stores these), except a float mask in
      [0, 1], which is thresholded at 0.5.
    """
    mode = img.mode
    if mode == "1":
        return np.asarray(img, dtype=bool).copy()
    if mode in ("P", "PA"):
        return np.asarray(img.convert("P") if mode == "PA" else img) > 0
    if mode in ("L", "LA", "RGB", "RGBA", "CMYK", "YCbCr"):
        has_alpha = mode in ("LA", "RGBA")
        colour = np.asarray(img.convert("L" if mode.startswith("L") else "RGB"))
        if colour.ndim == 3:
            colour = colour.max(axis=2)
        if has_alpha and colour.min() == colour.max():
            colour = np.asarray(img)[..., -1]  # a constant colour layer: the shape lives in alpha
        if int(colour.max()) >= 128:
            return colour > 127
        return colour > 0
    arr = np.asarray(img)
    if arr.ndim != 2:
        raise InputError(f"{name}: unsupported mask mode {mode!r}")
    if arr.dtype.kind == "f" and float(arr.max()) <= 1.0:
        return arr > 0.5
    return arr > 0


def _check_mask(mask: np.ndarray, name: str, require_foreground: bool) -> None:
    if require_foreground:
        share = float(mask.mean())
        if share == 0.0:
            raise InputError(f"{name}: mask is empty (no foreground pixels)")
        if share == 1.0:
            raise InputError(f"{name}: mask is full (every pixel is foreground)")


def load_pair(
    image: Source,
    mask: Source,
    *,
    image_name: str | None = None,
    mask_name: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    require_foreground: bool = False,
) -> TrainingPair:
    """Load an image and its mask from two files (paths, bytes or file objects)."""
    image_label = _describe(image, image_name)
    mask_label = _describe(mask, mask_name)
    img = open_image(image, image_label, max_pixels)
    msk = open_image(mask, mask_label, max_pixels)
    if img.size != msk.size:
        raise InputError(
            f"image and mask sizes differ: {image_label} is {img.size[0]}x{img.size[1]}, "
            f"{mask_label} is {msk.size[0]}x{msk.size[1]} (width x height)"
        )
    rgb = image_to_rgb(img, image_label)
    binary = mask_to_binary(msk, mask_label)
    _check_mask(binary, mask_label, require_foreground)
    return TrainingPair(rgb, binary, image_label, mask_label)


def load_rgba_pair(
    source: Source,
    *,
    name: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    require_foreground: bool = False,
) -> TrainingPair:
    """Load the reference tool's single RGBA file whose alpha channel is the mask.

    Only call this when the user said the alpha channel is a mask: in an ordinary RGBA
    photo alpha is transparency.
    """
    label = _describe(source, name)
    img = open_image(source, label, max_pixels)
    if img.mode not in ("RGBA", "LA", "PA") and not (img.mode == "P" and "transparency" in img.info):
        raise InputError(f"{label}: has no alpha channel (mode {img.mode}), so it holds no mask")
    rgba = np.asarray(img.convert("RGBA"))
    binary = rgba[..., 3] > 127
    _check_mask(binary, label, require_foreground)
    return TrainingPair(np.ascontiguousarray(rgba[..., :3]), binary, label, label + "#alpha")


def pair_to_tensor(pair: TrainingPair) -> torch.Tensor:
    """[1, 4, H, W] float32 in [-1, 1]: channels 0-2 the image, channel 3 the mask."""
    rgb = torch.from_numpy(np.array(pair.image)).permute(2, 0, 1).float() / 255.0
    mask = torch.from_numpy(np.array(pair.mask)).float()[None]
    x = torch.cat([rgb, mask], dim=0)[None]
    return (x * 2.0 - 1.0).clamp(-1.0, 1.0)


def tensor_to_pair_arrays(x: torch.Tensor, threshold_mask: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """[N, 4, H, W] in [-1, 1] -> (images [N, H, W, 3] uint8, masks [N, H, W] uint8).

    With ``threshold_mask`` the mask channel is mapped to [0, 1] and thresholded at 0.5
    into {0, 255} (the reference's post-processing); otherwise it is scaled to 0..255.
    """
    x = ((x.detach().float().cpu() + 1.0) / 2.0).clamp(0.0, 1.0)
    images = (x[:, :3] * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    if threshold_mask:
        masks = (x[:, 3] > 0.5).to(torch.uint8) * 255
    else:
        masks = (x[:, 3] * 255.0).round().to(torch.uint8)
    return np.ascontiguousarray(images), masks.numpy()
