"""Sampling synthetic image/mask pairs from a trained model (SPEC section 6)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from .inputs import tensor_to_pair_arrays
from .singan import SinGANSegModel, draw_noise, run_scales

MIN_SCALE_FACTOR = 0.25
MAX_SCALE_FACTOR = 4.0
MAX_SAMPLES = 10_000


def check_generation_args(
    model: SinGANSegModel, num_samples: int, gen_start_scale: int, scale_v: float, scale_h: float, seed: int | None, batch_size: int | None
) -> None:
    """Raise ValueError naming the argument for combinations that cannot work."""
    if seed is not None and not 0 <= seed < 2**63:
        raise ValueError(f"seed must be between 0 and 2**63 - 1, got {seed}")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    if not 1 <= num_samples <= MAX_SAMPLES:
        raise ValueError(f"number of samples must be between 1 and {MAX_SAMPLES}, got {num_samples}")
    if not 0 <= gen_start_scale < model.num_scales:
        raise ValueError(f"gen_start_scale must be between 0 and {model.num_scales - 1} for this model, got {gen_start_scale}")
    for name, value in (("scale_v", scale_v), ("scale_h", scale_h)):
        if not MIN_SCALE_FACTOR <= value <= MAX_SCALE_FACTOR:
            raise ValueError(f"{name} must be between {MIN_SCALE_FACTOR} and {MAX_SCALE_FACTOR}, got {value}")
    if gen_start_scale > 0 and (scale_v != 1.0 or scale_h != 1.0):
        raise ValueError(
            "gen_start_scale > 0 reuses the training image's reconstruction noise, which has the training "
            "image's shape; use gen_start_scale 0 with scale_v/scale_h other than 1"
        )


def output_sizes(model: SinGANSegModel, scale_v: float = 1.0, scale_h: float = 1.0) -> list[tuple[int, int]]:
    """Per-scale (h, w) of generated maps for the given vertical/horizontal factors."""
    return [(max(1, round(h * scale_v)), max(1, round(w * scale_h))) for h, w in model.sizes]


def default_batch_size(device: torch.device) -> int:
    """Samples per forward pass: 16 on a GPU; 1 on a CPU, where bench/generate.py measured
    batches to be slower per sample (0.43 s at 1, 0.81 s at 16: the feature maps of a batch
    fall out of cache)."""
    return 16 if device.type == "cuda" else 1


def generate(
    model: SinGANSegModel,
    num_samples: int,
    *,
    gen_start_scale: int = 0,
    seed: int | None = None,
    scale_v: float = 1.0,
    scale_h: float = 1.0,
    noise: list[torch.Tensor] | None = None,
    batch_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Sample ``num_samples`` 4-channel maps, [N, 4, H, W] in [-1, 1], on the CPU.

    Samples run through the scales in batches of ``batch_size`` (default: see
    ``default_batch_size``). ``noise`` replays
    exact noise: one [N, 4, h_n, w_n] map per scale (scale 0 already repeated over the
    4 channels), as recorded by the reference; then ``seed`` is unused. Scales below
    ``gen_start_scale`` use the reconstruction noise instead.
    """
    check_generation_args(model, num_samples, gen_start_scale, scale_v, scale_h, seed, batch_size)
    sizes = output_sizes(model, scale_v, scale_h)
    device = model.device
    batch_size = batch_size or default_batch_size(device)
    if noise is None:
        # Drawn for all samples up front, so a seed gives the same samples at any batch size.
        rng = torch.Generator(device=device)
        rng.manual_seed(seed if seed is not None else int(torch.seed() % 2**63))
        noise = [draw_noise(num_samples, size, n == 0, rng, device) for n, size in enumerate(sizes)]
    outputs = []
    for start in range(0, num_samples, batch_size):
        count = min(batch_size, num_samples - start)
        zs = [
            model.z_opts[n].expand(count, -1, -1, -1) if n < gen_start_scale else z[start : start + count].to(device)
            for n, z in enumerate(noise)
        ]
        out = run_scales(model.generators, model.noise_amps, zs, sizes, model.scale_factor, model.resize_mode)
        outputs.append(out.cpu())
        if progress is not None:
            progress(start + count, num_samples)
    return torch.cat(outputs)


def check_sample_names(names: list[str]) -> None:
    """Sample names become file names inside images/ and masks/: no folders, no hidden files."""
    unsafe = [n for n in names if not n or n != Path(n).name or n.startswith(".")]
    if unsafe:
        raise ValueError(f"sample names must be plain file names (no folders, not starting with '.'), got {unsafe[0]!r}")


def write_pairs(
    samples: torch.Tensor, out_dir: str | Path, names: list[str], threshold_mask: bool = True
) -> list[tuple[Path, Path]]:
    """Write ``images/NAME.png`` and ``masks/NAME.png`` per sample; masks in {0, 255}."""
    check_sample_names(names)
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "masks").mkdir(parents=True, exist_ok=True)
    images, masks = tensor_to_pair_arrays(samples, threshold_mask=threshold_mask)
    written = []
    for name, image, mask in zip(names, images, masks):
        image_path = out_dir / "images" / f"{name}.png"
        mask_path = out_dir / "masks" / f"{name}.png"
        Image.fromarray(image).save(image_path)
        Image.fromarray(np.ascontiguousarray(mask)).save(mask_path)
        written.append((image_path, mask_path))
    return written
