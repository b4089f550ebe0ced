"""Fixtures for style transfer and quality tests: a generated VGG19 weight file and small real models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
KVASIR = ("kvasir-seg/images/cju0qkwl35piu0993l0dewei2.jpg", "kvasir-seg/masks/cju0qkwl35piu0993l0dewei2.jpg")
KVASIR_OTHER = ("kvasir-seg/images/cju0roawvklrq0799vmjorwfv.jpg", "kvasir-seg/masks/cju0roawvklrq0799vmjorwfv.jpg")
RETINA = ("retina-drive/images/01_test.tif", "retina-drive/masks/01_manual1.gif")

# torchvision's vgg19().features: (index, in, out) of each conv; the rest are ReLU and pools.
VGG19_CONVS = [
    (0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128),
    (10, 128, 256), (12, 256, 256), (14, 256, 256), (16, 256, 256),
    (19, 256, 512), (21, 512, 512), (23, 512, 512), (25, 512, 512),
    (28, 512, 512), (30, 512, 512), (32, 512, 512), (34, 512, 512),
]  # fmt: skip


def vgg19_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """A stand-in for ImageNet weights in torchvision's layout, written out independently of
    models.vgg19: He-initialised so activations keep their scale through 13 convs, plus
    classifier keys (shrunk: the loader must ignore them whatever their shape)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for index, cin, cout in VGG19_CONVS:
        state[f"features.{index}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * (2.0 / (cin * 9)) ** 0.5
        state[f"features.{index}.bias"] = torch.randn(cout, generator=g) * 0.01
    state["classifier.0.weight"] = torch.randn(8, 8, generator=g)
    state["classifier.0.bias"] = torch.zeros(8)
    return state


def save_vgg19_file(directory: Path) -> Path:
    """The stand-in weights as a torchvision-format .pth file in ``directory`` (the service tests use it too)."""
    path = directory / "vgg19-test.pth"
    torch.save(vgg19_state_dict(), path)
    return path


@pytest.fixture(scope="session")
def vgg19_file(tmp_path_factory) -> Path:
    return save_vgg19_file(tmp_path_factory.mktemp("vgg19"))


@pytest.fixture(scope="session")
def vgg19(vgg19_file):
    from models.vgg19 import load_vgg19

    return load_vgg19(vgg19_file)


def read_rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _train(tmp_path_factory, files: tuple[str, str], name: str, **overrides) -> Path:
    from models import load_pair, preset, train

    model_dir = tmp_path_factory.mktemp(name) / "model"
    train(load_pair(DATA / files[0], DATA / files[1]), preset("smoke", device="cpu", **overrides), model_dir)
    return model_dir


@pytest.fixture(scope="session")
def kvasir_model(tmp_path_factory) -> Path:
    """A smoke model of a Kvasir-SEG polyp (41 x 49 px, 4 scales); few iterations: the
    tests need real model output, not a good model."""
    return _train(tmp_path_factory, KVASIR, "kvasir", seed=3, niter=6)


@pytest.fixture(scope="session")
def retina_model(tmp_path_factory) -> Path:
    """A smoke model of the DRIVE fundus image and its thin vessel tracing."""
    return _train(tmp_path_factory, RETINA, "retina", seed=1, niter=4)
