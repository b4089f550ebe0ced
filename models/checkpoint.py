"""Model folders: ``model.json`` plus one ``safetensors`` file per finished scale.

Training calls ``save_scale`` after every scale. Each write goes to a temporary file
that is renamed into place, and ``model.json`` (the commit point) is rewritten last,
so a killed run leaves the folder at its last finished scale. Loading never unpickles.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .networks import Discriminator, Generator, fold_batchnorm
from .singan import SinGANSegModel

FORMAT = "singan-seg-model"
FORMAT_VERSION = 1
MANIFEST = "model.json"


class CheckpointError(ValueError):
    """A model folder that is missing, incomplete or not in this project's format."""


def scale_file(scale: int) -> str:
    return f"scale_{scale:03d}.safetensors"


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_manifest(model_dir: Path, manifest: dict[str, Any]) -> None:
    _atomic_write_bytes(model_dir / MANIFEST, json.dumps(manifest, indent=1).encode())


def read_manifest(model_dir: str | Path) -> dict[str, Any]:
    path = Path(model_dir) / MANIFEST
    if not path.is_file():
        raise CheckpointError(f"{model_dir}: not a model folder (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a SinGAN-Seg model manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format version {manifest.get('format_version')} is not supported (expected {FORMAT_VERSION})"
        )
    problem = _manifest_problem(manifest)
    if problem:
        raise CheckpointError(f"{path}: {problem}")
    return manifest


MAX_WIDTH = 512  # the paper's widths stop at 128; anything far above is a damaged file


def _manifest_problem(manifest: dict[str, Any]) -> str | None:
    """What is structurally wrong with a manifest (a hand-edited or damaged file), if anything."""
    pyramid, scales = manifest.get("pyramid"), manifest.get("scales")
    if not isinstance(pyramid, dict) or not isinstance(scales, list):
        return "missing 'pyramid' or 'scales'"
    sizes = pyramid.get("sizes")
    if not isinstance(sizes, list) or len(sizes) < 2 or not all(
        isinstance(s, list) and len(s) == 2 and all(isinstance(v, int) and 0 < v <= 8192 for v in s) for s in sizes
    ):
        return "pyramid sizes must be a list of at least two [height, width] pairs"
    factor = pyramid.get("scale_factor")
    if not isinstance(factor, (int, float)) or not 0 < factor < 1:
        return "pyramid scale_factor must be between 0 and 1"
    if manifest.get("resize_mode") not in ("float", "reference"):
        return "resize_mode must be 'float' or 'reference'"
    if len(scales) > len(sizes):
        return "more finished scales than pyramid sizes"
    for n, entry in enumerate(scales):
        if not isinstance(entry, dict):
            return f"scale {n}: not an object"
        widths = (entry.get("width"), entry.get("min_width"))
        if not all(isinstance(w, int) and 0 < w <= MAX_WIDTH for w in widths):
            return f"scale {n}: width and min_width must be integers between 1 and {MAX_WIDTH}"
        amp = entry.get("noise_amp")
        if not isinstance(amp, (int, float)) or not math.isfinite(amp) or amp < 0:
            return f"scale {n}: noise_amp must be a finite number >= 0"
    return None


def new_manifest(
    *, config: dict, scale1: float, scale_factor: float, sizes: list[tuple[int, int]], resize_mode: str, provenance: dict
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": config,
        "pyramid": {"scale1": scale1, "scale_factor": scale_factor, "sizes": [list(s) for s in sizes]},
        "resize_mode": resize_mode,
        "scales": [],  # one entry per finished scale: widths and noise amplitude
        "provenance": provenance,
    }


def save_scale(
    model_dir: Path,
    manifest: dict[str, Any],
    scale: int,
    generator: Generator,
    z_opt: torch.Tensor,
    noise_amp: float,
    width: int,
    min_width: int,
    discriminator: Discriminator | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write one finished scale, then commit it in the manifest (mutated in place)."""
    if len(manifest["scales"]) != scale:
        raise CheckpointError(f"scale {scale} saved out of order after {len(manifest['scales'])} scales")
    tensors = {f"G.{k}": v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
    if discriminator is not None:  # kept so that a resumed run can start the next scale from it
        tensors.update({f"D.{k}": v.detach().cpu().contiguous() for k, v in discriminator.state_dict().items()})
    tensors["z_opt"] = z_opt.detach().cpu().contiguous()
    fd, tmp = tempfile.mkstemp(dir=model_dir, prefix=".scale.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp)
        os.replace(tmp, model_dir / scale_file(scale))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    manifest["scales"].append({"width": width, "min_width": min_width, "noise_amp": float(noise_amp), **(extra or {})})
    write_manifest(model_dir, manifest)


@dataclass
class ScaleState:
    """One finished scale as stored: generator, optional discriminator, reconstruction noise."""

    generator: Generator
    discriminator: Discriminator | None
    z_opt: torch.Tensor
    noise_amp: float


def load_scale(model_dir: Path, manifest: dict[str, Any], scale: int) -> ScaleState:
    entry = manifest["scales"][scale]
    path = Path(model_dir) / scale_file(scale)
    if not path.is_file():
        raise CheckpointError(f"{path}: missing (the manifest lists scale {scale} as finished)")
    try:
        tensors = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f"{path}: unreadable tensor file ({exc})") from None
    z_opt = tensors.get("z_opt")
    size = tuple(manifest["pyramid"]["sizes"][scale])
    if z_opt is None or tuple(z_opt.shape) != (1, 4, *size):
        raise CheckpointError(f"{path}: reconstruction noise missing or not of shape [1, 4, {size[0]}, {size[1]}]")
    if not all(torch.isfinite(t).all() for t in tensors.values() if t.is_floating_point()):
        raise CheckpointError(f"{path}: holds NaN or infinite values")
    generator = Generator(entry["width"], entry["min_width"])
    d_state = {k[2:]: v for k, v in tensors.items() if k.startswith("D.")}
    discriminator = Discriminator(entry["width"], entry["min_width"]) if d_state else None
    try:
        generator.load_state_dict({k[2:]: v for k, v in tensors.items() if k.startswith("G.")})
        if discriminator is not None:
            discriminator.load_state_dict(d_state)
    except RuntimeError:
        raise CheckpointError(f"{path}: weights do not match the widths the manifest gives for scale {scale}") from None
    return ScaleState(generator.eval(), discriminator, z_opt, float(entry["noise_amp"]))


def is_complete(manifest: dict[str, Any]) -> bool:
    return len(manifest["scales"]) == len(manifest["pyramid"]["sizes"])


def load_model(model_dir: str | Path, device: torch.device | str = "cpu") -> SinGANSegModel:
    """Load a finished model for generation (BatchNorm folded into the convolutions)."""
    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    if not is_complete(manifest):
        raise CheckpointError(
            f"{model_dir}: training is not finished ({len(manifest['scales'])} of "
            f"{len(manifest['pyramid']['sizes'])} scales); resume it with `singan-seg train ... --resume`"
        )
    states = [load_scale(model_dir, manifest, n) for n in range(len(manifest["scales"]))]
    generators = [fold_batchnorm(s.generator).requires_grad_(False) for s in states]
    model = SinGANSegModel(
        generators=generators,
        z_opts=[s.z_opt for s in states],
        noise_amps=[s.noise_amp for s in states],
        sizes=[tuple(s) for s in manifest["pyramid"]["sizes"]],
        scale_factor=float(manifest["pyramid"]["scale_factor"]),
        resize_mode=manifest["resize_mode"],
        metadata=manifest,
    )
    return model.to(device)
