"""A sample grid: the real pair on the left, synthetic pairs to the right, masks as outlines."""

from __future__ import annotations

import numpy as np
from PIL import Image

OUTLINE_RGB = (0, 255, 0)


def mask_outline(mask: np.ndarray) -> np.ndarray:
    """[H, W] bool/uint8 mask -> [H, W] bool, the foreground pixels that touch background."""
    fg = np.asarray(mask) > 0
    padded = np.pad(fg, 1, mode="edge")
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return fg & ~interior


def overlay_outline(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = np.array(image, dtype=np.uint8, copy=True)
    out[mask_outline(mask)] = OUTLINE_RGB
    return out


def sample_grid(
    real_image: np.ndarray, real_mask: np.ndarray, images: np.ndarray, masks: np.ndarray, columns: int = 4, gap: int = 4
) -> Image.Image:
    """Two rows per line of samples: images with mask outlines above, masks below.

    The first column is the real pair; ``images`` [N, H, W, 3] and ``masks`` [N, H, W]
    fill the remaining columns (samples may differ in size from the real pair).
    """
    tiles = [(real_image, real_mask)] + list(zip(images, masks))
    tile_h = max(t[0].shape[0] for t in tiles)
    tile_w = max(t[0].shape[1] for t in tiles)
    per_line = columns + 1
    lines = -(-len(tiles) // per_line)
    canvas = np.full((lines * 2 * (tile_h + gap), per_line * (tile_w + gap), 3), 255, dtype=np.uint8)
    for i, (image, mask) in enumerate(tiles):
        line, col = divmod(i, per_line)
        y, x = line * 2 * (tile_h + gap), col * (tile_w + gap)
        h, w = image.shape[:2]
        canvas[y : y + h, x : x + w] = overlay_outline(image, mask)
        canvas[y + tile_h + gap : y + tile_h + gap + h, x : x + w] = np.repeat((np.asarray(mask) > 0)[..., None] * 255, 3, axis=2)
    return Image.fromarray(canvas)
