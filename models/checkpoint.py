"""Model folders: ``model.json`` plus one ``safetensors`` file per finished scale.

Training calls ``save_scale`` after every scale. Each write goes to a temporary file
that is renamed into place, and ``model.json`` (the commit point) is rewritten last,
so a killed run leaves the folder at its last finished scale. Loading never unpickles.
"""

from __future__ import annotations

import json
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
    if manifest.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a SinGAN-Seg model manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format version {manifest.get('format_version')} is not supported (expected {FORMAT_VERSION})"
        )
    return manifest


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
    generator = Generator(entry["width"], entry["min_width"])
    generator.load_state_dict({k[2:]: v for k, v in tensors.items() if k.startswith("G.")})
    d_state = {k[2:]: v for k, v in tensors.items() if k.startswith("D.")}
    discriminator = None
    if d_state:
        discriminator = Discriminator(entry["width"], entry["min_width"])
        discriminator.load_state_dict(d_state)
    return ScaleState(generator.eval(), discriminator, tensors["z_opt"], float(entry["noise_amp"]))


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
