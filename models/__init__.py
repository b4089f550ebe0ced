"""SinGAN-Seg: the science, usable as a library with no server.

Typical use::

    from models import load_pair, preset, train, load_model, generate, write_pairs
    pair = load_pair("image.jpg", "mask.jpg")
    train(pair, preset("fast"), "runs/polyp")
    model = load_model("runs/polyp")
    samples = generate(model, 8, seed=0)
"""

from .checkpoint import CheckpointError, load_model, read_manifest
from .config import PRESETS, TrainConfig, preset
from .generate import generate, write_pairs
from .inputs import InputError, InputTooLarge, TrainingPair, load_pair, load_rgba_pair
from .pyramid import Pyramid, plan_pyramid
from .singan import SinGANSegModel, reconstruct
from .train import TrainingCancelled, TrainProgress, train

__all__ = [
    "CheckpointError",
    "InputError",
    "InputTooLarge",
    "PRESETS",
    "Pyramid",
    "SinGANSegModel",
    "TrainConfig",
    "TrainProgress",
    "TrainingCancelled",
    "TrainingPair",
    "generate",
    "load_model",
    "load_pair",
    "load_rgba_pair",
    "plan_pyramid",
    "preset",
    "read_manifest",
    "reconstruct",
    "train",
    "write_pairs",
]
