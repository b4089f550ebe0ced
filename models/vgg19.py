"""VGG19 ``features`` (the convolutional trunk) and its torchvision-format weights.

The layers are defined here so the project needs no torchvision; their order and
indices match ``torchvision.models.vgg19().features``, so torchvision's ImageNet file
(``vgg19-dcbb9e9d.pth``, keys ``features.N.weight`` / ``features.N.bias``) loads as is.
Weights are never downloaded: the caller names a file or it is found in the standard
torch hub checkpoints folder.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

TORCHVISION_FILE = "vgg19-dcbb9e9d.pth"
TORCHVISION_URL = f"https://download.pytorch.org/models/{TORCHVISION_FILE}"
SETTING = "SINGAN_SEG_VGG19_WEIGHTS"

# Output channels per conv, "M" a 2x2 max-pool: torchvision's configuration "E".
_LAYOUT = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]

# ImageNet statistics the weights were trained with (RGB, on [0, 1] pixels).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG19WeightsError(RuntimeError):
    """The VGG19 weight file is missing or not in torchvision's format."""


def hub_checkpoint_path() -> Path:
    """Where torch hub keeps downloaded checkpoints (respects TORCH_HOME, as torch does)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILE


def find_vgg19_weights(configured: str | Path | None = None) -> Path:
    """The weight file to use: ``configured`` if given (it must exist), else the torch hub copy.

    Raises ``VGG19WeightsError`` whose message names the file to provide and where to put it.
    """
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise VGG19WeightsError(
                f"VGG19 weight file {path} does not exist; it should be torchvision's {TORCHVISION_FILE} ({TORCHVISION_URL})"
            )
        return path
    path = hub_checkpoint_path()
    if not path.is_file():
        raise VGG19WeightsError(
            f"style transfer needs torchvision's ImageNet VGG19 weights {TORCHVISION_FILE} ({TORCHVISION_URL}); "
            f"nothing is downloaded at run time: copy the file to {path} or set {SETTING} to its path"
        )
    return path


class VGG19Features(nn.Module):
    """``features`` of VGG19: 16 3x3 convs with ReLU and 5 max-pools, indices 0..36."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        for item in _LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(in_channels, int(item), kernel_size=3, padding=1), nn.ReLU()]
                in_channels = int(item)
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, conv_indices: list[int]) -> dict[int, torch.Tensor]:
        """Rectified activations of the convs at ``conv_indices``: {index: [N, C, h, w]}.

        ``x`` is [N, 3, H, W], ImageNet-normalised. Each conv's activation is taken after
        its ReLU: the reference stores the conv output, but torchvision's in-place ReLU
        then overwrites that tensor, so the rectified map is what it computes with.
        Layers past the deepest requested conv are not run.
        """
        for index in conv_indices:
            if not isinstance(self.features[index], nn.Conv2d):
                raise ValueError(f"features[{index}] is {type(self.features[index]).__name__}, not a convolution")
        out = {}
        last = max(conv_indices) + 1
        for index, layer in enumerate(self.features[: last + 1]):
            x = layer(x)
            if index - 1 in conv_indices:
                out[index - 1] = x
        return out


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch and safetensors raise many types for foreign or corrupt files
        raise VGG19WeightsError(f"{path}: not a readable weight file ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict):
        raise VGG19WeightsError(f"{path}: holds a {type(state).__name__}, not a state dict of tensors")
    return state


def load_vgg19(path: str | Path, device: torch.device | str = "cpu") -> VGG19Features:
    """A frozen ``VGG19Features`` in eval mode from a torchvision-format file (.pth or .safetensors).

    Classifier keys of a full torchvision state dict are ignored.
    """
    path = Path(path)
    state = _read_state_dict(path)
    model = VGG19Features()
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    if missing:
        raise VGG19WeightsError(
            f"{path}: not VGG19 weights in torchvision's format (missing {len(missing)} of {len(expected)} "
            f"feature tensors, first {missing[0]})"
        )
    for key, value in expected.items():
        if state[key].shape != value.shape:
            raise VGG19WeightsError(f"{path}: {key} has shape {tuple(state[key].shape)}, VGG19 needs {tuple(value.shape)}")
    model.load_state_dict({k: state[k].float() for k in expected})
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval().to(device)


def _imagenet_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean = torch.tensor(IMAGENET_MEAN, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return mean, std


def imagenet_normalise(x: torch.Tensor) -> torch.Tensor:
    """[N, 3, H, W] RGB in [0, 1] -> ImageNet-normalised."""
    mean, std = _imagenet_stats(x)
    return (x - mean) / std


def imagenet_denormalise(x: torch.Tensor) -> torch.Tensor:
    """Inverse of ``imagenet_normalise`` (no clamping)."""
    mean, std = _imagenet_stats(x)
    return x * std + mean
